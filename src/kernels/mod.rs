//! GPU kernels for what Burn runs as many: on a software or integrated GPU each dispatch costs
//! about as much as the arithmetic of a small layer, so one kernel for a whole LayerNorm pays.

mod layer_norm;

pub use layer_norm::fused_layer_norm;
