//! Smaller model files for the download a visitor waits for: every float tensor as `f16` (half the
//! bytes; `transformers` loads it as it is), or each matrix as `int8` with one scale per block of
//! 32 values along its last dimension (about a quarter).
//!
//! The `q8` layout, in a plain safetensors file whose header says
//! `"safer_clip_quantization": "q8_block32"`: a tensor of two or more dimensions is stored as `I8`
//! under its own key, and its scales as `F16` under `<key>.q8_scales`, shaped like the tensor with
//! the last dimension replaced by `ceil(last / 32)`. Value `i` of a row is `q[i] × scale[i / 32]`;
//! a block's scale is its largest magnitude over 127, so every value is within half a step.
//! Vectors (biases, norms, the class embedding, the temperature) stay `F32`.

use std::collections::HashMap;

use half::f16;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// Values per quantization block.
pub const Q8_BLOCK: usize = 32;
/// The header entry that marks a file in the `q8` layout.
pub const QUANTIZATION_KEY: &str = "safer_clip_quantization";
const Q8_BLOCK32: &str = "q8_block32";

/// How a converted file stores its float tensors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageDtype {
    F16,
    Q8,
}

impl std::str::FromStr for StorageDtype {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "f16" => Ok(Self::F16),
            "q8" => Ok(Self::Q8),
            other => Err(Error::Input(format!(
                "unknown dtype `{other}` (expected f16 or q8)"
            ))),
        }
    }
}

/// Where the scales of a `q8` tensor are stored.
pub fn scales_key(key: &str) -> String {
    format!("{key}.q8_scales")
}

/// The shape of a `q8` tensor's scales.
pub fn scales_shape(shape: &[usize]) -> Vec<usize> {
    let mut scales = shape.to_vec();
    if let Some(last) = scales.last_mut() {
        *last = last.div_ceil(Q8_BLOCK);
    }
    scales
}

/// A float tensor's values, widened to `f32` whatever it is stored as.
fn values(view: &TensorView<'_>) -> Option<Vec<f32>> {
    let data = view.data();
    Some(match view.dtype() {
        Dtype::F32 => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => data
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => data
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        _ => return None,
    })
}

/// Symmetric int8 values and one scale per block of [`Q8_BLOCK`] along rows of `row` values.
pub fn quantize(values: &[f32], row: usize) -> (Vec<i8>, Vec<f16>) {
    let mut quantized = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len().div_ceil(Q8_BLOCK));
    for row in values.chunks(row.max(1)) {
        for block in row.chunks(Q8_BLOCK) {
            let largest = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            // The scale as stored, so that values round against what the reader multiplies by.
            let scale = f16::from_f32(largest / 127.0);
            let step = scale.to_f32();
            quantized.extend(block.iter().map(|v| {
                if step > 0.0 {
                    (v / step).round().clamp(-127.0, 127.0) as i8
                } else {
                    0
                }
            }));
            scales.push(scale);
        }
    }
    (quantized, scales)
}

/// The `f32` values of a `q8` tensor of `shape`, its scales checked first.
pub fn dequantize(
    key: &str,
    quantized: &[u8],
    shape: &[usize],
    scales: Option<TensorView<'_>>,
) -> Result<Vec<f32>> {
    let scales_name = scales_key(key);
    let scales = scales
        .ok_or_else(|| Error::Weights(format!("int8 weight `{key}` has no `{scales_name}`")))?;
    let expected = scales_shape(shape);
    if scales.shape() != expected.as_slice() {
        return Err(Error::Weights(format!(
            "`{scales_name}` has shape {:?}, expected {expected:?} for `{key}` of shape {shape:?}",
            scales.shape()
        )));
    }
    let scales = match scales.dtype() {
        Dtype::F16 | Dtype::F32 => values(&scales).expect("a float dtype"),
        other => {
            return Err(Error::Weights(format!(
                "`{scales_name}` has dtype {other:?}, expected F16 or F32"
            )));
        }
    };
    if let Some(bad) = scales.iter().position(|s| !(s.is_finite() && *s >= 0.0)) {
        return Err(Error::Weights(format!(
            "`{scales_name}` holds {} at flat index {bad}",
            scales[bad]
        )));
    }
    let row = *shape.last().unwrap_or(&1);
    let blocks_per_row = row.div_ceil(Q8_BLOCK);
    Ok(quantized
        .iter()
        .enumerate()
        .map(|(i, &q)| {
            let (r, c) = (i / row.max(1), i % row.max(1));
            q as i8 as f32 * scales[r * blocks_per_row + c / Q8_BLOCK]
        })
        .collect())
}

