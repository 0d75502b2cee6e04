//! GPU kernels for what Burn runs as many: on a software or integrated GPU each dispatch costs
//! about as much as the arithmetic of a small layer, so one kernel for a whole LayerNorm pays.

#[cfg(feature = "wgpu")]
mod attention;
#[cfg(feature = "wgpu")]
mod layer_norm;
#[cfg(feature = "wgpu")]
mod linear;

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
