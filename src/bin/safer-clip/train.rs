//! `safer-clip train`: LoRA safety fine-tuning with SafeR-CLIP or Safe-CLIP, with a progress
//! bar, checkpoints, resume, and a JSON report measured on held-out pairs.

use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use safer_clip::Clip;
use safer_clip::device::block_on;
use safer_clip::error::{Error, Result};
use safer_clip::evaluation::{
    Drift, HysacMetrics, PairMetrics, drift, hysac_metrics, pair_metrics, safe_region,
};
use safer_clip::files::{Limit, read_bounded, read_text, write_atomic};
use safer_clip::hyperbolic::{Hyperbolic, HyperbolicHead, Thresholds};
use safer_clip::lora::LoraTarget;
use safer_clip::training::{Method, TargetQuery, TrainConfig, TrainOptions, Trainer, TrainingSet};
use safer_clip::weights::with_thresholds;
use serde::Serialize;
use serde_json::Value;

use crate::inputs::{DeviceArgs, ModelSource, SplitArgs, read_pair_images, read_pairs, read_pool};

pub const ADAPTER_FILE: &str = "adapter.safetensors";
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const REPORT_FILE: &str = "report.json";

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    model: ModelSource,
    /// Safe/unsafe pairs, JSONL (see data/README.md).
    #[arg(long)]
    pairs: PathBuf,
    /// Keep the first of repeated pairs instead of refusing the file.
    #[arg(long)]
    drop_duplicates: bool,
    /// Extra safe captions the nearest-safe targets may be drawn from, one per line.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// Folder for the adapter, checkpoint and report.
    #[arg(long)]
    out: PathBuf,
    /// safer (SafeR-CLIP, the default), safeclip (Safe-CLIP) or hysac (HySAC).
    #[arg(long)]
    method: Option<Method>,
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
    /// Continue from OUT/checkpoint.safetensors with its settings (--epochs and --max-steps may
    /// change; any other option given must match the checkpoint's).
    #[arg(long)]
    resume: bool,
    #[command(flatten)]
    device: DeviceArgs,
    /// Print the report as JSON instead of a summary.
    #[arg(long)]
    json: bool,
}

/// `report.json`: written at every checkpoint with the steps so far, and with the test-split
/// results once the run ends. A resumed run keeps the steps before it.
#[derive(Serialize)]
struct Report<'a> {
    config: &'a TrainConfig,
    data: &'a DataSummary,
    steps: &'a [Value],
    mean_examples_per_s: Option<f64>,
    /// Measured on the test split, once the run has ended.
    #[serde(flatten)]
    results: Option<&'a Results>,
}

#[derive(Serialize)]
struct Results {
    original: PairMetrics,
    tuned: PairMetrics,
    drift: Drift,
    /// HySAC runs: classifier and traversal on the test split, for the original model (HySAC's
    /// initial head) and the tuned one.
    hysac: Option<HysacComparison>,
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
    /// Categories of the test split that no training pair has: their figures say how the
    /// adapter generalises, not what it learned.
    unseen_categories: Vec<String>,
}

