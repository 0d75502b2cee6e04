//! The safety–knowledge trade-off of one adapter across strengths: at each, how much unsafe
//! content is redirected and how much of what the original model knew is kept.

use serde::Serialize;

use super::drift::embedding_drift;
use super::report::BATCH;
use super::retrieval::{Recall, text_redirection};
use super::zero_shot::{PromptSet, zero_shot_accuracy};
use crate::data::Pair;
use crate::error::Result;
use crate::model::ClipModel;
use crate::pipeline::Clip;
use crate::preprocess::Pixels;

/// The model at one adapter strength.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub strength: f64,
    /// Share of unsafe captions whose nearest caption is a safe one.
    pub safe_top1: f64,
    /// Recall@k of each unsafe caption's paired safe caption.
    pub paired_safe: Vec<Recall>,
    /// Zero-shot accuracy on a class-folder set, when one was given.
    pub zero_shot_accuracy: Option<f64>,
    /// Mean cosine between the original's and this model's embeddings of the pairs' safe
    /// captions: how much of what it knew it kept.
    pub safe_caption_cosine: f64,
}

/// Images with their class, and the classes' prompts.
pub type ZeroShotSet<'a> = (&'a PromptSet, &'a [(Pixels, usize)]);

/// `adapted` (the original's weights with an adapter attached) at each strength, measured on
/// `pairs` (and on `zero_shot`, when given) against `original`.
pub async fn sweep(
    original: &Clip,
    adapted: &ClipModel,
    strengths: &[f64],
    pairs: &[Pair],
    zero_shot: Option<ZeroShotSet<'_>>,
) -> Result<Vec<SweepPoint>> {
    let safe: Vec<&str> = pairs.iter().map(|p| p.safe.as_str()).collect();
    let unsafe_captions: Vec<&str> = pairs.iter().map(|p| p.unsafe_caption.as_str()).collect();
    let categories: Vec<&str> = pairs
        .iter()
        .map(|p| p.category.as_deref().unwrap_or(""))
        .collect();
    // The original's safe captions do not change with the strength: embedded once.
    let original_safe = original.embed_texts_in_batches(&safe, BATCH)?;
    let mut points = Vec::with_capacity(strengths.len());
    for &strength in strengths {
        let tuned = original.with_model(adapted.clone().with_strength(strength)?);
        let tuned_safe = tuned.embed_texts_in_batches(&safe, BATCH)?;
        let tuned_unsafe = tuned.embed_texts_in_batches(&unsafe_captions, BATCH)?;
        let redirection = text_redirection(tuned_safe.clone(), tuned_unsafe, &categories).await?;
        let accuracy = match zero_shot {
            Some((prompts, examples)) => Some(
                zero_shot_accuracy(&tuned, prompts, examples, 64)
                    .await?
                    .accuracy,
            ),
            None => None,
        };
        points.push(SweepPoint {
            strength,
            safe_top1: redirection.safe_top1,
            paired_safe: redirection.paired_safe,
            zero_shot_accuracy: accuracy,
            safe_caption_cosine: embedding_drift(original_safe.clone(), tuned_safe)
                .await?
                .mean_cosine,
        });
    }
    Ok(points)
}
