//! How PyTorch lays out what Burn holds as `[in, out]` matrices: a `Linear` weight is
//! `[out, in]`; CLIP's patch embedding is a convolution, `[out, channels, patch, patch]`, and
//! PEFT's `Conv2d` LoRA stores its factors as `[r, channels, patch, patch]` and `[out, r, 1, 1]`.

/// PyTorch's shapes of a projection's base weight and of its `lora_A` / `lora_B` weights at
/// rank `r`; `kernel` is `[channels, patch, patch]` for the patch embedding's convolution
/// (`model::Projection::kernel`).
pub fn torch_shapes(
    kernel: Option<[usize; 3]>,
    [d_in, d_out]: [usize; 2],
    r: usize,
) -> [Vec<usize>; 3] {
    match kernel {
        None => [vec![d_out, d_in], vec![r, d_in], vec![d_out, r]],
        Some([c, h, w]) => [vec![d_out, c, h, w], vec![r, c, h, w], vec![d_out, r, 1, 1]],
    }
}
