//! GPU kernels for what Burn runs as many: on a software or integrated GPU each dispatch costs
//! about as much as the arithmetic of a small layer, so one kernel for a whole LayerNorm pays.

#[cfg(feature = "wgpu")]
mod layer_norm;

#[cfg(feature = "wgpu")]
pub use layer_norm::fused_layer_norm;

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
