//! `safer-clip train`: LoRA safety fine-tuning with SafeR-CLIP or Safe-CLIP, with a progress
//! bar, checkpoints, resume, and a JSON report measured on held-out pairs.

use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use safer_clip::Clip;
use safer_clip::data::{Pair, PairImages};
use safer_clip::device::block_on;
use safer_clip::error::{Error, Result};
use safer_clip::evaluation::{Drift, HysacMetrics, PairMetrics, drift, hysac_metrics, pair_metrics, safe_region};
use safer_clip::hyperbolic::{Hyperbolic, HyperbolicHead};
use safer_clip::lora::LoraTarget;
use safer_clip::training::{Method, StepReport, TargetQuery, TrainConfig, TrainOptions, Trainer, TrainingSet};
use serde::Serialize;

use crate::inputs::{DeviceArgs, SplitArgs, read_pair_images, read_pairs, read_pool, subset};

pub const ADAPTER_FILE: &str = "adapter.safetensors";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const REPORT_FILE: &str = "report.json";

#[derive(Args)]
pub struct TrainArgs {
    /// Model folder with config.json, model.safetensors and tokenizer.json.
    #[arg(long)]
    model: PathBuf,
    /// Safe/unsafe pairs, JSONL (see data/README.md).
    #[arg(long)]
    pairs: PathBuf,
    /// Extra safe captions the nearest-safe targets may be drawn from, one per line.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// Folder for the adapter, checkpoint and report.
    #[arg(long)]
    out: PathBuf,
    /// safer (SafeR-CLIP), safeclip (Safe-CLIP) or hysac (HySAC).
    #[arg(long, default_value = "safer")]
    method: Method,
    /// LoRA rank (default 16).
    #[arg(long)]
    rank: Option<usize>,
    /// LoRA alpha; updates are scaled by alpha / rank (default 1).
    #[arg(long)]
    alpha: Option<f64>,
    /// Dropout on the adapters' input (default 0.1).
    #[arg(long)]
    dropout: Option<f64>,
    /// Comma-separated projections to adapt (q_proj, k_proj, v_proj, out_proj, fc1, fc2,
    /// patch_embedding; default: k_proj, v_proj, out_proj, fc1, fc2, and patch_embedding for
    /// hysac).
    #[arg(long, value_delimiter = ',')]
    targets: Option<Vec<String>>,
    /// Learning rate (default: 1e-4 for safer and hysac, 1e-3 for safeclip, as published).
    #[arg(long)]
    lr: Option<f64>,
    /// AdamW's decoupled weight decay on the adapters (default: 0.2 for hysac, else 0 = Adam).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Clip the global gradient norm to this; 0 turns clipping off (default 1).
    #[arg(long)]
    grad_clip: Option<f64>,
    /// Pairs per step (default 16).
    #[arg(long)]
    batch_size: Option<usize>,
    /// Passes over the training pairs (default 3).
    #[arg(long)]
    epochs: Option<usize>,
    #[arg(long)]
    max_steps: Option<usize>,
    /// Train on all pairs from the first epoch (SafeR-CLIP's curriculum is on by default).
    #[arg(long)]
    no_curriculum: bool,
    /// Find targets from the unsafe image rather than the unsafe caption (needs images).
    #[arg(long)]
    image_targets: bool,
    /// Keep each unsafe caption's own paired safe caption out of its target search.
    #[arg(long)]
    exclude_own_pair: bool,
    /// The split (its seed also seeds training).
    #[command(flatten)]
    split: SplitArgs,
    /// Write a checkpoint every N steps (and always at the end).
    #[arg(long, default_value_t = 50)]
    checkpoint_every: usize,
    /// Continue from OUT/checkpoint.safetensors.
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    device: DeviceArgs,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    config: TrainConfig,
    data: DataSummary,
    steps: Vec<StepReport>,
    /// Measured on the test split.
    original: PairMetrics,
    tuned: PairMetrics,
    drift: Drift,
    /// HySAC runs: classifier and traversal on the test split, for the original model (HySAC's
    /// initial head) and the tuned one.
    hysac: Option<HysacComparison>,
    mean_examples_per_s: f64,
}

