//! The LoRA trainer, step by step so that a caller (the CLI's loop, the browser's worker) can
//! report progress, pause, checkpoint and resume between steps.

use std::collections::HashMap;

use burn::module::{ModuleMapper, Param};
use burn::prelude::*;
use burn::tensor::FloatDType;
use serde::{Deserialize, Serialize};

use super::config::{Method, TrainConfig, TrainOptions};
use super::optimizer::{AdamW, Moments, Update};
use super::schedule::{Batch, schedule};
use super::targets::{FrozenTargets, frozen_targets};
use crate::data::{Pair, PairImages};
use crate::device::read_f32;
use crate::error::{Error, Result};
use crate::evaluation::safe_region;
use crate::hyperbolic::{HeadValues, Hyperbolic, HyperbolicHead};
use crate::model::ClipModel;
use crate::pipeline::Clip;
use crate::preprocess::{Pixels, pixels_to_tensor};
use crate::safety::hysac::hysac_terms;
use crate::safety::losses::{
    ImageEmbeddings, SAFECLIP_LOGIT_SCALE, StepEmbeddings, safeclip_terms, safer_terms, total,
};
use crate::tokenizer::ClipTokenizer;
use crate::weights::{
    Checkpoint, SafetensorsWriter, read_adapters, read_head, save_adapters, write_adapters,
    write_head,
};

/// What a run trains on: caption pairs, extra safe captions the targets may be drawn from,
/// and optionally each pair's images.
#[derive(Debug, Clone)]
pub struct TrainingSet {
    pub pairs: Vec<Pair>,
    pub extra_safe: Vec<String>,
    /// The frozen model's embeddings of `extra_safe`, when the caller already has them (the
    /// browser embeds its caption pool once for search); computed when `None`.
    pub extra_safe_embeddings: Option<Tensor<2>>,
    pub images: Option<Vec<PairImages>>,
}

impl TrainingSet {
    /// A short hash of the data, stored in checkpoints so that a run is not resumed on
    /// different data by mistake.
    pub fn fingerprint(&self) -> String {
        // FNV-1a, 64 bit.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |text: &str| {
            for byte in text.bytes().chain([0xff]) {
                hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
            }
        };
        for pair in &self.pairs {
            feed(&pair.safe);
            feed(&pair.unsafe_caption);
        }
        self.extra_safe.iter().for_each(|c| feed(c));
        feed(if self.images.is_some() {
            "images"
        } else {
            "text"
        });
        format!("{hash:016x}")
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TermValue {
    pub name: &'static str,
    pub weight: f64,
    pub value: f32,
}

/// What one step did.
#[derive(Debug, Clone, Serialize)]
pub struct StepReport {
    /// Steps done, this one included.
    pub step: usize,
    pub total_steps: usize,
    pub epoch: usize,
    pub stage: usize,
    pub examples: usize,
    pub loss: f32,
    pub terms: Vec<TermValue>,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    /// HySAC's learned scalars after the step.
    pub head: Option<HeadValues>,
    pub seconds: f64,
    pub examples_per_s: f64,
}

/// Header entry of a training checkpoint.
#[derive(Debug, Serialize, Deserialize)]
struct TrainingState {
    config: TrainConfig,
    steps: usize,
    data: String,
}

const STATE_KEY: &str = "training_state";

/// Checkpoint name of a head scalar (and key of its optimiser moments).
fn head_key(name: &str) -> String {
    format!("hysac.{name}")
}

/// The head with every scalar a leaf that keeps its gradient.
fn trainable(head: HyperbolicHead) -> HyperbolicHead {
    let mut head = head;
    for (_, value) in head.named_mut() {
        *value = value.clone().require_grad();
    }
    head
}

pub struct Trainer {
    config: TrainConfig,
    tokenizer: ClipTokenizer,
    /// The model being trained: frozen base weights plus LoRA adapters, on an autodiff device.
    model: ClipModel,
    device: Device,
    set: TrainingSet,
    targets: FrozenTargets,
    schedule: Vec<Batch>,
    optimizer: AdamW,
    /// HySAC's learned scalars, on the autodiff device.
    head: Option<HyperbolicHead>,
}

impl Trainer {
    /// Computes the frozen targets with `frozen` (which stays untouched) and attaches fresh
    /// adapters to a copy of its model.
    pub async fn new(frozen: &Clip, set: TrainingSet, config: TrainConfig) -> Result<Self> {
        config.validate()?;
        // The adapters first: a rank that does not fit is refused before the frozen pass.
        let device = frozen.device().autodiff();
        let model = on_autodiff(frozen.model.clone()).with_lora(&config.lora, config.seed)?;
        let targets = frozen_targets(
            frozen,
            &set.pairs,
            &set.extra_safe,
            set.extra_safe_embeddings.clone(),
            set.images.as_deref(),
            &config,
        )
        .await?;
        let difficulty: Vec<f32> = targets.nearest.iter().map(|n| n.score).collect();
        let schedule = schedule(&config, &difficulty);
        let head = (config.method == Method::Hysac)
            .then(|| trainable(HyperbolicHead::new(frozen.config().projection_dim, &device)));
        Ok(Self {
            head,
            optimizer: AdamW::new(config.optimizer.clone()),
            tokenizer: frozen.tokenizer.clone(),
            config,
            model,
            device,
            set,
            targets,
            schedule,
        })
    }

