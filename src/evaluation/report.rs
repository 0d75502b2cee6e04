//! The measurements `safer-clip train` and `safer-clip eval` report, for one model or an
//! original/tuned pair.

use serde::Serialize;

use super::drift::{EmbeddingDrift, LayerDrift, embedding_drift, weight_drift};
use super::retrieval::{TextRedirection, VisuRetrieval, text_redirection, visu_retrieval};
use crate::data::{Pair, PairImages};
use crate::error::Result;
use crate::pipeline::Clip;
use crate::preprocess::Pixels;

pub(super) const BATCH: usize = 64;

/// Retrieval on evaluation pairs, every embedding from one model.
#[derive(Debug, Clone, Serialize)]
pub struct PairMetrics {
    pub pairs: usize,
    pub text: TextRedirection,
    pub visu: Option<VisuRetrieval>,
}

pub async fn pair_metrics(
    clip: &Clip,
    pairs: &[Pair],
    images: Option<&[PairImages]>,
) -> Result<PairMetrics> {
    let safe: Vec<&str> = pairs.iter().map(|p| p.safe.as_str()).collect();
    let unsafe_captions: Vec<&str> = pairs.iter().map(|p| p.unsafe_caption.as_str()).collect();
    let text_safe = clip.embed_texts_in_batches(&safe, BATCH)?;
    let text_unsafe = clip.embed_texts_in_batches(&unsafe_captions, BATCH)?;
    let categories: Vec<&str> = pairs
        .iter()
        .map(|p| p.category.as_deref().unwrap_or(""))
        .collect();
    let text = text_redirection(text_safe.clone(), text_unsafe.clone(), &categories).await?;
    let visu = match images {
        Some(images) => {
            let embed = |pick: fn(&PairImages) -> &Pixels| {
                let pixels: Vec<Pixels> = images.iter().map(|i| pick(i).clone()).collect();
                clip.embed_images_in_batches(&pixels, BATCH)
            };
            let image_safe = embed(|i| &i.safe)?;
            let image_unsafe = embed(|i| &i.unsafe_image)?;
            Some(visu_retrieval(text_safe, text_unsafe, image_safe, image_unsafe).await?)
        }
        None => None,
    };
    Ok(PairMetrics {
        pairs: pairs.len(),
        text,
        visu,
    })
}

/// How far a tuned model moved from its original.
#[derive(Debug, Clone, Serialize)]
pub struct Drift {
    /// Cosine between original and tuned embeddings of held-out safe captions.
    pub safe_captions: EmbeddingDrift,
    pub mean_weight_change: f64,
    pub max_weight_change: f64,
    /// `‖ΔW‖/‖W‖` of every adapted projection.
    pub layers: Vec<LayerDrift>,
}

/// `tuned` must carry its adapters unmerged (their product is the weight change).
pub async fn drift(original: &Clip, tuned: &Clip, safe_captions: &[&str]) -> Result<Drift> {
    let before = original.embed_texts_in_batches(safe_captions, BATCH)?;
    let after = tuned.embed_texts_in_batches(safe_captions, BATCH)?;
    let layers = weight_drift(&tuned.model).await?;
    let changes = layers.iter().map(|l| l.relative_change);
    Ok(Drift {
        safe_captions: embedding_drift(before, after).await?,
        mean_weight_change: changes.clone().sum::<f64>() / layers.len().max(1) as f64,
        max_weight_change: changes.fold(0.0, f64::max),
        layers,
    })
}
