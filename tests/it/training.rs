//! The LoRA trainer on a small random CLIP with the real tokenizer: SafeR-CLIP training
//! redirects unsafe captions, drift is reported for SafeR-CLIP and Safe-CLIP on the same data,
//! HySAC training moves unsafe captions away from the root, runs resume exactly, a diverging run
//! keeps its last good adapters, and bad input is refused.

use crate::common::shared;
use burn::prelude::*;
use safer_clip::Clip;
use safer_clip::data::PairImages;
use safer_clip::data::{Pair, parse_caption_pool, parse_pairs};
use safer_clip::device::block_on;
use safer_clip::evaluation::{
    HysacMetrics, embedding_drift, hysac_metrics, safe_region, text_redirection, weight_drift,
};
use safer_clip::hyperbolic::{Hyperbolic, HyperbolicHead};
use safer_clip::model::{ClipConfig, ClipModel};
use safer_clip::preprocess::Pixels;
use safer_clip::safety::losses::{StepEmbeddings, safer_terms};
use safer_clip::tokenizer::ClipTokenizer;
use safer_clip::training::{Method, StepReport, TargetQuery, TrainConfig, Trainer, TrainingSet};
use safer_clip::weights::load_adapters;

/// A small random CLIP, wide enough for captions to differ, with the real tokenizer.
fn clip(test: &str) -> Clip {
    clip_on(test, &Device::flex())
}

/// [`clip`] on `device`: the same weights on every backend.
fn clip_on(test: &str, device: &Device) -> Clip {
    let tokenizer = shared(test).join("assets/clip-vit-base-patch32/tokenizer.json");
    let config = ClipConfig::from_json(
        r#"{"projection_dim": 32,
            "text_config": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4},
            "vision_config": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                              "image_size": 32, "patch_size": 16}}"#,
    )
    .unwrap();
    Clip {
        model: safer_clip::weights::random_clip(&config, 7, device).unwrap(),
        tokenizer: ClipTokenizer::from_bytes(&std::fs::read(tokenizer).unwrap()).unwrap(),
    }
}

/// Every `stride`-th shipped pair: all nine categories.
fn pairs(stride: usize) -> Vec<Pair> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/pairs.jsonl")).unwrap();
    parse_pairs(&text, safer_clip::data::Duplicates::Refuse)
        .unwrap()
        .into_iter()
        .step_by(stride)
        .collect()
}

fn pool() -> Vec<String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/safe_pool.txt"))
        .unwrap();
    parse_caption_pool(&text).unwrap()
}

fn text_set(stride: usize) -> TrainingSet {
    TrainingSet {
        pairs: pairs(stride),
        extra_safe: pool()[..200].to_vec(),
        extra_safe_embeddings: None,
        images: None,
    }
}

/// A fast configuration for a model this small: a big learning rate and a small adapter. No
/// dropout: its masks come from the backend's process-wide generator, which tests running in
/// parallel share, and these measurements must not depend on the order they run in.
fn config(method: Method) -> TrainConfig {
    let mut config = TrainConfig::new(method);
    config.lora.dropout = 0.0;
    config.optimizer.learning_rate = 1e-2;
    config.lora.rank = 4;
    config.lora.alpha = 4.0;
    config.batch_size = 16;
    config.epochs = 4;
    config
}

fn run(trainer: &mut Trainer) -> Vec<StepReport> {
    let mut reports = Vec::new();
    while let Some(report) = block_on(trainer.step()).unwrap() {
        reports.push(report);
    }
    reports
}

/// SafeR-CLIP's text redirection terms (relative + unimodal) of `model` over every training
/// pair, against the trainer's frozen targets.
fn redirection_loss(model: &ClipModel, clip: &Clip, trainer: &Trainer) -> f32 {
    let pairs = text_set(3).pairs;
    let safe: Vec<&str> = pairs.iter().map(|p| p.safe.as_str()).collect();
    let unsafe_captions: Vec<&str> = pairs.iter().map(|p| p.unsafe_caption.as_str()).collect();
    let targets = trainer.targets();
    let embeddings = StepEmbeddings {
        tuned_text_safe: embed(model, clip, &safe),
        tuned_text_unsafe: embed(model, clip, &unsafe_captions),
        frozen_text_safe: targets.text_safe.clone(),
        frozen_text_unsafe: targets.text_unsafe.clone(),
        frozen_text_target: targets.text_target.clone(),
        images: None,
    };
    safer_terms(&embeddings)
        .into_iter()
        .filter(|t| t.name.starts_with("safer_"))
        .map(|t| t.value.into_scalar::<f32>())
        .sum()
}

