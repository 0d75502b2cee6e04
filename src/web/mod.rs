//! wasm-bindgen bindings: the surface the Web Worker (`www/worker.js`) calls. Every result is
//! read back asynchronously, and every failure crosses into JavaScript as an `Error` with a
//! readable message.

use std::cell::RefCell;

use burn::prelude::*;
use js_sys::{Array, Float32Array, Uint8Array};
use wasm_bindgen::prelude::*;

use serde::{Deserialize, Serialize};

use crate::Clip;
use crate::data::parse_pairs;
use crate::device::{Backend, device};
use crate::error::Error;
use crate::preprocess::Pixels;
use crate::safety::hysac::{Hyperbolic, root_distances};
use crate::safety::nearest::{DEFAULT_BLOCK, nearest, read_neighbours};
use crate::safety::traversal::{nearest_by_distance, nearest_entailing, to_safe_region, traversal_boundary, walk};
use crate::training::{Method, TrainConfig, Trainer, TrainingSet};
use crate::weights::load_adapters;

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

fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

/// Texts embedded at once while embedding a caption pool: large, since every GPU dispatch costs.
const POOL_BATCH: usize = 256;

#[wasm_bindgen]
pub struct WebClip {
    clip: Clip,
    /// A HySAC model's head and safe region.
    hyperbolic: Option<Hyperbolic>,
}

/// Captions or images lifted onto a HySAC model's hyperboloid: a pool to retrieve from, or a
/// lifted query (one text), lifted once and reused by retrievals and traversals.
#[wasm_bindgen]
pub struct HyperbolicPoints {
    /// Space components of the lifted points.
    embeddings: Tensor<2>,
    /// Images (read against the safe region's bound for images) or captions.
    images: bool,
}

#[wasm_bindgen]
impl HyperbolicPoints {
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.embeddings.dims()[0]
    }

    /// The lifted points, one row each, for a page that keeps them (a gallery lifted one item
    /// at a time) and brings them back with `WebClip.hyperbolicPointsFromRows`.
    pub async fn rows(&self) -> Result<Matrix, JsError> {
        read_back(self.embeddings.clone()).await
    }
}

#[derive(Serialize)]
struct Safety {
    /// Root distance.
    distance: f32,
    /// Beyond the safe region's bound (the 95th percentile root distance of the training's safe
    /// captions, or safe images); `null` for images when the run had none, so no bound.
    #[serde(rename = "unsafe")]
    is_unsafe: Option<bool>,
}

#[derive(Serialize)]
struct Near {
    index: usize,
    /// Lorentzian distance to the query.
    distance: f32,
}

#[derive(Serialize)]
struct HyperbolicRetrieval {
    /// The query's safe/unsafe reading.
    query: Safety,
    /// The query's root distance after redirection; `null` when it was not redirected (not
    /// asked, or already within the traversal boundary).
    redirected: Option<f32>,
    results: Vec<Near>,
}

#[derive(Serialize)]
struct TraversalStep {
    /// Pool index of the nearest caption whose entailment cone holds the point; `null`: the root.
    caption: Option<usize>,
    distance: f32,
}

#[derive(Serialize)]
struct Traversal {
    /// Safe-region bound and the traversal boundary beyond it, in root distance.
    bound: f32,
    boundary: f32,
    steps: Vec<TraversalStep>,
}

/// A caption pool embedded by one model, ready for nearest-neighbour queries.
#[wasm_bindgen]
pub struct CaptionPool {
    captions: Vec<String>,
    embeddings: Tensor<2>,
}

#[wasm_bindgen]
impl CaptionPool {
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.captions.len()
    }
}

#[derive(Serialize)]
struct Neighbour {
    index: usize,
    score: f32,
}

impl WebClip {
    /// Decodes and preprocesses an array of encoded images, naming the one that fails.
    fn pixels(&self, images: Array) -> Result<Vec<Pixels>, JsError> {
        images
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
            .collect()
    }

    fn hysac(&self) -> Result<&Hyperbolic, JsError> {
        self.hyperbolic
            .as_ref()
            .ok_or_else(|| JsError::new("this model has no HySAC head: train or load a HySAC adapter first"))
    }
}

/// A lifted query: one text, read against the safe region's bound for text.
fn query_point(query: &HyperbolicPoints) -> Result<Tensor<2>, JsError> {
    if query.images || query.size() != 1 {
        return Err(JsError::new("a HySAC query is one lifted text (liftTexts([text]))"));
    }
    Ok(query.embeddings.clone())
}

