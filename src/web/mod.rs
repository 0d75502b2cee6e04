//! wasm-bindgen bindings: the surface the Web Worker (`www/worker.js`) calls. Every result is
//! read back asynchronously, and every failure crosses into JavaScript as an `Error` with a
//! readable message.

use std::cell::RefCell;

use burn::prelude::*;
use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::prelude::*;

use crate::Clip;
use crate::device::{Backend, device};
use crate::error::Error;
use crate::preprocess::Pixels;

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

thread_local! {
    static DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
}

/// The page's WebGPU device, requested once and shared by every model.
async fn webgpu() -> Result<Device, JsError> {
    if let Some(device) = DEVICE.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = device(Backend::Wgpu).await.map_err(js_error)?;
    DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

fn js_error(error: Error) -> JsError {
    JsError::new(&error.to_string())
}

/// A matrix handed to JavaScript: `rows × cols` values, row-major.
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

    /// A copy of the values as a `Float32Array`.
    #[wasm_bindgen(getter)]
    pub fn data(&self) -> Float32Array {
        Float32Array::from(self.data.as_slice())
    }
}

async fn read_back(matrix: Tensor<2>) -> Result<Matrix, JsError> {
    let [rows, cols] = matrix.dims();
    let data = matrix
        .into_data_async()
        .await
        .map_err(|e| JsError::new(&format!("the GPU could not return a result: {e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| JsError::new(&format!("unexpected result type: {e:?}")))?;
    Ok(Matrix { rows, cols, data })
}

#[wasm_bindgen]
pub struct WebClip {
    clip: Clip,
}

#[wasm_bindgen]
impl WebClip {
    /// Loads a CLIP checkpoint from the bytes of `config.json`, `model.safetensors` and
    /// `tokenizer.json`, onto the page's WebGPU device.
    pub async fn load(config: Vec<u8>, weights: Vec<u8>, tokenizer: Vec<u8>) -> Result<WebClip, JsError> {
        let device = webgpu().await?;
        let clip = Clip::from_bytes(&config, &weights, &tokenizer, &device).map_err(js_error)?;
        Ok(WebClip { clip })
    }

    /// The model's config, as in its `config.json`.
    #[wasm_bindgen(js_name = config)]
    pub fn config(&self) -> Result<JsValue, JsError> {
        serde_wasm_bindgen::to_value(self.clip.config()).map_err(|e| JsError::new(&e.to_string()))
    }

    /// Unit-length embeddings of texts.
    #[wasm_bindgen(js_name = embedTexts)]
    pub async fn embed_texts(&self, texts: Vec<String>) -> Result<Matrix, JsError> {
        read_back(self.clip.embed_texts(&texts).map_err(js_error)?).await
    }

    /// Unit-length embeddings of encoded images (an array of `Uint8Array`: JPEG, PNG, WebP).
    #[wasm_bindgen(js_name = embedImages)]
    pub async fn embed_images(&self, images: Array) -> Result<Matrix, JsError> {
        let pixels = images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let bytes = image
                    .dyn_into::<Uint8Array>()
                    .map_err(|_| JsError::new(&format!("image {i} is not a Uint8Array")))?
                    .to_vec();
                self.clip
                    .preprocess(&bytes)
                    .map_err(|e| JsError::new(&format!("image {i}: {e}")))
            })
            .collect::<Result<Vec<Pixels>, JsError>>()?;
        read_back(self.clip.embed_images(&pixels).map_err(js_error)?).await
    }
}
