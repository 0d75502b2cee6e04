//! How far tuning moved the model: the evidence that a minimal intervention keeps what CLIP
//! knew (SafeR-CLIP's argument against Safe-CLIP's rigid redirection).

use burn::prelude::*;
use serde::Serialize;

use crate::device::read_finite;
use crate::error::Result;
use crate::model::ClipModel;
use crate::safety::losses::cosine_rows;

/// Mean and minimum of `cos(before_i, after_i)` over paired rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EmbeddingDrift {
    pub mean_cosine: f64,
    pub min_cosine: f64,
}

pub async fn embedding_drift(before: Tensor<2>, after: Tensor<2>) -> Result<EmbeddingDrift> {
    let cosines = read_finite(cosine_rows(before, after), "a cosine to the original").await?;
    let mean = cosines.iter().map(|&c| c as f64).sum::<f64>() / cosines.len().max(1) as f64;
    let min = cosines.iter().fold(f64::INFINITY, |m, &c| m.min(c as f64));
    Ok(EmbeddingDrift {
        mean_cosine: mean,
        min_cosine: min,
    })
}

/// `‖ΔW‖_F / ‖W‖_F` of one adapted projection, with `ΔW = (α/r) A B`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerDrift {
    pub layer: String,
    pub relative_change: f64,
}

pub async fn weight_drift(model: &ClipModel) -> Result<Vec<LayerDrift>> {
    let mut drift = Vec::new();
    for projection in model.projections() {
        let Some(adapter) = &projection.layer.adapter else {
            continue;
        };
        let norm = |t: Tensor<2>| t.powi_scalar(2).sum().sqrt();
        let both = Tensor::cat(
            vec![
                norm(adapter.delta()),
                norm(projection.layer.base.weight.val()),
            ],
            0,
        );
        let values = read_finite(both, "an adapter's weight change").await?;
        drift.push(LayerDrift {
            layer: projection.name,
            relative_change: values[0] as f64 / values[1] as f64,
        });
    }
    Ok(drift)
}
