//! `safer-clip convert`: the same model with smaller weights, for a static host or the app's
//! `models/` folder: `f16` (half the download; `transformers` reads it) or `q8` (int8 with a scale
//! per block of 32 values, about a quarter; safer-clip reads it natively and in the browser).

use std::path::PathBuf;

use clap::Args;
use safer_clip::Clip;
use safer_clip::device::{Backend, device};
use safer_clip::error::Result;
use safer_clip::files::{Limit, read_bounded, write_atomic, write_folder};
use safer_clip::pipeline::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};
use safer_clip::weights::{StorageDtype, convert};

use crate::inputs::ModelSource;
use crate::model_folder::{check_output, copy_unchanged};

#[derive(Args)]
pub struct ConvertArgs {
    #[command(flatten)]
    model: ModelSource,
    /// f16 or q8.
    #[arg(long)]
    dtype: StorageDtype,
    /// Folder to write the converted model into (must not exist, unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Replace --out if it exists (never the --model folder itself).
    #[arg(long)]
    force: bool,
}

fn megabytes(bytes: usize) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

pub fn run(args: ConvertArgs) -> Result<()> {
    let model = args.model.folder()?;
    check_output(&model, &args.out, args.force)?;
    // The model is loaded whole first: whatever `encode` refuses, `convert` refuses.
    let cpu = device(Backend::Flex)?;
    Clip::from_dir(&model, &cpu)?;
    let weights_path = model.join(WEIGHTS_FILE);
    let weights = read_bounded(&weights_path, Limit::Weights)?;
    let converted = convert(&weights, args.dtype).map_err(|e| e.context(weights_path.display()))?;
    // And the result is read back the way every front end reads it.
    let read = |name: &str, limit| read_bounded(&model.join(name), limit);
    Clip::from_bytes(
        &read(CONFIG_FILE, Limit::Config)?,
        &converted,
        &read(TOKENIZER_FILE, Limit::Tokenizer)?,
        &cpu,
    )?;
    write_folder(&args.out, args.force, |folder| {
        write_atomic(&folder.join(WEIGHTS_FILE), &converted)?;
        copy_unchanged(&model, folder)
    })?;
    println!(
        "wrote {} ({} → {})",
        args.out.join(WEIGHTS_FILE).display(),
        megabytes(weights.len()),
        megabytes(converted.len())
    );
    Ok(())
}
