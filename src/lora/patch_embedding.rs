//! CLIP's patch embedding, a convolution whose stride is its kernel, run as the linear map of
//! flattened patches it is, so that it takes a LoRA adapter like any projection (PEFT's `Conv2d`
//! LoRA on such a convolution is the same update).

use burn::prelude::*;

use super::linear::LoraLinear;

#[derive(Module, Debug)]
pub struct LoraPatchEmbedding {
    /// `[channels · patch · patch, hidden]`, each patch flattened as PyTorch flattens a
    /// convolution kernel: (c, y, x).
    pub projection: LoraLinear,
    #[module(skip)]
    pub channels: usize,
    #[module(skip)]
    pub patch: usize,
}

impl LoraPatchEmbedding {
    /// `[channels, patch, patch]`: the convolution's kernel, as PyTorch stores it per output.
    pub fn kernel(&self) -> [usize; 3] {
        [self.channels, self.patch, self.patch]
    }

    /// `[batch, channels, side, side]` pixels (side a multiple of the patch) to
    /// `[batch, patches, hidden]`, patches in row-major order.
    pub fn forward(&self, pixels: Tensor<4>) -> Tensor<3> {
        let [batch, channels, height, width] = pixels.dims();
        let patch = self.patch;
        let (rows, cols) = (height / patch, width / patch);
        let patches = pixels
            .reshape([batch, channels, rows, patch, cols, patch])
            .permute([0, 2, 4, 1, 3, 5])
            .reshape([batch, rows * cols, channels * patch * patch]);
        self.projection.forward(patches)
    }
}
