//! A loaded CLIP model on the page's CPU or GPU: loading, warming up, embedding, adapters.

use std::cell::RefCell;
use std::str::FromStr;

use burn::prelude::*;
use burn::tensor::FloatDType;
use js_sys::{Array, Uint8Array};
use wasm_bindgen::prelude::*;

use super::error::{JsResult, js_error, named};
use super::matrix::{Matrix, read_matrix};
use crate::Clip;
use crate::device::{Backend, Precision, device, read_f32};
use crate::error::ErrorKind;
use crate::hyperbolic::{Hyperbolic, Thresholds};
use crate::preprocess::Pixels;
use crate::weights::load_adapters;

thread_local! {
    /// The page's WebGPU device, requested once and shared by every model on the GPU.
    static WEBGPU: RefCell<Option<Device>> = const { RefCell::new(None) };
}

async fn device_for(backend: Backend) -> JsResult<Device> {
    if backend == Backend::Flex {
        return device(backend).await.map_err(js_error);
    }
    if let Some(gpu) = WEBGPU.with(|d| d.borrow().clone()) {
        return Ok(gpu);
    }
    let gpu = device(backend).await.map_err(js_error)?;
    WEBGPU.with(|d| *d.borrow_mut() = Some(gpu.clone()));
    Ok(gpu)
}

#[wasm_bindgen]
pub struct WebClip {
    pub(crate) clip: Clip,
    pub(crate) backend: Backend,
    /// A HySAC model's head and safe region.
    pub(crate) hyperbolic: Option<Hyperbolic>,
    /// A HySAC adapter's classifier thresholds per category, when `train` fitted them.
    pub(crate) thresholds: Option<Thresholds>,
}

impl WebClip {
    /// Decodes and preprocesses an array of encoded images, naming the one that fails.
    pub(crate) fn pixels(&self, images: Array) -> JsResult<Vec<Pixels>> {
        images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                let bytes = image
                    .dyn_into::<Uint8Array>()
                    .map_err(|_| named("InvalidInput", &format!("image {i} is not a Uint8Array")))?
                    .to_vec();
                self.clip
                    .preprocess(&bytes)
                    .map_err(|e| js_error(e.context(format!("image {i}"))))
            })
            .collect()
    }

    pub(crate) fn hysac(&self) -> JsResult<&Hyperbolic> {
        self.hyperbolic.as_ref().ok_or_else(|| {
            named(
                "NotHyperbolic",
                "this model has no HySAC head: train or load a HySAC adapter first",
            )
        })
    }
}

#[wasm_bindgen]
impl WebClip {
    /// Loads a CLIP checkpoint from the bytes of `config.json`, `model.safetensors` and
    /// `tokenizer.json`, onto `backend`: `"gpu"` (WebGPU) or `"cpu"`, computing in `precision`:
    /// `"f32"`, `"f16"` (a GPU with `shader-f16` only) or `"auto"` (f16 where the adapter offers
    /// it, f32 elsewhere).
    pub async fn load(
        config: Vec<u8>,
        weights: Vec<u8>,
        tokenizer: Vec<u8>,
        backend: String,
        precision: String,
    ) -> JsResult<WebClip> {
        let backend = Backend::from_str(&backend).map_err(js_error)?;
        let device = device_for(backend).await?;
        let precision = match precision.as_str() {
            "auto" => Precision::best(backend, &device),
            named => Precision::from_str(named).map_err(js_error)?,
        };
        let dtype = precision.float_dtype(backend, &device).map_err(js_error)?;
        let clip = Clip::from_bytes(&config, &weights, &tokenizer, &device)
            .map_err(js_error)?
            .with_float_dtype(dtype);
        Ok(WebClip {
            clip,
            backend,
            hyperbolic: None,
            thresholds: None,
        })
    }

    /// `"cpu"` or `"gpu"`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        match self.backend {
            Backend::Flex => "cpu",
            Backend::Wgpu => "gpu",
        }
        .into()
    }

    /// What the model computes in: `"f32"` or `"f16"`.
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> String {
        match self.clip.model.float_dtype() {
            FloatDType::F16 => "f16",
            _ => "f32",
        }
        .into()
    }

    /// The model's config, as in its `config.json`.
    pub fn config(&self) -> JsResult<JsValue> {
        super::error::to_js(self.clip.config())
    }

    /// One blank image patch and one short text through the towers, read back: the pipelines a
    /// first search needs are compiled now rather than while the visitor waits, at a fraction of
    /// the cost of a whole image. A tokenizer whose ids the model cannot embed leaves the text
    /// tower cold (its texts will say why), not the image tower.
    #[wasm_bindgen(js_name = warmUp)]
    pub async fn warm_up(&self) -> JsResult<()> {
        let mut outputs = vec![self.clip.embed_one_patch()];
        match self.clip.embed_texts(&["a photo"]) {
            Ok(texts) => outputs.push(texts),
            Err(e) if e.kind() == ErrorKind::InvalidInput => {}
            Err(e) => return Err(js_error(e)),
        }
        read_f32(Tensor::cat(outputs, 0).sum())
            .await
            .map_err(js_error)?;
        Ok(())
    }

    /// Unit-length embeddings of texts.
    #[wasm_bindgen(js_name = embedTexts)]
    pub async fn embed_texts(&self, texts: Vec<String>) -> JsResult<Matrix> {
        read_matrix(self.clip.embed_texts(&texts).map_err(js_error)?).await
    }

    /// Unit-length embeddings of encoded images (an array of `Uint8Array`: JPEG, PNG, WebP).
    #[wasm_bindgen(js_name = embedImages)]
    pub async fn embed_images(&self, images: Array) -> JsResult<Matrix> {
        read_matrix(
            self.clip
                .embed_images(&self.pixels(images)?)
                .map_err(js_error)?,
        )
        .await
    }

    /// This model with the adapters of an adapter file (from a training run or `safer-clip
    /// train`) attached.
    #[wasm_bindgen(js_name = withAdapter)]
    pub fn with_adapter(&self, adapter: Vec<u8>) -> JsResult<WebClip> {
        let adapter = load_adapters(self.clip.model.clone(), &adapter).map_err(js_error)?;
        Ok(WebClip {
            clip: self.clip.with_model(adapter.model),
            backend: self.backend,
            hyperbolic: adapter.hyperbolic,
            thresholds: adapter.thresholds,
        })
    }

    /// Whether this is a HySAC model (it can classify and traverse).
    #[wasm_bindgen(getter, js_name = isHyperbolic)]
    pub fn is_hyperbolic(&self) -> bool {
        self.hyperbolic.is_some()
    }
}
