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
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::linear;

use super::config::LoraConfig;
use crate::kernels::{Activation, fused_linear_layer, linear_layer};
use crate::random::SplitMix64;

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
    pub fn new(
        d_in: usize,
        d_out: usize,
        config: &LoraConfig,
        rng: &mut SplitMix64,
        device: &Device,
    ) -> Self {
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
}

impl From<Linear> for LoraLinear {
    fn from(base: Linear) -> Self {
        Self {
            base,
            adapter: None,
        }
    }
}

impl LoraLinear {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let Some(adapter) = &self.adapter else {
            return linear_layer(&self.base, x);
        };
        let low_rank = linear(adapter.dropout.forward(x.clone()), adapter.a.val(), None);
        linear_layer(&self.base, x) + linear(low_rank, adapter.b.val(), None) * adapter.scale
    }

    /// `activation(self.forward(x)) + residual`: one dispatch on wgpu for a layer without an
    /// adapter (see [`fused_linear_layer`]), Burn's ops otherwise.
    pub fn forward_then<const D: usize>(
        &self,
        x: Tensor<D>,
        activation: Activation,
        residual: Option<Tensor<D>>,
    ) -> Tensor<D> {
        if self.adapter.is_none()
            && let Some(y) = fused_linear_layer(&self.base, x.clone(), activation, residual.clone())
        {
            return y;
        }
        let y = self.forward(x);
        let y = match activation {
            Activation::Identity => y,
            Activation::QuickGelu => y.clone() * sigmoid(y * 1.702),
            Activation::Gelu => gelu(y),
        };
        match residual {
            Some(residual) => residual + y,
            None => y,
        }
    }

    /// `[in, out]` of the base weight.
    pub fn dims(&self) -> [usize; 2] {
        self.base.weight.dims()
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
        }
    }
}
