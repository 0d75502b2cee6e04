//! LoRA as PEFT arranges it: the config (which projections, how big), and the layers that carry
//! an adapter. Attaching adapters to a CLIP model is `model::adapters`.

mod config;
mod linear;
mod patch_embedding;

pub use config::{LoraConfig, LoraTarget, is_target};
pub use linear::{LoraAdapter, LoraLinear};
pub use patch_embedding::LoraPatchEmbedding;
