//! The one place that knows `transformers`' `CLIPModel` key names: it builds every module of
//! [`ClipModel`] from a checkpoint, checking each tensor's shape against the config, and writes
//! a model back under the same names.

use burn::nn::{Embedding, Linear};

use super::checkpoint::Checkpoint;
use super::writer::SafetensorsWriter;
use crate::error::{Error, Result};
use crate::lora::{LoraLinear, LoraPatchEmbedding};
use crate::model::{
    Activation, Attention, ClipConfig, ClipModel, Encoder, EncoderLayer, LayerNorm, Mlp,
    TextConfig, TextTransformer, VisionConfig, VisionTransformer,
};

/// Buffers some `transformers` versions save beside the weights; they are recomputed here.
fn is_ignored_buffer(key: &str) -> bool {
    key.ends_with("embeddings.position_ids")
}

/// A randomly initialised model of `config` (seeded), built through the same key map: a model to
/// test and benchmark on where real weights cannot be had.
pub fn random_clip(
    config: &ClipConfig,
    seed: u64,
    device: &burn::prelude::Device,
) -> Result<ClipModel> {
    load_clip(config, &Checkpoint::random(seed, device))
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
        patch_embedding: LoraPatchEmbedding {
            projection: LoraLinear::from(Linear {
                weight: checkpoint.matrix_transposed_as(
                    &format!("{p}.embeddings.patch_embedding.weight"),
                    &[c.hidden_size, c.num_channels, patch, patch],
                    c.num_channels * patch * patch,
                    c.hidden_size,
                )?,
                bias: None,
            }),
            channels: c.num_channels,
            patch,
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
                    q_proj: linear(checkpoint, &format!("{p}.self_attn.q_proj"), h, h, true)?
                        .into(),
                    k_proj: linear(checkpoint, &format!("{p}.self_attn.k_proj"), h, h, true)?
                        .into(),
                    v_proj: linear(checkpoint, &format!("{p}.self_attn.v_proj"), h, h, true)?
                        .into(),
                    out_proj: linear(checkpoint, &format!("{p}.self_attn.out_proj"), h, h, true)?
                        .into(),
                    num_heads: shape.heads,
                },
                layer_norm2: layer_norm(checkpoint, &format!("{p}.layer_norm2"), h, shape.eps)?,
                mlp: Mlp {
                    fc1: linear(
                        checkpoint,
                        &format!("{p}.mlp.fc1"),
                        h,
                        shape.intermediate,
                        true,
                    )?
                    .into(),
                    fc2: linear(
                        checkpoint,
                        &format!("{p}.mlp.fc2"),
                        shape.intermediate,
                        h,
                        true,
                    )?
                    .into(),
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
    Ok(LayerNorm {
        gamma: checkpoint.param(&format!("{prefix}.weight"), [d])?,
        beta: checkpoint.param(&format!("{prefix}.bias"), [d])?,
        epsilon: eps,
    })
}

/// The inverse of [`load_clip`]: a `model.safetensors` that `transformers` loads as this model,
/// linear weights back in PyTorch's `[out, in]` layout. Adapters must be merged first.
pub async fn save_clip(model: &ClipModel) -> Result<Vec<u8>> {
    if model
        .projections()
        .iter()
        .any(|p| p.layer.adapter.is_some())
    {
        return Err(Error::Input(
            "the model carries LoRA adapters: merge them before exporting the full model".into(),
        ));
    }
    let mut w = SafetensorsWriter::new();
    w.metadata("format", "pt");
    let text = &model.text_model;
    w.add(
        "text_model.embeddings.token_embedding.weight",
        text.token_embedding.weight.val(),
    )
    .await?;
    w.add(
        "text_model.embeddings.position_embedding.weight",
        text.position_embedding.val(),
    )
    .await?;
    write_encoder(&mut w, "text_model.encoder", &text.encoder).await?;
    write_layer_norm(
        &mut w,
        "text_model.final_layer_norm",
        &text.final_layer_norm,
    )
    .await?;
    let vision = &model.vision_model;
    let patches = &vision.patch_embedding;
    let [channels, height, width] = patches.kernel();
    let shape = [patches.projection.dims()[1], channels, height, width];
    w.add_transposed_as(
        "vision_model.embeddings.patch_embedding.weight",
        patches.projection.base.weight.val(),
        &shape,
    )
    .await?;
    w.add(
        "vision_model.embeddings.class_embedding",
        vision.class_embedding.val(),
    )
    .await?;
    w.add(
        "vision_model.embeddings.position_embedding.weight",
        vision.position_embedding.val(),
    )
    .await?;
    write_layer_norm(&mut w, "vision_model.pre_layrnorm", &vision.pre_layernorm).await?;
    write_encoder(&mut w, "vision_model.encoder", &vision.encoder).await?;
    write_layer_norm(
        &mut w,
        "vision_model.post_layernorm",
        &vision.post_layernorm,
    )
    .await?;
    w.add_transposed("text_projection.weight", model.text_projection.weight.val())
        .await?;
    w.add_transposed(
        "visual_projection.weight",
        model.visual_projection.weight.val(),
    )
    .await?;
    // A 0-d tensor in `transformers`.
    let logit_scale = crate::device::read_f32(model.logit_scale.val()).await?;
    w.add_values("logit_scale", &[], &logit_scale)?;
    w.finish()
}

async fn write_encoder(w: &mut SafetensorsWriter, prefix: &str, encoder: &Encoder) -> Result<()> {
    for (i, layer) in encoder.layers.iter().enumerate() {
        let p = format!("{prefix}.layers.{i}");
        write_layer_norm(w, &format!("{p}.layer_norm1"), &layer.layer_norm1).await?;
        write_layer_norm(w, &format!("{p}.layer_norm2"), &layer.layer_norm2).await?;
    }
    for (name, projection) in encoder.projections() {
        let linear = &projection.base;
        w.add_transposed(&format!("{prefix}.{name}.weight"), linear.weight.val())
            .await?;
        if let Some(bias) = &linear.bias {
            w.add(&format!("{prefix}.{name}.bias"), bias.val()).await?;
        }
    }
    Ok(())
}

async fn write_layer_norm(w: &mut SafetensorsWriter, prefix: &str, norm: &LayerNorm) -> Result<()> {
    w.add(&format!("{prefix}.weight"), norm.gamma.val()).await?;
    w.add(&format!("{prefix}.bias"), norm.beta.val()).await
}
