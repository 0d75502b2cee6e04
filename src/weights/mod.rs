//! Weight loading: safetensors parsing with per-tensor checks, and the `transformers` key map.

mod checkpoint;
mod clip;

pub use checkpoint::Checkpoint;
pub use clip::load_clip;
