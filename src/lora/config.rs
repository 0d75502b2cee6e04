//! Which projections get LoRA adapters and how big they are (PEFT's `LoraConfig`).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The projections of a CLIP encoder layer an adapter can attach to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    QProj,
    KProj,
    VProj,
    OutProj,
    Fc1,
    Fc2,
    /// The vision tower's patch embedding (HySAC adapts it too).
    PatchEmbedding,
}

impl LoraTarget {
    pub const ALL: [LoraTarget; 7] = [
        Self::QProj,
        Self::KProj,
        Self::VProj,
        Self::OutProj,
        Self::Fc1,
        Self::Fc2,
        Self::PatchEmbedding,
    ];

    /// The module name in `transformers`' CLIP.
    pub fn name(self) -> &'static str {
        match self {
            Self::QProj => "q_proj",
            Self::KProj => "k_proj",
            Self::VProj => "v_proj",
            Self::OutProj => "out_proj",
            Self::Fc1 => "fc1",
            Self::Fc2 => "fc2",
            Self::PatchEmbedding => "patch_embedding",
        }
    }

    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| {
                Error::Input(format!(
                    "unknown LoRA target `{name}` (expected q_proj, k_proj, v_proj, out_proj, fc1, fc2 or patch_embedding)"
                ))
            })
    }
}

/// Which layers get adapters and how big they are. Defaults are Safe-CLIP's: r = 16, α = 1,
/// dropout 0.1 on `k_proj, v_proj, out_proj, fc1, fc2` of both towers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    pub rank: usize,
    pub alpha: f64,
    pub dropout: f64,
    pub targets: Vec<LoraTarget>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        Self {
            rank: 16,
            alpha: 1.0,
            dropout: 0.1,
            targets: vec![
                LoraTarget::KProj,
                LoraTarget::VProj,
                LoraTarget::OutProj,
                LoraTarget::Fc1,
                LoraTarget::Fc2,
            ],
        }
    }
}

/// The largest `α / r`: PEFT's defaults give 1 to 2, and beyond this the update swamps the
/// frozen weight in `f32` and a single step diverges.
pub const MAX_SCALE: f64 = 1024.0;

impl LoraConfig {
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(Error::Input("LoRA rank must be at least 1".into()));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(Error::Input(format!(
                "LoRA alpha must be positive, got {}",
                self.alpha
            )));
        }
        if self.scale() > MAX_SCALE {
            return Err(Error::Input(format!(
                "LoRA alpha {:e} over rank {} scales updates by {:e}; at most {MAX_SCALE} is meaningful",
                self.alpha,
                self.rank,
                self.scale()
            )));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::Input(format!(
                "LoRA dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        if self.targets.is_empty() {
            return Err(Error::Input("LoRA needs at least one target module".into()));
        }
        Ok(())
    }

    /// `α / r`, the factor the low-rank product is scaled by.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }

    /// Checks, before anything of that size exists, that adapters of this rank on layers of
    /// these `[in, out]` sizes stay within what the model allows: no more parameters than the
    /// model itself has (or 2²⁶, for models smaller than that).
    pub fn check_budget(&self, layers: &[[usize; 2]], model_parameters: usize) -> Result<()> {
        let per_rank: u128 = layers
            .iter()
            .map(|&[d_in, d_out]| (d_in + d_out) as u128)
            .sum();
        let limit = (model_parameters as u128).max(1 << 26);
        let parameters = per_rank * self.rank as u128;
        if parameters > limit {
            return Err(Error::Input(format!(
                "LoRA rank {} would give the adapters {parameters} parameters, more than the {limit} this model allows; \
                 at most rank {} on these targets",
                self.rank,
                limit / per_rank.max(1)
            )));
        }
        Ok(())
    }
}

/// Whether the projection named `projection` (a `transformers` module path) is one of `targets`.
pub fn is_target(projection: &str, targets: &[LoraTarget]) -> bool {
    targets
        .iter()
        .any(|t| projection.rsplit('.').next() == Some(t.name()))
}
