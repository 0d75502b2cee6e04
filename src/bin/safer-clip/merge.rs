//! `safer-clip merge`: a model folder with an adapter folded into its weights, loadable by
//! `transformers`' `CLIPModel.from_pretrained` like the original.

use std::path::{Path, PathBuf};

use clap::Args;
use safer_clip::Clip;
use safer_clip::device::block_on;
use safer_clip::error::{Error, Result};
use safer_clip::files::{Limit, read_bounded, write_atomic, write_folder};
use safer_clip::pipeline::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use safer_clip::weights::{load_adapters, save_clip};

use crate::inputs::DeviceArgs;

#[derive(Args)]
pub struct MergeArgs {
    /// Model folder the adapter was trained on.
    #[arg(long)]
    model: PathBuf,
    /// Adapter file written by `safer-clip train`.
    #[arg(long)]
    adapter: PathBuf,
    /// Folder to write the merged model into (must not exist, unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists (never the --model folder itself).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Where `merge` writes a HySAC adapter's head and safe region.
const HYSAC_FILE: &str = "hysac.json";

/// Everything else of a model folder that a merge leaves as it is.
const UNCHANGED_FILES: [&str; 7] = [
    CONFIG_FILE,
    TOKENIZER_FILE,
    "preprocessor_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
];

/// The output may be neither the model folder nor a folder holding it, so that no input is
/// ever written through or replaced with the output.
fn refuse_overlap(model: &Path, out: &Path) -> Result<()> {
    let model = model
        .canonicalize()
        .map_err(|e| Error::io(format!("cannot read {}", model.display()), e))?;
    // The output may not exist yet: compare its nearest existing ancestor.
    let mut existing = out.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(
            existing
                .file_name()
                .map(|n| n.to_owned())
                .unwrap_or_default(),
        );
        if !existing.pop() {
            existing = PathBuf::from(".");
            break;
        }
    }
    let mut resolved = existing
        .canonicalize()
        .map_err(|e| Error::io(format!("cannot read {}", existing.display()), e))?;
    resolved.extend(rest.iter().rev());
    if model.starts_with(&resolved) {
        return Err(Error::Input(format!(
            "--out {} overlaps the model folder {}; write the merged model to another folder",
            out.display(),
            model.display()
        )));
    }
    Ok(())
}

pub fn run(args: MergeArgs) -> Result<()> {
    refuse_overlap(&args.model, &args.out)?;
    if args.out.exists() && !args.force {
        return Err(Error::Input(format!(
            "{} already exists; choose another folder, or pass --force to replace it",
            args.out.display()
        )));
    }
    let device = args.device.device()?;
    let clip = Clip::from_dir(&args.model, &device)?;
    let adapter = load_adapters(clip.model, &read_bounded(&args.adapter, Limit::Weights)?)
        .map_err(|e| e.context(args.adapter.display()))?;
    let weights = block_on(save_clip(&adapter.model.merged()))?;
    let hysac = match &adapter.hyperbolic {
        // A HySAC model's hyperbolic head has no place in `transformers`' layout: it goes beside.
        Some(hyperbolic) => {
            let head = block_on(hyperbolic.head.values())?;
            let json = serde_json::json!({ "head": head, "safe_region": hyperbolic.region });
            Some(serde_json::to_string_pretty(&json).expect("json serialises"))
        }
        None => None,
    };
    write_folder(&args.out, args.force, |folder| {
        write_atomic(&folder.join(WEIGHTS_FILE), &weights)?;
        for name in UNCHANGED_FILES {
            let source = args.model.join(name);
            if source.exists() {
                write_atomic(
                    &folder.join(name),
                    &read_bounded(&source, Limit::Tokenizer)?,
                )?;
            }
        }
        if let Some(json) = &hysac {
            write_atomic(&folder.join(HYSAC_FILE), json.as_bytes())?;
        }
        Ok(())
    })?;
    let config = adapter.lora;
    println!(
        "merged a rank-{} adapter ({} targets) into {}",
        config.rank,
        config.targets.len(),
        args.out.join(WEIGHTS_FILE).display()
    );
    Ok(())
}
