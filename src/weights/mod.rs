//! Weights in and out: safetensors parsing with per-tensor checks, the `transformers` key map,
//! LoRA adapter files, and the writer they share.

mod adapter;
mod checkpoint;
mod clip;
mod convert;
mod layout;
mod random;
mod writer;

pub use adapter::{
    ADAPTER_FORMAT, Adapter, adapter_config, load_adapters, read_adapters, read_head,
    save_adapters, with_thresholds, write_adapters, write_head, write_hyperbolic,
};
pub use checkpoint::Checkpoint;
pub use clip::{load_clip, random_clip, save_clip};
pub use convert::{Q8_BLOCK, QUANTIZATION_KEY, StorageDtype, convert};
pub use writer::SafetensorsWriter;
