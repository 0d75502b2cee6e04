//! Reading the CLI's input files (text files, pair files with their images) and the pair split
//! `train` and `eval` share.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use burn::prelude::Device;
use clap::Args;
use safer_clip::Clip;

use crate::hub::model_folder;
use safer_clip::data::{
    Duplicates, Pair, PairImages, Splits, parse_caption_pool, parse_pairs, split_pairs,
};
use safer_clip::device::{Backend, Precision, device, set_cpu_threads};
use safer_clip::error::{Error, Result};
use safer_clip::evaluation::PairSet;
use safer_clip::files::{Limit, read_bounded, read_text};
use safer_clip::hyperbolic::Hyperbolic;
use safer_clip::preprocess::{Pixels, preprocess_image};
use safer_clip::weights::load_adapters;

pub fn read_pool(path: &Path) -> Result<Vec<String>> {
    parse_caption_pool(&read_text(path, Limit::Text)?).map_err(|e| e.context(path.display()))
}

/// A pair file; with `drop_duplicates`, repeated pairs are dropped (and counted) rather than
/// refused.
pub fn read_pairs(path: &Path, drop_duplicates: bool) -> Result<Vec<Pair>> {
    let duplicates = if drop_duplicates {
        Duplicates::Drop
    } else {
        Duplicates::Refuse
    };
    let text = read_text(path, Limit::Text)?;
    let pairs = parse_pairs(&text, duplicates).map_err(|e| e.context(path.display()))?;
    let dropped = text.lines().count() - pairs.len();
    if dropped > 0 {
        eprintln!("{}: dropped {dropped} repeated pairs", path.display());
    }
    Ok(pairs)
}

/// Decodes and preprocesses an image file, naming it when it cannot.
pub fn read_image(path: &Path, image_size: usize) -> Result<Pixels> {
    preprocess_image(&read_bounded(path, Limit::Image)?, image_size)
        .map_err(|e| e.context(path.display()))
}

/// The preprocessed images of `pairs` when every pair names both, `None` when none does.
/// Image paths are relative to the pair file; URLs are for the browser app.
pub fn read_pair_images(
    pairs: &[Pair],
    pair_file: &Path,
    image_size: usize,
) -> Result<Option<Vec<PairImages>>> {
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
        read_image(&base.join(name), image_size)
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

/// Some of the pairs, with their images when the pairs have them.
pub struct PairPart {
    pub pairs: Vec<Pair>,
    pub images: Option<Vec<PairImages>>,
}

impl PairPart {
    fn of(pairs: &[Pair], images: Option<&[PairImages]>, rows: &[usize]) -> Self {
        Self {
            pairs: subset(pairs, rows),
            images: images.map(|all| subset(all, rows)),
        }
    }

    pub fn set(&self) -> PairSet<'_> {
        (&self.pairs, self.images.as_deref())
    }

    /// Where HySAC's classifier fits its threshold: this part when it has two pairs or more.
    pub fn fit_set(&self) -> Option<PairSet<'_>> {
        (self.pairs.len() >= 2).then(|| self.set())
    }
}

pub struct SplitParts {
    pub train: PairPart,
    pub validation: PairPart,
    pub test: PairPart,
}

impl SplitParts {
    /// Categories of the test split absent from the training split.
    pub fn unseen_categories(&self) -> Vec<String> {
        let trained: BTreeSet<Option<&String>> = self
            .train
            .pairs
            .iter()
            .map(|p| p.category.as_ref())
            .collect();
        let unseen: BTreeSet<String> = self
            .test
            .pairs
            .iter()
            .filter(|p| !trained.contains(&p.category.as_ref()))
            .map(|p| p.category.clone().unwrap_or_default())
            .collect();
        unseen.into_iter().collect()
    }
}

impl SplitArgs {
    /// The three parts, checked before any work: training needs a pair, the report two test pairs.
    pub fn parts(&self, pairs: &[Pair], images: Option<&[PairImages]>) -> Result<SplitParts> {
        let Splits {
            train,
            validation,
            test,
        } = split_pairs(pairs, self.validation, self.test, self.seed)?;
        if test.len() < 2 {
            return Err(Error::Input(format!(
                "the test split holds {} of the {} pairs; the report needs at least two (more pairs, or a larger --test)",
                test.len(),
                pairs.len()
            )));
        }
        Ok(SplitParts {
            train: PairPart::of(pairs, images, &train),
            validation: PairPart::of(pairs, images, &validation),
            test: PairPart::of(pairs, images, &test),
        })
    }
}

/// The items at `indices`, in that order.
fn subset<T: Clone>(items: &[T], indices: &[usize]) -> Vec<T> {
    indices.iter().map(|&i| items[i].clone()).collect()
}

/// `clip` with the adapter file at `path` attached at `strength` (0: the original model, 1: as
/// trained), and its HySAC head when it has one.
pub fn with_adapter(clip: &Clip, path: &Path, strength: f64) -> Result<(Clip, Option<Hyperbolic>)> {
    let adapter = load_adapters(clip.model.clone(), &read_bounded(path, Limit::Weights)?)
        .map_err(|e| e.context(path.display()))?;
    Ok((
        clip.with_model(adapter.model.with_strength(strength)?),
        adapter.hyperbolic,
    ))
}

/// Where a model comes from: a folder, or a Hugging Face repo id.
#[derive(Args)]
pub struct ModelSource {
    /// A model folder (config.json, model.safetensors, tokenizer.json), or a Hugging Face repo
    /// id such as openai/clip-vit-base-patch32 (downloaded once into the Hugging Face cache).
    #[arg(long)]
    pub model: PathBuf,
    /// The repo's branch, tag or commit, with a repo id (default: main).
    #[arg(long)]
    pub revision: Option<String>,
}

impl ModelSource {
    /// The local folder: the one given, or the hub repo's snapshot in the cache.
    pub fn folder(&self) -> Result<PathBuf> {
        model_folder(&self.model, self.revision.as_deref())
    }
}

/// A model, optionally with an adapter at a strength, and where it runs.
#[derive(Args)]
pub struct ModelArgs {
    #[command(flatten)]
    pub source: ModelSource,
    /// An adapter file (safer-clip train's, or PEFT's LoRA layout) to apply to the model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// How much of the adapter's update to apply: 0 is the original model, 1 the model as
    /// trained, up to 2.
    #[arg(long, requires = "adapter")]
    pub strength: Option<f64>,
    #[command(flatten)]
    pub device: DeviceArgs,
    /// What the model computes in: f32, or f16 on a GPU whose adapter offers it (half the bytes
    /// read per layer; sums stay in f32).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
}

impl ModelArgs {
    /// The model without its adapter, on its device at its precision.
    pub fn base(&self) -> Result<Clip> {
        let device = self.device.device()?;
        let dtype = self.precision.float_dtype(self.device.backend, &device)?;
        Ok(Clip::from_dir(&self.source.folder()?, &device)?.with_float_dtype(dtype))
    }

    /// The model with its adapter, if one is given.
    pub fn load(&self) -> Result<Clip> {
        let clip = self.base()?;
        match &self.adapter {
            Some(path) => Ok(with_adapter(&clip, path, self.strength.unwrap_or(1.0))?.0),
            None => Ok(clip),
        }
    }
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
