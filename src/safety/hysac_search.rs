//! What a HySAC model answers about a query, for any front end: its safe/unsafe reading against
//! the safe region, the pool points nearest to it (moved into the safe region first, if asked),
//! and its traversal toward the root with the caption each point on the way retrieves.

use burn::prelude::*;
use serde::Serialize;

use super::traversal::{
    Near, nearest_by_distance, nearest_entailing, to_safe_region, traversal_boundary, walk,
};
use crate::error::{Error, Result};
use crate::hyperbolic::{Hyperbolic, PointKind, Thresholds, is_unsafe, root_distances};
use crate::pipeline::Clip;
use crate::preprocess::Pixels;

/// Texts or images go through a tower this many at a time while being lifted.
const LIFT_BATCH: usize = 256;

/// Captions or images lifted onto a HySAC model's hyperboloid (their space components): a pool
/// to retrieve from, or one lifted text as a query.
#[derive(Debug, Clone)]
pub struct LiftedPoints {
    pub points: Tensor<2>,
    pub kind: PointKind,
}

impl LiftedPoints {
    pub fn len(&self) -> usize {
        self.points.dims()[0]
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `other`'s points after these, so that a pool can be lifted a chunk at a time.
    pub fn append(&mut self, other: &LiftedPoints) -> Result<()> {
        if other.kind != self.kind {
            return Err(Error::Input(
                "lifted captions and lifted images cannot be one pool".into(),
            ));
        }
        self.points = Tensor::cat(vec![self.points.clone(), other.points.clone()], 0);
        Ok(())
    }

    /// Points kept by a front end: `values` holds rows of `cols` values, which must be the
    /// model's embedding size, all finite.
    pub fn from_rows(values: Vec<f32>, cols: usize, kind: PointKind, clip: &Clip) -> Result<Self> {
        let dim = clip.config().projection_dim;
        if cols != dim || values.is_empty() || !values.len().is_multiple_of(dim) {
            return Err(Error::Input(format!(
                "lifted points need rows of {dim} values (this model's embedding size); got {} values in rows of {cols}",
                values.len()
            )));
        }
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Input(format!(
                "lifted point value {bad} is not a finite number"
            )));
        }
        let rows = values.len() / dim;
        let points = Tensor::from_data(TensorData::new(values, [rows, dim]), &clip.device());
        Ok(Self { points, kind })
    }
}

/// `texts` lifted with `hyperbolic`'s head (`clip` carries the HySAC adapters).
pub fn lift_texts<S: AsRef<str>>(
    clip: &Clip,
    hyperbolic: &Hyperbolic,
    texts: &[S],
) -> Result<LiftedPoints> {
    let features = clip.text_features_in_batches(texts, LIFT_BATCH)?;
    Ok(LiftedPoints {
        points: hyperbolic.head.lift_text(features),
        kind: PointKind::Text,
    })
}

/// Preprocessed images lifted with `hyperbolic`'s head.
pub fn lift_images(
    clip: &Clip,
    hyperbolic: &Hyperbolic,
    images: &[Pixels],
) -> Result<LiftedPoints> {
    let features = clip.image_features_in_batches(images, LIFT_BATCH)?;
    Ok(LiftedPoints {
        points: hyperbolic.head.lift_image(features),
        kind: PointKind::Image,
    })
}

/// A point's safe/unsafe reading: its root distance, and whether that is beyond the safe
/// region's bound for its kind (`None` for images when training had none, so no bound).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    pub distance: f32,
    #[serde(rename = "unsafe")]
    pub is_unsafe: Option<bool>,
    /// For a text, with the per-category thresholds `train` fitted on its validation split: the
    /// categories whose threshold the distance exceeds (empty: none does, or there are none).
    pub flagged_by: Vec<String>,
}

fn read(distance: f32, bound: Option<f32>, thresholds: Option<&Thresholds>) -> Reading {
    let flagged_by = thresholds
        .map(|t| {
            t.by_category
                .iter()
                .filter(|(_, t)| is_unsafe(distance, **t))
                .map(|(c, _)| c.clone())
                .collect()
        })
        .unwrap_or_default();
    Reading {
        distance,
        is_unsafe: bound.map(|b| is_unsafe(distance, b)),
        flagged_by,
    }
}

