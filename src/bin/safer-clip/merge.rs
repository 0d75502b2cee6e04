//! `safer-clip merge`: a model folder with an adapter folded into its weights, loadable by
//! `transformers`' `CLIPModel.from_pretrained` like the original.

use std::path::PathBuf;

use clap::Args;
use safer_clip::Clip;
use safer_clip::device::block_on;
use safer_clip::error::Result;
use safer_clip::files::{Limit, read_bounded, write_atomic, write_folder};
use safer_clip::pipeline::WEIGHTS_FILE;
use safer_clip::weights::{load_adapters, save_clip};

use crate::inputs::{DeviceArgs, ModelSource};
use crate::model_folder::{check_output, copy_unchanged};

#[derive(Args)]
pub struct MergeArgs {
    #[command(flatten)]
    model: ModelSource,
    /// Adapter file written by `safer-clip train`.
    #[arg(long)]
    adapter: PathBuf,
    /// Folder to write the merged model into (must not exist, unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists (never the --model folder itself).
    #[arg(long)]
    force: bool,
    /// How much of the adapter's update to fold in: 0 is the original model, 1 as trained, up
    /// to 2.
    #[arg(long, default_value_t = 1.0)]
    strength: f64,
    #[command(flatten)]
    device: DeviceArgs,
}

/// Where `merge` writes a HySAC adapter's head and safe region.
const HYSAC_FILE: &str = "hysac.json";

pub fn run(args: MergeArgs) -> Result<()> {
    let model = args.model.folder()?;
    check_output(&model, &args.out, args.force)?;
    let device = args.device.device()?;
    let clip = Clip::from_dir(&args.model.folder()?, &device)?;
    let adapter = load_adapters(clip.model, &read_bounded(&args.adapter, Limit::Weights)?)
        .map_err(|e| e.context(args.adapter.display()))?;
    let weights = block_on(save_clip(
        &adapter.model.with_strength(args.strength)?.merged(),
    ))?;
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
        copy_unchanged(&model, folder)?;
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
