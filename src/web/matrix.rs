//! Embeddings handed to JavaScript as one `Float32Array`.

use burn::prelude::*;
use js_sys::Float32Array;
use wasm_bindgen::prelude::*;

use super::error::{JsResult, js_error};
use crate::device::read_finite;

/// `rows × cols` values, row-major.
#[wasm_bindgen]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

#[wasm_bindgen]
impl Matrix {
    #[wasm_bindgen(getter)]
    pub fn rows(&self) -> usize {
        self.rows
    }

    #[wasm_bindgen(getter)]
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// A copy of the values.
    #[wasm_bindgen(getter)]
    pub fn data(&self) -> Float32Array {
        Float32Array::from(self.data.as_slice())
    }
}

/// Reads a matrix back from its device, waiting for the device without blocking the page.
pub async fn read_matrix(matrix: Tensor<2>) -> JsResult<Matrix> {
    let [rows, cols] = matrix.dims();
    let data = read_finite(matrix, "an embedding")
        .await
        .map_err(js_error)?;
    Ok(Matrix { rows, cols, data })
}
