//! Nearest-safe lookup against brute force, on every backend, with blocks smaller than the
//! pool and with exclusions.

use crate::common::backends;
use burn::prelude::*;
use safer_clip::device::block_on;
use safer_clip::safety::nearest::{nearest, read_neighbours};

/// Deterministic unit vectors (xorshift), so every backend sees the same data.
fn unit_rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            let row: Vec<f32> = (0..dim)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state % 20_000) as f32 / 10_000.0 - 1.0
                })
                .collect();
            let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
            row.into_iter().map(|v| v / norm).collect()
        })
        .collect()
}

fn tensor(rows: &[Vec<f32>], device: &Device) -> Tensor<2> {
    let dim = rows[0].len();
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    Tensor::from_data(TensorData::new(flat, [rows.len(), dim]), device)
}

fn brute_force(
    queries: &[Vec<f32>],
    pool: &[Vec<f32>],
    k: usize,
    exclude: &[Option<usize>],
) -> Vec<Vec<usize>> {
    queries
        .iter()
        .zip(exclude)
        .map(|(q, excluded)| {
            let mut scored: Vec<(usize, f32)> = pool
                .iter()
                .enumerate()
                .filter(|(i, _)| Some(*i) != *excluded)
                .map(|(i, p)| (i, q.iter().zip(p).map(|(a, b)| a * b).sum()))
                .collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1));
            scored.into_iter().take(k).map(|(i, _)| i).collect()
        })
        .collect()
}

#[test]
fn blocked_top_k_equals_brute_force() {
    check_against_brute_force(203, &[(7, true), (64, false), (1000, true)], 5);
}

/// Blocks of hundreds of rows take the grouped top-k path (groups of 64, a ragged last group).
#[test]
fn grouped_top_k_on_large_blocks_equals_brute_force() {
    check_against_brute_force(2203, &[(700, true), (4096, false)], 5);
    check_against_brute_force(2203, &[(1500, true)], 1);
}

fn check_against_brute_force(pool_size: usize, blocks: &[(usize, bool)], k: usize) {
    let queries = unit_rows(9, 32, 1);
    let pool = unit_rows(pool_size, 32, 2);
    let exclude: Vec<Option<usize>> = (0..9).map(|i| (i % 2 == 0).then_some(i * 20)).collect();
    let no_exclusion = vec![None; 9];
    for (backend, device) in backends() {
        for &(block, with_exclusions) in blocks {
            let excluded = with_exclusions.then_some(&exclude);
            let top = nearest(
                tensor(&queries, &device),
                tensor(&pool, &device),
                k,
                excluded.map(Vec::as_slice),
                block,
            )
            .unwrap();
            let found = block_on(read_neighbours(top)).unwrap();
            let expected = brute_force(&queries, &pool, k, excluded.unwrap_or(&no_exclusion));
            for (q, (ours, theirs)) in found.iter().zip(&expected).enumerate() {
                let ours: Vec<usize> = ours.iter().map(|n| n.index).collect();
                assert_eq!(&ours, theirs, "{backend}, block {block}, query {q}");
                let score: f32 = queries[q]
                    .iter()
                    .zip(&pool[ours[0]])
                    .map(|(a, b)| a * b)
                    .sum();
                assert!((found[q][0].score - score).abs() < 1e-5);
            }
        }
    }
}

#[test]
fn bad_lookups_are_rejected() {
    let (_, device) = backends().remove(0);
    let queries = tensor(&unit_rows(2, 8, 3), &device);
    let pool = tensor(&unit_rows(4, 8, 4), &device);
    let cases: Vec<(Result<_, _>, &str)> = vec![
        (
            nearest(queries.clone(), pool.clone(), 5, None, 16),
            "between 1 and 4",
        ),
        (
            nearest(queries.clone(), pool.clone(), 0, None, 16),
            "between 1 and 4",
        ),
        (
            nearest(queries.clone(), pool.clone(), 4, Some(&[None, None]), 16),
            "between 1 and 3",
        ),
        (
            nearest(queries.clone(), pool.clone(), 1, Some(&[None]), 16),
            "1 exclusions given for 2",
        ),
        (
            nearest(queries.clone(), pool.clone(), 1, Some(&[Some(9), None]), 16),
            "outside the pool",
        ),
        (
            nearest(
                queries.clone(),
                tensor(&unit_rows(4, 6, 5), &device),
                1,
                None,
                16,
            ),
            "pool has 6",
        ),
        (
            nearest(queries, Tensor::<2>::zeros([0, 8], &device), 1, None, 16),
            "empty",
        ),
    ];
    for (result, expected) in cases {
        let msg = result.map(|_| ()).unwrap_err().to_string();
        assert!(msg.contains(expected), "{msg}");
    }
}

/// A NaN similarity (from a broken model) reaches the reader, which names it, on every backend.
#[test]
fn a_nan_score_is_reported_not_ranked_away() {
    for (backend, device) in backends() {
        let mut queries = unit_rows(2, 8, 6);
        queries[1][0] = f32::NAN;
        let top = nearest(
            tensor(&queries, &device),
            tensor(&unit_rows(300, 8, 7), &device),
            3,
            None,
            64,
        )
        .unwrap();
        let msg = block_on(read_neighbours(top)).unwrap_err().to_string();
        assert!(msg.contains("NaN"), "{backend}: {msg}");
    }
}
