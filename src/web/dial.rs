//! The safety–knowledge dial: a tuned model at any adapter strength, and the trade-off curve the
//! page draws for it.

use wasm_bindgen::prelude::*;

use super::clip::WebClip;
use super::error::{JsResult, js_error, named, to_js};
use crate::data::{Duplicates, parse_pairs};
use crate::evaluation::sweep;

impl WebClip {
    fn carries_adapters(&self) -> JsResult<()> {
        match self.clip.model.has_adapters() {
            true => Ok(()),
            false => Err(named(
                "NoAdapter",
                "this model carries no adapter: train or load one first",
            )),
        }
    }
}

#[wasm_bindgen]
impl WebClip {
    /// This tuned model with its adapters' update scaled by `strength`: 0 is the original
    /// model, 1 as trained, up to 2.
    #[wasm_bindgen(js_name = withStrength)]
    pub fn with_strength(&self, strength: f64) -> JsResult<WebClip> {
        self.carries_adapters()?;
        let model = self
            .clip
            .model
            .clone()
            .with_strength(strength)
            .map_err(js_error)?;
        Ok(WebClip {
            clip: self.clip.with_model(model),
            backend: self.backend,
            hyperbolic: self.hyperbolic.clone(),
            thresholds: self.thresholds.clone(),
        })
    }

    /// This tuned model (adapters at strength 1) at each of `strengths`, measured on text pairs
    /// (JSONL) against `original`: `[{strength, safe_top1, paired_safe: [{k, recall}],
    /// safe_caption_cosine}]`, redirection against the knowledge kept.
    pub async fn tradeoff(
        &self,
        original: &WebClip,
        pairs_jsonl: String,
        strengths: Vec<f64>,
    ) -> JsResult<JsValue> {
        self.carries_adapters()?;
        let pairs = parse_pairs(&pairs_jsonl, Duplicates::Refuse).map_err(js_error)?;
        let points = sweep(&original.clip, &self.clip.model, &strengths, &pairs, None)
            .await
            .map_err(js_error)?;
        to_js(&points)
    }

    /// The per-category classifier thresholds of a HySAC adapter (`{global, by_category}`), or
    /// `null`.
    #[wasm_bindgen(getter)]
    pub fn thresholds(&self) -> JsResult<JsValue> {
        to_js(&self.thresholds)
    }
}