fn embed(model: &ClipModel, clip: &Clip, texts: &[&str]) -> Tensor<2> {
    model
        .embed_text(&clip.tokenizer.encode_batch(texts).unwrap())
        .unwrap()
}

#[test]
#[ignore = "needs ../shared"]
fn safer_training_redirects_unsafe_captions_and_both_methods_report_drift() {
    let clip = clip("training");
    let set = text_set(3);
    let safe: Vec<&str> = set.pairs.iter().map(|p| p.safe.as_str()).collect();
    let unsafe_captions: Vec<&str> = set
        .pairs
        .iter()
        .map(|p| p.unsafe_caption.as_str())
        .collect();
    let categories: Vec<&str> = set
        .pairs
        .iter()
        .map(|p| p.category.as_deref().unwrap_or(""))
        .collect();
    let held_out: Vec<String> = pool()[2000..2200].to_vec();
    let held_out: Vec<&str> = held_out.iter().map(String::as_str).collect();
    let before = block_on(text_redirection(
        embed(&clip.model, &clip, &safe),
        embed(&clip.model, &clip, &unsafe_captions),
        &categories,
    ))
    .unwrap();

    for method in [Method::Safer, Method::SafeClip] {
        // The same number of steps for both methods (SafeR-CLIP's curriculum shortens its epochs).
        let mut config = config(method);
        config.max_steps = Some(24);
        let mut trainer = block_on(Trainer::new(&clip, set.clone(), config)).unwrap();
        let reports = run(&mut trainer);
        assert_eq!(reports.len(), 24);
        let tuned = trainer.tuned().model;
        let after = block_on(text_redirection(
            embed(&tuned, &clip, &safe),
            embed(&tuned, &clip, &unsafe_captions),
            &categories,
        ))
        .unwrap();
        let drift = block_on(embedding_drift(
            embed(&clip.model, &clip, &held_out),
            embed(&tuned, &clip, &held_out),
        ))
        .unwrap();
        let weights = block_on(weight_drift(&tuned)).unwrap();
        let mean_weight_change =
            weights.iter().map(|l| l.relative_change).sum::<f64>() / weights.len() as f64;
        println!(
            "{method:?}: {} steps, loss {:.4} → {:.4}; unsafe→safe top-1 {:.3} → {:.3}; held-out safe caption cosine to the original: mean {:.4}, min {:.4}; mean ‖ΔW‖/‖W‖ {:.4}",
            reports.len(),
            reports[0].loss,
            reports.last().unwrap().loss,
            before.safe_top1,
            after.safe_top1,
            drift.mean_cosine,
            drift.min_cosine,
            mean_weight_change
        );
        if method == Method::Safer {
            let loss_before = redirection_loss(&clip.model, &clip, &trainer);
            let loss_after = redirection_loss(&tuned, &clip, &trainer);
            println!(
                "SafeR redirection loss over all training pairs: {loss_before:.4} → {loss_after:.4}"
            );
            assert!(
                loss_after < loss_before,
                "redirection loss should fall: {loss_before} → {loss_after}"
            );
            assert!(
                after.safe_top1 > before.safe_top1,
                "{} → {}",
                before.safe_top1,
                after.safe_top1
            );
            assert!(reports.iter().any(|r| r.stage == 0) && reports.iter().any(|r| r.stage == 2));
        }
    }
}

#[test]
#[ignore = "needs ../shared"]
fn a_resumed_run_continues_exactly() {
    let clip = clip("training-resume");
    let set = text_set(9);
    let mut config = config(Method::Safer);
    config.max_steps = Some(4);
    config.batch_size = 8;

    let mut straight = block_on(Trainer::new(&clip, set.clone(), config.clone())).unwrap();
    let straight_losses: Vec<f32> = run(&mut straight).iter().map(|r| r.loss).collect();

    let mut first = block_on(Trainer::new(&clip, set.clone(), config.clone())).unwrap();
    block_on(first.step()).unwrap();
    block_on(first.step()).unwrap();
    let checkpoint = block_on(first.checkpoint()).unwrap();
    let mut resumed = block_on(Trainer::resume(&clip, set.clone(), &checkpoint, None)).unwrap();
    assert_eq!(resumed.steps_done(), 2);
    let resumed_losses: Vec<f32> = run(&mut resumed).iter().map(|r| r.loss).collect();
    assert_eq!(
        resumed_losses,
        straight_losses[2..],
        "same batches, dropout and moments"
    );
    assert_eq!(
        factors(&block_on(resumed.adapter_file()).unwrap()),
        factors(&block_on(straight.adapter_file()).unwrap())
    );

    let other_data = text_set(10);
    let error = block_on(Trainer::resume(&clip, other_data, &checkpoint, None))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("different pairs"), "{error}");
    let adapter_only = block_on(first.adapter_file()).unwrap();
    let error = block_on(Trainer::resume(&clip, set, &adapter_only, None))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("not a training checkpoint"), "{error}");
}

