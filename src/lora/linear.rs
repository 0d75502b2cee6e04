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

use super::config::LoraConfig;
use crate::kernels::{Activation, fused_linear, fused_linear_layer, linear_layer};
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
        self.forward_then(x, Activation::Identity, None)
    }

    /// `activation(self.forward(x)) + residual`: through the fused kernel on wgpu (one dispatch
    /// for a layer without an adapter, four for one with, see [`fused_with_adapter`]),
    /// Burn's ops otherwise.
    pub fn forward_then<const D: usize>(
        &self,
        x: Tensor<D>,
        activation: Activation,
        residual: Option<Tensor<D>>,
    ) -> Tensor<D> {
        let Some(adapter) = &self.adapter else {
            return fused_linear_layer(&self.base, x.clone(), activation, residual.clone())
                .unwrap_or_else(|| activation.then(self.base.forward(x), residual));
        };
        // Drawn once: a second draw would move the random stream that seeds every later mask.
        let input = adapter.dropout.forward(x.clone());
        if let Some(y) = fused_with_adapter(
            &self.base,
            adapter,
            x.clone(),
            input.clone(),
            activation,
            residual.clone(),
        ) {
            return y;
        }
        let low_rank = linear(input, adapter.a.val(), None);
        let y =
            linear_layer(&self.base, x) + linear(low_rank, adapter.b.val(), None) * adapter.scale;
        activation.then(y, residual)
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

/// `act(x W + b + s · input A B) + residual` (`input`: `x` after the adapter's dropout) through
/// the fused kernel, the adapter unmerged: `input A`, scaled, then its product with `B` added to
/// the base layer's output, so that a tuned model shares its base weights with the original; in
/// training, with the kernel's backward pass. `None` where the kernel does not apply.
fn fused_with_adapter<const D: usize>(
    base: &Linear,
    adapter: &LoraAdapter,
    x: Tensor<D>,
    input: Tensor<D>,
    activation: Activation,
    residual: Option<Tensor<D>>,
) -> Option<Tensor<D>> {
    let low_rank = fused_linear(input, adapter.a.val(), None, Activation::Identity, None)?;
    let low_rank = low_rank * adapter.scale;
    // The residual joins the base layer's output when nothing is applied after the sum.
    let (inner, outer) = match activation {
        Activation::Identity => (residual, None),
        _ => (None, residual),
    };
    let y = fused_linear_layer(base, x, Activation::Identity, inner)?;
    let y = fused_linear(
        low_rank,
        adapter.b.val(),
        None,
        Activation::Identity,
        Some(y),
    )?;
    Some(activation.then(y, outer))
}
