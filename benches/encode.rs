//! Encoding throughput of the Burn model: texts/s and images/s at batch 1, 8 and 32, and peak
//! memory. `benches/encode_vs_pytorch.py` runs it beside PyTorch on the same weights and
//! prints the ratios; alone:
//!
//!     cargo bench --bench encode -- MODEL_DIR [flex|wgpu|wgpu:f16 ...]
//!
//! (`wgpu:f16`: computing in f16.) Prints one JSON object per line.

mod common;

use std::time::Instant;

use common::{args, images, peak_rss_mib, rate, texts};
use safer_clip::Clip;
use safer_clip::device::{Backend, Precision, device};

const BATCHES: [usize; 3] = [1, 8, 32];

fn main() {
    let (args, benchmarking) = args();
    if !benchmarking {
        return;
    }
    let Some(model_dir) = args.first() else {
        eprintln!("usage: cargo bench --bench encode -- MODEL_DIR [flex|wgpu|wgpu:f16 ...]");
        std::process::exit(2);
    };
    let runs: Vec<(Backend, Precision)> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|run| {
                let (backend, precision) = run.split_once(':').unwrap_or((run, "f32"));
                (
                    backend.parse().expect("backend"),
                    precision.parse().expect("precision"),
                )
            })
            .collect()
    } else {
        vec![(Backend::Flex, Precision::F32)]
    };
    for (backend, precision) in runs {
        let device = device(backend).expect("device");
        let dtype = precision.float_dtype(backend, &device).expect("precision");
        let started = Instant::now();
        let clip = Clip::from_dir(std::path::Path::new(model_dir), &device)
            .expect("model")
            .with_float_dtype(dtype);
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
                "{{\"impl\": \"burn-{backend}\", \"precision\": \"{precision}\", \"batch\": {batch}, \"texts_per_s\": {text_rate:.2}, \"images_per_s\": {image_rate:.2}, \"load_s\": {load_s:.2}, \"peak_rss_mib\": {:.0}}}",
                peak_rss_mib().unwrap_or(f64::NAN)
            );
        }
        drop(device);
    }
}
