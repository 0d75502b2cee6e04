//! LoRA (Hu et al., 2021): a frozen `Linear` plus a trainable low-rank update,
//! `y = x W + b + (α/r) · dropout(x) A B`.
//!
//! Burn's own `apply_lora` reparameterises the weight and has no dropout on the adapter input,
//! which Safe-CLIP trains with, so the adapter is a small module here. Factors are stored the
//! way Burn stores `Linear` weights (`[in, out]`): `A` is `[in, r]`, `B` is `[r, out]`, the
//! transposes of PEFT's `lora_A.weight` and `lora_B.weight`.

use burn::module::Param;
use burn::nn::{Dropout, DropoutConfig, Linear};
use burn::prelude::*;
use burn::tensor::module::linear;
use serde::{Deserialize, Serialize};

use super::clip::ClipModel;
use crate::data::SplitMix64;
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

impl LoraConfig {
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(Error::Input("LoRA rank must be at least 1".into()));
        }
        if !self.alpha.is_finite() || self.alpha <= 0.0 {
            return Err(Error::Input(format!("LoRA alpha must be positive, got {}", self.alpha)));
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
}

/// A trainable low-rank update `(α/r) · A B` with dropout on its input.
#[derive(Module, Debug)]
pub struct LoraAdapter {
    /// `[in, r]`, initialised as PEFT does (Kaiming-uniform with a = √5: U(±1/√in)).
    pub a: Param<Tensor<2>>,
    /// `[r, out]`, initialised to zero so that a fresh adapter changes nothing.
    pub b: Param<Tensor<2>>,
    pub dropout: Dropout,
    #[module(skip)]
    pub scale: f64,
}

impl LoraAdapter {
    /// A fresh adapter, `A` drawn from `rng`: our own generator rather than the backend's
    /// process-wide one, so that a seed gives the same adapters whatever else runs in the process.
    pub fn new(d_in: usize, d_out: usize, config: &LoraConfig, rng: &mut SplitMix64, device: &Device) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        let values: Vec<f32> = (0..d_in * config.rank)
            .map(|_| (bound * (2.0 * rng.unit() - 1.0)) as f32)
            .collect();
        let a = Tensor::from_data(TensorData::new(values, [d_in, config.rank]), device);
        let b = Tensor::zeros([config.rank, d_out], device);
        Self::from_factors(a, b, config)
    }

    pub fn from_factors(a: Tensor<2>, b: Tensor<2>, config: &LoraConfig) -> Self {
        Self {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            dropout: DropoutConfig::new(config.dropout).init(),
            scale: config.scale(),
        }
    }

    /// `(α/r) · A B`, `[in, out]`: what merging adds to the base weight.
    pub fn delta(&self) -> Tensor<2> {
        self.a.val().matmul(self.b.val()) * self.scale
    }
}

/// A `Linear` layer that may carry a LoRA adapter (`transformers`' layer, under PEFT's name).
#[derive(Module, Debug)]
pub struct LoraLinear {
    pub base: Linear,
    pub adapter: Option<LoraAdapter>,
    /// `[in_channels, kernel_h, kernel_w]` when PyTorch holds this layer as a convolution whose
    /// stride is its kernel (CLIP's patch embedding), a linear map of flattened patches: its
    /// weight and adapter factors are stored 4-D, as PEFT's `Conv2d` LoRA stores them.
    #[module(skip)]
    pub kernel: Option<[usize; 3]>,
}

impl From<Linear> for LoraLinear {
    fn from(base: Linear) -> Self {
        Self {
            base,
            adapter: None,
            kernel: None,
        }
    }
}

impl LoraLinear {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let Some(adapter) = &self.adapter else {
            return self.base.forward(x);
        };
        let low_rank = linear(adapter.dropout.forward(x.clone()), adapter.a.val(), None);
        self.base.forward(x) + linear(low_rank, adapter.b.val(), None) * adapter.scale
    }

    /// `[in, out]` of the base weight.
    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.dims()
    }

    /// PyTorch's shapes of the base weight and of PEFT's `lora_A` and `lora_B` weights for a
    /// rank-`r` adapter.
    pub fn torch_shapes(&self, r: usize) -> [Vec<usize>; 3] {
        let [d_in, d_out] = self.dims();
        match self.kernel {
            None => [vec![d_out, d_in], vec![r, d_in], vec![d_out, r]],
            Some([c, h, w]) => [vec![d_out, c, h, w], vec![r, c, h, w], vec![d_out, r, 1, 1]],
        }
    }

    /// The layer with its adapter folded into the base weight: same outputs (without dropout),
    /// plain `Linear` cost.
    pub fn merged(self) -> Self {
        let Some(adapter) = self.adapter else {
            return self;
        };
        let weight = self.base.weight.val() + adapter.delta();
        Self {
            base: Linear {
                weight: Param::from_tensor(weight).set_require_grad(false),
                bias: self.base.bias,
            },
            adapter: None,
            kernel: self.kernel,
        }
    }
}

impl ClipModel {
    /// Every adaptable projection of both towers, under its `transformers` key prefix
    /// (`text_model.encoder.layers.0.self_attn.k_proj`, …,
    /// `vision_model.embeddings.patch_embedding`).
    pub fn projections(&self) -> Vec<(String, &LoraLinear)> {
        let text = self.text_model.encoder.projections();
        let vision = self.vision_model.encoder.projections();
        let patches = (PATCH_EMBEDDING.to_string(), &self.vision_model.patch_embedding);
        prefixed("text_model.encoder", text)
            .chain(std::iter::once(patches))
            .chain(prefixed("vision_model.encoder", vision))
            .collect()
    }

    /// [`Self::projections`], mutably.
    pub fn projections_mut(&mut self) -> Vec<(String, &mut LoraLinear)> {
        let text = self.text_model.encoder.projections_mut();
        let vision = self.vision_model.encoder.projections_mut();
        let patches = (PATCH_EMBEDDING.to_string(), &mut self.vision_model.patch_embedding);
        prefixed("text_model.encoder", text)
            .chain(std::iter::once(patches))
            .chain(prefixed("vision_model.encoder", vision))
            .collect()
    }

    /// The model with every base weight frozen and a fresh adapter on each targeted projection
    /// of both towers (drawn from `seed`): the same outputs until the adapters train.
    pub fn with_lora(self, config: &LoraConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let device = self.logit_scale.device();
        let mut rng = SplitMix64::new(seed);
        let mut model = self.no_grad();
        for (name, layer) in model.projections_mut() {
            if is_target(&name, &config.targets) {
                let [d_in, d_out] = layer.dims();
                layer.adapter = Some(LoraAdapter::new(d_in, d_out, config, &mut rng, &device));
            }
        }
        Ok(model)
    }

    /// The model with every adapter folded into its base weight.
    pub fn merged(self) -> Self {
        let mut model = self;
        for (_, layer) in model.projections_mut() {
            *layer = layer.clone().merged();
        }
        model
    }
}

const PATCH_EMBEDDING: &str = "vision_model.embeddings.patch_embedding";

pub fn is_target(projection: &str, targets: &[LoraTarget]) -> bool {
    targets
        .iter()
        .any(|t| projection.rsplit('.').next() == Some(t.name()))
}

fn prefixed<'a, T>(
    prefix: &'a str,
    layers: Vec<(String, T)>,
) -> impl Iterator<Item = (String, T)> + 'a
where
    T: 'a,
{
    layers
        .into_iter()
        .map(move |(name, layer)| (format!("{prefix}.{name}"), layer))
}
