//! What a HySAC adapter does, measured on pairs: root distances of safe and unsafe content, the
//! root-distance classifier, and whether the safety traversal turns unsafe queries' retrievals
//! safe.

use burn::prelude::*;
use serde::Serialize;

use super::classifier::{ClassifierMetrics, classify, fit_threshold};
use crate::data::{Pair, PairImages};
use crate::error::{Error, Result};
use crate::hyperbolic::{
    HeadValues, Hyperbolic, HyperbolicHead, SAFE_REGION_PERCENTILE, SafeRegion, quantile,
    root_distances,
};
use crate::pipeline::Clip;
use crate::preprocess::Pixels;
use crate::safety::traversal::{Entailing, nearest_entailing, to_safe_region, traversal_boundary};

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
    /// The text classifier on each category's pairs: with the global threshold (weighted by
    /// items, these add up to `text`) and with a threshold fitted on that category alone.
    pub text_by_category: Vec<CategoryClassifier>,
    pub images: Option<ClassifierMetrics>,
    pub traversal: TraversalMetrics,
}

#[derive(Debug, Clone, Serialize)]
pub struct CategoryClassifier {
    pub category: String,
    pub global: ClassifierMetrics,
    /// The threshold fitted on this category's pairs of the fitting set; `None` when it holds
    /// none of them (the category is then judged by the global threshold alone).
    pub own: Option<ClassifierMetrics>,
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

/// Pairs lifted onto the hyperboloid: captions (safe rows, then unsafe rows) and, when there are
/// images, images in the same order.
struct Lifted {
    pairs: usize,
    captions: Tensor<2>,
    images: Option<Tensor<2>>,
}

fn captions(pairs: &[Pair], pick: fn(&Pair) -> &str) -> Vec<&str> {
    pairs.iter().map(pick).collect()
}

fn lift(clip: &Clip, head: &HyperbolicHead, (pairs, images): PairSet<'_>) -> Result<Lifted> {
    let texts: Vec<&str> = captions(pairs, |p| &p.safe)
        .into_iter()
        .chain(captions(pairs, |p| &p.unsafe_caption))
        .collect();
    let images = match images {
        Some(images) => {
            let pixels: Vec<Pixels> = images
                .iter()
                .map(|i| i.safe.clone())
                .chain(images.iter().map(|i| i.unsafe_image.clone()))
                .collect();
            Some(head.lift_image(clip.image_features_in_batches(&pixels, BATCH)?))
        }
        None => None,
    };
    Ok(Lifted {
        pairs: pairs.len(),
        captions: head.lift_text(clip.text_features_in_batches(&texts, BATCH)?),
        images,
    })
}

async fn distances(lifted: &Lifted, head: &HyperbolicHead) -> Result<Distances> {
    let n = lifted.pairs;
    let halves = |mut all: Vec<f32>| {
        let unsafe_half = all.split_off(n);
        (all, unsafe_half)
    };
    let (text_safe, text_unsafe) = halves(root_distances(lifted.captions.clone(), head).await?);
    let images = match &lifted.images {
        Some(images) => Some(halves(root_distances(images.clone(), head).await?)),
        None => None,
    };
    Ok(Distances {
        text_safe,
        text_unsafe,
        images,
    })
}

async fn text_distances(
    clip: &Clip,
    head: &HyperbolicHead,
    pairs: &[Pair],
    pick: fn(&Pair) -> &str,
) -> Result<Vec<f32>> {
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

/// The safe region of `clip` with `head`: the 95th percentile of the root distances of the
/// pairs' safe captions (and safe images).
pub async fn safe_region(
    clip: &Clip,
    head: &HyperbolicHead,
    (pairs, images): PairSet<'_>,
) -> Result<SafeRegion> {
    let bound = |distances: Vec<f32>| {
        quantile(&distances, SAFE_REGION_PERCENTILE)
            .ok_or_else(|| Error::Input("no finite root distance to bound the safe region".into()))
    };
    let text = bound(text_distances(clip, head, pairs, |p| &p.safe).await?)?;
    let image = match images {
        Some(images) => Some(bound(
            image_distances(clip, head, images, |i| &i.safe).await?,
        )?),
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
    let values = head.values().await?;
    let tested = lift(clip, head, test)?;
    let measured = distances(&tested, head).await?;
    let (fitted, threshold_from) = match fit {
        Some(fit) => (
            Some(distances(&lift(clip, head, fit)?, head).await?),
            "validation split",
        ),
        None => (None, "evaluated pairs"),
    };
    let fitted = fitted.as_ref().unwrap_or(&measured);
    let text_threshold = fit_threshold(&fitted.text_safe, &fitted.text_unsafe)?;
    let text = classify(&measured.text_safe, &measured.text_unsafe, text_threshold)?;
    let fit_pairs = fit.map_or(test.0, |(pairs, _)| pairs);
    let text_by_category = by_category(test.0, &measured, fit_pairs, fitted, text_threshold)?;
    let images = match (&fitted.images, &measured.images) {
        (Some((fit_safe, fit_unsafe)), Some((safe, unsafe_images))) => Some(classify(
            safe,
            unsafe_images,
            fit_threshold(fit_safe, fit_unsafe)?,
        )?),
        _ => None,
    };
    let boundary = traversal_boundary(hyperbolic.region.text, values.curvature);
    Ok(HysacMetrics {
        head: values,
        safe_region: hyperbolic.region,
        threshold_from,
        text,
        text_by_category,
        images,
        traversal: traversal_metrics(&tested, head, boundary).await?,
    })
}

fn category(pair: &Pair) -> &str {
    pair.category.as_deref().unwrap_or("")
}

/// The rows of `distances` (one per pair of `pairs`) whose pair is of `name`.
fn of_category(pairs: &[Pair], distances: &[f32], name: &str) -> Vec<f32> {
    pairs
        .iter()
        .zip(distances)
        .filter(|(p, _)| category(p) == name)
        .map(|(_, &d)| d)
        .collect()
}

/// The text classifier on each category of `test`, with the global threshold and with its own
/// fitted on the category's pairs of `fit`.
fn by_category(
    test: &[Pair],
    measured: &Distances,
    fit: &[Pair],
    fitted: &Distances,
    global: f32,
) -> Result<Vec<CategoryClassifier>> {
    let mut names: Vec<&str> = test.iter().map(category).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| {
            let (safe, unsafe_) = (
                of_category(test, &measured.text_safe, name),
                of_category(test, &measured.text_unsafe, name),
            );
            let (fit_safe, fit_unsafe) = (
                of_category(fit, &fitted.text_safe, name),
                of_category(fit, &fitted.text_unsafe, name),
            );
            let own = match fit_safe.is_empty() {
                true => None,
                false => Some(classify(
                    &safe,
                    &unsafe_,
                    fit_threshold(&fit_safe, &fit_unsafe)?,
                )?),
            };
            Ok(CategoryClassifier {
                category: name.to_string(),
                global: classify(&safe, &unsafe_, global)?,
                own,
            })
        })
        .collect()
}

/// The unsafe captions as queries over all lifted captions, each leaving itself out.
async fn traversal_metrics(
    lifted: &Lifted,
    head: &HyperbolicHead,
    boundary: f32,
) -> Result<TraversalMetrics> {
    let n = lifted.pairs;
    let queries = lifted.captions.clone().slice(n..2 * n);
    let own: Vec<usize> = (n..2 * n).collect();
    let safe_share = |found: &[Entailing]| {
        found
            .iter()
            .filter(|e| e.caption.is_some_and(|c| c < n))
            .count() as f64
            / n as f64
    };
    let before =
        nearest_entailing(queries.clone(), lifted.captions.clone(), Some(&own), head).await?;
    let moved_queries = to_safe_region(queries, boundary, head.curvature());
    let after = nearest_entailing(moved_queries, lifted.captions.clone(), Some(&own), head).await?;
    Ok(TraversalMetrics {
        queries: n,
        boundary,
        safe_before: safe_share(&before),
        safe_after: safe_share(&after),
        moved: before.iter().filter(|e| e.root_distance > boundary).count(),
    })
}