    /// Continues the run saved by [`Self::checkpoint`]: same config, adapters, optimiser moments
    /// and position in the schedule. `changes`, when given, may lengthen or shorten the run and
    /// must otherwise agree with it ([`TrainOptions::resumed`]).
    pub async fn resume(
        frozen: &Clip,
        set: TrainingSet,
        checkpoint: &[u8],
        changes: Option<&TrainOptions>,
    ) -> Result<Self> {
        let device = frozen.device().autodiff();
        let file = Checkpoint::parse(checkpoint, &device)?;
        let state: TrainingState = file
            .metadata(STATE_KEY)
            .ok_or_else(|| {
                Error::Weights("not a training checkpoint (no training state in its header)".into())
            })
            .and_then(|json| {
                serde_json::from_str(json)
                    .map_err(|e| Error::Weights(format!("invalid training state: {e}")))
            })?;
        if state.data != set.fingerprint() {
            return Err(Error::Input(
                "the checkpoint was trained on different pairs; resume with the same data".into(),
            ));
        }
        let config = match changes {
            Some(changes) => changes.resumed(&state.config)?,
            None => state.config,
        };
        let mut trainer = Self::new(frozen, set, config).await?;
        let (model, _) = read_adapters(on_autodiff(frozen.model.clone()), &file)?;
        let mut parameters: Vec<(String, [usize; 2])> = model
            .adapter_factors()
            .into_iter()
            .map(|(name, param)| (name, param.val().dims()))
            .collect();
        if let Some(head) = &mut trainer.head {
            *head = trainable(read_head(&file)?);
            parameters.extend(head.named().map(|(name, _)| (head_key(name), [1, 1])));
        }
        for (key, dims) in parameters {
            let moment = |which: &str| file.tensor(&format!("optimizer.{which}.{key}"), dims);
            // A factor that never had a gradient (the image tower of a text-only run) has no
            // moments yet.
            if let Ok(first) = moment("exp_avg") {
                let second = moment("exp_avg_sq")?;
                let moments = Moments {
                    first: first.inner(),
                    second: second.inner(),
                };
                trainer.optimizer.moments.insert(key, moments);
            }
        }
        file.ensure_all_used(|_| false)?;
        trainer.model = model;
        trainer.optimizer.steps = state.steps;
        Ok(trainer)
    }

    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    pub fn training_pairs(&self) -> &[Pair] {
        &self.set.pairs
    }

    pub fn training_images(&self) -> Option<&[PairImages]> {
        self.set.images.as_deref()
    }

    pub fn targets(&self) -> &FrozenTargets {
        &self.targets
    }

    pub fn steps_done(&self) -> usize {
        self.optimizer.steps
    }

    pub fn total_steps(&self) -> usize {
        self.schedule.len()
    }

    pub fn is_finished(&self) -> bool {
        self.steps_done() >= self.total_steps()
    }

    /// The tuned model for inference: adapters attached, dropout off, no autodiff.
    pub fn tuned(&self) -> Clip {
        Clip {
            model: self.model.valid(),
            tokenizer: self.tokenizer.clone(),
        }
    }

    /// HySAC's learned scalars as they stand, without autodiff.
    pub fn head(&self) -> Option<HyperbolicHead> {
        self.head.clone().map(|mut head| {
            for (_, value) in head.named_mut() {
                *value = value.clone().inner();
            }
            head
        })
    }

    /// HySAC's head with its safe region measured now, on the training pairs.
    pub async fn hyperbolic(&self) -> Result<Option<Hyperbolic>> {
        let Some(head) = self.head() else {
            return Ok(None);
        };
        let tuned = self.tuned();
        let region =
            safe_region(&tuned, &head, (&self.set.pairs, self.set.images.as_deref())).await?;
        Ok(Some(Hyperbolic { head, region }))
    }

