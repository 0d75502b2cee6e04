//! Reading the CLI's input files (text files, pair files with their images) and the pair split
//! `train` and `eval` share.

use std::path::Path;

use burn::prelude::Device;
use clap::Args;
use safer_clip::data::{Pair, PairImages, Splits, parse_caption_pool, parse_pairs, split_pairs};
use safer_clip::device::{Backend, device, set_cpu_threads};
use safer_clip::error::{Error, Result, read_file};
use safer_clip::preprocess::preprocess_image;

pub fn read_text(path: &Path) -> Result<String> {
    String::from_utf8(read_file(path)?)
        .map_err(|_| Error::Input(format!("{} is not UTF-8 text", path.display())))
}

pub fn read_pool(path: &Path) -> Result<Vec<String>> {
    parse_caption_pool(&read_text(path)?)
        .map_err(|e| e.context(path.display()))
}

pub fn read_pairs(path: &Path) -> Result<Vec<Pair>> {
    parse_pairs(&read_text(path)?).map_err(|e| e.context(path.display()))
}

/// The preprocessed images of `pairs` when every pair names both, `None` when none does.
/// Image paths are relative to the pair file; URLs are for the browser app.
pub fn read_pair_images(pairs: &[Pair], pair_file: &Path, image_size: usize) -> Result<Option<Vec<PairImages>>> {
    let with_images = pairs.iter().filter(|p| p.has_images()).count();
    if with_images == 0 {
        return Ok(None);
    }
    if with_images != pairs.len() {
        return Err(Error::Input(format!(
            "{} of {} pairs have images; give images for every pair or for none",
            with_images,
            pairs.len()
        )));
    }
    let base = pair_file.parent().unwrap_or(Path::new("."));
    let load = |name: &str| -> Result<_> {
        if name.starts_with("http://") || name.starts_with("https://") {
            return Err(Error::Input(format!(
                "image URLs are fetched by the browser app; download {name} and give its path"
            )));
        }
        let path = base.join(name);
        preprocess_image(&read_file(&path)?, image_size)
            .map_err(|e| e.context(path.display()))
    };
    pairs
        .iter()
        .map(|p| {
            Ok(PairImages {
                safe: load(p.safe_image.as_deref().unwrap_or_default())?,
                unsafe_image: load(p.unsafe_image.as_deref().unwrap_or_default())?,
            })
        })
        .collect::<Result<Vec<_>>>()
        .map(Some)
}

/// How pairs are split: `train` reports on the test split, `eval --test-split` measures the same.
#[derive(Args)]
pub struct SplitArgs {
    /// Share of pairs held out for validation and for the final test.
    #[arg(long, default_value_t = 0.1)]
    pub validation: f64,
    #[arg(long, default_value_t = 0.1)]
    pub test: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl SplitArgs {
    pub fn split(&self, pairs: &[Pair]) -> Result<Splits> {
        split_pairs(pairs, self.validation, self.test, self.seed)
    }
}

/// The items at `indices`, in that order.
pub fn subset<T: Clone>(items: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| items[i].clone()).collect()
}

/// Where the model runs.
#[derive(Args)]
pub struct DeviceArgs {
    /// flex (the CPU) or wgpu (a GPU, or the CPU through Mesa's lavapipe).
    #[arg(long, default_value = "flex")]
    pub backend: Backend,
    /// Threads the flex backend computes on (default: RAYON_NUM_THREADS, else every core).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl DeviceArgs {
    pub fn device(&self) -> Result<Device> {
        set_cpu_threads(self.threads)?;
        device(self.backend)
    }
}
