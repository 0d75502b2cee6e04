//! Reading tensors out of a safetensors file by name, checking each one's shape and dtype, and
//! remembering which names were used so that leftovers can be reported. A checkpoint can also be
//! random: every tensor asked for is drawn fresh, so the loader builds a random model of any
//! config through the same key map.

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use burn::module::Param;
use burn::prelude::*;
use safetensors::{Dtype, SafeTensors};

use super::convert::{QUANTIZATION_KEY, dequantize, scales_key};
use super::random::initial_values;
use crate::error::{Error, Result};
use crate::random::SplitMix64;

enum Source<'a> {
    File(SafeTensors<'a>),
    Random(RefCell<SplitMix64>),
}

pub struct Checkpoint<'a> {
    source: Source<'a>,
    metadata: HashMap<String, String>,
    used: RefCell<BTreeSet<String>>,
    device: Device,
}

impl<'a> Checkpoint<'a> {
    /// Parses the header of a safetensors file held in memory; tensors are read lazily.
    pub fn parse(bytes: &'a [u8], device: &Device) -> Result<Self> {
        let invalid = |e| {
            Error::Weights(format!(
                "not a valid safetensors file ({} bytes): {e}",
                bytes.len()
            ))
        };
        let tensors = SafeTensors::deserialize(bytes).map_err(invalid)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
        Ok(Self {
            source: Source::File(tensors),
            metadata: header.metadata().clone().unwrap_or_default(),
            used: RefCell::default(),
            device: device.clone(),
        })
    }

    /// A checkpoint whose every tensor is random, scaled as CLIP initialises it (seeded).
    pub fn random(seed: u64, device: &Device) -> Checkpoint<'static> {
        Checkpoint {
            source: Source::Random(RefCell::new(SplitMix64::new(seed))),
            metadata: HashMap::new(),
            used: RefCell::default(),
            device: device.clone(),
        }
    }

    /// The tensor stored under `key` as `f32` values, checked against `shape`.
    pub fn read_f32(&self, key: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let tensors = match &self.source {
            Source::File(tensors) => tensors,
            Source::Random(rng) => return Ok(initial_values(key, shape, &mut rng.borrow_mut())),
        };
        let view = tensors.tensor(key).map_err(|_| Error::MissingWeight {
            key: key.to_string(),
        })?;
        // A stored scalar (shape `[]`) is accepted where one value is expected.
        let stored: Vec<usize> = view.shape().to_vec();
        let same_shape =
            stored == shape || (stored.is_empty() && shape.iter().product::<usize>() == 1);
        if !same_shape {
            return Err(Error::WeightShape {
                key: key.to_string(),
                expected: shape.to_vec(),
                found: stored,
            });
        }
        let data = view.data();
        let values: Vec<f32> = match view.dtype() {
            // Little-endian bytes, as on every target this builds for: one copy.
            Dtype::F32 => bytemuck::pod_collect_to_vec(data),
            Dtype::F16 => data
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::BF16 => data
                .chunks_exact(2)
                .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect(),
            Dtype::I8 if self.metadata.contains_key(QUANTIZATION_KEY) => {
                let scales = scales_key(key);
                let values = dequantize(key, data, view.shape(), tensors.tensor(&scales).ok())?;
                self.used.borrow_mut().insert(scales);
                values
            }
            other => {
                return Err(Error::WeightDtype {
                    key: key.to_string(),
                    dtype: format!("{other:?}"),
                });
            }
        };
        if let Some(bad) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::Weights(format!(
                "weight `{key}` holds a non-finite value ({}) at flat index {bad}",
                values[bad]
            )));
        }
        self.used.borrow_mut().insert(key.to_string());
        Ok(values)
    }

    pub fn tensor<const D: usize>(&self, key: &str, shape: [usize; D]) -> Result<Tensor<D>> {
        let values = self.read_f32(key, &shape)?;
        Ok(Tensor::from_data(
            TensorData::new(values, shape),
            &self.device,
        ))
    }

    pub fn param<const D: usize>(&self, key: &str, shape: [usize; D]) -> Result<Param<Tensor<D>>> {
        Ok(Param::from_tensor(self.tensor(key, shape)?))
    }

    /// A PyTorch `[out, in]` matrix, transposed to Burn's `[in, out]` layout.
    pub fn matrix_transposed(
        &self,
        key: &str,
        d_in: usize,
        d_out: usize,
    ) -> Result<Param<Tensor<2>>> {
        self.matrix_transposed_as(key, &[d_out, d_in], d_in, d_out)
    }

    /// Like [`Self::matrix_transposed`] for a tensor stored with more dimensions, `[out, …]`
    /// with `in` values per `out` row (a convolution kernel, flattened).
    pub fn matrix_transposed_as(
        &self,
        key: &str,
        shape: &[usize],
        d_in: usize,
        d_out: usize,
    ) -> Result<Param<Tensor<2>>> {
        debug_assert_eq!(shape.iter().product::<usize>(), d_in * d_out);
        let values = self.read_f32(key, shape)?;
        // A blocked transpose: the naive one misses the cache on every write for large matrices.
        const BLOCK: usize = 64;
        let mut transposed = vec![0.0f32; values.len()];
        for o0 in (0..d_out).step_by(BLOCK) {
            for i0 in (0..d_in).step_by(BLOCK) {
                for o in o0..(o0 + BLOCK).min(d_out) {
                    for i in i0..(i0 + BLOCK).min(d_in) {
                        transposed[i * d_out + o] = values[o * d_in + i];
                    }
                }
            }
        }
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(transposed, [d_in, d_out]),
            &self.device,
        )))
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The free-form `__metadata__` strings of the file's header.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }

    /// Fails if the file holds tensors that were never read, other than the `ignored` ones
    /// (buffers that `transformers` writes but that carry no learned value).
    pub fn ensure_all_used(&self, ignored: impl Fn(&str) -> bool) -> Result<()> {
        let Source::File(tensors) = &self.source else {
            return Ok(());
        };
        let used = self.used.borrow();
        let mut unexpected: Vec<String> = tensors
            .names()
            .into_iter()
            .filter(|name| !used.contains(*name) && !ignored(name))
            .map(str::to_string)
            .collect();
        if unexpected.is_empty() {
            return Ok(());
        }
        unexpected.sort();
        Err(Error::UnexpectedWeights { keys: unexpected })
    }
}

