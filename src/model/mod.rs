//! CLIP as Burn modules, one file per part, mirroring `transformers`' `modeling_clip.py`, and
//! the attachment of LoRA adapters to it.

mod adapters;
mod clip;
mod config;
mod encoder;
mod layer_norm;
mod text;
mod vision;

pub use adapters::{MAX_STRENGTH, Projection, check_strength};
pub use clip::{ClipModel, ClipOutput, l2_normalize};
pub use config::{Activation, ClipConfig, TextConfig, VisionConfig};
pub use encoder::{Attention, Encoder, EncoderLayer, Mlp};
pub use layer_norm::LayerNorm;
pub use text::TextTransformer;
pub use vision::VisionTransformer;
