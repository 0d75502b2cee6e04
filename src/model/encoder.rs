//! The pre-LayerNorm transformer shared by both CLIP towers (`CLIPEncoder` in `transformers`).

use burn::nn::LayerNorm;
use burn::prelude::*;
use burn::tensor::activation::{gelu, gelu_approximate, sigmoid};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::config::Activation;
use crate::lora::LoraLinear;

/// Multi-head self-attention; `causal` is set for the text tower.
#[derive(Module, Debug)]
pub struct Attention {
    pub q_proj: LoraLinear,
    pub k_proj: LoraLinear,
    pub v_proj: LoraLinear,
    pub out_proj: LoraLinear,
    #[module(skip)]
    pub num_heads: usize,
}

impl Attention {
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let [batch, seq, hidden] = x.dims();
        let head_dim = hidden / self.num_heads;
        let split_heads = |t: Tensor<3>| {
            t.reshape([batch, seq, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let q = split_heads(self.q_proj.forward(x.clone()));
        let k = split_heads(self.k_proj.forward(x.clone()));
        let v = split_heads(self.v_proj.forward(x));
        let options = AttentionModuleOptions {
            scale: Some((head_dim as f64).powf(-0.5)),
            softcap: None,
            is_causal: causal,
        };
        let context = attention(q, k, v, None, None, options)
            .swap_dims(1, 2)
            .reshape([batch, seq, hidden]);
        self.out_proj.forward(context)
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: LoraLinear,
    pub fc2: LoraLinear,
    #[module(skip)]
    pub activation: Activation,
}

impl Mlp {
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let x = self.fc1.forward(x);
        let x = match self.activation {
            Activation::QuickGelu => x.clone() * sigmoid(x * 1.702),
            Activation::Gelu => gelu(x),
            Activation::GeluTanh => gelu_approximate(x),
        };
        self.fc2.forward(x)
    }
}

#[derive(Module, Debug)]
pub struct EncoderLayer {
    pub layer_norm1: LayerNorm,
    pub self_attn: Attention,
    pub layer_norm2: LayerNorm,
    pub mlp: Mlp,
}

impl EncoderLayer {
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        let x = x.clone() + self.self_attn.forward(self.layer_norm1.forward(x), causal);
        x.clone() + self.mlp.forward(self.layer_norm2.forward(x))
    }
}

#[derive(Module, Debug)]
pub struct Encoder {
    pub layers: Vec<EncoderLayer>,
}

impl Encoder {
    pub fn forward(&self, x: Tensor<3>, causal: bool) -> Tensor<3> {
        self.layers
            .iter()
            .fold(x, |x, layer| layer.forward(x, causal))
    }
}

impl Encoder {
    /// Every projection a LoRA adapter can attach to, named as in `transformers`
    /// (`layers.{i}.self_attn.k_proj`, `layers.{i}.mlp.fc1`, …), in checkpoint order.
    pub fn projections(&self) -> Vec<(String, &LoraLinear)> {
        let mut all = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let (attn, mlp) = (&layer.self_attn, &layer.mlp);
            for (name, linear) in [
                ("self_attn.q_proj", &attn.q_proj),
                ("self_attn.k_proj", &attn.k_proj),
                ("self_attn.v_proj", &attn.v_proj),
                ("self_attn.out_proj", &attn.out_proj),
                ("mlp.fc1", &mlp.fc1),
                ("mlp.fc2", &mlp.fc2),
            ] {
                all.push((format!("layers.{i}.{name}"), linear));
            }
        }
        all
    }

    /// [`Self::projections`], mutably.
    pub fn projections_mut(&mut self) -> Vec<(String, &mut LoraLinear)> {
        let mut all = Vec::new();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let (attn, mlp) = (&mut layer.self_attn, &mut layer.mlp);
            for (name, linear) in [
                ("self_attn.q_proj", &mut attn.q_proj),
                ("self_attn.k_proj", &mut attn.k_proj),
                ("self_attn.v_proj", &mut attn.v_proj),
                ("self_attn.out_proj", &mut attn.out_proj),
                ("mlp.fc1", &mut mlp.fc1),
                ("mlp.fc2", &mut mlp.fc2),
            ] {
                all.push((format!("layers.{i}.{name}"), linear));
            }
        }
        all
    }
}
