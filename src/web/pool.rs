//! A caption pool embedded by one model a chunk at a time, so that the worker can answer the
//! visitor between chunks, and searched over what is embedded so far.

use burn::prelude::*;
use wasm_bindgen::prelude::*;

use super::clip::WebClip;
use super::error::{JsResult, js_error, named, to_js};
use super::matrix::{Matrix, read_matrix};
use crate::device::read_f32;
use crate::safety::nearest::{DEFAULT_BLOCK, nearest, read_neighbours};

#[wasm_bindgen]
pub struct CaptionPool {
    pub(crate) captions: Vec<String>,
    /// The first `embedded` captions' unit embeddings.
    pub(crate) embeddings: Option<Tensor<2>>,
    embedded: usize,
}

#[wasm_bindgen]
impl CaptionPool {
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.captions.len()
    }

    #[wasm_bindgen(getter)]
    pub fn embedded(&self) -> usize {
        self.embedded
    }

    #[wasm_bindgen(getter)]
    pub fn complete(&self) -> bool {
        self.embedded == self.captions.len()
    }

    /// The rows embedded so far, to keep in the browser for the next visit.
    pub async fn embeddings(&self) -> JsResult<Matrix> {
        read_matrix(self.embedded_rows()?).await
    }
}

impl CaptionPool {
    fn embedded_rows(&self) -> JsResult<Tensor<2>> {
        self.embeddings
            .clone()
            .ok_or_else(|| named("InvalidInput", "no caption of the pool is embedded yet"))
    }

    /// Every caption's embedding, for a training run's targets.
    pub(crate) fn complete_rows(&self) -> JsResult<Tensor<2>> {
        if !self.complete() {
            return Err(named(
                "InvalidInput",
                &format!(
                    "the caption pool is still being embedded ({} of {})",
                    self.embedded,
                    self.captions.len()
                ),
            ));
        }
        self.embedded_rows()
    }
}

#[wasm_bindgen]
impl WebClip {
    /// A pool of `captions` with nothing embedded yet: `extendPool` embeds it.
    #[wasm_bindgen(js_name = createPool)]
    pub fn create_pool(&self, captions: Vec<String>) -> JsResult<CaptionPool> {
        crate::data::check_captions(&captions).map_err(js_error)?;
        Ok(CaptionPool {
            captions,
            embeddings: None,
            embedded: 0,
        })
    }

    /// Embeds the next `count` captions of `pool` (or the rest) and waits until they are
    /// computed; returns how many are embedded now.
    #[wasm_bindgen(js_name = extendPool)]
    pub async fn extend_pool(&self, pool: &mut CaptionPool, count: usize) -> JsResult<usize> {
        let end = (pool.embedded + count.max(1)).min(pool.captions.len());
        if end == pool.embedded {
            return Ok(end);
        }
        let chunk = self
            .clip
            .embed_texts(&pool.captions[pool.embedded..end])
            .map_err(js_error)?;
        read_f32(chunk.clone().sum()).await.map_err(js_error)?;
        pool.embeddings = Some(match pool.embeddings.take() {
            Some(rows) => Tensor::cat(vec![rows, chunk], 0),
            None => chunk,
        });
        pool.embedded = end;
        Ok(end)
    }

    /// A complete pool from rows kept by the page (`embeddings().data`), one per caption.
    #[wasm_bindgen(js_name = poolFromEmbeddings)]
    pub fn pool_from_embeddings(
        &self,
        captions: Vec<String>,
        data: Vec<f32>,
    ) -> JsResult<CaptionPool> {
        crate::data::check_captions(&captions).map_err(js_error)?;
        let dim = self.clip.config().projection_dim;
        if data.len() != captions.len() * dim {
            return Err(named(
                "InvalidInput",
                &format!(
                    "kept pool embeddings hold {} values; {} captions of this model need {}",
                    data.len(),
                    captions.len(),
                    captions.len() * dim
                ),
            ));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(named(
                "InvalidInput",
                "kept pool embeddings hold a non-finite value",
            ));
        }
        let rows = captions.len();
        let embeddings = Tensor::from_data(TensorData::new(data, [rows, dim]), &self.clip.device());
        Ok(CaptionPool {
            captions,
            embeddings: Some(embeddings),
            embedded: rows,
        })
    }

    /// For each query text, the `k` embedded pool captions nearest to it (`k` capped at what is
    /// embedded): `[[{index, score}, …], …]`.
    pub async fn nearest(
        &self,
        pool: &CaptionPool,
        queries: Vec<String>,
        k: usize,
    ) -> JsResult<JsValue> {
        let rows = pool.embedded_rows()?;
        let queries = self.clip.embed_texts(&queries).map_err(js_error)?;
        let top =
            nearest(queries, rows, k.min(pool.embedded), None, DEFAULT_BLOCK).map_err(js_error)?;
        to_js(&read_neighbours(top).await.map_err(js_error)?)
    }
}
