//! `safer-clip eval`: retrieval on pairs, zero-shot accuracy on an image folder, and, with an
//! adapter, the same for the tuned model beside the original plus how far it drifted.

use std::path::{Path, PathBuf};

use clap::Args;
use safer_clip::Clip;
use safer_clip::device::block_on;
use safer_clip::error::{Error, Result};
use safer_clip::evaluation::{
    Drift, HysacMetrics, PairMetrics, ZeroShot, drift, hysac_metrics, pair_metrics,
    parse_prompt_file, sweep, zero_shot_accuracy,
};
use safer_clip::files::{Limit, read_text};
use safer_clip::model::check_strength;
use safer_clip::preprocess::Pixels;
use serde::Serialize;

use crate::inputs::{
    ModelArgs, PairPart, SplitArgs, read_image, read_pair_images, read_pairs, with_adapter,
};
use crate::sweep::write_sweep;

#[derive(Args)]
pub struct EvalArgs {
    /// The model, and the adapter (at a strength) evaluated beside it.
    #[command(flatten)]
    model: ModelArgs,
    /// The safety–knowledge trade-off: evaluate the adapter at each of these strengths
    /// (comma-separated, e.g. 0,0.25,0.5,0.75,1), print the curve and write it to --out as
    /// sweep.json and sweep.svg.
    #[arg(long, value_delimiter = ',', requires_all = ["adapter", "out", "pairs"])]
    sweep: Option<Vec<f64>>,
    /// Folder for the sweep's files.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Safe/unsafe pairs, JSONL.
    #[arg(long)]
    pairs: Option<PathBuf>,
    /// Keep the first of repeated pairs instead of refusing the file.
    #[arg(long)]
    drop_duplicates: bool,
    /// Evaluate only the test split made as `train` makes it (same fractions and seed).
    #[arg(long)]
    test_split: bool,
    #[command(flatten)]
    split: SplitArgs,
    /// Image folder with one subfolder per class (e.g. ../shared/data/cifar10-test).
    #[arg(long)]
    images: Option<PathBuf>,
    /// OpenAI's prompts.md with the class names and templates.
    #[arg(long)]
    prompts: Option<PathBuf>,
    /// Section of the prompt file.
    #[arg(long, default_value = "CIFAR10")]
    dataset: String,
    /// Images per class to classify (0: all).
    #[arg(long, default_value_t = 100)]
    per_class: usize,
}

#[derive(Serialize)]
struct ModelReport {
    pairs: Option<PairMetrics>,
    zero_shot: Option<ZeroShot>,
}

#[derive(Serialize)]
struct Report {
    original: ModelReport,
    tuned: Option<ModelReport>,
    drift: Option<Drift>,
    /// HySAC adapters: root distances, the safe/unsafe classifier and the safety traversal.
    hysac: Option<HysacMetrics>,
    /// With --test-split: categories of the test split that no training pair has.
    unseen_categories: Option<Vec<String>>,
}

/// `(image, class)` examples from `folder/<class>/<file>`, classes in prompt-file order.
fn class_folder(
    folder: &Path,
    classes: &[String],
    per_class: usize,
    size: usize,
) -> Result<Vec<(Pixels, usize)>> {
    let mut examples = Vec::new();
    for (index, class) in classes.iter().enumerate() {
        let dir = folder.join(class);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|source| Error::Io {
                context: format!("cannot list {}", dir.display()),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.is_file())
            .collect();
        files.sort();
        if per_class > 0 {
            files.truncate(per_class);
        }
        for file in files {
            examples.push((read_image(&file, size)?, index));
        }
    }
    Ok(examples)
}

pub fn run(args: EvalArgs) -> Result<()> {
    let clip = args.model.base()?;
    if let Some(strengths) = &args.sweep {
        strengths.iter().try_for_each(|&s| check_strength(s))?;
    }
    let (tuned, hyperbolic) = match &args.model.adapter {
        Some(path) => {
            let (tuned, hyperbolic) =
                with_adapter(&clip, path, args.model.strength.unwrap_or(1.0))?;
            (Some(tuned), hyperbolic)
        }
        None => (None, None),
    };

    // The pairs measured, and the part HySAC's classifier fits its threshold on.
    let mut unseen_categories = None;
    let pairs: Option<(PairPart, Option<PairPart>)> = match &args.pairs {
        Some(path) => {
            let pairs = read_pairs(path, args.drop_duplicates)?;
            let images = read_pair_images(&pairs, path, clip.image_size())?;
            if args.test_split {
                let parts = args.split.parts(&pairs, images.as_deref())?;
                unseen_categories = Some(parts.unseen_categories());
                Some((parts.test, Some(parts.validation)))
            } else {
                Some((PairPart { pairs, images }, None))
            }
        }
        None => None,
    };
    let zero_shot = match (&args.images, &args.prompts) {
        (Some(folder), Some(prompts)) => {
            let prompts = parse_prompt_file(&read_text(prompts, Limit::Text)?, &args.dataset)
                .map_err(|e| e.context(prompts.display()))?;
            let examples =
                class_folder(folder, &prompts.classes, args.per_class, clip.image_size())?;
            Some((prompts, examples))
        }
        (None, None) => None,
        _ => {
            return Err(Error::Input(
                "zero-shot evaluation needs both --images and --prompts".into(),
            ));
        }
    };
    if pairs.is_none() && zero_shot.is_none() {
        return Err(Error::Input(
            "nothing to evaluate: give --pairs and/or --images with --prompts".into(),
        ));
    }

    let measure = |model: &Clip| -> Result<ModelReport> {
        Ok(ModelReport {
            pairs: match &pairs {
                Some((part, _)) => Some(block_on(pair_metrics(
                    model,
                    &part.pairs,
                    part.images.as_deref(),
                ))?),
                None => None,
            },
            zero_shot: match &zero_shot {
                Some((prompts, examples)) => {
                    Some(block_on(zero_shot_accuracy(model, prompts, examples, 64))?)
                }
                None => None,
            },
        })
    };
    if let (Some(strengths), Some(path), Some(out), Some((part, _))) =
        (&args.sweep, &args.model.adapter, &args.out, &pairs)
    {
        let adapted = with_adapter(&clip, path, 1.0)?.0.model;
        let zero_shot = zero_shot
            .as_ref()
            .map(|(prompts, examples)| (prompts, examples.as_slice()));
        let points = block_on(sweep(&clip, &adapted, strengths, &part.pairs, zero_shot))?;
        write_sweep(out, &points)?;
        return Ok(());
    }
    let report = Report {
        original: measure(&clip)?,
        tuned: tuned.as_ref().map(measure).transpose()?,
        drift: match (&tuned, &pairs) {
            (Some(tuned), Some((part, _))) => {
                let safe: Vec<&str> = part.pairs.iter().map(|p| p.safe.as_str()).collect();
                Some(block_on(drift(&clip, tuned, &safe))?)
            }
            _ => None,
        },
        hysac: match (&tuned, &hyperbolic, &pairs) {
            (Some(tuned), Some(hyperbolic), Some((part, validation))) => {
                let fit = validation.as_ref().and_then(PairPart::fit_set);
                Some(block_on(hysac_metrics(tuned, hyperbolic, fit, part.set()))?)
            }
            _ => None,
        },
        unseen_categories,
    };
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("plain data serialises")
    );
    Ok(())
}
