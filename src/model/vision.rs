//! The vision tower: patch embedding, class token, pre-LayerNorm transformer, and the post
//! LayerNorm of the class token (`CLIPVisionTransformer`).

use burn::module::Param;
use burn::prelude::*;

use super::encoder::Encoder;
use super::layer_norm::LayerNorm;
use crate::error::{Error, Result};
use crate::lora::LoraPatchEmbedding;

#[derive(Module, Debug)]
pub struct VisionTransformer {
    pub patch_embedding: LoraPatchEmbedding,
    pub class_embedding: Param<Tensor<1>>,
    pub position_embedding: Param<Tensor<2>>,
    pub pre_layernorm: LayerNorm,
    pub encoder: Encoder,
    pub post_layernorm: LayerNorm,
    #[module(skip)]
    pub image_size: usize,
}

impl VisionTransformer {
    /// Pooled output, `[batch, hidden_size]`, before the visual projection. `pixels` are
    /// normalised images, `[batch, channels, image_size, image_size]`.
    pub fn forward(&self, pixels: Tensor<4>) -> Result<Tensor<2>> {
        let [batch, channels, height, width] = pixels.dims();
        let expected_channels = self.patch_embedding.channels;
        if batch == 0 {
            return Err(Error::Input("no image to encode".into()));
        }
        if channels != expected_channels || height != self.image_size || width != self.image_size {
            return Err(Error::Input(format!(
                "pixels have shape [{batch}, {channels}, {height}, {width}], the model takes \
                 [batch, {expected_channels}, {s}, {s}]",
                s = self.image_size
            )));
        }
        Ok(self.pool(pixels))
    }

    /// [`Self::forward`] of one blank patch, the class token and the patch's position: every
    /// kernel of a full image runs, on 2 tokens instead of 50 (257 for ViT-L/14), so that a GPU
    /// compiles the tower's pipelines in a fraction of an image's time.
    pub fn forward_one_patch(&self) -> Tensor<2> {
        let (channels, patch) = (self.patch_embedding.channels, self.patch_embedding.patch);
        let device = self.position_embedding.device();
        self.pool(Tensor::zeros([1, channels, patch, patch], &device))
    }

    /// The pooled class token of pixels whose sides are multiples of the patch, with the
    /// position embeddings of as many patches as they hold.
    fn pool(&self, pixels: Tensor<4>) -> Tensor<2> {
        let batch = pixels.dims()[0];
        let pixels = pixels.cast(self.position_embedding.val().dtype());
        let patches = self.patch_embedding.forward(pixels);
        let [_, count, hidden] = patches.dims();
        let class = self
            .class_embedding
            .val()
            .reshape([1, 1, hidden])
            .expand([batch, 1, hidden]);
        let positions = self.position_embedding.val().slice(0..count + 1);
        let x = Tensor::cat(vec![class, patches], 1) + positions.unsqueeze::<3>();

        let class_token =
            self.encoder
                .forward_rows(self.pre_layernorm.forward(x), &vec![0; batch], false);
        self.post_layernorm.forward(class_token)
    }
}