/// Root distances read as safe or unsafe against a safe-region bound.
fn readings(distances: Vec<f32>, bound: Option<f32>) -> Vec<Safety> {
    distances
        .into_iter()
        .map(|distance| Safety { distance, is_unsafe: bound.map(|b| distance > b) })
        .collect()
}

#[wasm_bindgen]
impl WebClip {
    /// Loads a CLIP checkpoint from the bytes of `config.json`, `model.safetensors` and
    /// `tokenizer.json`, onto the page's WebGPU device.
    pub async fn load(config: Vec<u8>, weights: Vec<u8>, tokenizer: Vec<u8>) -> Result<WebClip, JsError> {
        let device = webgpu().await?;
        let clip = Clip::from_bytes(&config, &weights, &tokenizer, &device).map_err(js_error)?;
        Ok(WebClip { clip, hyperbolic: None })
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
        read_back(self.clip.embed_images(&self.pixels(images)?).map_err(js_error)?).await
    }

    /// Embeds captions once so that [`Self::nearest`] can search them.
    #[wasm_bindgen(js_name = embedPool)]
    pub fn embed_pool(&self, captions: Vec<String>) -> Result<CaptionPool, JsError> {
        if captions.is_empty() {
            return Err(JsError::new("the caption pool is empty"));
        }
        let embeddings = self.clip.embed_texts_in_batches(&captions, POOL_BATCH).map_err(js_error)?;
        Ok(CaptionPool { captions, embeddings })
    }

    /// For each query text, the `k` pool captions nearest to it: `[[{index, score}, …], …]`.
    pub async fn nearest(&self, pool: &CaptionPool, queries: Vec<String>, k: usize) -> Result<JsValue, JsError> {
        let queries = self.clip.embed_texts(&queries).map_err(js_error)?;
        let top = nearest(queries, pool.embeddings.clone(), k, None, DEFAULT_BLOCK).map_err(js_error)?;
        let found: Vec<Vec<Neighbour>> = read_neighbours(top)
            .await
            .map_err(js_error)?
            .into_iter()
            .map(|row| row.into_iter().map(|n| Neighbour { index: n.index, score: n.score }).collect())
            .collect();
        to_js(&found)
    }

    /// This model with the adapters of an adapter file (from a training run or `safer-clip
    /// train`) attached.
    #[wasm_bindgen(js_name = withAdapter)]
    pub fn with_adapter(&self, adapter: Vec<u8>) -> Result<WebClip, JsError> {
        let adapter = load_adapters(self.clip.model.clone(), &adapter).map_err(js_error)?;
        let clip = Clip { model: adapter.model, tokenizer: self.clip.tokenizer.clone() };
        Ok(WebClip { clip, hyperbolic: adapter.hyperbolic })
    }

    /// Whether this is a HySAC model (it can classify and traverse).
    #[wasm_bindgen(getter, js_name = isHyperbolic)]
    pub fn is_hyperbolic(&self) -> bool {
        self.hyperbolic.is_some()
    }

    /// HySAC as a classifier: the safe/unsafe reading of each lifted point (`liftTexts`,
    /// `liftImages`), `[{distance, unsafe}]`, against the bound for its kind (`unsafe` is `null`
    /// for images when the run trained on text alone, so has no bound for images).
    #[wasm_bindgen(js_name = poolSafety)]
    pub async fn pool_safety(&self, pool: &HyperbolicPoints) -> Result<JsValue, JsError> {
        let hysac = self.hysac()?;
        let distances = root_distances(pool.embeddings.clone(), &hysac.head).await.map_err(js_error)?;
        let bound = if pool.images { hysac.region.image } else { Some(hysac.region.text) };
        to_js(&readings(distances, bound))
    }

    /// Lifts texts onto the hyperboloid: a caption pool, or a query for
    /// [`Self::retrieveHyperbolic`] and [`Self::traverse`].
    #[wasm_bindgen(js_name = liftTexts)]
    pub fn lift_texts(&self, texts: Vec<String>) -> Result<HyperbolicPoints, JsError> {
        let head = &self.hysac()?.head;
        let features = self.clip.text_features_in_batches(&texts, POOL_BATCH).map_err(js_error)?;
        Ok(HyperbolicPoints { embeddings: head.lift_text(features), images: false })
    }