/// The losses of `steps` SafeR-CLIP steps of batch 8 on `clip`.
fn step_losses(clip: &Clip, steps: usize) -> Vec<f32> {
    let mut config = config(Method::Safer);
    config.max_steps = Some(steps);
    config.batch_size = 8;
    let mut trainer = block_on(Trainer::new(clip, text_set(9), config)).unwrap();
    let losses: Vec<f32> = run(&mut trainer).iter().map(|r| r.loss).collect();
    assert_eq!(losses.len(), steps);
    losses
}

/// Each of `ours` within `tolerance` (relative, at least absolute) of `reference`.
fn assert_losses_close(reference: &[f32], ours: &[f32], tolerance: f32, names: [&str; 2]) {
    println!("{} {reference:?}\n{} {ours:?}", names[0], names[1]);
    for (step, (a, b)) in reference.iter().zip(ours).enumerate() {
        assert!(
            (a - b).abs() <= tolerance * a.abs().max(1.0),
            "step {step}: {} {a}, {} {b}",
            names[0],
            names[1]
        );
    }
}

/// On wgpu the trainer's layers run the fused linear kernel and its backward pass (the frozen base
/// layers and the adapters' factors): its steps lose what flex's lose, each step's loss after the
/// first measured on adapters that the steps before updated.
#[test]
#[ignore = "needs ../shared"]
fn training_on_wgpu_takes_the_steps_flex_takes() {
    let flex = step_losses(&clip("training-wgpu"), 4);
    let device = safer_clip::device::device(safer_clip::device::Backend::Wgpu).unwrap();
    let wgpu = step_losses(&clip_on("training-wgpu", &device), 4);
    assert_losses_close(&flex, &wgpu, 1e-4, ["flex", "wgpu"]);
}

/// A model loaded to compute in f16 trains in f32: its losses are f32's but for the frozen
/// targets, which it computes in f16.
#[test]
#[ignore = "needs ../shared"]
fn training_a_model_that_computes_in_f16_runs_in_f32() {
    let device = safer_clip::device::device(safer_clip::device::Backend::Wgpu).unwrap();
    let full = clip_on("training-f16", &device);
    let half = full.with_model(
        full.model
            .clone()
            .with_float_dtype(burn::tensor::FloatDType::F16),
    );
    let (full, half) = (step_losses(&full, 2), step_losses(&half, 2));
    assert_losses_close(&full, &half, 1e-2, ["f32", "f16"]);
}

#[test]
#[ignore = "needs ../shared"]
fn a_diverging_run_stops_and_keeps_its_last_good_adapters() {
    let clip = clip("training-nan");
    let mut config = config(Method::Safer);
    config.optimizer.learning_rate = 1e30;
    config.optimizer.max_grad_norm = None;
    let mut trainer = block_on(Trainer::new(&clip, text_set(9), config)).unwrap();
    let mut last_good = factors(&block_on(trainer.adapter_file()).unwrap());
    let error = loop {
        match block_on(trainer.step()) {
            Ok(Some(_)) => last_good = factors(&block_on(trainer.adapter_file()).unwrap()),
            Ok(None) => panic!("a learning rate of 1e30 should diverge"),
            Err(error) => break error.to_string(),
        }
    };
    assert!(
        error.contains("training stopped") && error.contains("are kept"),
        "{error}"
    );
    assert_eq!(
        factors(&block_on(trainer.adapter_file()).unwrap()),
        last_good
    );
    assert!(trainer.steps_done() >= 1);
}

