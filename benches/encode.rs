//! Encoding throughput of the Burn model: texts/s and images/s at batch 1, 8 and 32, and peak
//! memory. `benches/encode_vs_pytorch.py` runs it beside PyTorch on the same weights and
//! prints the ratios; alone:
//!
//!     cargo bench --bench encode -- MODEL_DIR [ndarray|flex|wgpu ...]
//!
//! Prints one JSON object per line.

use std::time::{Duration, Instant};

use safer_clip::Clip;
use safer_clip::device::{Backend, device};
use safer_clip::preprocess::Pixels;

const BATCHES: [usize; 3] = [1, 8, 32];
const MIN_TIME: Duration = Duration::from_secs(3);

fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("a photo of a {} dog playing with a ball in the park number {i}", ["small", "large", "brown"][i % 3]))
        .collect()
}

fn images(n: usize, size: usize) -> Vec<Pixels> {
    (0..n)
        .map(|i| Pixels {
            size,
            values: (0..3 * size * size).map(|j| ((i * 31 + j) % 97) as f32 / 48.0 - 1.0).collect(),
        })
        .collect()
}

/// Runs `f` until `MIN_TIME` has passed (after one warm-up call) and returns calls per second.
fn rate(mut f: impl FnMut()) -> f64 {
    f();
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < MIN_TIME || calls < 3 {
        f();
        calls += 1;
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    // `cargo test --all-targets` runs this binary without `--bench`: it only checks it builds.
    let benchmarking = all.iter().any(|a| a == "--bench");
    let args: Vec<String> = all.into_iter().filter(|a| a != "--bench").collect();
    let Some(model_dir) = args.first() else {
        eprintln!("usage: cargo bench --bench encode -- MODEL_DIR [ndarray|flex|wgpu ...]");
        std::process::exit(if benchmarking { 2 } else { 0 });
    };
    let backends: Vec<Backend> = if args.len() > 1 {
        args[1..].iter().map(|b| b.parse().expect("backend")).collect()
    } else {
        vec![Backend::Ndarray]
    };
    for backend in backends {
        let device = device(backend).expect("device");
        let started = Instant::now();
        let clip = Clip::from_dir(std::path::Path::new(model_dir), &device).expect("model");
        let load_s = started.elapsed().as_secs_f64();
        let size = clip.image_size();
        for batch in BATCHES {
            let text = texts(batch);
            let text_rate = rate(|| {
                let e = clip.embed_texts(&text).unwrap();
                let _ = e.into_data();
            }) * batch as f64;
            let pixels = images(batch, size);
            let image_rate = rate(|| {
                let e = clip.embed_images(&pixels).unwrap();
                let _ = e.into_data();
            }) * batch as f64;
            println!(
                "{{\"impl\": \"burn-{backend}\", \"batch\": {batch}, \"texts_per_s\": {text_rate:.2}, \"images_per_s\": {image_rate:.2}, \"load_s\": {load_s:.2}, \"peak_rss_mib\": {:.0}}}",
                peak_rss_mib().unwrap_or(f64::NAN)
            );
        }
        drop(device);
    }
}
