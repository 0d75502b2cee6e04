//! HySAC's training terms (Poppi et al., CVPR 2025): Lorentzian contrastive terms and entailment
//! cones, safe content near the root and unsafe content further out, inside the cones of the safe
//! content it specialises. Formulas and sources in `docs/losses.md`, "HySAC".

use burn::prelude::*;

use super::losses::{StepEmbeddings, Term, cosine_distance, symmetric_infonce};
use crate::hyperbolic::HyperbolicHead;
use crate::hyperbolic::lorentz::{half_aperture, oxy_angle, pairwise_distance};

/// Symmetric InfoNCE with logits `−scale · d(text_i, image_j)`, the diagonal as positives.
pub fn lorentz_infonce(text: Tensor<2>, image: Tensor<2>, head: &HyperbolicHead) -> Tensor<1> {
    symmetric_infonce(pairwise_distance(text, image, head.curvature()).neg() * head.logit_scale())
}

/// `mean_i max(0, oxy_angle(general_i, specific_i) − aperture(general_i))`: each specific point
/// inside its general point's cone.
pub fn entailment(general: Tensor<2>, specific: Tensor<2>, head: &HyperbolicHead) -> Tensor<1> {
    let angle = oxy_angle(general.clone(), specific, head.curvature());
    (angle - half_aperture(general, head.curvature()))
        .clamp_min(0.0)
        .mean()
}

/// HySAC's terms, equally weighted (its code averages them): four Lorentzian contrastive terms
/// over the quadruplet and three entailment terms. Without images (ours, `docs/losses.md`): safe
/// and unsafe captions of a pair as contrastive partners, the safe caption entailing the unsafe
/// one, and each caption's direction kept (cosine to the frozen model).
pub fn hysac_terms(e: &StepEmbeddings, head: &HyperbolicHead) -> Vec<Term> {
    let text_safe = head.lift_text(e.tuned_text_safe.clone());
    let text_unsafe = head.lift_text(e.tuned_text_unsafe.clone());
    let terms: Vec<(&'static str, Tensor<1>)> = match &e.images {
        Some(i) => {
            let image_safe = head.lift_image(i.tuned_image_safe.clone());
            let image_unsafe = head.lift_image(i.tuned_image_unsafe.clone());
            vec![
                (
                    "hysac_nce_safe",
                    lorentz_infonce(text_safe.clone(), image_safe.clone(), head),
                ),
                (
                    "hysac_nce_unsafe",
                    lorentz_infonce(text_unsafe.clone(), image_unsafe.clone(), head),
                ),
                (
                    "hysac_nce_safe_text_unsafe_image",
                    lorentz_infonce(text_safe.clone(), image_unsafe.clone(), head),
                ),
                (
                    "hysac_nce_unsafe_text_safe_image",
                    lorentz_infonce(text_unsafe.clone(), image_safe.clone(), head),
                ),
                (
                    "hysac_entail_safe",
                    entailment(text_safe, image_safe.clone(), head),
                ),
                (
                    "hysac_entail_unsafe",
                    entailment(text_unsafe.clone(), image_unsafe, head),
                ),
                (
                    "hysac_entail_safe_image_unsafe_text",
                    entailment(image_safe, text_unsafe, head),
                ),
            ]
        }
        None => vec![
            (
                "hysac_nce_pair_textonly",
                lorentz_infonce(text_safe.clone(), text_unsafe.clone(), head),
            ),
            (
                "hysac_entail_textonly",
                entailment(text_safe, text_unsafe, head),
            ),
            (
                "pres_text_cos",
                cosine_distance(e.tuned_text_safe.clone(), e.frozen_text_safe.clone()),
            ),
            (
                "hysac_pres_unsafe_text_cos",
                cosine_distance(e.tuned_text_unsafe.clone(), e.frozen_text_unsafe.clone()),
            ),
        ],
    };
    let weight = 1.0 / terms.len() as f64;
    terms
        .into_iter()
        .map(|(name, value)| Term {
            name,
            weight,
            value,
        })
        .collect()
}
