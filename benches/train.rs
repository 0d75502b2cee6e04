//! One LoRA training step's throughput and peak memory: SafeR-CLIP on a model folder (ViT-B/32
//! size with random weights in `benches/train_vs_peft.py`, which runs PyTorch + PEFT beside it),
//! r = 16 on `k_proj, v_proj, out_proj, fc1, fc2` of both towers, text-only and with images,
//! batch 8 and 32. Each configuration runs in a child process so that its peak memory is its own.
//!
//!     cargo bench --bench train -- MODEL_DIR [--backends flex] [--modes text images] [--batches 8 32]
//!
//! Prints one JSON object per line.

mod common;

use std::time::Instant;

use common::{MIN_TIME, args, images, list_arg, peak_rss_mib, texts};
use safer_clip::Clip;
use safer_clip::data::Pair;
use safer_clip::data::PairImages;
use safer_clip::device::{Backend, block_on, device};
use safer_clip::training::{Method, TrainConfig, Trainer, TrainingSet};

fn measure(model_dir: &str, backend: Backend, mode: &str, batch: usize) {
    let device = device(backend).expect("device");
    let clip = Clip::from_dir(std::path::Path::new(model_dir), &device).expect("model");
    let safe = texts(batch);
    let pairs: Vec<Pair> = safe
        .iter()
        .map(|s| Pair {
            safe: s.clone(),
            unsafe_caption: s.replace("playing with a ball", "bleeding from a wound"),
            category: None,
            safe_image: None,
            unsafe_image: None,
        })
        .collect();
    let pair_images = (mode == "images").then(|| {
        images(2 * batch, clip.image_size())
            .chunks(2)
            .map(|p| PairImages {
                safe: p[0].clone(),
                unsafe_image: p[1].clone(),
            })
            .collect()
    });
    let set = TrainingSet {
        pairs,
        extra_safe: vec![],
        extra_safe_embeddings: None,
        images: pair_images,
    };
    let mut config = TrainConfig::new(Method::Safer);
    config.batch_size = batch;
    config.curriculum = None;
    config.epochs = 1000;
    let mut trainer = block_on(Trainer::new(&clip, set, config)).expect("trainer");
    block_on(trainer.step()).expect("warm-up step");
    let started = Instant::now();
    let mut steps = 0;
    while started.elapsed() < MIN_TIME || steps < 3 {
        block_on(trainer.step()).expect("step");
        steps += 1;
    }
    let per_step = started.elapsed().as_secs_f64() / steps as f64;
    println!(
        "{{\"side\": \"burn\", \"backend\": \"{backend}\", \"mode\": \"{mode}\", \"batch\": {batch}, \"examples_per_s\": {:.3}, \"step_s\": {per_step:.3}, \"peak_rss_mb\": {:.0}}}",
        batch as f64 / per_step,
        peak_rss_mib().unwrap_or(f64::NAN)
    );
}

fn main() {
    let (args, benchmarking) = args();
    if let Some(child) = list_arg(&args, "--child") {
        let [dir, backend, mode, batch] = <[String; 4]>::try_from(child).expect("child arguments");
        measure(
            &dir,
            backend.parse().expect("backend"),
            &mode,
            batch.parse().expect("batch"),
        );
        return;
    }
    if !benchmarking {
        return;
    }
    let Some(model_dir) = args.first().filter(|a| !a.starts_with("--")) else {
        eprintln!(
            "usage: cargo bench --bench train -- MODEL_DIR [--backends ...] [--modes ...] [--batches ...]"
        );
        std::process::exit(2);
    };
    let backends = list_arg(&args, "--backends").unwrap_or_else(|| vec!["flex".into()]);
    let modes = list_arg(&args, "--modes").unwrap_or_else(|| vec!["text".into(), "images".into()]);
    let batches = list_arg(&args, "--batches").unwrap_or_else(|| vec!["8".into(), "32".into()]);
    let me = std::env::current_exe().expect("own path");
    for backend in &backends {
        for mode in &modes {
            for batch in &batches {
                let status = std::process::Command::new(&me)
                    .args(["--child", model_dir, backend, mode, batch])
                    .status()
                    .expect("child process");
                assert!(status.success(), "{backend} {mode} batch {batch} failed");
            }
        }
    }
}
