//! `transformers`' `nn.LayerNorm` over the last dimension: Burn's LayerNorm, whose epsilon it
//! keeps private, with the fused kernel in front of it on wgpu.

use burn::module::Param;
use burn::prelude::*;
use burn::tensor::module::layer_norm;

use crate::kernels::fused_layer_norm;

#[derive(Module, Debug)]
pub struct LayerNorm {
    pub gamma: Param<Tensor<1>>,
    pub beta: Param<Tensor<1>>,
    #[module(skip)]
    pub epsilon: f64,
}

impl LayerNorm {
    pub fn forward<const D: usize>(&self, x: Tensor<D>) -> Tensor<D> {
        let (gamma, beta) = (self.gamma.val(), self.beta.val());
        fused_layer_norm(x.clone(), gamma.clone(), beta.clone(), self.epsilon)
            .unwrap_or_else(|| layer_norm(x, gamma, Some(beta), self.epsilon))
    }
}