    fn embeddings(&self, batch: &Batch) -> Result<StepEmbeddings> {
        let n = batch.pairs.len();
        let pairs: Vec<&Pair> = batch.pairs.iter().map(|&i| &self.set.pairs[i]).collect();
        let captions: Vec<&str> = pairs
            .iter()
            .map(|p| p.safe.as_str())
            .chain(pairs.iter().map(|p| p.unsafe_caption.as_str()))
            .collect();
        let tokens = self.tokenizer.encode_batch(&captions)?;
        let text = self.model.text_features(&tokens)?;
        let frozen_device = self.targets.text_safe.device();
        let ids: Vec<i64> = batch.pairs.iter().map(|&i| i as i64).collect();
        let ids = Tensor::<1, Int>::from_data(TensorData::new(ids, [n]), &frozen_device);
        let rows = |t: &Tensor<2>| t.clone().select(0, ids.clone()).autodiff();
        let images = match (&self.set.images, &self.targets.images) {
            (Some(images), Some(frozen)) => {
                let pixels: Vec<Pixels> = batch
                    .pairs
                    .iter()
                    .map(|&i| images[i].safe.clone())
                    .chain(batch.pairs.iter().map(|&i| images[i].unsafe_image.clone()))
                    .collect();
                let tuned = self
                    .model
                    .image_features(pixels_to_tensor(&pixels, &self.device)?)?;
                Some(ImageEmbeddings {
                    tuned_image_safe: tuned.clone().slice(0..n),
                    tuned_image_unsafe: tuned.slice(n..2 * n),
                    frozen_image_safe: rows(&frozen.safe),
                    frozen_image_unsafe: rows(&frozen.unsafe_image),
                    frozen_image_target: rows(&frozen.target),
                })
            }
            _ => None,
        };
        Ok(StepEmbeddings {
            tuned_text_safe: text.clone().slice(0..n),
            tuned_text_unsafe: text.slice(n..2 * n),
            frozen_text_safe: rows(&self.targets.text_safe),
            frozen_text_unsafe: rows(&self.targets.text_unsafe),
            frozen_text_target: rows(&self.targets.text_target),
            images,
        })
    }

    /// Trains on the next batch. `None` once the schedule is done. If the loss or the gradient
    /// is not finite, nothing is applied: the error says so and the adapters stay as they were.
    pub async fn step(&mut self) -> Result<Option<StepReport>> {
        let Some(batch) = self.schedule.get(self.steps_done()).cloned() else {
            return Ok(None);
        };
        let started = web_time::Instant::now();
        // Dropout masks depend only on the seed and the step, so a resumed run draws the same.
        self.device.seed(
            self.config.seed ^ (self.steps_done() as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D),
        );
        let embeddings = self.embeddings(&batch)?;
        let terms = match (self.config.method, &self.head) {
            (Method::Safer, _) => safer_terms(&embeddings),
            (Method::SafeClip, _) => safeclip_terms(&embeddings, SAFECLIP_LOGIT_SCALE),
            (Method::Hysac, Some(head)) => hysac_terms(&embeddings, head),
            (Method::Hysac, None) => unreachable!("a HySAC trainer is built with its head"),
        };
        let loss = total(&terms);
        let grads = loss.backward();

        let mut updates = Vec::new();
        for (name, param) in self.model.adapter_factors() {
            if let Some(grad) = param.val().grad(&grads) {
                updates.push(Update {
                    name,
                    value: param.val().inner(),
                    grad,
                    decay: true,
                });
            }
        }
        if let Some(head) = &self.head {
            for (name, value) in head.named() {
                if let Some(grad) = value.grad(&grads) {
                    updates.push(Update {
                        name: head_key(name),
                        value: value.clone().inner(),
                        grad,
                        decay: false,
                    });
                }
            }
        }
        if updates.is_empty() {
            return Err(Error::Training("no adapter received a gradient".into()));
        }
        let grad_norm = AdamW::global_norm(&updates);
        let names: Vec<String> = updates.iter().map(|u| u.name.clone()).collect();
        let previous = (
            self.model.clone(),
            self.optimizer.clone(),
            self.head.clone(),
        );
        let values = self.optimizer.step(updates, grad_norm.clone());
        let mut updated: HashMap<String, Tensor<2>> = names.into_iter().zip(values).collect();
        for (name, param) in self.model.adapter_factors_mut() {
            if let Some(value) = updated.remove(&name) {
                *param = Param::initialized(param.id, Tensor::from_inner(value).require_grad());
            }
        }
        if let Some(head) = &mut self.head {
            for (name, value) in head.named_mut() {
                *value = updated
                    .remove(&head_key(name))
                    .unwrap_or_else(|| value.clone().inner());
            }
            let mut clamped = head.clone().clamped();
            for (_, value) in clamped.named_mut() {
                *value = Tensor::from_inner(value.clone());
            }
            *head = trainable(clamped);
        }

        // The step's scalars in one transfer, each with what it is, for the message when one is
        // not finite.
        let mut scalars: Vec<(String, Tensor<1>)> = vec![("the loss".into(), loss.inner())];
        for term in &terms {
            scalars.push((
                format!("the loss term {}", term.name),
                term.value.clone().inner(),
            ));
        }
        scalars.push(("the gradient norm".into(), grad_norm));
        if let Some(head) = &self.head {
            for (name, value) in head.named() {
                let scalar = name.trim_start_matches("log_");
                scalars.push((
                    format!("HySAC's {scalar}"),
                    value.clone().inner().exp().reshape([1]),
                ));
            }
        }
        let (labels, tensors): (Vec<String>, Vec<Tensor<1>>) = scalars.into_iter().unzip();
        let read = read_f32(Tensor::cat(tensors, 0)).await?;
        if let Some(bad) = read.iter().position(|v| !v.is_finite()) {
            (self.model, self.optimizer, self.head) = previous;
            return Err(Error::Training(format!(
                "{} became {} at step {}; the adapters from step {} are kept (try a lower learning rate)",
                labels[bad],
                read[bad],
                self.steps_done() + 1,
                self.steps_done()
            )));
        }
        let mut values = read.into_iter();
        let mut next = || values.next().expect("one value per scalar");
        let loss = next();
        let term_values: Vec<TermValue> = terms
            .iter()
            .map(|t| TermValue {
                name: t.name,
                weight: t.weight,
                value: next(),
            })
            .collect();
        let grad_norm = next();
        let head = self.head.as_ref().map(|_| HeadValues {
            curvature: next(),
            text_scale: next(),
            image_scale: next(),
            logit_scale: next(),
        });
        let seconds = started.elapsed().as_secs_f64();
        Ok(Some(StepReport {
            step: self.steps_done(),
            total_steps: self.total_steps(),
            epoch: batch.epoch,
            stage: batch.stage,
            examples: batch.pairs.len(),
            loss,
            terms: term_values,
            grad_norm,
            head,
            seconds,
            examples_per_s: batch.pairs.len() as f64 / seconds.max(1e-9),
        }))
    }

