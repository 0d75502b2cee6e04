//! Timing, memory and input helpers shared by the benchmarks.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use safer_clip::preprocess::Pixels;

pub const MIN_TIME: Duration = Duration::from_secs(3);

/// Runs `f` until `MIN_TIME` has passed (after one warm-up call) and returns calls per second.
pub fn rate(mut f: impl FnMut()) -> f64 {
    f();
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < MIN_TIME || calls < 3 {
        f();
        calls += 1;
    }
    calls as f64 / started.elapsed().as_secs_f64()
}

/// Peak resident memory of this process (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn texts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "a photo of a {} dog playing with a ball in the park number {i}",
                ["small", "large", "brown"][i % 3]
            )
        })
        .collect()
}

pub fn images(n: usize, size: usize) -> Vec<Pixels> {
    (0..n)
        .map(|i| Pixels {
            size,
            values: (0..3 * size * size)
                .map(|j| ((i * 31 + j) % 97) as f32 / 48.0 - 1.0)
                .collect(),
        })
        .collect()
}

/// Arguments after the bench name, and whether `cargo bench` (not `cargo test`) started us:
/// `cargo test --all-targets` runs bench binaries without `--bench` only to check they build.
pub fn args() -> (Vec<String>, bool) {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let benchmarking = all.iter().any(|a| a == "--bench");
    (
        all.into_iter().filter(|a| a != "--bench").collect(),
        benchmarking,
    )
}

/// The values after `--flag` up to the next `--option`.
pub fn list_arg(args: &[String], flag: &str) -> Option<Vec<String>> {
    let start = args.iter().position(|a| a == flag)? + 1;
    Some(
        args[start..]
            .iter()
            .take_while(|a| !a.starts_with("--"))
            .cloned()
            .collect(),
    )
}