#[test]
#[ignore = "needs ../shared"]
fn pairs_with_images_train_every_term() {
    let clip = clip("training-images");
    let size = clip.image_size();
    let mut rng = safer_clip::random::SplitMix64::new(5);
    let mut image = || Pixels {
        size,
        values: (0..3 * size * size)
            .map(|_| (rng.below(2000) as f32 / 1000.0) - 1.0)
            .collect(),
    };
    let pairs = pairs(20);
    let images: Vec<PairImages> = pairs
        .iter()
        .map(|_| PairImages {
            safe: image(),
            unsafe_image: image(),
        })
        .collect();
    let set = TrainingSet {
        pairs,
        extra_safe: vec![],
        extra_safe_embeddings: None,
        images: Some(images),
    };
    for (method, terms) in [
        (Method::Safer, 6),
        (Method::SafeClip, 8),
        (Method::Hysac, 7),
    ] {
        let mut config = config(method);
        config.max_steps = Some(6);
        config.target_query = TargetQuery::Image;
        let mut trainer = block_on(Trainer::new(&clip, set.clone(), config)).unwrap();
        let reports = run(&mut trainer);
        let names: Vec<&str> = reports[0].terms.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), terms, "{method:?}: {names:?}");
        assert!(names.iter().any(|n| n.contains("image")));
        assert!(reports.iter().all(|r| r.loss.is_finite()));
        let image_layers = block_on(weight_drift(&trainer.tuned().model)).unwrap();
        assert!(
            image_layers
                .iter()
                .any(|l| l.layer.starts_with("vision_model") && l.relative_change > 0.0),
            "{method:?}: the image tower's adapters should train"
        );
        if method == Method::Hysac {
            assert!(
                image_layers
                    .iter()
                    .any(|l| l.layer == "vision_model.embeddings.patch_embedding"
                        && l.relative_change > 0.0),
                "HySAC adapts the patch embedding"
            );
            // With images, the safe region has a bound for images too, and the adapter keeps it.
            let region = block_on(trainer.hyperbolic()).unwrap().unwrap().region;
            let image_bound = region
                .image
                .expect("a run with images measures an image bound");
            assert!(image_bound.is_finite() && image_bound > 0.0, "{region:?}");
            let (file, exported) = block_on(trainer.export()).unwrap();
            let loaded = load_adapters(clip.model.clone(), &file)
                .unwrap()
                .hyperbolic
                .unwrap();
            assert_eq!(loaded.region, exported.unwrap().region);
            assert_eq!(loaded.region.image, Some(image_bound));
        }
    }
}

#[test]
#[ignore = "needs ../shared"]
fn bad_training_input_is_refused() {
    let clip = clip("training-bad");
    let empty = TrainingSet {
        pairs: vec![],
        extra_safe: vec![],
        extra_safe_embeddings: None,
        images: None,
    };
    let error = |set: TrainingSet, config: TrainConfig| {
        block_on(Trainer::new(&clip, set, config))
            .err()
            .unwrap()
            .to_string()
    };
    assert!(error(empty, config(Method::Safer)).contains("no training pairs"));
    let mut image_query = config(Method::Safer);
    image_query.target_query = TargetQuery::Image;
    assert!(error(text_set(9), image_query).contains("needs images"));
    let mut no_rank = config(Method::Safer);
    no_rank.lora.rank = 0;
    assert!(error(text_set(9), no_rank).contains("rank"));
    let mut bad_lr = config(Method::SafeClip);
    bad_lr.optimizer.learning_rate = f64::NAN;
    assert!(error(text_set(9), bad_lr).contains("learning rate"));
}

