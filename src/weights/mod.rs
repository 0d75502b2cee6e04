//! Weights in and out: safetensors parsing with per-tensor checks, the `transformers` key map,
//! LoRA adapter files, and the writer they share.

mod adapter;
mod checkpoint;
mod clip;
mod random;
mod writer;

pub use adapter::{ADAPTER_FORMAT, adapter_config, load_adapters, read_adapters, save_adapters, write_adapters};
pub use checkpoint::Checkpoint;
pub use clip::{load_clip, save_clip};
pub use writer::SafetensorsWriter;
