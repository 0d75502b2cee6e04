//! Pillow's bicubic resampling (`ImagingResample`, 8-bit path), bit for bit: a separable
//! convolution whose support widens with the downscale factor (antialiasing), fixed-point
//! weights with 22 fractional bits, and rounding to 8 bits between the two passes.
//!
//! Only the output rows and columns in `rows`/`cols` are computed, so resizing and centre
//! cropping are one step, and an extreme aspect ratio costs no more than a square image.

use std::ops::Range;

const PRECISION_BITS: u32 = 32 - 8 - 2;
const BICUBIC_SUPPORT: f64 = 2.0;

fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

/// Fixed-point weights of the input samples that make one output sample.
struct Taps {
    first: usize,
    weights: Vec<i32>,
}

/// Pillow's `precompute_coeffs` followed by `normalize_coeffs_8bpc`.
fn taps(in_size: usize, out_size: usize, out_index: usize) -> Taps {
    let scale = in_size as f64 / out_size as f64;
    let filter_scale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filter_scale;
    let center = (out_index as f64 + 0.5) * scale;
    let first = ((center - support + 0.5) as i64).max(0) as usize;
    let last = ((center + support + 0.5) as i64).min(in_size as i64) as usize;
    let raw: Vec<f64> = (first..last)
        .map(|x| bicubic((x as f64 - center + 0.5) / filter_scale))
        .collect();
    let total: f64 = raw.iter().sum();
    let one = f64::from(1u32 << PRECISION_BITS);
    let weights = raw
        .iter()
        .map(|&w| {
            let w = if total != 0.0 { w / total } else { w };
            if w < 0.0 {
                (-0.5 + w * one) as i32
            } else {
                (0.5 + w * one) as i32
            }
        })
        .collect();
    Taps { first, weights }
}

fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

fn convolve(samples: impl Iterator<Item = u8>, weights: &[i32]) -> u8 {
    let acc = samples
        .zip(weights)
        .fold(1i64 << (PRECISION_BITS - 1), |acc, (s, &w)| {
            acc + i64::from(s) * i64::from(w)
        });
    clip8(acc)
}

/// Resizes an interleaved RGB image of `width × height` to `out_width × out_height` as Pillow's
/// `Image.resize(.., BICUBIC)` does, and returns only the window `rows × cols` of the result.
pub fn resize_bicubic_window(
    rgb: &[u8],
    (width, height): (usize, usize),
    (out_width, out_height): (usize, usize),
    rows: Range<usize>,
    cols: Range<usize>,
) -> Vec<u8> {
    let col_taps: Vec<Taps> = cols.clone().map(|x| taps(width, out_width, x)).collect();
    let row_taps: Vec<Taps> = rows.clone().map(|y| taps(height, out_height, y)).collect();
    let in_rows = row_taps.iter().map(|t| t.first).min().unwrap_or(0)
        ..row_taps
            .iter()
            .map(|t| t.first + t.weights.len())
            .max()
            .unwrap_or(0);

    // Pillow skips a pass whose size does not change; its weights would be the identity.
    let same_width = width == out_width;
    let same_height = height == out_height;
    let n_cols = cols.len();

    let mut horizontal = vec![0u8; in_rows.len() * n_cols * 3];
    for (r, y) in in_rows.clone().enumerate() {
        let row = &rgb[y * width * 3..(y + 1) * width * 3];
        for (c, t) in col_taps.iter().enumerate() {
            for ch in 0..3 {
                horizontal[(r * n_cols + c) * 3 + ch] = if same_width {
                    row[(cols.start + c) * 3 + ch]
                } else {
                    let samples = (t.first..t.first + t.weights.len()).map(|x| row[x * 3 + ch]);
                    convolve(samples, &t.weights)
                };
            }
        }
    }

    let mut out = vec![0u8; rows.len() * n_cols * 3];
    for (r, t) in row_taps.iter().enumerate() {
        for c in 0..n_cols {
            for ch in 0..3 {
                out[(r * n_cols + c) * 3 + ch] = if same_height {
                    horizontal[((rows.start + r - in_rows.start) * n_cols + c) * 3 + ch]
                } else {
                    let samples = (t.first..t.first + t.weights.len())
                        .map(|y| horizontal[((y - in_rows.start) * n_cols + c) * 3 + ch]);
                    convolve(samples, &t.weights)
                };
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for (input, output) in [(450, 224), (32, 224), (655, 326), (224, 224)] {
            for i in [0, output / 2, output - 1] {
                let sum: i64 = taps(input, output, i)
                    .weights
                    .iter()
                    .map(|&w| i64::from(w))
                    .sum();
                assert!(
                    (sum - (1 << PRECISION_BITS)).abs() <= 4,
                    "{input}->{output}@{i}: {sum}"
                );
            }
        }
    }

    #[test]
    fn a_flat_image_stays_flat() {
        let rgb = vec![77u8; 40 * 30 * 3];
        let out = resize_bicubic_window(&rgb, (40, 30), (17, 13), 0..13, 0..17);
        assert!(out.iter().all(|&v| v == 77));
    }
}
