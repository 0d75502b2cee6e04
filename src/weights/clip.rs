//! The one place that knows `transformers`' `CLIPModel` key names: it builds every module of
//! [`ClipModel`] from a checkpoint, checking each tensor's shape against the config.

use burn::nn::conv::Conv2d;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear, PaddingConfig2d};

use super::checkpoint::Checkpoint;
use crate::error::Result;
use crate::model::{
    Activation, Attention, ClipConfig, ClipModel, Encoder, EncoderLayer, Mlp, TextConfig,
    TextTransformer, VisionConfig, VisionTransformer,
};

/// Buffers some `transformers` versions save beside the weights; they are recomputed here.
fn is_ignored_buffer(key: &str) -> bool {
    key.ends_with("embeddings.position_ids")
}

pub fn load_clip(config: &ClipConfig, checkpoint: &Checkpoint) -> Result<ClipModel> {
    config.validate()?;
    let text = &config.text_config;
    let vision = &config.vision_config;
    let model = ClipModel {
        text_model: load_text(config, checkpoint)?,
        vision_model: load_vision(config, checkpoint)?,
        text_projection: linear(
            checkpoint,
            "text_projection",
            text.hidden_size,
            config.projection_dim,
            false,
        )?,
        visual_projection: linear(
            checkpoint,
            "visual_projection",
            vision.hidden_size,
            config.projection_dim,
            false,
        )?,
        logit_scale: checkpoint.param("logit_scale", [1])?,
        config: config.clone(),
    };
    checkpoint.ensure_all_used(is_ignored_buffer)?;
    Ok(model)
}

fn load_text(config: &ClipConfig, checkpoint: &Checkpoint) -> Result<TextTransformer> {
    let c = &config.text_config;
    let p = "text_model";
    Ok(TextTransformer {
        token_embedding: Embedding {
            weight: checkpoint.param(
                &format!("{p}.embeddings.token_embedding.weight"),
                [c.vocab_size, c.hidden_size],
            )?,
        },
        position_embedding: checkpoint.param(
            &format!("{p}.embeddings.position_embedding.weight"),
            [c.max_position_embeddings, c.hidden_size],
        )?,
        encoder: encoder(checkpoint, &format!("{p}.encoder"), EncoderShape::from(c))?,
        final_layer_norm: layer_norm(
            checkpoint,
            &format!("{p}.final_layer_norm"),
            c.hidden_size,
            c.layer_norm_eps,
        )?,
        eos_token_id: c.eos_token_id,
    })
}

fn load_vision(config: &ClipConfig, checkpoint: &Checkpoint) -> Result<VisionTransformer> {
    let c = &config.vision_config;
    let p = "vision_model";
    let patch = c.patch_size;
    Ok(VisionTransformer {
        patch_embedding: Conv2d {
            weight: checkpoint.param(
                &format!("{p}.embeddings.patch_embedding.weight"),
                [c.hidden_size, c.num_channels, patch, patch],
            )?,
            bias: None,
            stride: [patch, patch],
            kernel_size: [patch, patch],
            dilation: [1, 1],
            groups: 1,
            padding: PaddingConfig2d::Valid,
        },
        class_embedding: checkpoint
            .param(&format!("{p}.embeddings.class_embedding"), [c.hidden_size])?,
        position_embedding: checkpoint.param(
            &format!("{p}.embeddings.position_embedding.weight"),
            [c.num_patches() + 1, c.hidden_size],
        )?,
        // `pre_layrnorm` is spelled this way in every CLIP checkpoint.
        pre_layernorm: layer_norm(
            checkpoint,
            &format!("{p}.pre_layrnorm"),
            c.hidden_size,
            c.layer_norm_eps,
        )?,
        encoder: encoder(checkpoint, &format!("{p}.encoder"), EncoderShape::from(c))?,
        post_layernorm: layer_norm(
            checkpoint,
            &format!("{p}.post_layernorm"),
            c.hidden_size,
            c.layer_norm_eps,
        )?,
        image_size: c.image_size,
    })
}

struct EncoderShape {
    layers: usize,
    hidden: usize,
    intermediate: usize,
    heads: usize,
    activation: Activation,
    eps: f64,
}

impl From<&TextConfig> for EncoderShape {
    fn from(c: &TextConfig) -> Self {
        Self {
            layers: c.num_hidden_layers,
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            eps: c.layer_norm_eps,
        }
    }
}

impl From<&VisionConfig> for EncoderShape {
    fn from(c: &VisionConfig) -> Self {
        Self {
            layers: c.num_hidden_layers,
            hidden: c.hidden_size,
            intermediate: c.intermediate_size,
            heads: c.num_attention_heads,
            activation: c.hidden_act,
            eps: c.layer_norm_eps,
        }
    }
}

fn encoder(checkpoint: &Checkpoint, prefix: &str, shape: EncoderShape) -> Result<Encoder> {
    let h = shape.hidden;
    let layers = (0..shape.layers)
        .map(|i| {
            let p = format!("{prefix}.layers.{i}");
            Ok(EncoderLayer {
                layer_norm1: layer_norm(checkpoint, &format!("{p}.layer_norm1"), h, shape.eps)?,
                self_attn: Attention {
                    q_proj: linear(checkpoint, &format!("{p}.self_attn.q_proj"), h, h, true)?,
                    k_proj: linear(checkpoint, &format!("{p}.self_attn.k_proj"), h, h, true)?,
                    v_proj: linear(checkpoint, &format!("{p}.self_attn.v_proj"), h, h, true)?,
                    out_proj: linear(checkpoint, &format!("{p}.self_attn.out_proj"), h, h, true)?,
                    num_heads: shape.heads,
                },
                layer_norm2: layer_norm(checkpoint, &format!("{p}.layer_norm2"), h, shape.eps)?,
                mlp: Mlp {
                    fc1: linear(checkpoint, &format!("{p}.mlp.fc1"), h, shape.intermediate, true)?,
                    fc2: linear(checkpoint, &format!("{p}.mlp.fc2"), shape.intermediate, h, true)?,
                    activation: shape.activation,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Encoder { layers })
}

fn linear(
    checkpoint: &Checkpoint,
    prefix: &str,
    d_in: usize,
    d_out: usize,
    bias: bool,
) -> Result<Linear> {
    Ok(Linear {
        weight: checkpoint.matrix_transposed(&format!("{prefix}.weight"), d_in, d_out)?,
        bias: if bias {
            Some(checkpoint.param(&format!("{prefix}.bias"), [d_out])?)
        } else {
            None
        },
    })
}

fn layer_norm(checkpoint: &Checkpoint, prefix: &str, d: usize, eps: f64) -> Result<LayerNorm> {
    let mut norm = LayerNormConfig::new(d)
        .with_epsilon(eps)
        .init(checkpoint.device());
    norm.gamma = checkpoint.param(&format!("{prefix}.weight"), [d])?;
    norm.beta = Some(checkpoint.param(&format!("{prefix}.bias"), [d])?);
    Ok(norm)
}
