//! `safer-clip merge`: a model folder with an adapter folded into its weights, loadable by
//! `transformers`' `CLIPModel.from_pretrained` like the original.

use std::path::PathBuf;

use clap::Args;

use crate::inputs::DeviceArgs;
use safer_clip::Clip;
use safer_clip::device::block_on;
use safer_clip::error::{Error, Result, read_file};
use safer_clip::pipeline::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use safer_clip::weights::{load_adapters, save_clip};

#[derive(Args)]
pub struct MergeArgs {
    /// Model folder the adapter was trained on.
    #[arg(long)]
    model: PathBuf,
    /// Adapter file written by `safer-clip train`.
    #[arg(long)]
    adapter: PathBuf,
    /// Folder to write the merged model into (created; existing files are replaced).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Where `merge` writes a HySAC adapter's head and safe region.
const HYSAC_FILE: &str = "hysac.json";

pub fn run(args: MergeArgs) -> Result<()> {
    let device = args.device.device()?;
    let clip = Clip::from_dir(&args.model, &device)?;
    let adapter = load_adapters(clip.model, &read_file(&args.adapter)?)
        .map_err(|e| e.context(args.adapter.display()))?;
    let weights = block_on(save_clip(&adapter.model.merged()))?;
    let config = adapter.lora;
    let io = |context: String| move |source| Error::Io { context, source };
    std::fs::create_dir_all(&args.out).map_err(io(format!("cannot create {}", args.out.display())))?;
    let target = args.out.join(WEIGHTS_FILE);
    std::fs::write(&target, weights).map_err(io(format!("cannot write {}", target.display())))?;
    // Everything else of the folder (config, tokenizer, preprocessing) is unchanged.
    for name in [CONFIG_FILE, TOKENIZER_FILE, "preprocessor_config.json", "tokenizer_config.json",
                 "special_tokens_map.json", "vocab.json", "merges.txt"] {
        let source = args.model.join(name);
        if source.exists() {
            let target = args.out.join(name);
            std::fs::copy(&source, &target).map_err(io(format!("cannot copy {}", source.display())))?;
        }
    }
    // A HySAC model's hyperbolic head has no place in `transformers`' layout: it goes beside.
    if let Some(hyperbolic) = &adapter.hyperbolic {
        let head = block_on(hyperbolic.head.values())?;
        let json = serde_json::json!({ "head": head, "safe_region": hyperbolic.region });
        let target = args.out.join(HYSAC_FILE);
        std::fs::write(&target, serde_json::to_string_pretty(&json).expect("json serialises"))
            .map_err(io(format!("cannot write {}", target.display())))?;
    }
    println!(
        "merged a rank-{} adapter ({} targets) into {}",
        config.rank,
        config.targets.len(),
        args.out.join(WEIGHTS_FILE).display()
    );
    Ok(())
}
