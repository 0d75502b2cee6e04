//! The pre-LayerNorm transformer shared by both CLIP towers (`CLIPEncoder` in `transformers`).

use burn::prelude::*;
use burn::tensor::activation::gelu_approximate;
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;

use super::config::Activation as GeluKind;
use super::layer_norm::LayerNorm;
use crate::kernels::{Activation, KeyMask, fused_attention};
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
    /// `residual` plus the attention of `x` over itself.
    pub fn forward(&self, x: Tensor<3>, causal: bool, residual: Tensor<3>) -> Tensor<3> {
        let mask = if causal {
            KeyMask::Causal
        } else {
            KeyMask::All
        };
        self.attend(x.clone(), x, mask, residual)
    }

    /// Attention of `queries` (`[batch, q, hidden]`) over the rows of `x` that `mask` lets each
    /// see, added to `residual` (`[batch, q, hidden]`).
    fn attend(
        &self,
        queries: Tensor<3>,
        x: Tensor<3>,
        mask: KeyMask,
        residual: Tensor<3>,
    ) -> Tensor<3> {
        let [batch, seq, width] = x.dims();
        let queries_len = queries.dims()[1];
        let head_dim = width / self.num_heads;
        let split_heads = |t: Tensor<3>, len: usize| {
            t.reshape([batch, len, self.num_heads, head_dim])
                .swap_dims(1, 2)
        };
        let scale = (head_dim as f64).powf(-0.5);
        let (q, k, v) = (
            self.q_proj.forward(queries),
            self.k_proj.forward(x.clone()),
            self.v_proj.forward(x),
        );
        if let Some(context) =
            fused_attention(q.clone(), k.clone(), v.clone(), self.num_heads, scale, mask)
        {
            return self
                .out_proj
                .forward_then(context, Activation::Identity, Some(residual));
        }
        let (q, k, v) = (
            split_heads(q, queries_len),
            split_heads(k, seq),
            split_heads(v, seq),
        );
        let hidden = match mask {
            KeyMask::Prefixes(visible) => {
                let hidden: Vec<bool> = visible
                    .iter()
                    .flat_map(|&n| (0..seq).map(move |key| key >= n))
                    .collect();
                let hidden = TensorData::new(hidden, [batch, 1, 1, seq]);
                let hidden = Tensor::<4, Bool>::from_data(hidden, &residual.device());
                Some(hidden.expand([batch, self.num_heads, queries_len, seq]))
            }
            KeyMask::All | KeyMask::Causal => None,
        };
        let options = AttentionModuleOptions {
            scale: Some(scale),
            softcap: None,
            is_causal: mask == KeyMask::Causal,
        };
        let context = attention(q, k, v, hidden, None, options)
            .swap_dims(1, 2)
            .reshape([batch, queries_len, width]);
        self.out_proj
            .forward_then(context, Activation::Identity, Some(residual))
    }
}

#[derive(Module, Debug)]
pub struct Mlp {
    pub fc1: LoraLinear,
    pub fc2: LoraLinear,
    #[module(skip)]
    pub activation: GeluKind,
}

impl Mlp {
    /// `residual` plus the MLP of `x`.
    pub fn forward(&self, x: Tensor<3>, residual: Tensor<3>) -> Tensor<3> {
        let x = match self.activation {
            GeluKind::QuickGelu => self.fc1.forward_then(x, Activation::QuickGelu, None),
            GeluKind::Gelu => self.fc1.forward_then(x, Activation::Gelu, None),
            GeluKind::GeluTanh => gelu_approximate(self.fc1.forward(x)),
        };
        self.fc2
            .forward_then(x, Activation::Identity, Some(residual))
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
        let x = self
            .self_attn
            .forward(self.layer_norm1.forward(x.clone()), causal, x);
        self.mlp.forward(self.layer_norm2.forward(x.clone()), x)
    }

    /// [`Self::forward`] at one row per sequence, `rows[b]` of sequence `b`: `[batch, hidden]`.
    /// Only that row's query, output projection and MLP are computed; keys and values still
    /// come from every row (with `causal`, from the rows up to it).
    pub fn forward_rows(&self, x: Tensor<3>, rows: &[usize], causal: bool) -> Tensor<2> {
        let [batch, _, width] = x.dims();
        let normed = self.layer_norm1.forward(x.clone());
        let visible: Vec<usize> = rows.iter().map(|&row| row + 1).collect();
        let mask = if causal {
            KeyMask::Prefixes(&visible)
        } else {
            KeyMask::All
        };
        let x = self.self_attn.attend(
            pick_rows(normed.clone(), rows),
            normed,
            mask,
            pick_rows(x, rows),
        );
        let x = self.mlp.forward(self.layer_norm2.forward(x.clone()), x);
        x.reshape([batch, width])
    }
}

/// Row `rows[b]` of each sequence `b` of `x`: `[batch, 1, hidden]`.
fn pick_rows(x: Tensor<3>, rows: &[usize]) -> Tensor<3> {
    let [batch, seq, width] = x.dims();
    let flat: Vec<i64> = rows
        .iter()
        .enumerate()
        .map(|(b, &row)| (b * seq + row) as i64)
        .collect();
    let flat = Tensor::<1, Int>::from_data(TensorData::new(flat, [batch]), &x.device());
    x.reshape([batch * seq, width])
        .select(0, flat)
        .reshape([batch, 1, width])
}

#[derive(Module, Debug)]
pub struct Encoder {
    pub layers: Vec<EncoderLayer>,
}

impl Encoder {
    /// The output at one row per sequence (`rows[b]` of sequence `b`), `[batch, hidden]`: what
    /// CLIP pools. The last layer runs for those rows alone, which saves most of its work.
    pub fn forward_rows(&self, x: Tensor<3>, rows: &[usize], causal: bool) -> Tensor<2> {
        let Some((last, layers)) = self.layers.split_last() else {
            let [batch, _, width] = x.dims();
            return pick_rows(x, rows).reshape([batch, width]);
        };
        let x = layers.iter().fold(x, |x, layer| layer.forward(x, causal));
        last.forward_rows(x, rows, causal)
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
