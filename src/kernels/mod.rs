//! GPU kernels for what Burn runs as many: on a software or integrated GPU each dispatch costs
//! about as much as the arithmetic of a small layer, so one kernel for a whole LayerNorm pays.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::Tensor;
use burn::tensor::activation::{gelu, sigmoid};

#[cfg(feature = "wgpu")]
mod attention;
#[cfg(feature = "wgpu")]
mod attention_grad;
#[cfg(feature = "wgpu")]
mod layer_norm;
#[cfg(feature = "wgpu")]
mod layer_norm_grad;
#[cfg(feature = "wgpu")]
mod linear;
#[cfg(feature = "wgpu")]
mod linear_grad;
#[cfg(feature = "wgpu")]
mod sums;

/// The autodiff backend the trainer records on.
#[cfg(feature = "wgpu")]
type Graph = burn::backend::Autodiff<burn::backend::Wgpu>;

#[cfg(feature = "wgpu")]
pub use attention::fused_attention;
#[cfg(feature = "wgpu")]
pub use layer_norm::fused_layer_norm;
#[cfg(feature = "wgpu")]
pub use linear::fused_linear;

/// The activation a fused linear layer applies to `x W + b` before adding its residual.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Activation {
    Identity,
    /// `x · sigmoid(1.702 x)`, OpenAI CLIP's.
    QuickGelu,
    /// `x · Φ(x)`, the exact GELU.
    Gelu,
}

impl Activation {
    /// `self(y) + residual` in Burn's ops, where the kernel does not apply or has no backward.
    pub fn then<const D: usize>(self, y: Tensor<D>, residual: Option<Tensor<D>>) -> Tensor<D> {
        let y = match self {
            Activation::Identity => y,
            Activation::QuickGelu => y.clone() * sigmoid(y * 1.702),
            Activation::Gelu => gelu(y),
        };
        match residual {
            Some(residual) => residual + y,
            None => y,
        }
    }
}

/// `activation(layer(x)) + residual` for a Burn `Linear`, in one dispatch where
/// [`fused_linear`] applies; `None` elsewhere.
pub fn fused_linear_layer<const D: usize>(
    layer: &Linear,
    x: Tensor<D>,
    activation: Activation,
    residual: Option<Tensor<D>>,
) -> Option<Tensor<D>> {
    let bias = layer.bias.as_ref().map(Param::val);
    fused_linear(x, layer.weight.val(), bias, activation, residual)
}

/// `layer(x)`: one dispatch where [`fused_linear`] applies, Burn's `Linear` otherwise.
pub fn linear_layer<const D: usize>(layer: &Linear, x: Tensor<D>) -> Tensor<D> {
    fused_linear_layer(layer, x.clone(), Activation::Identity, None)
        .unwrap_or_else(|| layer.forward(x))
}

/// The keys each query of an attention sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyMask<'a> {
    /// Every key.
    All,
    /// The keys up to its own position: the queries are the keys' rows.
    Causal,
    /// The first `n[b]` keys, for every query of sequence `b`.
    Prefixes(&'a [usize]),
}

/// A build without the GPU backend (the browser's multithreaded CPU module) has nothing to fuse.
#[cfg(not(feature = "wgpu"))]
pub fn fused_layer_norm<const D: usize>(
    _x: burn::tensor::Tensor<D>,
    _gamma: burn::tensor::Tensor<1>,
    _beta: burn::tensor::Tensor<1>,
    _epsilon: f64,
) -> Option<burn::tensor::Tensor<D>> {
    None
}

#[cfg(not(feature = "wgpu"))]
pub fn fused_linear<const D: usize>(
    _x: burn::tensor::Tensor<D>,
    _weight: burn::tensor::Tensor<2>,
    _bias: Option<burn::tensor::Tensor<1>>,
    _activation: Activation,
    _residual: Option<burn::tensor::Tensor<D>>,
) -> Option<burn::tensor::Tensor<D>> {
    None
}

#[cfg(not(feature = "wgpu"))]
pub fn fused_attention(
    _q: burn::tensor::Tensor<3>,
    _k: burn::tensor::Tensor<3>,
    _v: burn::tensor::Tensor<3>,
    _heads: usize,
    _scale: f64,
    _mask: KeyMask,
) -> Option<burn::tensor::Tensor<3>> {
    None
}