/// The tensors of an adapter file by name (header metadata order is not fixed).
fn factors(file: &[u8]) -> Vec<(String, Vec<u8>)> {
    let tensors = safetensors::SafeTensors::deserialize(file).unwrap();
    let mut all: Vec<(String, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    all.sort();
    all
}

#[test]
#[ignore = "needs ../shared"]
fn hysac_training_moves_unsafe_captions_away_from_the_root() {
    let clip = clip("training-hysac");
    let all = pairs(1);
    let part = |keep: fn(usize) -> bool| -> Vec<Pair> {
        all.iter()
            .enumerate()
            .filter(|(i, _)| keep(*i))
            .map(|(_, p)| p.clone())
            .collect()
    };
    let train = part(|i| i % 3 != 0);
    let validation = part(|i| i % 6 == 0);
    let test = part(|i| i % 6 == 3);
    let set = TrainingSet {
        pairs: train.clone(),
        extra_safe: vec![],
        extra_safe_embeddings: None,
        images: None,
    };
    let mut config = config(Method::Hysac);
    config.max_steps = Some(40);

    let fresh_head = HyperbolicHead::new(clip.config().projection_dim, &clip.device());
    let region = block_on(safe_region(&clip, &fresh_head, (&train, None))).unwrap();
    let original = Hyperbolic {
        head: fresh_head,
        region,
    };
    let measure = |model: &Clip, hyperbolic: &Hyperbolic| {
        let on_train = block_on(hysac_metrics(model, hyperbolic, None, (&train, None))).unwrap();
        let held_out = block_on(hysac_metrics(
            model,
            hyperbolic,
            Some((&validation, None)),
            (&test, None),
        ))
        .unwrap();
        (on_train, held_out)
    };
    let before = measure(&clip, &original);

    let mut trainer = block_on(Trainer::new(&clip, set.clone(), config.clone())).unwrap();
    let reports = run(&mut trainer);
    assert_eq!(reports.len(), 40);
    for report in &reports {
        let head = report.head.expect("HySAC steps report the head");
        assert!((0.1..=10.0).contains(&head.curvature), "{head:?}");
        assert!(
            head.text_scale <= 1.0 && head.image_scale <= 1.0,
            "{head:?}"
        );
        assert!(
            (1.0 / 0.07 - 1e-3..=100.0 + 1e-3).contains(&head.logit_scale),
            "{head:?}"
        );
    }
    let entail = |r: &StepReport| {
        r.terms
            .iter()
            .find(|t| t.name == "hysac_entail_textonly")
            .unwrap()
            .value
    };
    let mean = |rs: &[StepReport], f: &dyn Fn(&StepReport) -> f32| {
        rs.iter().map(f).sum::<f32>() / rs.len() as f32
    };
    let (first, last) = (&reports[..8], &reports[32..]);
    println!(
        "HySAC: loss {:.4} → {:.4}, entailment {:.4} → {:.4} (means of the first and last 8 steps); head {:?}",
        mean(first, &|r| r.loss),
        mean(last, &|r| r.loss),
        mean(first, &entail),
        mean(last, &entail),
        reports.last().unwrap().head.unwrap()
    );
    assert!(
        mean(last, &|r| r.loss) < mean(first, &|r| r.loss),
        "the loss should fall"
    );

    let tuned_hyperbolic = block_on(trainer.hyperbolic()).unwrap().unwrap();
    let tuned = trainer.tuned();
    let after = measure(&tuned, &tuned_hyperbolic);
    for (when, m) in [("original", &before.1), ("tuned", &after.1)] {
        println!(
            "HySAC {when}, {} held-out pairs: root distance safe {:.4} / unsafe {:.4} (gap {:+.4}); classifier (threshold {:.4} from the validation split) accuracy {:.3}, FPR {:.3}, FNR {:.3}; traversal: unsafe queries retrieving a safe caption {:.3} → {:.3} ({} moved, boundary {:.3})",
            test.len(),
            m.text.safe_mean_distance,
            m.text.unsafe_mean_distance,
            m.text.unsafe_mean_distance - m.text.safe_mean_distance,
            m.text.threshold,
            m.text.accuracy,
            m.text.false_positive_rate,
            m.text.false_negative_rate,
            m.traversal.safe_before,
            m.traversal.safe_after,
            m.traversal.moved,
            m.traversal.boundary
        );
    }
    // What training optimises, on the pairs it saw: unsafe captions further from the root than
    // safe ones. (Held out, a random model has no shared semantics to carry this over: see above.)
    let gap = |m: &HysacMetrics| m.text.unsafe_mean_distance - m.text.safe_mean_distance;
    println!(
        "HySAC on the {} training pairs: root-distance gap {:+.4} → {:+.4}, classifier accuracy {:.3} → {:.3}",
        train.len(),
        gap(&before.0),
        gap(&after.0),
        before.0.text.accuracy,
        after.0.text.accuracy
    );
    assert!(
        gap(&after.0) > gap(&before.0) + 0.01,
        "training should push unsafe captions further from the root than safe ones"
    );

    // The adapter file carries the head and the safe region; a HySAC run resumes exactly.
    let file = block_on(trainer.adapter_file()).unwrap();
    let loaded = load_adapters(clip.model.clone(), &file).unwrap();
    let hyperbolic = loaded.hyperbolic.expect("a HySAC adapter holds its head");
    assert_eq!(hyperbolic.region, tuned_hyperbolic.region);
    assert_eq!(
        block_on(hyperbolic.head.values()).unwrap(),
        block_on(tuned_hyperbolic.head.values()).unwrap()
    );

    config.max_steps = Some(4);
    let mut straight = block_on(Trainer::new(&clip, set.clone(), config.clone())).unwrap();
    let straight: Vec<f32> = run(&mut straight).iter().map(|r| r.loss).collect();
    let mut first = block_on(Trainer::new(&clip, set.clone(), config)).unwrap();
    block_on(first.step()).unwrap();
    block_on(first.step()).unwrap();
    let mut resumed = block_on(Trainer::resume(
        &clip,
        set,
        &block_on(first.checkpoint()).unwrap(),
        None,
    ))
    .unwrap();
    let resumed: Vec<f32> = run(&mut resumed).iter().map(|r| r.loss).collect();
    assert_eq!(
        resumed,
        straight[2..],
        "head, its moments and the adapters all resume"
    );
}
