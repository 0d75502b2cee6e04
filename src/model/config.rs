//! CLIP hyper-parameters, read from a Hugging Face `config.json` (`CLIPModel`) with the same
//! defaults as `transformers`' `CLIPTextConfig` / `CLIPVisionConfig` for any key left out.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Activation inside the transformer MLPs (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `x * sigmoid(1.702 x)`, used by OpenAI's CLIP checkpoints.
    #[serde(rename = "quick_gelu")]
    QuickGelu,
    /// Exact GELU, `x * Φ(x)`.
    #[serde(rename = "gelu")]
    Gelu,
    /// Tanh-approximated GELU.
    #[serde(rename = "gelu_new", alias = "gelu_pytorch_tanh")]
    GeluTanh,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TextConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub max_position_embeddings: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
    /// `2` in OpenAI's original configs, a legacy value that makes `transformers` pool at the
    /// highest token id (the end token) instead of at the first `eos_token_id`.
    pub eos_token_id: u32,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            vocab_size: 49408,
            hidden_size: 512,
            intermediate_size: 2048,
            num_hidden_layers: 12,
            num_attention_heads: 8,
            max_position_embeddings: 77,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
            eos_token_id: 49407,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl Default for VisionConfig {
    fn default() -> Self {
        Self {
            hidden_size: 768,
            intermediate_size: 3072,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            num_channels: 3,
            image_size: 224,
            patch_size: 32,
            hidden_act: Activation::QuickGelu,
            layer_norm_eps: 1e-5,
        }
    }
}

