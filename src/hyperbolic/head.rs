//! HySAC's hyperbolic head (Poppi et al., CVPR 2025): the learned scalars that lift CLIP's
//! features onto a Lorentz hyperboloid, and the safe region around its root. Formulas and sources
//! in `docs/losses.md`, "HySAC".

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::lorentz::{exp_map0, root_distance};
use crate::device::{read_f32, read_finite};
use crate::error::Result;

/// The learned scalars of the hyperbolic head, each a `[1, 1]` tensor in log space:
/// curvature `c`, the pre-map scales `α` of each tower, and the contrastive logit scale.
#[derive(Debug, Clone)]
pub struct HyperbolicHead {
    pub log_curvature: Tensor<2>,
    pub log_text_scale: Tensor<2>,
    pub log_image_scale: Tensor<2>,
    pub log_logit_scale: Tensor<2>,
}

/// Where the learned scalars are kept (HySAC's clamps): `c ∈ [0.1, 10]`, `α ≤ 1` (the scales
/// only shrink features), logit scale in `[1/0.07, 100]`.
const CURVATURE_RANGE: (f64, f64) = (0.1, 10.0);
const LOGIT_SCALE_RANGE: (f64, f64) = (1.0 / 0.07, 100.0);

impl HyperbolicHead {
    /// HySAC's initial values for `embed_dim`-wide projections: `c = 1`, `α = embed_dim^-½`
    /// (features of unit expected norm before the map), logit scale `1/0.07`.
    pub fn new(embed_dim: usize, device: &Device) -> Self {
        let scalar = |v: f64| Tensor::<2>::from_data([[v as f32]], device);
        let alpha = (embed_dim as f64).powf(-0.5).ln();
        Self {
            log_curvature: scalar(0.0),
            log_text_scale: scalar(alpha),
            log_image_scale: scalar(alpha),
            log_logit_scale: scalar((1.0f64 / 0.07).ln()),
        }
    }

    /// The scalars by their checkpoint names.
    pub fn named(&self) -> [(&'static str, &Tensor<2>); 4] {
        [
            ("log_curvature", &self.log_curvature),
            ("log_text_scale", &self.log_text_scale),
            ("log_image_scale", &self.log_image_scale),
            ("log_logit_scale", &self.log_logit_scale),
        ]
    }

    pub fn named_mut(&mut self) -> [(&'static str, &mut Tensor<2>); 4] {
        [
            ("log_curvature", &mut self.log_curvature),
            ("log_text_scale", &mut self.log_text_scale),
            ("log_image_scale", &mut self.log_image_scale),
            ("log_logit_scale", &mut self.log_logit_scale),
        ]
    }

    /// Each scalar brought back into its range (after an optimiser step).
    pub fn clamped(self) -> Self {
        let log = |(lo, hi): (f64, f64)| (lo.ln(), hi.ln());
        let (c_lo, c_hi) = log(CURVATURE_RANGE);
        let (s_lo, s_hi) = log(LOGIT_SCALE_RANGE);
        Self {
            log_curvature: self.log_curvature.clamp(c_lo, c_hi),
            log_text_scale: self.log_text_scale.clamp_max(0.0),
            log_image_scale: self.log_image_scale.clamp_max(0.0),
            log_logit_scale: self.log_logit_scale.clamp(s_lo, s_hi),
        }
    }

    pub fn curvature(&self) -> Tensor<2> {
        self.log_curvature.clone().exp()
    }

    pub fn logit_scale(&self) -> Tensor<2> {
        self.log_logit_scale.clone().exp()
    }

    /// Projected text features (not normalised) lifted onto the hyperboloid.
    pub fn lift_text(&self, features: Tensor<2>) -> Tensor<2> {
        exp_map0(
            features * self.log_text_scale.clone().exp(),
            self.curvature(),
        )
    }

    pub fn lift_image(&self, features: Tensor<2>) -> Tensor<2> {
        exp_map0(
            features * self.log_image_scale.clone().exp(),
            self.curvature(),
        )
    }

    /// Every scalar as an `f32`: curvature, text scale, image scale, logit scale (not logs).
    pub async fn values(&self) -> Result<HeadValues> {
        let logs = Tensor::cat(self.named().map(|(_, t)| t.clone()).to_vec(), 1);
        let v = read_f32(logs.exp()).await?;
        Ok(HeadValues {
            curvature: v[0],
            text_scale: v[1],
            image_scale: v[2],
            logit_scale: v[3],
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HeadValues {
    pub curvature: f32,
    pub text_scale: f32,
    pub image_scale: f32,
    pub logit_scale: f32,
}

/// The safe region: the 95th percentile of the root distances of safe captions (and safe
/// images), measured on the training pairs once training ends. Stored with the adapter.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SafeRegion {
    pub text: f32,
    pub image: Option<f32>,
}

/// The safe/unsafe classifier's thresholds on root distance, fitted on a validation split: one
/// over all categories, and one per category that had validation pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub global: f32,
    pub by_category: std::collections::BTreeMap<String, f32>,
}

/// What a lifted point stands for: captions and images have their own safe-region bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PointKind {
    Text,
    Image,
}

impl SafeRegion {
    /// The bound for points of `kind`; `None` for images when training had none.
    pub fn bound(&self, kind: PointKind) -> Option<f32> {
        match kind {
            PointKind::Text => Some(self.text),
            PointKind::Image => self.image,
        }
    }
}

/// HySAC's safe/unsafe decision: unsafe content lies further from the root, so an item is unsafe
/// when its root distance exceeds `threshold` (a safe region's bound, or a fitted threshold).
pub fn is_unsafe(root_distance: f32, threshold: f32) -> bool {
    root_distance > threshold
}

/// What a HySAC adapter adds to its LoRA factors: the learned head and its safe region.
#[derive(Debug, Clone)]
pub struct Hyperbolic {
    pub head: HyperbolicHead,
    pub region: SafeRegion,
}

/// Percentile of the safe root distances that bounds the safe region.
pub const SAFE_REGION_PERCENTILE: f64 = 0.95;

/// `q`-quantile with linear interpolation (numpy's default), of finite values.
pub fn quantile(values: &[f32], q: f64) -> Option<f32> {
    let mut sorted: Vec<f32> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f32::total_cmp);
    let position = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    let fraction = (position - low as f64) as f32;
    Some(sorted[low] + (sorted[high] - sorted[low]) * fraction)
}

/// Root distances of lifted points, read back.
pub async fn root_distances(lifted: Tensor<2>, head: &HyperbolicHead) -> Result<Vec<f32>> {
    read_finite(root_distance(lifted, head.curvature()), "a root distance").await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_interpolates_like_numpy() {
        let values = [4.0, 1.0, 3.0, 2.0, f32::NAN];
        assert_eq!(quantile(&values, 0.0), Some(1.0));
        assert_eq!(quantile(&values, 1.0), Some(4.0));
        assert_eq!(quantile(&values, 0.5), Some(2.5));
        assert!((quantile(&values, 0.95).unwrap() - 3.85).abs() < 1e-6);
        assert_eq!(quantile(&[], 0.5), None);
    }
}
