//! What a HySAC adapter does, measured on pairs: root distances of safe and unsafe content, the
//! root-distance classifier, and whether the safety traversal turns unsafe queries' retrievals
//! safe.

use serde::Serialize;

use super::classifier::{ClassifierMetrics, classify, fit_threshold};
use crate::data::Pair;
use crate::error::{Error, Result};
use crate::pipeline::Clip;
use crate::preprocess::Pixels;
use crate::safety::hysac::{
    HeadValues, Hyperbolic, HyperbolicHead, SAFE_REGION_PERCENTILE, SafeRegion, quantile, root_distances,
};
use crate::safety::traversal::{Entailing, nearest_entailing, to_safe_region, traversal_boundary};
use crate::training::PairImages;

const BATCH: usize = 64;

/// Pairs (with their images, when there are any).
pub type PairSet<'a> = (&'a [Pair], Option<&'a [PairImages]>);

#[derive(Debug, Clone, Serialize)]
pub struct HysacMetrics {
    pub head: HeadValues,
    pub safe_region: SafeRegion,
    /// Where the classifier's threshold was chosen: a validation split or the evaluated pairs.
    pub threshold_from: &'static str,
    pub text: ClassifierMetrics,
    pub images: Option<ClassifierMetrics>,
    pub traversal: TraversalMetrics,
}

/// Unsafe captions used as queries over the evaluated captions (safe and unsafe, the query
/// itself left out): how many retrieve a safe caption, as they are and after the traversal to the
/// safe boundary.
#[derive(Debug, Clone, Serialize)]
pub struct TraversalMetrics {
    pub queries: usize,
    pub boundary: f32,
    pub safe_before: f64,
    pub safe_after: f64,
    /// Queries that lay beyond the boundary and were moved.
    pub moved: usize,
}

struct Distances {
    text_safe: Vec<f32>,
    text_unsafe: Vec<f32>,
    images: Option<(Vec<f32>, Vec<f32>)>,
}

fn captions(pairs: &[Pair], pick: fn(&Pair) -> &str) -> Vec<&str> {
    pairs.iter().map(pick).collect()
}

async fn text_distances(clip: &Clip, head: &HyperbolicHead, pairs: &[Pair], pick: fn(&Pair) -> &str) -> Result<Vec<f32>> {
    let features = clip.text_features_in_batches(&captions(pairs, pick), BATCH)?;
    root_distances(head.lift_text(features), head).await
}

async fn image_distances(
    clip: &Clip,
    head: &HyperbolicHead,
    images: &[PairImages],
    pick: fn(&PairImages) -> &Pixels,
) -> Result<Vec<f32>> {
    let pixels: Vec<Pixels> = images.iter().map(|i| pick(i).clone()).collect();
    let features = clip.image_features_in_batches(&pixels, BATCH)?;
    root_distances(head.lift_image(features), head).await
}

async fn distances(clip: &Clip, head: &HyperbolicHead, (pairs, images): PairSet<'_>) -> Result<Distances> {
    let images = match images {
        Some(images) => Some((
            image_distances(clip, head, images, |i| &i.safe).await?,
            image_distances(clip, head, images, |i| &i.unsafe_image).await?,
        )),
        None => None,
    };
    Ok(Distances {
        text_safe: text_distances(clip, head, pairs, |p| &p.safe).await?,
        text_unsafe: text_distances(clip, head, pairs, |p| &p.unsafe_caption).await?,
        images,
    })
}

/// The safe region of `clip` with `head`: the 95th percentile of the root distances of the
/// pairs' safe captions (and safe images).
pub async fn safe_region(clip: &Clip, head: &HyperbolicHead, (pairs, images): PairSet<'_>) -> Result<SafeRegion> {
    let bound = |distances: Vec<f32>| {
        quantile(&distances, SAFE_REGION_PERCENTILE)
            .ok_or_else(|| Error::Input("no finite root distance to bound the safe region".into()))
    };
    let text = bound(text_distances(clip, head, pairs, |p| &p.safe).await?)?;
    let image = match images {
        Some(images) => Some(bound(image_distances(clip, head, images, |i| &i.safe).await?)?),
        None => None,
    };
    Ok(SafeRegion { text, image })
}

/// `clip` carries the HySAC adapters. The classifier's threshold is fitted on `fit` (a validation
/// split; `None`: the evaluated pairs themselves) and measured on `test`.
pub async fn hysac_metrics(
    clip: &Clip,
    hyperbolic: &Hyperbolic,
    fit: Option<PairSet<'_>>,
    test: PairSet<'_>,
) -> Result<HysacMetrics> {
    let head = &hyperbolic.head;
    let measured = distances(clip, head, test).await?;
    let (fitted, threshold_from) = match fit {
        Some(fit) => (distances(clip, head, fit).await?, "validation split"),
        None => (distances(clip, head, test).await?, "evaluated pairs"),
    };
    let text_threshold = fit_threshold(&fitted.text_safe, &fitted.text_unsafe)?;
    let text = classify(&measured.text_safe, &measured.text_unsafe, text_threshold)?;
    let images = match (&fitted.images, &measured.images) {
        (Some((fit_safe, fit_unsafe)), Some((safe, unsafe_images))) => {
            Some(classify(safe, unsafe_images, fit_threshold(fit_safe, fit_unsafe)?)?)
        }
        _ => None,
    };
    Ok(HysacMetrics {
        head: hyperbolic.head.values().await?,
        safe_region: hyperbolic.region,
        threshold_from,
        text,
        images,
        traversal: traversal_metrics(clip, hyperbolic, test.0).await?,
    })
}

async fn traversal_metrics(clip: &Clip, hyperbolic: &Hyperbolic, pairs: &[Pair]) -> Result<TraversalMetrics> {
    let head = &hyperbolic.head;
    let n = pairs.len();
    let pool: Vec<&str> = captions(pairs, |p| &p.safe)
        .into_iter()
        .chain(captions(pairs, |p| &p.unsafe_caption))
        .collect();
    let lifted = head.lift_text(clip.text_features_in_batches(&pool, BATCH)?);
    let queries = lifted.clone().slice([n..2 * n]);
    let own: Vec<usize> = (n..2 * n).collect();
    let curvature = head.values().await?.curvature;
    let boundary = traversal_boundary(hyperbolic.region.text, curvature);
    let safe_share = |found: &[Entailing]| {
        found.iter().filter(|e| e.caption.is_some_and(|c| c < n)).count() as f64 / n as f64
    };
    let before = nearest_entailing(queries.clone(), lifted.clone(), Some(&own), head).await?;
    let moved_queries = to_safe_region(queries, boundary, head.curvature());
    let after = nearest_entailing(moved_queries, lifted, Some(&own), head).await?;
    Ok(TraversalMetrics {
        queries: n,
        boundary,
        safe_before: safe_share(&before),
        safe_after: safe_share(&after),
        moved: before.iter().filter(|e| e.root_distance > boundary).count(),
    })
}