/// A safetensors file with its float tensors stored as `dtype`; other entries are kept as they
/// are. Refuses a file already in the `q8` layout (convert the original instead).
pub fn convert(bytes: &[u8], dtype: StorageDtype) -> Result<Vec<u8>> {
    let invalid = |e| {
        Error::Weights(format!(
            "not a valid safetensors file ({} bytes): {e}",
            bytes.len()
        ))
    };
    let file = SafeTensors::deserialize(bytes).map_err(invalid)?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
    let mut metadata: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
    if metadata.contains_key(QUANTIZATION_KEY) {
        return Err(Error::Input(
            "the weights are quantized already: convert the original file".into(),
        ));
    }
    let mut stored: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, view) in file.tensors() {
        let shape = view.shape().to_vec();
        let Some(values) = values(&view) else {
            stored.push((name, view.dtype(), shape, view.data().to_vec()));
            continue;
        };
        match dtype {
            StorageDtype::Q8 if shape.len() >= 2 => {
                let (quantized, scales) = quantize(&values, *shape.last().unwrap_or(&1));
                let scale_bytes = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
                stored.push((
                    scales_key(&name),
                    Dtype::F16,
                    scales_shape(&shape),
                    scale_bytes,
                ));
                stored.push((
                    name,
                    Dtype::I8,
                    shape,
                    quantized.iter().map(|&q| q as u8).collect(),
                ));
            }
            StorageDtype::Q8 => {
                stored.push((
                    name,
                    Dtype::F32,
                    shape,
                    values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                ));
            }
            StorageDtype::F16 => {
                if let Some(beyond) = values.iter().find(|v| v.abs() > f16::MAX.to_f32()) {
                    return Err(Error::Input(format!(
                        "`{name}` holds {beyond}, beyond f16's range (±65504): convert it to q8 \
                         or keep it as it is"
                    )));
                }
                let half: Vec<u8> = values
                    .iter()
                    .flat_map(|&v| f16::from_f32(v).to_le_bytes())
                    .collect();
                stored.push((name, Dtype::F16, shape, half));
            }
        }
    }
    if dtype == StorageDtype::Q8 {
        metadata.insert(QUANTIZATION_KEY.into(), Q8_BLOCK32.into());
    }
    let views = stored
        .iter()
        .map(|(name, dtype, shape, data)| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|view| (name.as_str(), view))
                .map_err(|e| Error::Weights(format!("cannot store `{name}`: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, (!metadata.is_empty()).then_some(metadata))
        .map_err(|e| Error::Weights(format!("cannot write safetensors: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_within_half_a_step_of_its_block() {
        let values: Vec<f32> = (0..70)
            .map(|i| ((i * 37) % 23) as f32 / 7.0 - 1.5)
            .collect();
        let (q, scales) = quantize(&values, 35);
        assert_eq!(scales.len(), 2 * 2, "two rows of 35: blocks of 32 and 3");
        let bytes: Vec<u8> = q.iter().map(|&v| v as u8).collect();
        let scale_bytes: Vec<u8> = scales.iter().flat_map(|s| s.to_le_bytes()).collect();
        let view = TensorView::new(Dtype::F16, vec![2, 2], &scale_bytes).unwrap();
        let back = dequantize("w", &bytes, &[2, 35], Some(view)).unwrap();
        for (i, (v, b)) in values.iter().zip(&back).enumerate() {
            let step = scales[(i / 35) * 2 + (i % 35) / 32].to_f32();
            assert!(
                (v - b).abs() <= step / 2.0 + 1e-6,
                "{i}: {v} vs {b} (step {step})"
            );
        }
    }

    #[test]
    fn a_value_beyond_f16s_range_is_refused_by_key_rather_than_stored_as_infinity() {
        let values: Vec<u8> = [1.0f32, 1.0e5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let view = TensorView::new(Dtype::F32, vec![2], &values).unwrap();
        let file = safetensors::serialize([("big", view)], None).unwrap();
        let error = convert(&file, StorageDtype::F16).unwrap_err().to_string();
        assert!(error.contains("`big` holds 100000"), "{error}");
        assert!(convert(&file, StorageDtype::Q8).is_ok());
    }

    #[test]
    fn missing_misshaped_or_non_finite_scales_are_refused_by_name() {
        let q = [1u8; 64];
        assert!(
            dequantize("w", &q, &[2, 32], None)
                .unwrap_err()
                .to_string()
                .contains("`w.q8_scales`")
        );
        let one = f16::ONE.to_le_bytes().repeat(3);
        let wrong = TensorView::new(Dtype::F16, vec![3], &one).unwrap();
        assert!(
            dequantize("w", &q, &[2, 32], Some(wrong))
                .unwrap_err()
                .to_string()
                .contains("expected [2, 1]")
        );
        let nan = [f16::NAN.to_le_bytes(), f16::ONE.to_le_bytes()].concat();
        let bad = TensorView::new(Dtype::F16, vec![2, 1], &nan).unwrap();
        assert!(
            dequantize("w", &q, &[2, 32], Some(bad))
                .unwrap_err()
                .to_string()
                .contains("NaN at flat index 0")
        );
    }
}
