//! CLIP as Burn modules, one file per part, mirroring `transformers`' `modeling_clip.py`.

mod clip;
mod config;
mod encoder;
mod lora;
mod text;
mod vision;

pub use clip::{ClipModel, ClipOutput, l2_normalize};
pub use config::{Activation, ClipConfig, TextConfig, VisionConfig};
pub use encoder::{Attention, Encoder, EncoderLayer, Mlp};
pub use lora::{LoraAdapter, LoraConfig, LoraLinear, LoraTarget, is_target};
pub use text::TextTransformer;
pub use vision::VisionTransformer;
