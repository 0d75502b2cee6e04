//! The two towers, their projections into the shared space, and the learned temperature.

use burn::module::{ModuleMapper, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::FloatDType;

use super::config::ClipConfig;
use super::text::TextTransformer;
use super::vision::VisionTransformer;
use crate::error::Result;
use crate::kernels::linear_layer;
use crate::tokenizer::TokenBatch;

#[derive(Module, Debug)]
pub struct ClipModel {
    pub text_model: TextTransformer,
    pub vision_model: VisionTransformer,
    pub text_projection: Linear,
    pub visual_projection: Linear,
    /// Log of the logit temperature, stored as in `transformers` (a scalar there, `[1]` here).
    pub logit_scale: Param<Tensor<1>>,
    #[module(skip)]
    pub config: ClipConfig,
}

/// What `transformers`' `CLIPModel.forward` returns, minus the tower outputs.
#[derive(Debug, Clone)]
pub struct ClipOutput {
    /// L2-normalised projected text embeddings, `[texts, projection_dim]`.
    pub text_embeds: Tensor<2>,
    /// L2-normalised projected image embeddings, `[images, projection_dim]`.
    pub image_embeds: Tensor<2>,
    /// `exp(logit_scale) · text_embeds · image_embedsᵀ`, `[texts, images]`.
    pub logits_per_text: Tensor<2>,
}

impl ClipModel {
    /// This model with every weight (and so every activation between layers) stored as `dtype`.
    /// Its features come out in f32 whatever it computes in, for the pool, the losses and the
    /// page to read.
    pub fn with_float_dtype(self, dtype: FloatDType) -> Self {
        struct Cast(FloatDType);
        impl ModuleMapper for Cast {
            fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
                let (id, tensor, mapper) = param.consume();
                Param::from_mapped_value(id, tensor.cast(self.0), mapper)
            }
        }
        self.map(&mut Cast(dtype))
    }

    /// The dtype the model's weights are stored and its activations computed in.
    pub fn float_dtype(&self) -> FloatDType {
        self.logit_scale.val().dtype().into()
    }

    /// Projected, unnormalised text features (`get_text_features`).
    pub fn text_features(&self, tokens: &TokenBatch) -> Result<Tensor<2>> {
        let pooled = self.text_model.forward(tokens)?;
        Ok(linear_layer(&self.text_projection, pooled).cast(FloatDType::F32))
    }

    /// Projected, unnormalised image features (`get_image_features`).
    pub fn image_features(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        let pooled = self.vision_model.forward(pixels)?;
        Ok(linear_layer(&self.visual_projection, pooled).cast(FloatDType::F32))
    }

    /// Unit-length text embeddings, the space every safety method works in.
    pub fn embed_text(&self, tokens: &TokenBatch) -> Result<Tensor<2>> {
        Ok(l2_normalize(self.text_features(tokens)?))
    }

    /// Unit-length image embeddings.
    pub fn embed_images(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        Ok(l2_normalize(self.image_features(pixels)?))
    }

    /// The unit-length embedding of one blank patch (see
    /// [`VisionTransformer::forward_one_patch`]): every kernel an image runs, at a fraction of
    /// its cost.
    pub fn embed_one_patch(&self) -> Tensor<2> {
        let pooled = self.vision_model.forward_one_patch();
        l2_normalize(linear_layer(&self.visual_projection, pooled).cast(FloatDType::F32))
    }

    pub fn forward(&self, tokens: &TokenBatch, pixels: Tensor<4>) -> Result<ClipOutput> {
        let text_embeds = self.embed_text(tokens)?;
        let image_embeds = self.embed_images(pixels)?;
        let logits_per_text = self.logits_per_text(text_embeds.clone(), image_embeds.clone());
        Ok(ClipOutput {
            text_embeds,
            image_embeds,
            logits_per_text,
        })
    }

    /// `exp(logit_scale) · text_embeds · image_embedsᵀ`, `[texts, images]`, for unit-length
    /// embeddings.
    pub fn logits_per_text(&self, text_embeds: Tensor<2>, image_embeds: Tensor<2>) -> Tensor<2> {
        let scale = self
            .logit_scale
            .val()
            .cast(FloatDType::F32)
            .exp()
            .unsqueeze::<2>();
        text_embeds.matmul(image_embeds.transpose()) * scale
    }
}

/// Divides each row by its L2 norm (no epsilon, as `transformers` does).
pub fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().powi_scalar(2).sum_dim(1).sqrt();
    x / norm
}