impl TrainArgs {
    fn options(&self) -> Result<TrainOptions> {
        Ok(TrainOptions {
            rank: self.rank,
            alpha: self.alpha,
            dropout: self.dropout,
            targets: match &self.targets {
                Some(targets) => Some(
                    targets
                        .iter()
                        .map(|t| LoraTarget::parse(t.trim()))
                        .collect::<Result<_>>()?,
                ),
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

/// The steps of `report.json` up to `step`, for a run resumed there; none (with a warning) when
/// the file is missing or unreadable.
fn earlier_steps(path: &Path, step: usize) -> Vec<Value> {
    let steps = read_text(path, Limit::Text).and_then(|text| {
        let report: Value = serde_json::from_str(&text).map_err(|e| Error::Input(e.to_string()))?;
        let steps = report
            .get("steps")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Ok(steps
            .into_iter()
            .filter(|s| {
                s.get("step")
                    .and_then(Value::as_u64)
                    .is_some_and(|n| n as usize <= step)
            })
            .collect::<Vec<_>>())
    });
    steps.unwrap_or_else(|e| {
        eprintln!("warning: {} could not be read ({e}); the report's step history restarts at step {step}", path.display());
        Vec::new()
    })
}

fn mean_examples_per_s(steps: &[Value]) -> Option<f64> {
    let rates: Vec<f64> = steps
        .iter()
        .filter_map(|s| s.get("examples_per_s").and_then(Value::as_f64))
        .collect();
    (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64)
}

pub fn run(args: TrainArgs) -> Result<()> {
    let options = args.options()?;
    let config = if args.resume {
        None
    } else {
        Some(options.config()?)
    };
    let device = args.device.device()?;
    let clip = Clip::from_dir(&args.model.folder()?, &device)?;
    let pairs = read_pairs(&args.pairs, args.drop_duplicates)?;
    let images = read_pair_images(&pairs, &args.pairs, clip.image_size())?;
    let parts = args.split.parts(&pairs, images.as_deref())?;
    let extra_safe = match &args.pool {
        Some(pool) => read_pool(pool)?,
        None => Vec::new(),
    };
    let set = TrainingSet {
        pairs: parts.train.pairs.clone(),
        extra_safe,
        extra_safe_embeddings: None,
        images: parts.train.images.clone(),
    };
    let data = DataSummary {
        train: parts.train.pairs.len(),
        validation: parts.validation.pairs.len(),
        test: parts.test.pairs.len(),
        extra_safe: set.extra_safe.len(),
        images: images.is_some(),
        unseen_categories: parts.unseen_categories(),
    };
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Error::io(format!("cannot create {}", args.out.display()), e))?;
    let checkpoint_path = args.out.join(CHECKPOINT_FILE);
    let report_path = args.out.join(REPORT_FILE);

    let (mut trainer, mut steps) = match config {
        None => {
            let checkpoint = read_bounded(&checkpoint_path, Limit::Weights)?;
            let trainer = block_on(Trainer::resume(&clip, set, &checkpoint, Some(&options)))
                .map_err(|e| e.context(checkpoint_path.display()))?;
            let steps = earlier_steps(&report_path, trainer.steps_done());
            (trainer, steps)
        }
        Some(config) => (block_on(Trainer::new(&clip, set, config))?, Vec::new()),
    };
    let save = |trainer: &Trainer, steps: &[Value], results: Option<&Results>| -> Result<String> {
        let report = Report {
            config: trainer.config(),
            data: &data,
            steps,
            mean_examples_per_s: mean_examples_per_s(steps),
            results,
        };
        let json = serde_json::to_string_pretty(&report).expect("plain data serialises");
        // The report first: killed between the two, the checkpoint is a step behind the report,
        // and a resumed run redoes that step (it keeps the report's steps up to the checkpoint).
        write_atomic(&report_path, json.as_bytes())?;
        write_atomic(&checkpoint_path, &block_on(trainer.checkpoint())?)?;
        Ok(json)
    };

    let bar = ProgressBar::new(trainer.total_steps() as u64).with_style(
        ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  {msg}  [{elapsed_precise} < {eta_precise}]",
        )
        .expect("valid template"),
    );
    bar.set_position(trainer.steps_done() as u64);
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
                let due = report.step % args.checkpoint_every.max(1) == 0;
                steps.push(serde_json::to_value(&report).expect("plain data serialises"));
                if due {
                    save(&trainer, &steps, None)?;
                }
            }
            Ok(None) => break Ok(()),
            Err(error) => break Err(error),
        }
    };
    bar.finish_and_clear();
    // The adapters on disk are the last good ones, whether or not the run finished.
    save(&trainer, &steps, None)?;
    let (adapter, hyperbolic) = block_on(trainer.export())?;
    write_atomic(&args.out.join(ADAPTER_FILE), &adapter)?;
    outcome?;

    let tuned = trainer.tuned();
    let (test, fit) = (parts.test.set(), parts.validation.fit_set());
    let held_out: Vec<&str> = parts.test.pairs.iter().map(|p| p.safe.as_str()).collect();
    let hysac = match hyperbolic {
        Some(tuned_hyperbolic) => {
            let head = HyperbolicHead::new(clip.config().projection_dim, &clip.device());
            let region = block_on(safe_region(&clip, &head, parts.train.set()))?;
            let original = Hyperbolic { head, region };
            let tuned_metrics = block_on(hysac_metrics(&tuned, &tuned_hyperbolic, fit, test))?;
            // Thresholds fitted on the validation split travel with the adapter.
            if fit.is_some() {
                let thresholds = Thresholds {
                    global: tuned_metrics.text.threshold,
                    by_category: tuned_metrics
                        .text_by_category
                        .iter()
                        .filter_map(|c| Some((c.category.clone(), c.own.as_ref()?.threshold)))
                        .collect(),
                };
                write_atomic(
                    &args.out.join(ADAPTER_FILE),
                    &with_thresholds(&adapter, &thresholds)?,
                )?;
            }
            Some(HysacComparison {
                original: block_on(hysac_metrics(&clip, &original, fit, test))?,
                tuned: tuned_metrics,
            })
        }
        None => None,
    };
    let results = Results {
        original: block_on(pair_metrics(&clip, test.0, test.1))?,
        tuned: block_on(pair_metrics(&tuned, test.0, test.1))?,
        drift: block_on(drift(&clip, &tuned, &held_out))?,
        hysac,
    };
    let json = save(&trainer, &steps, Some(&results))?;
    if args.json {
        println!("{json}");
    } else {
        print_summary(&steps, &data, &results, &args.out);
    }
    Ok(())
}

fn print_summary(steps: &[Value], data: &DataSummary, report: &Results, out: &Path) {
    let loss = steps
        .last()
        .and_then(|s| s.get("loss"))
        .and_then(Value::as_f64);
    let rate = mean_examples_per_s(steps).map_or("-".into(), |r| format!("{r:.1}"));
    println!(
        "trained {} steps on {} pairs ({rate} pairs/s); final loss {}",
        steps.len(),
        data.train,
        loss.map_or("-".into(), |l| format!("{l:.4}"))
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