/// HySAC as a classifier: each point's reading (`thresholds`, when the adapter has them, say
/// which categories' thresholds a text exceeds).
pub async fn readings(
    hyperbolic: &Hyperbolic,
    thresholds: Option<&Thresholds>,
    points: &LiftedPoints,
) -> Result<Vec<Reading>> {
    let bound = hyperbolic.region.bound(points.kind);
    let thresholds = thresholds.filter(|_| points.kind == PointKind::Text);
    let distances = root_distances(points.points.clone(), &hyperbolic.head).await?;
    Ok(distances
        .into_iter()
        .map(|d| read(d, bound, thresholds))
        .collect())
}

/// One lifted text, as a query.
fn query_point(query: &LiftedPoints) -> Result<Tensor<2>> {
    if query.kind != PointKind::Text || query.len() != 1 {
        return Err(Error::Input("a HySAC query is one lifted text".into()));
    }
    Ok(query.points.clone())
}

/// The traversal boundary of the text safe region under the head's curvature.
async fn text_boundary(hyperbolic: &Hyperbolic) -> Result<f32> {
    let curvature = hyperbolic.head.values().await?.curvature;
    Ok(traversal_boundary(hyperbolic.region.text, curvature))
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Retrieval {
    /// The query's reading.
    pub query: Reading,
    /// The query's root distance after redirection; `None` when it was not redirected (not
    /// asked, or already within the traversal boundary).
    pub redirected: Option<f32>,
    /// The nearest pool points, nearest first.
    pub results: Vec<Near>,
}

/// The `k` pool points nearest to `query` in Lorentzian distance (`k` capped at the pool's size).
/// With `redirect`, a query beyond the traversal boundary is first moved toward the root onto it
/// (HySAC's "redirect to safe").
pub async fn retrieve(
    hyperbolic: &Hyperbolic,
    thresholds: Option<&Thresholds>,
    pool: &LiftedPoints,
    query: &LiftedPoints,
    k: usize,
    redirect: bool,
) -> Result<Retrieval> {
    let head = &hyperbolic.head;
    let point = query_point(query)?;
    let distance = root_distances(point.clone(), head).await?[0];
    let boundary = text_boundary(hyperbolic).await?;
    let (point, redirected) = if redirect && distance > boundary {
        (
            to_safe_region(point, boundary, head.curvature()),
            Some(boundary),
        )
    } else {
        (point, None)
    };
    let found = nearest_by_distance(
        point,
        pool.points.clone(),
        k.min(pool.len()),
        head.curvature(),
    )
    .await?;
    Ok(Retrieval {
        query: read(distance, Some(hyperbolic.region.text), thresholds),
        redirected,
        results: found.into_iter().next().unwrap_or_default(),
    })
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraversalStep {
    /// Pool index of the nearest caption whose entailment cone holds the point; `None`: the root.
    pub caption: Option<usize>,
    /// The point's root distance.
    pub distance: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Traversal {
    /// The safe region's bound and the traversal boundary beyond it, in root distance.
    pub bound: f32,
    pub boundary: f32,
    pub steps: Vec<TraversalStep>,
}

/// HySAC's traversal of `query` toward the root in `steps` evenly spaced points, with the caption
/// of `pool` each one retrieves.
pub async fn traverse(
    hyperbolic: &Hyperbolic,
    pool: &LiftedPoints,
    query: &LiftedPoints,
    steps: usize,
) -> Result<Traversal> {
    let head = &hyperbolic.head;
    let path = walk(query_point(query)?, steps, 0.0, head.curvature())?;
    let found = nearest_entailing(path, pool.points.clone(), None, head).await?;
    Ok(Traversal {
        bound: hyperbolic.region.text,
        boundary: text_boundary(hyperbolic).await?,
        steps: found
            .into_iter()
            .map(|f| TraversalStep {
                caption: f.caption,
                distance: f.root_distance,
            })
            .collect(),
    })
}
