//! Everything the frozen model T0/V0 contributes to training, computed once before the first
//! step: the frozen embeddings of every pair and each unsafe item's nearest safe caption
//! (SafeR-CLIP's proximity-aware target t̂, and v̂ = the image paired with it).

use burn::prelude::*;

use super::config::{TargetQuery, TrainConfig};
use crate::data::{Pair, PairImages};
use crate::error::{Error, Result};
use crate::pipeline::Clip;
use crate::preprocess::Pixels;
use crate::safety::nearest::{DEFAULT_BLOCK, Neighbour, nearest, read_neighbours};

/// Texts and images go through the frozen towers this many at a time.
const ENCODE_BATCH: usize = 256;

/// Frozen embeddings, one row per training pair, unit length, on the frozen model's device.
#[derive(Debug, Clone)]
pub struct FrozenTargets {
    /// T0(t)
    pub text_safe: Tensor<2>,
    /// T0(t*)
    pub text_unsafe: Tensor<2>,
    /// T0(t̂)
    pub text_target: Tensor<2>,
    /// For each pair, t̂ as a row of the target pool (the pairs' safe captions first, then the
    /// extra safe captions) and its cosine with the query: how far the redirection moves.
    pub nearest: Vec<Neighbour>,
    pub images: Option<FrozenImages>,
}

#[derive(Debug, Clone)]
pub struct FrozenImages {
    /// V0(v)
    pub safe: Tensor<2>,
    /// V0(v*)
    pub unsafe_image: Tensor<2>,
    /// V0(v̂)
    pub target: Tensor<2>,
}

fn embed_texts(clip: &Clip, texts: &[&str]) -> Result<Tensor<2>> {
    clip.embed_texts_in_batches(texts, ENCODE_BATCH)
}

fn embed_images(
    clip: &Clip,
    images: &[PairImages],
    pick: fn(&PairImages) -> &Pixels,
) -> Result<Tensor<2>> {
    let pixels: Vec<Pixels> = images.iter().map(|i| pick(i).clone()).collect();
    clip.embed_images_in_batches(&pixels, ENCODE_BATCH)
}

/// Frozen embeddings and nearest safe targets of `pairs`, with `extra_safe` captions (embedded
/// already, or here) as further candidates. With images, candidates are the pairs' own safe
/// captions only, so that every target t̂ has an image v̂.
pub async fn frozen_targets(
    frozen: &Clip,
    pairs: &[Pair],
    extra_safe: &[String],
    extra_safe_embeddings: Option<Tensor<2>>,
    images: Option<&[PairImages]>,
    config: &TrainConfig,
) -> Result<FrozenTargets> {
    if pairs.is_empty() {
        return Err(Error::Input("no training pairs".into()));
    }
    if let Some(images) = images
        && images.len() != pairs.len()
    {
        return Err(Error::Input(format!(
            "{} image pairs for {} caption pairs",
            images.len(),
            pairs.len()
        )));
    }
    let safe: Vec<&str> = pairs.iter().map(|p| p.safe.as_str()).collect();
    let unsafe_captions: Vec<&str> = pairs.iter().map(|p| p.unsafe_caption.as_str()).collect();
    let text_safe = embed_texts(frozen, &safe)?;
    let text_unsafe = embed_texts(frozen, &unsafe_captions)?;
    let frozen_images = match images {
        Some(images) => Some((
            embed_images(frozen, images, |i| &i.safe)?,
            embed_images(frozen, images, |i| &i.unsafe_image)?,
        )),
        None => None,
    };

    let pool = if images.is_none() && !extra_safe.is_empty() {
        let extra = match extra_safe_embeddings {
            Some(embeddings) if embeddings.dims()[0] == extra_safe.len() => embeddings,
            Some(embeddings) => {
                return Err(Error::Input(format!(
                    "{} embeddings given for {} extra safe captions",
                    embeddings.dims()[0],
                    extra_safe.len()
                )));
            }
            None => embed_texts(
                frozen,
                &extra_safe.iter().map(String::as_str).collect::<Vec<_>>(),
            )?,
        };
        Tensor::cat(vec![text_safe.clone(), extra], 0)
    } else {
        text_safe.clone()
    };
    let query = match (config.target_query, &frozen_images) {
        (TargetQuery::Text, _) => text_unsafe.clone(),
        (TargetQuery::Image, Some((_, unsafe_images))) => unsafe_images.clone(),
        (TargetQuery::Image, None) => {
            return Err(Error::Input(
                "image→text target selection needs images for every pair".into(),
            ));
        }
    };
    let exclude: Option<Vec<Option<usize>>> = config
        .exclude_own_pair
        .then(|| (0..pairs.len()).map(Some).collect());
    let top = nearest(query, pool.clone(), 1, exclude.as_deref(), DEFAULT_BLOCK)?;
    let chosen = top.indices.clone().reshape([pairs.len()]);
    let nearest: Vec<Neighbour> = read_neighbours(top)
        .await?
        .into_iter()
        .map(|n| n[0])
        .collect();
    let text_target = pool.select(0, chosen.clone());
    let images = frozen_images.map(|(safe, unsafe_image)| FrozenImages {
        target: safe.clone().select(0, chosen),
        safe,
        unsafe_image,
    });
    Ok(FrozenTargets {
        text_safe,
        text_unsafe,
        text_target,
        nearest,
        images,
    })
}