#[derive(Serialize)]
struct HysacComparison {
    original: HysacMetrics,
    tuned: HysacMetrics,
}

#[derive(Serialize)]
struct DataSummary {
    train: usize,
    validation: usize,
    test: usize,
    extra_safe: usize,
    images: bool,
}

impl TrainArgs {
    fn options(&self) -> Result<TrainOptions> {
        Ok(TrainOptions {
            rank: self.rank,
            alpha: self.alpha,
            dropout: self.dropout,
            targets: match &self.targets {
                Some(targets) => Some(targets.iter().map(|t| LoraTarget::parse(t.trim())).collect::<Result<_>>()?),
                None => None,
            },
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            grad_clip: self.grad_clip,
            batch_size: self.batch_size,
            epochs: self.epochs,
            max_steps: self.max_steps,
            curriculum: self.no_curriculum.then_some(false),
            target_query: self.image_targets.then_some(TargetQuery::Image),
            exclude_own_pair: self.exclude_own_pair.then_some(true),
            seed: Some(self.split.seed),
            ..TrainOptions::new(self.method)
        })
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        context: format!("cannot write {}", path.display()),
        source,
    })
}

pub fn run(args: TrainArgs) -> Result<()> {
    let config = args.options()?.config()?;
    let device = args.device.device()?;
    let clip = Clip::from_dir(&args.model, &device)?;
    let pairs = read_pairs(&args.pairs)?;
    let images = read_pair_images(&pairs, &args.pairs, clip.image_size())?;
    let splits = args.split.split(&pairs)?;
    let extra_safe = match &args.pool {
        Some(pool) => read_pool(pool)?,
        None => Vec::new(),
    };
    let set = TrainingSet {
        pairs: subset(&pairs, &splits.train),
        extra_safe,
        extra_safe_embeddings: None,
        images: images.as_ref().map(|i| subset(i, &splits.train)),
    };
    let data = DataSummary {
        train: splits.train.len(),
        validation: splits.validation.len(),
        test: splits.test.len(),
        extra_safe: set.extra_safe.len(),
        images: images.is_some(),
    };
    std::fs::create_dir_all(&args.out).map_err(|source| Error::Io {
        context: format!("cannot create {}", args.out.display()),
        source,
    })?;
    let checkpoint_path = args.out.join(CHECKPOINT_FILE);

    let mut trainer = if args.resume {
        let checkpoint = safer_clip::error::read_file(&checkpoint_path)?;
        block_on(Trainer::resume(&clip, set, &checkpoint))?
    } else {
        block_on(Trainer::new(&clip, set, config))?
    };

    let bar = ProgressBar::new(trainer.total_steps() as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]")
            .expect("valid template"),
    );
    bar.set_position(trainer.steps_done() as u64);
    let mut steps = Vec::new();
    let outcome = loop {
        match block_on(trainer.step()) {
            Ok(Some(report)) => {
                bar.set_position(report.step as u64);
                bar.set_message(format!(
                    "epoch {} stage {}  loss {:.4}  {:.1} pairs/s",
                    report.epoch + 1,
                    report.stage + 1,
                    report.loss,
                    report.examples_per_s
                ));
                let save = report.step % args.checkpoint_every.max(1) == 0;
                steps.push(report);
                if save {
                    write(&checkpoint_path, &block_on(trainer.checkpoint())?)?;
                }
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    bar.finish_and_clear();
    // The adapters on disk are the last good ones, whether or not the run finished.
    write(&checkpoint_path, &block_on(trainer.checkpoint())?)?;
    let (adapter, hyperbolic) = block_on(trainer.export())?;
    write(&args.out.join(ADAPTER_FILE), &adapter)?;
    outcome?;

    let tuned = trainer.tuned();
    let test_pairs: Vec<Pair> = subset(&pairs, &splits.test);
    let test_images: Option<Vec<PairImages>> = images.as_ref().map(|i| subset(i, &splits.test));
    if test_pairs.len() < 2 {
        return Err(Error::Input("the test split needs at least two pairs to report on".into()));
    }
    let held_out: Vec<&str> = test_pairs.iter().map(|p| p.safe.as_str()).collect();
    let validation_pairs: Vec<Pair> = subset(&pairs, &splits.validation);
    let validation_images: Option<Vec<PairImages>> = images.as_ref().map(|i| subset(i, &splits.validation));
    let fit = (validation_pairs.len() >= 2).then(|| (validation_pairs.as_slice(), validation_images.as_deref()));
    let test = (test_pairs.as_slice(), test_images.as_deref());
    let hysac = match hyperbolic {
        Some(tuned_hyperbolic) => {
            let train = (trainer.training_pairs(), trainer.training_images());
            let head = HyperbolicHead::new(clip.config().projection_dim, &clip.device());
            let region = block_on(safe_region(&clip, &head, train))?;
            let original = Hyperbolic { head, region };
            Some(HysacComparison {
                original: block_on(hysac_metrics(&clip, &original, fit, test))?,
                tuned: block_on(hysac_metrics(&tuned, &tuned_hyperbolic, fit, test))?,
            })
        }
        None => None,
    };
    let report = Report {
        config: trainer.config().clone(),
        data,
        mean_examples_per_s: steps.iter().map(|s| s.examples_per_s).sum::<f64>() / steps.len().max(1) as f64,
        steps,
        original: block_on(pair_metrics(&clip, &test_pairs, test_images.as_deref()))?,
        tuned: block_on(pair_metrics(&tuned, &test_pairs, test_images.as_deref()))?,
        drift: block_on(drift(&clip, &tuned, &held_out))?,
        hysac,
    };
    let json = serde_json::to_string_pretty(&report).expect("plain data serialises");
    write(&args.out.join(REPORT_FILE), json.as_bytes())?;
    if args.json {
        println!("{json}");
    } else {
        print_summary(&report, &args.out);
    }
    Ok(())
}

fn print_summary(report: &Report, out: &Path) {
    let last = report.steps.last();
    println!(
        "trained {} steps on {} pairs ({:.1} pairs/s); final loss {}",
        report.steps.len(),
        report.data.train,
        report.mean_examples_per_s,
        last.map_or("-".into(), |s| format!("{:.4}", s.loss))
    );
    println!(
        "test split ({} pairs): unsafe caption's nearest caption is safe: {:.1}% → {:.1}%",
        report.original.pairs,
        100.0 * report.original.text.safe_top1,
        100.0 * report.tuned.text.safe_top1
    );
    println!(
        "drift: held-out safe captions keep cosine {:.4} (min {:.4}) with the original; weights change {:.4} on average (max {:.4})",
        report.drift.safe_captions.mean_cosine,
        report.drift.safe_captions.min_cosine,
        report.drift.mean_weight_change,
        report.drift.max_weight_change
    );
    if let Some(h) = &report.hysac {
        let (before, after) = (&h.original.text, &h.tuned.text);
        println!(
            "hysac: root distance safe {:.3} / unsafe {:.3} → {:.3} / {:.3}; classifier accuracy {:.1}% → {:.1}% (FPR {:.1}%, FNR {:.1}%)",
            before.safe_mean_distance,
            before.unsafe_mean_distance,
            after.safe_mean_distance,
            after.unsafe_mean_distance,
            100.0 * before.accuracy,
            100.0 * after.accuracy,
            100.0 * after.false_positive_rate,
            100.0 * after.false_negative_rate
        );
        println!(
            "hysac: unsafe queries retrieving a safe caption {:.1}%, after the safety traversal {:.1}%",
            100.0 * h.tuned.traversal.safe_before,
            100.0 * h.tuned.traversal.safe_after
        );
    }
    println!("wrote {}", out.join(ADAPTER_FILE).display());
    println!("wrote {}", out.join(REPORT_FILE).display());
}
