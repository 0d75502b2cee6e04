//! safer-clip: CLIP in Burn, and the safety fine-tuning methods built on it (Safe-CLIP,
//! SafeR-CLIP, HySAC), natively and in the browser through WebGPU.
//!
//! - [`kernels`]: fused GPU kernels the model calls on wgpu.
//! - [`model`]: the CLIP towers as Burn modules.
//! - [`weights`]: Hugging Face `model.safetensors` loading.
//! - [`tokenizer`], [`preprocess`]: text and image inputs exactly as CLIP prepares them.
//! - [`data`]: caption pools and safety pairs.
//! - [`pipeline`]: a loaded checkpoint that embeds text and images.
//! - [`safety`]: the safety methods: nearest-safe target selection, Safe-CLIP and SafeR-CLIP losses.
//! - [`device`]: backend selection.
//! - `web` (wasm32 only): the bindings the browser app calls.

pub mod data;
pub mod device;
pub mod error;
pub mod evaluation;
#[cfg(not(target_arch = "wasm32"))]
pub mod files;
pub mod hyperbolic;
pub mod kernels;
pub mod lora;
pub mod model;
pub mod pipeline;
pub mod preprocess;
pub mod random;
pub mod safety;
pub mod tokenizer;
pub mod training;
pub mod weights;

pub use error::{Error, Result};
pub use pipeline::Clip;

#[cfg(target_arch = "wasm32")]
pub mod web;
