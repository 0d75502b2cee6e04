//! CLIP's image preprocessing: decode, RGB, bicubic resize of the shortest edge, centre crop,
//! mean/std normalisation — as OpenAI's `clip.load` transform does it with Pillow.

mod resample;

use std::io::Cursor;

use burn::prelude::*;
use image::{ImageReader, Limits};

use crate::error::{Error, Result};
use resample::resize_bicubic_window;

/// OpenAI CLIP's per-channel normalisation (the same for every released checkpoint).
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// Smallest side accepted: anything smaller carries no picture worth classifying.
pub const MIN_SIDE: u32 = 4;
/// Largest side accepted, so a hostile file cannot make the decoder allocate gigabytes.
pub const MAX_SIDE: u32 = 16_384;
const MAX_DECODE_BYTES: u64 = 1 << 30;

/// A preprocessed image: `[3, size, size]` normalised floats, channel-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Pixels {
    pub size: usize,
    pub values: Vec<f32>,
}

/// Decodes JPEG, PNG or WebP bytes to interleaved 8-bit RGB, dropping any alpha channel
/// (as Pillow's `convert("RGB")` does).
pub fn decode_rgb(bytes: &[u8]) -> Result<(Vec<u8>, (usize, usize))> {
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Error::Image(format!("cannot read image: {e}")))?;
    if reader.format().is_none() {
        return Err(Error::Image(
            "not a recognised image: expected JPEG, PNG or WebP".into(),
        ));
    }
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let decoded = reader
        .decode()
        .map_err(|e| Error::Image(format!("cannot decode image: {e}")))?;
    let (width, height) = (decoded.width(), decoded.height());
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(Error::Image(format!(
            "image is {width}×{height} pixels; at least {MIN_SIDE}×{MIN_SIDE} is needed"
        )));
    }
    Ok((
        decoded.to_rgb8().into_raw(),
        (width as usize, height as usize),
    ))
}

/// Resizes the shortest edge to `size` (Pillow bicubic), crops the centre `size × size`
/// (torchvision's rounding), and normalises with CLIP's mean and std.
pub fn preprocess_rgb(rgb: &[u8], (width, height): (usize, usize), size: usize) -> Result<Pixels> {
    if rgb.len() != width * height * 3 {
        return Err(Error::Image(format!(
            "{} bytes cannot be a {width}×{height} RGB image",
            rgb.len()
        )));
    }
    let (out_width, out_height) = if width <= height {
        (size, (size as f64 * height as f64 / width as f64) as usize)
    } else {
        ((size as f64 * width as f64 / height as f64) as usize, size)
    };
    // torchvision's `center_crop`: `int(round((in - out) / 2))`, with Python's half-to-even.
    let offset = |resized: usize| ((resized - size) as f64 / 2.0).round_ties_even() as usize;
    let (top, left) = (offset(out_height), offset(out_width));
    let cropped = resize_bicubic_window(
        rgb,
        (width, height),
        (out_width, out_height),
        top..top + size,
        left..left + size,
    );

    let plane = size * size;
    let mut values = vec![0.0f32; 3 * plane];
    for (i, pixel) in cropped.chunks_exact(3).enumerate() {
        for ch in 0..3 {
            values[ch * plane + i] = (f32::from(pixel[ch]) / 255.0 - CLIP_MEAN[ch]) / CLIP_STD[ch];
        }
    }
    Ok(Pixels { size, values })
}

/// Decodes and preprocesses one encoded image.
pub fn preprocess_image(bytes: &[u8], size: usize) -> Result<Pixels> {
    let (rgb, dims) = decode_rgb(bytes)?;
    preprocess_rgb(&rgb, dims, size)
}

/// Stacks preprocessed images into a `[batch, 3, size, size]` tensor.
pub fn pixels_to_tensor(images: &[Pixels], device: &Device) -> Result<Tensor<4>> {
    let size = images
        .first()
        .map(|p| p.size)
        .ok_or_else(|| Error::Input("no image to encode".into()))?;
    if images.iter().any(|p| p.size != size) {
        return Err(Error::Input(
            "images were preprocessed to different sizes".into(),
        ));
    }
    let values: Vec<f32> = images
        .iter()
        .flat_map(|p| p.values.iter().copied())
        .collect();
    Ok(Tensor::from_data(
        TensorData::new(values, [images.len(), 3, size, size]),
        device,
    ))
}