#[cfg(test)]
mod tests {
    use safetensors::tensor::TensorView;

    use super::*;

    fn file(dtype: Dtype, bytes: &[u8], shape: Vec<usize>) -> Vec<u8> {
        let view = TensorView::new(dtype, shape, bytes).unwrap();
        safetensors::serialize([("w", view)], None).unwrap()
    }

    #[test]
    fn half_precision_files_widen_exactly() {
        let values = [1.0f32, -2.5, 3.140625, 1e-3, 65504.0, -0.0];
        let f16: Vec<u8> = values
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_le_bytes())
            .collect();
        let bf16: Vec<u8> = values
            .iter()
            .flat_map(|&v| half::bf16::from_f32(v).to_le_bytes())
            .collect();
        let device = Device::flex();
        for (dtype, bytes) in [(Dtype::F16, f16), (Dtype::BF16, bf16)] {
            let stored = file(dtype, &bytes, vec![2, 3]);
            let read = Checkpoint::parse(&stored, &device)
                .unwrap()
                .read_f32("w", &[2, 3])
                .unwrap();
            let expected: Vec<f32> = values
                .iter()
                .map(|&v| match dtype {
                    Dtype::F16 => half::f16::from_f32(v).to_f32(),
                    _ => half::bf16::from_f32(v).to_f32(),
                })
                .collect();
            assert_eq!(read, expected, "{dtype:?}");
        }
    }

    #[test]
    fn a_stored_scalar_fills_a_one_element_shape() {
        let stored = file(Dtype::F32, &2.5f32.to_le_bytes(), vec![]);
        let checkpoint = Checkpoint::parse(&stored, &Device::flex()).unwrap();
        assert_eq!(checkpoint.read_f32("w", &[1]).unwrap(), [2.5]);
        assert!(checkpoint.read_f32("w", &[2]).is_err());
    }
}