    /// Lifts encoded images onto the hyperboloid, for [`Self::retrieveHyperbolic`].
    #[wasm_bindgen(js_name = liftImages)]
    pub fn lift_images(&self, images: Array) -> Result<HyperbolicPoints, JsError> {
        let head = &self.hysac()?.head;
        let features = self.clip.image_features_in_batches(&self.pixels(images)?, POOL_BATCH).map_err(js_error)?;
        Ok(HyperbolicPoints { embeddings: head.lift_image(features), images: true })
    }

    /// Points kept by the page: `data` holds rows of `cols` values, as `HyperbolicPoints.rows`
    /// gave them.
    #[wasm_bindgen(js_name = hyperbolicPointsFromRows)]
    pub fn hyperbolic_points_from_rows(&self, data: Vec<f32>, cols: usize, images: bool) -> Result<HyperbolicPoints, JsError> {
        self.hysac()?;
        let dim = self.clip.config().projection_dim;
        if cols != dim || data.is_empty() || data.len() % dim != 0 {
            return Err(JsError::new(&format!(
                "lifted points need rows of {dim} values (this model's embedding size); got {} values in rows of {cols}",
                data.len()
            )));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(JsError::new("lifted points must be finite numbers"));
        }
        let rows = data.len() / dim;
        let embeddings = Tensor::from_data(TensorData::new(data, [rows, dim]), &self.clip.device());
        Ok(HyperbolicPoints { embeddings, images })
    }

    /// The `k` pool entries nearest to a lifted text `query` (`liftTexts([text])`) in Lorentzian
    /// distance. With `redirect`, an unsafe query is first moved toward the root onto the
    /// traversal boundary (HySAC's "redirect to safe"): `{query: {distance, unsafe}, redirected,
    /// results: [{index, distance}]}`.
    #[wasm_bindgen(js_name = retrieveHyperbolic)]
    pub async fn retrieve_hyperbolic(&self, pool: &HyperbolicPoints, query: &HyperbolicPoints, k: usize, redirect: bool) -> Result<JsValue, JsError> {
        let hysac = self.hysac()?;
        let head = &hysac.head;
        let point = query_point(query)?;
        let distance = root_distances(point.clone(), head).await.map_err(js_error)?[0];
        let curvature = head.values().await.map_err(js_error)?.curvature;
        let boundary = traversal_boundary(hysac.region.text, curvature);
        let (point, redirected) = if redirect && distance > boundary {
            (to_safe_region(point, boundary, head.curvature()), Some(boundary))
        } else {
            (point, None)
        };
        let k = k.min(pool.size());
        let found = nearest_by_distance(point, pool.embeddings.clone(), k, head.curvature())
            .await
            .map_err(js_error)?;
        to_js(&HyperbolicRetrieval {
            query: Safety { distance, is_unsafe: Some(distance > hysac.region.text) },
            redirected,
            results: found
                .into_iter()
                .next()
                .unwrap_or_default()
                .into_iter()
                .map(|n| Near { index: n.index, distance: n.distance })
                .collect(),
        })
    }

    /// HySAC's traversal of a lifted text `query` toward the root in `steps` steps, with the
    /// caption retrieved at each: `{bound, boundary, steps: [{caption, distance}]}`.
    pub async fn traverse(&self, pool: &HyperbolicPoints, query: &HyperbolicPoints, steps: usize) -> Result<JsValue, JsError> {
        let hysac = self.hysac()?;
        let head = &hysac.head;
        let point = query_point(query)?;
        let path = walk(point, steps, 0.0, head.curvature()).map_err(js_error)?;
        let found = nearest_entailing(path, pool.embeddings.clone(), None, head).await.map_err(js_error)?;
        let curvature = head.values().await.map_err(js_error)?.curvature;
        to_js(&Traversal {
            bound: hysac.region.text,
            boundary: traversal_boundary(hysac.region.text, curvature),
            steps: found
                .into_iter()
                .map(|f| TraversalStep { caption: f.caption, distance: f.root_distance })
                .collect(),
        })
    }
}

/// What the page lets a person choose about a training run; everything else keeps the method's
/// published defaults.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TrainOptions {
    method: Method,
    #[serde(default)]
    rank: Option<usize>,
    #[serde(default)]
    learning_rate: Option<f64>,
    #[serde(default)]
    batch_size: Option<usize>,
    #[serde(default)]
    epochs: Option<usize>,
    #[serde(default)]
    max_steps: Option<usize>,
    #[serde(default)]
    seed: Option<u64>,
}

