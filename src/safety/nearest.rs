//! Proximity-aware target selection (SafeR-CLIP): for each unsafe item, the safe captions
//! nearest to it in the frozen model's space.
//!
//! The pool is scanned block by block and a running top-k is kept on the device, so a pool of
//! any size never materialises more than one `[queries, block]` slice of the similarity matrix,
//! and nothing is read back until the end (the browser reads asynchronously).

use burn::prelude::*;
use serde::Serialize;

use crate::device::{read_finite, read_i64};
use crate::error::{Error, Result};

/// Pool rows compared at once: 8 queries × 8192 rows is 256 KiB of similarities.
pub const DEFAULT_BLOCK: usize = 8192;

/// The `k` best pool rows of each query: cosine scores `[queries, k]`, best first, and their
/// row indices in the pool.
pub struct TopK {
    pub scores: Tensor<2>,
    pub indices: Tensor<2, Int>,
}

/// One neighbour of a query, as read back from a [`TopK`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Neighbour {
    pub index: usize,
    pub score: f32,
}

/// Nearest pool rows to each query by cosine similarity. Both `queries` `[q, d]` and `pool`
/// `[n, d]` must hold unit-length rows. `exclude[i]`, when given, is a pool row that query `i`
/// may not pick (its own paired caption, say).
pub fn nearest(
    queries: Tensor<2>,
    pool: Tensor<2>,
    k: usize,
    exclude: Option<&[Option<usize>]>,
    block: usize,
) -> Result<TopK> {
    let [n_queries, dim] = queries.dims();
    let [pool_size, pool_dim] = pool.dims();
    if pool_size == 0 {
        return Err(Error::Input("the pool of safe captions is empty".into()));
    }
    if dim != pool_dim {
        return Err(Error::Input(format!(
            "queries have {dim} dimensions but the pool has {pool_dim}"
        )));
    }
    let available = pool_size - usize::from(exclude.is_some());
    if k == 0 || k > available {
        return Err(Error::Input(format!(
            "k = {k} must be between 1 and {available}, the pool rows a query can pick"
        )));
    }
    if let Some(exclude) = exclude {
        if exclude.len() != n_queries {
            return Err(Error::Input(format!(
                "{} exclusions given for {n_queries} queries",
                exclude.len()
            )));
        }
        if let Some(&bad) = exclude.iter().flatten().find(|&&i| i >= pool_size) {
            return Err(Error::Input(format!(
                "excluded row {bad} is outside the pool of {pool_size}"
            )));
        }
    }
    let device = queries.device();
    let block = block.max(k);
    if device == Device::flex() {
        return nearest_in_memory(queries, pool, k, exclude, block);
    }

    let mut best: Option<TopK> = None;
    for start in (0..pool_size).step_by(block) {
        let end = (start + block).min(pool_size);
        let mut scores = queries
            .clone()
            .matmul(pool.clone().slice(start..end).transpose());
        if let Some(exclude) = exclude {
            scores = mask_excluded(scores, exclude, start, end, &device);
        }
        let (block_scores, block_indices) = block_top_k(scores, k.min(end - start));
        let block_indices = block_indices.add_scalar(start as i64);
        best = Some(match best {
            None => TopK {
                scores: block_scores,
                indices: block_indices,
            },
            Some(previous) => {
                let scores = Tensor::cat(vec![previous.scores, block_scores], 1);
                let indices = Tensor::cat(vec![previous.indices, block_indices], 1);
                let candidates = scores.dims()[1];
                let (scores, order) = scores.topk_with_indices(k.min(candidates), 1);
                TopK {
                    scores,
                    indices: indices.gather(1, order),
                }
            }
        });
    }
    Ok(best.expect("the pool is not empty"))
}