    /// The adapters alone, as a safetensors file with their config.
    pub async fn adapter_file(&self) -> Result<Vec<u8>> {
        Ok(self.export().await?.0)
    }

    /// The adapter file, and for HySAC the head and safe region it holds (measured once for
    /// both).
    pub async fn export(&self) -> Result<(Vec<u8>, Option<Hyperbolic>)> {
        let method = serde_json::to_string(&self.config.method).expect("method serialises");
        let extra = [("method", method), ("steps", self.steps_done().to_string())];
        let hyperbolic = self.hyperbolic().await?;
        let file =
            save_adapters(&self.model, &self.config.lora, hyperbolic.as_ref(), &extra).await?;
        Ok((file, hyperbolic))
    }

    /// Everything needed to resume: adapters, optimiser moments, config and position.
    pub async fn checkpoint(&self) -> Result<Vec<u8>> {
        let mut writer = SafetensorsWriter::new();
        write_adapters(&mut writer, &self.model, &self.config.lora).await?;
        if let Some(head) = &self.head() {
            write_head(&mut writer, head).await?;
        }
        for (key, moments) in &self.optimizer.moments {
            writer
                .add(&format!("optimizer.exp_avg.{key}"), moments.first.clone())
                .await?;
            writer
                .add(
                    &format!("optimizer.exp_avg_sq.{key}"),
                    moments.second.clone(),
                )
                .await?;
        }
        let state = TrainingState {
            config: self.config.clone(),
            steps: self.steps_done(),
            data: self.set.fingerprint(),
        };
        writer.metadata(
            STATE_KEY,
            serde_json::to_string(&state).expect("state serialises"),
        );
        writer.finish()
    }
}

/// The model with every weight on the autodiff side of its device (frozen, no gradient kept), so
/// that adapters attached to it train and dropout runs in every layer. Training computes in f32
/// (the adapters' updates are too small for f16), whatever the model was loaded to compute in.
fn on_autodiff(model: ClipModel) -> ClipModel {
    struct ToAutodiff;
    impl ModuleMapper for ToAutodiff {
        fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
            let (id, tensor, mapper) = param.consume();
            Param::from_mapped_value(id, tensor.cast(FloatDType::F32).autodiff(), mapper)
        }
    }
    model.no_grad().map(&mut ToAutodiff)
}
