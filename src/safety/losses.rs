//! The training losses of Safe-CLIP and SafeR-CLIP, and the pieces HySAC shares (specified with sources in
//! `docs/losses.md`). Every function takes raw projected features `[batch, dim]` and normalises
//! inside, returns a one-element tensor, and is differentiable on an autodiff device.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softplus};

/// Norms are clamped to this before dividing, as `F.normalize` does.
const NORM_EPS: f64 = 1e-12;

/// Safe-CLIP's fixed logit scale for its contrastive terms.
pub const SAFECLIP_LOGIT_SCALE: f64 = 100.0;

/// Safe-CLIP's default weights, in the order of [`safeclip_terms`] with images.
pub const SAFECLIP_LAMBDAS: [f64; 8] = [0.1, 0.1, 0.1, 0.2, 0.25, 0.25, 0.25, 0.5];

/// `x / max(‖x‖₂, 1e-12)`, row by row.
pub fn normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x
        .clone()
        .powi_scalar(2)
        .sum_dim(1)
        .sqrt()
        .clamp_min(NORM_EPS);
    x / norm
}

/// `cos(a_i, b_i)` for each row, `[batch]`.
pub fn cosine_rows(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    let [batch, _] = a.dims();
    (normalize(a) * normalize(b)).sum_dim(1).reshape([batch])
}

/// `mean_i (1 − cos(a_i, b_i))`.
pub fn cosine_distance(a: Tensor<2>, b: Tensor<2>) -> Tensor<1> {
    cosine_rows(a, b).neg().add_scalar(1.0).mean()
}

/// Symmetric InfoNCE with the diagonal as positives:
/// `½ [CE(s·n(A)n(B)ᵀ, I) + CE(s·n(B)n(A)ᵀ, I)]`, `CE(Z, I) = mean_i (logsumexp_j Z_ij − Z_ii)`.
pub fn clip_infonce(a: Tensor<2>, b: Tensor<2>, logit_scale: f64) -> Tensor<1> {
    symmetric_infonce(normalize(a).matmul(normalize(b).transpose()) * logit_scale)
}

/// `½ [CE(Z, I) + CE(Zᵀ, I)]` for a square matrix of logits with the positives on its diagonal.
pub fn symmetric_infonce(logits: Tensor<2>) -> Tensor<1> {
    let diagonal_ce = |z: Tensor<2>| {
        let [n, _] = z.dims();
        let log_probs = log_softmax(z, 1);
        let eye = Tensor::<2>::eye(n, &log_probs.device());
        (log_probs * eye).sum().neg() / n as f64
    };
    (diagonal_ce(logits.clone()) + diagonal_ce(logits.transpose())) * 0.5
}

/// SafeR-CLIP's relative redirection: `mean_i softplus(cos(anchor_i, negative_i) −
/// cos(anchor_i, positive_i))`: the anchor must end nearer its safe target than its unsafe
/// origin, and is pushed no further once it is.
pub fn relative_redirection(
    anchor: Tensor<2>,
    negative: Tensor<2>,
    positive: Tensor<2>,
) -> Tensor<1> {
    softplus(
        cosine_rows(anchor.clone(), negative) - cosine_rows(anchor, positive),
        1.0,
    )
    .mean()
}

/// The embeddings one training step compares. `tuned_*` come from the model being trained
/// (T, V), `frozen_*` from the untouched reference (T0, V0); `*_target` are the nearest safe
/// captions (SafeR-CLIP's t̂) and their images (v̂).
#[derive(Debug, Clone)]
pub struct StepEmbeddings {
    pub tuned_text_safe: Tensor<2>,
    pub tuned_text_unsafe: Tensor<2>,
    pub frozen_text_safe: Tensor<2>,
    pub frozen_text_unsafe: Tensor<2>,
    pub frozen_text_target: Tensor<2>,
    pub images: Option<ImageEmbeddings>,
}

#[derive(Debug, Clone)]
pub struct ImageEmbeddings {
    pub tuned_image_safe: Tensor<2>,
    pub tuned_image_unsafe: Tensor<2>,
    pub frozen_image_safe: Tensor<2>,
    pub frozen_image_unsafe: Tensor<2>,
    pub frozen_image_target: Tensor<2>,
}

/// One weighted term of a method's loss.
#[derive(Debug, Clone)]
pub struct Term {
    pub name: &'static str,
    pub weight: f64,
    pub value: Tensor<1>,
}

/// `Σ weight · value`.
pub fn total(terms: &[Term]) -> Tensor<1> {
    terms
        .iter()
        .map(|t| t.value.clone() * t.weight)
        .reduce(|a, b| a + b)
        .expect("a method has at least one term")
}

