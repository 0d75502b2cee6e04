//! Weights made smaller in the browser, for what it keeps in its cache.

use std::str::FromStr;

use wasm_bindgen::prelude::*;

use super::error::{JsResult, js_error};
use crate::weights::{StorageDtype, convert};

/// A `model.safetensors` with its float tensors stored as `dtype`: `"f16"` (half the bytes) or
/// `"q8"` (int8 with a scale per block of 32 values, about a quarter).
#[wasm_bindgen(js_name = convertWeights)]
pub fn convert_weights(weights: Vec<u8>, dtype: String) -> JsResult<Vec<u8>> {
    let dtype = StorageDtype::from_str(&dtype).map_err(js_error)?;
    convert(&weights, dtype).map_err(js_error)
}
