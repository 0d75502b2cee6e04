//! Writing safetensors files: model exports, adapters and training checkpoints.

use std::collections::HashMap;

use burn::prelude::*;
use safetensors::Dtype;
use safetensors::tensor::TensorView;

use crate::device::read_f32;
use crate::error::{Error, Result};

/// Tensors and header metadata gathered in memory, serialised by [`Self::finish`].
#[derive(Default)]
pub struct SafetensorsWriter {
    tensors: Vec<(String, Vec<usize>, Vec<u8>)>,
    metadata: HashMap<String, String>,
}

impl SafetensorsWriter {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn metadata(&mut self, key: &str, value: impl Into<String>) {
        self.metadata.insert(key.to_string(), value.into());
    }

    /// Stores `values` (row-major, `shape`) as F32 under `name`.
    pub fn add_values(&mut self, name: &str, shape: &[usize], values: &[f32]) -> Result<()> {
        if shape.iter().product::<usize>() != values.len() {
            return Err(Error::Input(format!(
                "tensor `{name}`: {} values do not fill shape {shape:?}",
                values.len()
            )));
        }
        let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.tensors.push((name.to_string(), shape.to_vec(), bytes));
        Ok(())
    }

    /// Reads `tensor` back from its device and stores it under `name`.
    pub async fn add<const D: usize>(&mut self, name: &str, tensor: Tensor<D>) -> Result<()> {
        let shape = tensor.dims().to_vec();
        let values = read_f32(tensor).await?;
        self.add_values(name, &shape, &values)
    }

    /// Like [`Self::add`] for a Burn `[in, out]` matrix, stored as PyTorch's `[out, in]`.
    pub async fn add_transposed(&mut self, name: &str, matrix: Tensor<2>) -> Result<()> {
        self.add(name, matrix.transpose()).await
    }

    /// Like [`Self::add_transposed`], stored with PyTorch's `shape` (`[out, …]`, a convolution
    /// kernel say), which must hold the matrix's values.
    pub async fn add_transposed_as(
        &mut self,
        name: &str,
        matrix: Tensor<2>,
        shape: &[usize],
    ) -> Result<()> {
        let values = read_f32(matrix.transpose()).await?;
        self.add_values(name, shape, &values)
    }

    pub fn finish(self) -> Result<Vec<u8>> {
        let views = self
            .tensors
            .iter()
            .map(|(name, shape, bytes)| {
                let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
                    .map_err(|e| Error::Weights(format!("cannot store `{name}`: {e}")))?;
                Ok((name.as_str(), view))
            })
            .collect::<Result<Vec<_>>>()?;
        let metadata = (!self.metadata.is_empty()).then_some(self.metadata);
        safetensors::serialize(views, metadata)
            .map_err(|e| Error::Weights(format!("cannot write safetensors: {e}")))
    }
}