impl TrainOptions {
    fn config(self) -> TrainConfig {
        let mut config = TrainConfig::new(self.method);
        config.lora.rank = self.rank.unwrap_or(config.lora.rank);
        config.optimizer.learning_rate = self.learning_rate.unwrap_or(config.optimizer.learning_rate);
        config.batch_size = self.batch_size.unwrap_or(config.batch_size);
        config.epochs = self.epochs.unwrap_or(config.epochs);
        config.max_steps = self.max_steps.or(config.max_steps);
        config.seed = self.seed.unwrap_or(config.seed);
        config
    }
}

/// A LoRA training run on the page's GPU, driven one step at a time by the worker.
#[wasm_bindgen]
pub struct WebTrainer {
    trainer: Trainer,
    tokenizer: crate::tokenizer::ClipTokenizer,
}

/// Text pairs (JSONL), with the pool the original model embedded for search as extra targets.
fn training_set(pairs_jsonl: &str, pool: &CaptionPool) -> Result<TrainingSet, JsError> {
    Ok(TrainingSet {
        pairs: parse_pairs(pairs_jsonl).map_err(js_error)?,
        extra_safe: pool.captions.clone(),
        extra_safe_embeddings: Some(pool.embeddings.clone()),
        images: None,
    })
}

#[wasm_bindgen]
impl WebTrainer {
    /// Starts a run on text pairs (JSONL); targets may also come from `pool`, a caption pool
    /// `clip` embedded. `options`: `{method: "safer" | "safeclip" | "hysac", rank?, learningRate?,
    /// batchSize?, epochs?, maxSteps?, seed?}`.
    pub async fn create(clip: &WebClip, pairs_jsonl: String, pool: &CaptionPool, options: JsValue) -> Result<WebTrainer, JsError> {
        let options: TrainOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| JsError::new(&format!("invalid training options: {e}")))?;
        let set = training_set(&pairs_jsonl, pool)?;
        let trainer = Trainer::new(&clip.clip, set, options.config()).await.map_err(js_error)?;
        Ok(WebTrainer { trainer, tokenizer: clip.clip.tokenizer.clone() })
    }

    /// Continues a run from a checkpoint made by [`Self::checkpoint`], on the same data.
    pub async fn resume(clip: &WebClip, pairs_jsonl: String, pool: &CaptionPool, checkpoint: Vec<u8>) -> Result<WebTrainer, JsError> {
        let set = training_set(&pairs_jsonl, pool)?;
        let trainer = Trainer::resume(&clip.clip, set, &checkpoint).await.map_err(js_error)?;
        Ok(WebTrainer { trainer, tokenizer: clip.clip.tokenizer.clone() })
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
    pub async fn step(&mut self) -> Result<JsValue, JsError> {
        match self.trainer.step().await.map_err(js_error)? {
            Some(report) => to_js(&report),
            None => Ok(JsValue::NULL),
        }
    }

    /// Adapters, optimiser state and position, as a safetensors file.
    pub async fn checkpoint(&self) -> Result<Vec<u8>, JsError> {
        self.trainer.checkpoint().await.map_err(js_error)
    }

    /// The adapters alone, as a safetensors file `safer-clip eval/merge` and PEFT read.
    pub async fn adapter(&self) -> Result<Vec<u8>, JsError> {
        self.trainer.adapter_file().await.map_err(js_error)
    }

    /// The model as trained so far, for before/after comparisons.
    pub fn tuned(&self) -> WebClip {
        WebClip { clip: Clip { model: self.trainer.model(), tokenizer: self.tokenizer.clone() }, hyperbolic: None }
    }

    /// Like [`Self::tuned`], with a HySAC run's head and its safe region measured now on the
    /// training pairs (so that the model can classify and traverse).
    #[wasm_bindgen(js_name = tunedHyperbolic)]
    pub async fn tuned_hyperbolic(&self) -> Result<WebClip, JsError> {
        let hyperbolic = self.trainer.hyperbolic().await.map_err(js_error)?;
        Ok(WebClip { clip: Clip { model: self.trainer.model(), tokenizer: self.tokenizer.clone() }, hyperbolic })
    }
}
