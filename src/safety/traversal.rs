//! HySAC's safety traversal: an unsafe query sits far from the root; moving it along its geodesic
//! toward the root carries it into the safe region, where nearest-caption retrieval returns safe
//! content. Retrieval along the way only considers captions whose entailment cone holds the
//! point (a caption entails what it describes more specifically).

use burn::prelude::*;
use serde::Serialize;

use crate::device::{read_f32, read_i64};
use crate::error::{Error, Result};
use crate::hyperbolic::HyperbolicHead;
use crate::hyperbolic::lorentz::{
    at_root_distance, half_aperture, pairwise_distance, pairwise_inner, pairwise_oxy_angle,
    root_distance,
};

/// HySAC's `α` in the traversal boundary.
pub const TRAVERSAL_ALPHA: f32 = 0.8;

/// The root distance a traversal stops at, a little beyond the safe region's bound `b`:
/// `b' = b + tanh((b − α)/c) + 1`.
pub fn traversal_boundary(bound: f32, curvature: f32) -> f32 {
    bound + ((bound - TRAVERSAL_ALPHA) / curvature).tanh() + 1.0
}

/// Each point beyond `boundary` moved along its geodesic toward the root onto it; points inside
/// are returned unchanged.
pub fn to_safe_region(points: Tensor<2>, boundary: f32, curvature: Tensor<2>) -> Tensor<2> {
    let [n, d] = points.dims();
    let distance = root_distance(points.clone(), curvature.clone()).reshape([n, 1]);
    let beyond = distance.clone().greater_elem(boundary).expand([n, d]);
    let moved = at_root_distance(points.clone(), distance.clamp_max(boundary), curvature);
    points.mask_where(beyond, moved)
}

/// `steps` points on the geodesic from `point` (`[1, D]`, first) toward the root, evenly spaced in
/// root distance, the last at root distance `stop` (0: the root itself). A point already within
/// `stop` stays where it is.
pub fn walk(point: Tensor<2>, steps: usize, stop: f32, curvature: Tensor<2>) -> Result<Tensor<2>> {
    let [rows, _] = point.dims();
    if rows != 1 || steps < 2 || stop.is_nan() || stop < 0.0 {
        return Err(Error::Input(format!(
            "a walk goes from one point ({rows} given) in at least 2 steps ({steps} given) to a root distance ≥ 0 ({stop} given)"
        )));
    }
    let device = point.device();
    let start = root_distance(point.clone(), curvature.clone()).reshape([1, 1]);
    let end = start.clone().clamp_max(stop);
    let fractions: Vec<f32> = (0..steps).map(|i| i as f32 / (steps - 1) as f32).collect();
    let fractions = Tensor::<2>::from_data(TensorData::new(fractions, [steps, 1]), &device);
    let distances = start.clone() + (end - start) * fractions;
    Ok(at_root_distance(
        point.repeat_dim(0, steps),
        distances,
        curvature,
    ))
}

/// A point's retrieval: the caption nearest it (largest Lorentzian inner product) among those
/// whose cone holds it, `None` when none does (only the root entails the point).
#[derive(Debug, Clone, PartialEq)]
pub struct Entailing {
    pub caption: Option<usize>,
    pub root_distance: f32,
}

/// `exclude[i]`, when given, is a caption point `i` may not retrieve (itself, in a pool that
/// holds it).
pub async fn nearest_entailing(
    points: Tensor<2>,
    captions: Tensor<2>,
    exclude: Option<&[usize]>,
    head: &HyperbolicHead,
) -> Result<Vec<Entailing>> {
    let curvature = head.curvature();
    let ([n, _], [m, _]) = (points.dims(), captions.dims());
    let aperture = half_aperture(captions.clone(), curvature.clone()).unsqueeze_dim::<2>(0);
    let outside = pairwise_oxy_angle(captions.clone(), points.clone(), curvature.clone())
        .transpose()
        .greater(aperture.expand([n, m]));
    let outside = match exclude {
        Some(exclude) => {
            let mut flags = vec![false; n * m];
            for (i, &j) in exclude.iter().enumerate().filter(|&(i, &j)| i < n && j < m) {
                flags[i * m + j] = true;
            }
            let excluded =
                Tensor::<2, Bool>::from_data(TensorData::new(flags, [n, m]), &points.device());
            outside.bool_or(excluded)
        }
        None => outside,
    };
    let scores = pairwise_inner(points.clone(), captions, curvature.clone());
    let masked = scores.mask_fill(outside.clone(), f32::NEG_INFINITY);
    let best = read_i64(masked.argmax(1)).await?;
    let any = read_f32(outside.bool_not().float().max_dim(1)).await?;
    let distances = read_f32(root_distance(points, curvature)).await?;
    Ok((0..n)
        .map(|i| Entailing {
            caption: (any[i] > 0.0).then_some(best[i] as usize),
            root_distance: distances[i],
        })
        .collect())
}

/// One pool row near a point, by Lorentzian distance.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Near {
    pub index: usize,
    pub distance: f32,
}

/// For each point, the `k` pool rows (lifted captions or images) nearest to it in Lorentzian
/// distance, nearest first: HySAC's retrieval, before or after [`to_safe_region`].
pub async fn nearest_by_distance(
    points: Tensor<2>,
    pool: Tensor<2>,
    k: usize,
    curvature: Tensor<2>,
) -> Result<Vec<Vec<Near>>> {
    let ([n, dim], [m, pool_dim]) = (points.dims(), pool.dims());
    if dim != pool_dim {
        return Err(Error::Input(format!(
            "points have {dim} dimensions but the pool has {pool_dim}"
        )));
    }
    if k == 0 || k > m {
        return Err(Error::Input(format!(
            "k = {k} must be between 1 and {m}, the size of the pool"
        )));
    }
    let (closeness, indices) = pairwise_distance(points, pool, curvature)
        .neg()
        .topk_with_indices(k, 1);
    let distances = read_f32(closeness).await?;
    let indices = read_i64(indices).await?;
    Ok((0..n)
        .map(|i| {
            (0..k)
                .map(|j| Near {
                    index: indices[i * k + j] as usize,
                    distance: -distances[i * k + j],
                })
                .collect()
        })
        .collect())
}