/// Safe-CLIP's eight terms (four cosine, four InfoNCE), weighted as its code does:
/// `Σ λ_i L_i / (Σλ · n)`. Without images, the text terms and InfoNCE against the frozen safe
/// captions in place of the frozen safe images.
pub fn safeclip_terms(e: &StepEmbeddings, logit_scale: f64) -> Vec<Term> {
    let text_pres = cosine_distance(e.tuned_text_safe.clone(), e.frozen_text_safe.clone());
    let text_redir = cosine_distance(e.tuned_text_unsafe.clone(), e.frozen_text_safe.clone());
    let terms: Vec<(&'static str, f64, Tensor<1>)> = match &e.images {
        Some(i) => vec![
            ("pres_text_cos", SAFECLIP_LAMBDAS[0], text_pres),
            ("safeclip_redir_text_cos", SAFECLIP_LAMBDAS[1], text_redir),
            (
                "pres_image_cos",
                SAFECLIP_LAMBDAS[2],
                cosine_distance(i.tuned_image_safe.clone(), i.frozen_image_safe.clone()),
            ),
            (
                "safeclip_redir_image_cos",
                SAFECLIP_LAMBDAS[3],
                cosine_distance(i.tuned_image_unsafe.clone(), i.frozen_image_safe.clone()),
            ),
            (
                "safeclip_pres_text_nce",
                SAFECLIP_LAMBDAS[4],
                clip_infonce(
                    e.tuned_text_safe.clone(),
                    i.frozen_image_safe.clone(),
                    logit_scale,
                ),
            ),
            (
                "safeclip_redir_text_nce",
                SAFECLIP_LAMBDAS[5],
                clip_infonce(
                    e.tuned_text_unsafe.clone(),
                    i.frozen_image_safe.clone(),
                    logit_scale,
                ),
            ),
            (
                "safeclip_pres_image_nce",
                SAFECLIP_LAMBDAS[6],
                clip_infonce(
                    e.frozen_text_safe.clone(),
                    i.tuned_image_safe.clone(),
                    logit_scale,
                ),
            ),
            (
                "safeclip_redir_image_nce",
                SAFECLIP_LAMBDAS[7],
                clip_infonce(
                    e.frozen_text_safe.clone(),
                    i.tuned_image_unsafe.clone(),
                    logit_scale,
                ),
            ),
        ],
        None => vec![
            ("pres_text_cos", SAFECLIP_LAMBDAS[0], text_pres),
            ("safeclip_redir_text_cos", SAFECLIP_LAMBDAS[1], text_redir),
            (
                "safeclip_pres_text_nce_textonly",
                SAFECLIP_LAMBDAS[4],
                clip_infonce(
                    e.tuned_text_safe.clone(),
                    e.frozen_text_safe.clone(),
                    logit_scale,
                ),
            ),
            (
                "safeclip_redir_text_nce_textonly",
                SAFECLIP_LAMBDAS[5],
                clip_infonce(
                    e.tuned_text_unsafe.clone(),
                    e.frozen_text_safe.clone(),
                    logit_scale,
                ),
            ),
        ],
    };
    let lambda_sum: f64 = terms.iter().map(|(_, l, _)| l).sum();
    let n = terms.len() as f64;
    terms
        .into_iter()
        .map(|(name, lambda, value)| Term {
            name,
            weight: lambda / (lambda_sum * n),
            value,
        })
        .collect()
}

/// SafeR-CLIP's terms, each of weight 1: relative cross-modal redirection (both directions),
/// proximity-based unimodal redirection, and preservation of safe items. Without images, the
/// relative term compares the tuned unsafe caption with its own frozen embedding and its target.
pub fn safer_terms(e: &StepEmbeddings) -> Vec<Term> {
    let uni_text = cosine_distance(e.tuned_text_unsafe.clone(), e.frozen_text_target.clone());
    let pres_text = cosine_distance(e.tuned_text_safe.clone(), e.frozen_text_safe.clone());
    let terms = match &e.images {
        Some(i) => vec![
            (
                "safer_rel_image",
                relative_redirection(
                    i.tuned_image_unsafe.clone(),
                    e.frozen_text_unsafe.clone(),
                    e.frozen_text_target.clone(),
                ),
            ),
            (
                "safer_rel_text",
                relative_redirection(
                    e.tuned_text_unsafe.clone(),
                    i.frozen_image_unsafe.clone(),
                    i.frozen_image_target.clone(),
                ),
            ),
            ("safer_uni_text", uni_text),
            (
                "safer_uni_image",
                cosine_distance(i.tuned_image_unsafe.clone(), i.frozen_image_target.clone()),
            ),
            ("pres_text_cos", pres_text),
            (
                "pres_image_cos",
                cosine_distance(i.tuned_image_safe.clone(), i.frozen_image_safe.clone()),
            ),
        ],
        None => vec![
            (
                "safer_rel_text_textonly",
                relative_redirection(
                    e.tuned_text_unsafe.clone(),
                    e.frozen_text_unsafe.clone(),
                    e.frozen_text_target.clone(),
                ),
            ),
            ("safer_uni_text", uni_text),
            ("pres_text_cos", pres_text),
        ],
    };
    terms
        .into_iter()
        .map(|(name, value)| Term {
            name,
            weight: 1.0,
            value,
        })
        .collect()
}
