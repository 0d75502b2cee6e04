//! A loaded CLIP checkpoint ready to embed text and images: model, tokenizer and preprocessing
//! bundled the way a Hugging Face model folder bundles them.

use burn::prelude::*;

use crate::error::{Error, Result};
#[cfg(not(target_arch = "wasm32"))]
use crate::files::{Limit, read_bounded};
use crate::model::{ClipConfig, ClipModel, l2_normalize};
use crate::preprocess::{Pixels, pixels_to_tensor, preprocess_image};
use crate::tokenizer::ClipTokenizer;
use crate::weights::{Checkpoint, load_clip};

/// File names of a model folder on the Hugging Face hub.
pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.safetensors";
pub const TOKENIZER_FILE: &str = "tokenizer.json";

pub struct Clip {
    pub model: ClipModel,
    pub tokenizer: ClipTokenizer,
}

impl Clip {
    /// Loads from the bytes of `config.json`, `model.safetensors` and `tokenizer.json`.
    pub fn from_bytes(
        config: &[u8],
        weights: &[u8],
        tokenizer: &[u8],
        device: &Device,
    ) -> Result<Self> {
        let config = std::str::from_utf8(config)
            .map_err(|_| Error::Config("not UTF-8 text".into()))
            .and_then(ClipConfig::from_json)
            .map_err(|e| e.context(CONFIG_FILE))?;
        let tokenizer =
            ClipTokenizer::from_bytes(tokenizer).map_err(|e| e.context(TOKENIZER_FILE))?;
        let model = Checkpoint::parse(weights, device)
            .and_then(|checkpoint| load_clip(&config, &checkpoint))
            .map_err(|e| e.context(WEIGHTS_FILE))?;
        Ok(Self { model, tokenizer })
    }

    /// Loads a model folder as downloaded from the Hugging Face hub.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_dir(dir: &std::path::Path, device: &Device) -> Result<Self> {
        let read = |name: &str, limit| read_bounded(&dir.join(name), limit);
        let (config, tokenizer) = (
            read(CONFIG_FILE, Limit::Config)?,
            read(TOKENIZER_FILE, Limit::Tokenizer)?,
        );
        Self::from_bytes(
            &config,
            &read(WEIGHTS_FILE, Limit::Weights)?,
            &tokenizer,
            device,
        )
        .map_err(|e| e.context(dir.display()))
    }

    /// This model computing in `dtype` (see [`crate::device::Precision`]).
    pub fn with_float_dtype(self, dtype: burn::tensor::FloatDType) -> Clip {
        Clip {
            model: self.model.with_float_dtype(dtype),
            tokenizer: self.tokenizer,
        }
    }

    /// The same tokenizer and preprocessing around another model: a tuned or merged copy.
    pub fn with_model(&self, model: ClipModel) -> Clip {
        Clip {
            model,
            tokenizer: self.tokenizer.clone(),
        }
    }

    pub fn config(&self) -> &ClipConfig {
        &self.model.config
    }

    pub fn image_size(&self) -> usize {
        self.config().vision_config.image_size
    }

    pub fn device(&self) -> Device {
        self.model.logit_scale.device()
    }

    /// Projected, unnormalised features of `texts` (what HySAC lifts), `[texts, projection_dim]`.
    pub fn text_features<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor<2>> {
        if texts.is_empty() {
            return Err(Error::Input("no text to encode".into()));
        }
        let tokens = self.tokenizer.encode_batch(texts)?;
        self.model.text_features(&tokens)
    }

    /// Unit-length embeddings of `texts`, `[texts, projection_dim]`.
    pub fn embed_texts<S: AsRef<str>>(&self, texts: &[S]) -> Result<Tensor<2>> {
        Ok(l2_normalize(self.text_features(texts)?))
    }

    /// Unit-length embeddings of many texts, `batch_size` at a time (a caption pool, say).
    pub fn embed_texts_in_batches<S: AsRef<str>>(
        &self,
        texts: &[S],
        batch_size: usize,
    ) -> Result<Tensor<2>> {
        in_batches(texts, batch_size, "text", |chunk| self.embed_texts(chunk))
    }

    /// Unnormalised features of many texts, `batch_size` at a time.
    pub fn text_features_in_batches<S: AsRef<str>>(
        &self,
        texts: &[S],
        batch_size: usize,
    ) -> Result<Tensor<2>> {
        in_batches(texts, batch_size, "text", |chunk| self.text_features(chunk))
    }

    /// Decodes and preprocesses encoded images (JPEG, PNG, WebP) for this model.
    pub fn preprocess(&self, encoded: &[u8]) -> Result<Pixels> {
        preprocess_image(encoded, self.image_size())
    }

    /// Projected, unnormalised features of preprocessed images, `[images, projection_dim]`.
    pub fn image_features(&self, images: &[Pixels]) -> Result<Tensor<2>> {
        self.model
            .image_features(pixels_to_tensor(images, &self.device())?)
    }

    /// Unit-length embeddings of preprocessed images, `[images, projection_dim]`.
    pub fn embed_images(&self, images: &[Pixels]) -> Result<Tensor<2>> {
        Ok(l2_normalize(self.image_features(images)?))
    }

    /// The image tower on one blank patch ([`ClipModel::embed_one_patch`]): what warming a GPU
    /// up for images needs.
    pub fn embed_one_patch(&self) -> Tensor<2> {
        self.model.embed_one_patch()
    }

    /// Unit-length embeddings of many images, `batch_size` at a time.
    pub fn embed_images_in_batches(
        &self,
        images: &[Pixels],
        batch_size: usize,
    ) -> Result<Tensor<2>> {
        in_batches(images, batch_size, "image", |chunk| {
            self.embed_images(chunk)
        })
    }

    /// Unnormalised features of many images, `batch_size` at a time.
    pub fn image_features_in_batches(
        &self,
        images: &[Pixels],
        batch_size: usize,
    ) -> Result<Tensor<2>> {
        in_batches(images, batch_size, "image", |chunk| {
            self.image_features(chunk)
        })
    }
}

fn in_batches<T>(
    items: &[T],
    batch_size: usize,
    what: &str,
    encode: impl Fn(&[T]) -> Result<Tensor<2>>,
) -> Result<Tensor<2>> {
    let parts = items
        .chunks(batch_size.max(1))
        .map(encode)
        .collect::<Result<Vec<_>>>()?;
    if parts.is_empty() {
        return Err(Error::Input(format!("no {what} to encode")));
    }
    Ok(Tensor::cat(parts, 0))
}

/// Reads a matrix back from the device, row by row (blocking; the browser reads asynchronously).
#[cfg(not(target_arch = "wasm32"))]
pub fn to_rows(matrix: Tensor<2>) -> Result<Vec<Vec<f32>>> {
    let [_, cols] = matrix.dims();
    let values =
        crate::device::block_on(crate::device::read_finite(matrix, "an embedding or logit"))?;
    Ok(values.chunks(cols.max(1)).map(<[f32]>::to_vec).collect())
}