/// [`nearest`] on the CPU backend, whose scores are already in this process's memory: each
/// query's best `k` are kept in Rust as the blocks go by, one pass over each row, where the
/// backends sort. A NaN counts as the best score, so that reading the result reports it.
fn nearest_in_memory(
    queries: Tensor<2>,
    pool: Tensor<2>,
    k: usize,
    exclude: Option<&[Option<usize>]>,
    block: usize,
) -> Result<TopK> {
    let [n_queries, _] = queries.dims();
    let [pool_size, _] = pool.dims();
    let device = queries.device();
    let better = |a: f32, b: f32| a > b || (a.is_nan() && !b.is_nan());
    let mut best: Vec<Vec<(f32, usize)>> = vec![Vec::with_capacity(k + 1); n_queries];
    for start in (0..pool_size).step_by(block) {
        let end = (start + block).min(pool_size);
        // `[block, queries]`: the tall pool block on the left is what CPU matrix
        // multiplications do best.
        let scores: Vec<f32> = pool
            .clone()
            .slice(start..end)
            .matmul(queries.clone().transpose())
            .into_data()
            .convert::<f32>()
            .try_into_vec::<f32>()
            .map_err(|e| Error::Device(format!("cannot read similarity scores: {e:?}")))?;
        for (offset, row) in scores.chunks(n_queries).enumerate() {
            let index = start + offset;
            for (q, (&score, top)) in row.iter().zip(&mut best).enumerate() {
                let excluded = exclude.and_then(|e| e[q]);
                if excluded == Some(index) || (top.len() == k && !better(score, top[k - 1].0)) {
                    continue;
                }
                let at = top.partition_point(|&(kept, _)| !better(score, kept));
                top.insert(at, (score, index));
                top.truncate(k);
            }
        }
    }
    let scores: Vec<f32> = best.iter().flatten().map(|&(score, _)| score).collect();
    let indices: Vec<i64> = best.iter().flatten().map(|&(_, i)| i as i64).collect();
    Ok(TopK {
        scores: Tensor::from_data(TensorData::new(scores, [n_queries, k]), &device),
        indices: Tensor::from_data(TensorData::new(indices, [n_queries, k]), &device),
    })
}

/// Rows scanned per group by [`block_top_k`].
const GROUP: usize = 64;

/// The `k` largest scores of each row and their columns. Backends sort a whole row for top-k,
/// so the row is first cut into groups of [`GROUP`]: an element of the top `k` lies in a group
/// whose maximum is among the `k` largest group maxima (at most `k` groups hold an element at
/// least the k-th largest), so sorting the maxima, then the `k` winning groups, is exact and
/// sorts ~`GROUP`× less.
fn block_top_k(scores: Tensor<2>, k: usize) -> (Tensor<2>, Tensor<2, Int>) {
    let [rows, cols] = scores.dims();
    let groups = cols.div_ceil(GROUP);
    if groups <= k * 2 {
        return scores.topk_with_indices(k, 1);
    }
    let device = scores.device();
    let padded = match groups * GROUP - cols {
        0 => scores,
        pad => Tensor::cat(
            vec![
                scores,
                Tensor::full([rows, pad], f32::NEG_INFINITY, &device),
            ],
            1,
        ),
    };
    let maxima = padded
        .clone()
        .reshape([rows, groups, GROUP])
        .max_dim(2)
        .reshape([rows, groups]);
    let (_, winners) = maxima.topk_with_indices(k, 1);
    // Columns of every element of the winning groups: group · GROUP + offset.
    let offsets = Tensor::<1, Int>::arange(0..GROUP as i64, &device).reshape([1, 1, GROUP]);
    let columns =
        (winners.reshape([rows, k, 1]) * GROUP as i64 + offsets).reshape([rows, k * GROUP]);
    let candidates = padded.gather(1, columns.clone());
    let (scores, order) = candidates.topk_with_indices(k, 1);
    (scores, columns.gather(1, order))
}

fn mask_excluded(
    scores: Tensor<2>,
    exclude: &[Option<usize>],
    start: usize,
    end: usize,
    device: &Device,
) -> Tensor<2> {
    let [rows, cols] = scores.dims();
    let mut mask = vec![false; rows * cols];
    let mut any = false;
    for (q, excluded) in exclude.iter().enumerate() {
        if let Some(i) = excluded.filter(|i| (start..end).contains(i)) {
            mask[q * cols + i - start] = true;
            any = true;
        }
    }
    if !any {
        return scores;
    }
    let mask = Tensor::<2, Bool>::from_data(TensorData::new(mask, [rows, cols]), device);
    scores.mask_fill(mask, f32::NEG_INFINITY)
}

/// Reads a [`TopK`] back into neighbour lists, one per query.
pub async fn read_neighbours(top: TopK) -> Result<Vec<Vec<Neighbour>>> {
    let [queries, k] = top.scores.dims();
    let scores = read_finite(top.scores, "a similarity score").await?;
    let indices = read_i64(top.indices).await?;
    Ok((0..queries)
        .map(|q| {
            (0..k)
                .map(|j| Neighbour {
                    index: indices[q * k + j] as usize,
                    score: scores[q * k + j],
                })
                .collect()
        })
        .collect())
}