impl VisionConfig {
    pub fn num_patches(&self) -> usize {
        (self.image_size / self.patch_size).pow(2)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClipConfig {
    pub text_config: TextConfig,
    pub vision_config: VisionConfig,
    pub projection_dim: usize,
    pub logit_scale_init_value: f64,
}

impl Default for ClipConfig {
    fn default() -> Self {
        Self::vit_base_patch32()
    }
}

impl ClipConfig {
    /// `openai/clip-vit-base-patch32`.
    pub fn vit_base_patch32() -> Self {
        Self {
            text_config: TextConfig::default(),
            vision_config: VisionConfig::default(),
            projection_dim: 512,
            logit_scale_init_value: 2.6592,
        }
    }

    /// `openai/clip-vit-large-patch14`, the backbone of the published Safe-CLIP and SafeR-CLIP
    /// checkpoints.
    pub fn vit_large_patch14() -> Self {
        Self {
            text_config: TextConfig {
                hidden_size: 768,
                intermediate_size: 3072,
                num_attention_heads: 12,
                ..TextConfig::default()
            },
            vision_config: VisionConfig {
                hidden_size: 1024,
                intermediate_size: 4096,
                num_hidden_layers: 24,
                num_attention_heads: 16,
                patch_size: 14,
                ..VisionConfig::default()
            },
            projection_dim: 768,
            logit_scale_init_value: 2.6592,
        }
    }

    /// Parses a Hugging Face `config.json` and checks that the sizes fit together.
    pub fn from_json(json: &str) -> Result<Self> {
        let config: Self = serde_json::from_str(json).map_err(|e| Error::Config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    pub fn validate(&self) -> Result<()> {
        let t = &self.text_config;
        let v = &self.vision_config;
        let positive = [
            ("text_config.vocab_size", t.vocab_size),
            ("text_config.hidden_size", t.hidden_size),
            ("text_config.intermediate_size", t.intermediate_size),
            ("text_config.num_hidden_layers", t.num_hidden_layers),
            ("text_config.num_attention_heads", t.num_attention_heads),
            (
                "text_config.max_position_embeddings",
                t.max_position_embeddings,
            ),
            ("vision_config.hidden_size", v.hidden_size),
            ("vision_config.intermediate_size", v.intermediate_size),
            ("vision_config.num_hidden_layers", v.num_hidden_layers),
            ("vision_config.num_attention_heads", v.num_attention_heads),
            ("vision_config.num_channels", v.num_channels),
            ("vision_config.image_size", v.image_size),
            ("vision_config.patch_size", v.patch_size),
            ("projection_dim", self.projection_dim),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, value)| *value == 0) {
            return Err(Error::Config(format!("{name} must be positive")));
        }
        // Far beyond any published CLIP (ViT-bigG: width 1664, 48 layers), so that sizes from a
        // hostile file never reach an allocation.
        let bound = |name: &str| match name {
            "text_config.vocab_size" => 1 << 22,
            // Each image is preprocessed to `3 × size²` floats.
            "vision_config.image_size" => 1 << 12,
            n if n.ends_with("num_hidden_layers") || n.ends_with("num_channels") => 1 << 10,
            _ => 1 << 16,
        };
        if let Some((name, value)) = positive.iter().find(|(name, value)| *value > bound(name)) {
            return Err(Error::Config(format!(
                "{name} is {value}; at most {} is accepted",
                bound(name)
            )));
        }
        for (name, eps) in [
            ("text_config.layer_norm_eps", t.layer_norm_eps),
            ("vision_config.layer_norm_eps", v.layer_norm_eps),
        ] {
            if !(eps.is_finite() && eps > 0.0 && eps < 1.0) {
                return Err(Error::Config(format!(
                    "{name} must be a small positive number, got {eps}"
                )));
            }
        }
        if !self.logit_scale_init_value.is_finite() {
            return Err(Error::Config(
                "logit_scale_init_value must be a finite number".into(),
            ));
        }
        if !t.hidden_size.is_multiple_of(t.num_attention_heads) {
            return Err(Error::Config(format!(
                "text hidden_size {} is not divisible by num_attention_heads {}",
                t.hidden_size, t.num_attention_heads
            )));
        }
        if !v.hidden_size.is_multiple_of(v.num_attention_heads) {
            return Err(Error::Config(format!(
                "vision hidden_size {} is not divisible by num_attention_heads {}",
                v.hidden_size, v.num_attention_heads
            )));
        }
        if !v.image_size.is_multiple_of(v.patch_size) {
            return Err(Error::Config(format!(
                "image_size {} is not a multiple of patch_size {}",
                v.image_size, v.patch_size
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_keys_take_transformers_defaults() {
        let config = ClipConfig::from_json(r#"{"projection_dim": 64}"#).unwrap();
        assert_eq!(config.text_config, TextConfig::default());
        assert_eq!(config.projection_dim, 64);
    }

    #[test]
    fn presets_are_valid_and_have_the_published_sizes() {
        for (config, patches) in [
            (ClipConfig::vit_base_patch32(), 49),
            (ClipConfig::vit_large_patch14(), 256),
        ] {
            config.validate().unwrap();
            assert_eq!(config.vision_config.num_patches(), patches);
        }
    }

    #[test]
    fn unknown_activation_is_rejected_by_name() {
        let err = ClipConfig::from_json(r#"{"text_config": {"hidden_act": "swish"}}"#).unwrap_err();
        assert!(err.to_string().contains("swish"), "{err}");
    }

    #[test]
    fn meaningless_sizes_and_epsilons_are_refused_by_name() {
        for (json, name) in [
            (
                r#"{"text_config": {"layer_norm_eps": -1}}"#,
                "text_config.layer_norm_eps",
            ),
            (
                r#"{"vision_config": {"layer_norm_eps": 0}}"#,
                "vision_config.layer_norm_eps",
            ),
            (
                r#"{"vision_config": {"image_size": 1000000, "patch_size": 1}}"#,
                "vision_config.image_size",
            ),
            (
                r#"{"text_config": {"num_hidden_layers": 100000}}"#,
                "text_config.num_hidden_layers",
            ),
        ] {
            let err = ClipConfig::from_json(json).unwrap_err().to_string();
            assert!(err.contains(name), "{json}: {err}");
        }
    }

    #[test]
    fn indivisible_heads_are_rejected() {
        let err = ClipConfig::from_json(
            r#"{"text_config": {"hidden_size": 30, "num_attention_heads": 4}}"#,
        )
        .unwrap_err();
        assert!(err.to_string().contains("divisible"), "{err}");
    }
}
