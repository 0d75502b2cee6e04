//! Nearest-safe lookup throughput: 64 queries, top-10 by cosine, over pools of 1k, 10k and 100k
//! unit rows of dimension 512, block by block on the device. `benches/nearest_vs_numpy.py` runs
//! it beside numpy and PyTorch; alone:
//!
//!     cargo bench --bench nearest -- [--backends flex wgpu]
//!
//! Prints one JSON object per line.

mod common;

use burn::prelude::*;
use burn::tensor::Distribution;
use common::{args, list_arg, rate};
use safer_clip::device::{Backend, block_on, device};
use safer_clip::model::l2_normalize;
use safer_clip::safety::nearest::{DEFAULT_BLOCK, nearest, read_neighbours};

const POOLS: [usize; 3] = [1_000, 10_000, 100_000];
const QUERIES: usize = 64;
const DIM: usize = 512;
const K: usize = 10;

fn main() {
    let (args, benchmarking) = args();
    if !benchmarking {
        return;
    }
    let backends: Vec<Backend> = list_arg(&args, "--backends")
        .unwrap_or_else(|| vec!["flex".into()])
        .iter()
        .map(|b| b.parse().expect("backend"))
        .collect();
    for backend in backends {
        let device = device(backend).expect("device");
        device.seed(0);
        let queries = l2_normalize(Tensor::random(
            [QUERIES, DIM],
            Distribution::Normal(0.0, 1.0),
            &device,
        ));
        for pool_size in POOLS {
            let pool = l2_normalize(Tensor::random(
                [pool_size, DIM],
                Distribution::Normal(0.0, 1.0),
                &device,
            ));
            let calls = rate(|| {
                let top = nearest(queries.clone(), pool.clone(), K, None, DEFAULT_BLOCK).unwrap();
                block_on(read_neighbours(top)).unwrap();
            });
            println!(
                "{{\"side\": \"burn\", \"backend\": \"{backend}\", \"pool\": {pool_size}, \"queries\": {QUERIES}, \"k\": {K}, \"queries_per_s\": {:.1}}}",
                calls * QUERIES as f64
            );
        }
    }
}
