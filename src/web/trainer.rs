//! A LoRA training run driven one step at a time by the worker.

use wasm_bindgen::prelude::*;

use super::clip::WebClip;
use super::error::{JsResult, js_error, named, to_js};
use super::pool::CaptionPool;
use crate::data::{Duplicates, parse_pairs};
use crate::device::Backend;
use crate::training::{TrainOptions, Trainer, TrainingSet};

#[wasm_bindgen]
pub struct WebTrainer {
    trainer: Trainer,
    /// Where the tuned copies it hands out run.
    backend: Backend,
}

/// Text pairs (JSONL), with the pool the original model embedded for search as extra targets.
fn training_set(pairs_jsonl: &str, pool: &CaptionPool) -> JsResult<TrainingSet> {
    Ok(TrainingSet {
        pairs: parse_pairs(pairs_jsonl, Duplicates::Refuse).map_err(js_error)?,
        extra_safe: pool.captions.clone(),
        extra_safe_embeddings: Some(pool.complete_rows()?),
        images: None,
    })
}

#[wasm_bindgen]
impl WebTrainer {
    /// Starts a run on text pairs (JSONL); targets may also come from `pool`, a complete caption
    /// pool `clip` embedded. `options`: `{method: "safer" | "safeclip" | "hysac", rank?,
    /// learningRate?, batchSize?, epochs?, maxSteps?, seed?, …}` (`TrainOptions`).
    pub async fn create(
        clip: &WebClip,
        pairs_jsonl: String,
        pool: &CaptionPool,
        options: JsValue,
    ) -> JsResult<WebTrainer> {
        let options: TrainOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| named("InvalidInput", &format!("invalid training options: {e}")))?;
        let config = options.config().map_err(js_error)?;
        let set = training_set(&pairs_jsonl, pool)?;
        let trainer = Trainer::new(&clip.clip, set, config)
            .await
            .map_err(js_error)?;
        Ok(WebTrainer {
            trainer,
            backend: clip.backend,
        })
    }

    /// Continues a run from a checkpoint made by [`Self::checkpoint`], on the same data.
    pub async fn resume(
        clip: &WebClip,
        pairs_jsonl: String,
        pool: &CaptionPool,
        checkpoint: Vec<u8>,
    ) -> JsResult<WebTrainer> {
        let set = training_set(&pairs_jsonl, pool)?;
        let trainer = Trainer::resume(&clip.clip, set, &checkpoint, None)
            .await
            .map_err(js_error)?;
        Ok(WebTrainer {
            trainer,
            backend: clip.backend,
        })
    }

    #[wasm_bindgen(getter, js_name = totalSteps)]
    pub fn total_steps(&self) -> usize {
        self.trainer.total_steps()
    }

    #[wasm_bindgen(getter, js_name = stepsDone)]
    pub fn steps_done(&self) -> usize {
        self.trainer.steps_done()
    }

    /// Trains on the next batch: the step's report (`{step, total_steps, epoch, stage, loss,
    /// terms: [{name, weight, value}], grad_norm, examples_per_s, …}`), or `null` when done.
    pub async fn step(&mut self) -> JsResult<JsValue> {
        match self.trainer.step().await.map_err(js_error)? {
            Some(report) => to_js(&report),
            None => Ok(JsValue::NULL),
        }
    }

    /// Adapters, optimiser state and position, as a safetensors file.
    pub async fn checkpoint(&self) -> JsResult<Vec<u8>> {
        self.trainer.checkpoint().await.map_err(js_error)
    }

    /// The adapters alone, as a safetensors file `safer-clip eval/merge` and PEFT read.
    pub async fn adapter(&self) -> JsResult<Vec<u8>> {
        self.trainer.adapter_file().await.map_err(js_error)
    }

    /// The model as trained so far, for before/after comparisons.
    pub fn tuned(&self) -> WebClip {
        WebClip {
            clip: self.trainer.tuned(),
            backend: self.backend,
            hyperbolic: None,
            thresholds: None,
        }
    }

    /// Like [`Self::tuned`], with a HySAC run's head and its safe region measured now on the
    /// training pairs (so that the model can classify and traverse).
    #[wasm_bindgen(js_name = tunedHyperbolic)]
    pub async fn tuned_hyperbolic(&self) -> JsResult<WebClip> {
        let hyperbolic = self.trainer.hyperbolic().await.map_err(js_error)?;
        Ok(WebClip {
            clip: self.trainer.tuned(),
            backend: self.backend,
            hyperbolic,
            thresholds: None,
        })
    }
}
