//! What a training run is: method, adapter, optimiser, schedule. Serialised into checkpoints so
//! that a resumed run is the same run.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lora::{LoraConfig, LoraTarget};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// SafeR-CLIP (AAAI 2026): proximity-aware, relative redirection to the nearest safe caption.
    Safer,
    /// Safe-CLIP (ECCV 2024): redirection to the paired safe caption, eight weighted losses.
    SafeClip,
    /// HySAC (CVPR 2025): hyperbolic safety awareness, unsafe content kept but placed further
    /// from the root than safe content.
    Hysac,
}

impl std::str::FromStr for Method {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "safer" => Ok(Self::Safer),
            "safeclip" => Ok(Self::SafeClip),
            "hysac" => Ok(Self::Hysac),
            other => Err(Error::Input(format!(
                "unknown method `{other}` (expected safer, safeclip or hysac)"
            ))),
        }
    }
}

/// Which frozen embedding of an unsafe item looks for its nearest safe caption.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetQuery {
    /// `T0(t*)` against `T0(safe captions)`.
    Text,
    /// `V0(v*)` against `T0(safe captions)`; needs pair images.
    Image,
}

/// Adam with decoupled weight decay (AdamW; `weight_decay = 0` is Adam).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimizerConfig {
    pub learning_rate: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub epsilon: f64,
    pub weight_decay: f64,
    /// Gradients are scaled so that their global L2 norm is at most this.
    pub max_grad_norm: Option<f64>,
}

impl Default for OptimizerConfig {
    fn default() -> Self {
        Self {
            learning_rate: 1e-4,
            beta1: 0.9,
            beta2: 0.999,
            epsilon: 1e-8,
            weight_decay: 0.0,
            max_grad_norm: Some(1.0),
        }
    }
}

/// SafeR-CLIP's progressive curriculum: pairs ranked by how close their unsafe caption already
/// is to its safe target (easy first); stage `k` of `stages` trains on the easiest
/// `(k + 1) / stages` of them, for `epochs_per_stage` epochs each; later epochs use all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CurriculumConfig {
    pub stages: usize,
    pub epochs_per_stage: usize,
}

impl Default for CurriculumConfig {
    fn default() -> Self {
        Self {
            stages: 3,
            epochs_per_stage: 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    pub method: Method,
    pub lora: LoraConfig,
    pub optimizer: OptimizerConfig,
    pub batch_size: usize,
    pub epochs: usize,
    /// Stop after this many steps, even mid-epoch.
    pub max_steps: Option<usize>,
    pub curriculum: Option<CurriculumConfig>,
    pub target_query: TargetQuery,
    /// Keep an unsafe item's own paired safe caption out of its nearest-safe search.
    pub exclude_own_pair: bool,
    pub seed: u64,
}

impl TrainConfig {
    /// The published defaults of each method, on a batch size that fits a laptop.
    pub fn new(method: Method) -> Self {
        let optimizer = OptimizerConfig::default();
        let (optimizer, curriculum) = match method {
            Method::Safer => (optimizer, Some(CurriculumConfig::default())),
            Method::SafeClip => (
                OptimizerConfig {
                    learning_rate: 1e-3,
                    ..optimizer
                },
                None,
            ),
            // HySAC's AdamW: β₂ 0.98, weight decay 0.2 on the adapters (never on its scalars).
            Method::Hysac => (
                OptimizerConfig {
                    beta2: 0.98,
                    weight_decay: 0.2,
                    ..optimizer
                },
                None,
            ),
        };
        let mut lora = LoraConfig::default();
        if method == Method::Hysac {
            // HySAC also adapts the vision tower's patch embedding.
            lora.targets.push(LoraTarget::PatchEmbedding);
        }
        Self {
            method,
            lora,
            optimizer,
            batch_size: 16,
            epochs: 3,
            max_steps: None,
            curriculum,
            target_query: TargetQuery::Text,
            exclude_own_pair: false,
            seed: 0,
        }
    }

    pub fn validate(&self) -> Result<()> {
        self.lora.validate()?;
        let o = &self.optimizer;
        let bad = |what: String| Err(Error::Input(what));
        if !(o.learning_rate.is_finite() && o.learning_rate > 0.0) {
            return bad(format!(
                "learning rate must be positive, got {}",
                o.learning_rate
            ));
        }
        if !((0.0..1.0).contains(&o.beta1) && (0.0..1.0).contains(&o.beta2)) {
            return bad("Adam betas must be in [0, 1)".into());
        }
        if !(o.epsilon > 0.0 && o.weight_decay >= 0.0) {
            return bad("Adam epsilon must be positive and weight decay non-negative".into());
        }
        if o.max_grad_norm.is_some_and(|n| n.is_nan() || n <= 0.0) {
            return bad("the gradient clipping norm must be positive".into());
        }
        if self.batch_size == 0 || self.epochs == 0 || self.max_steps == Some(0) {
            return bad("batch size, epochs and steps must be at least 1".into());
        }
        if let Some(c) = &self.curriculum
            && (c.stages == 0 || c.epochs_per_stage == 0)
        {
            return bad("curriculum stages and epochs per stage must be at least 1".into());
        }
        Ok(())
    }
}

/// What a person may choose about a run, from the CLI's flags or the page's form; everything left
/// out keeps the method's published defaults ([`TrainConfig::new`]).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TrainOptions {
    /// SafeR-CLIP when left out.
    #[serde(default)]
    pub method: Option<Method>,
    #[serde(default)]
    pub rank: Option<usize>,
    #[serde(default)]
    pub alpha: Option<f64>,
    #[serde(default)]
    pub dropout: Option<f64>,
    #[serde(default)]
    pub targets: Option<Vec<LoraTarget>>,
    #[serde(default)]
    pub learning_rate: Option<f64>,
    #[serde(default)]
    pub weight_decay: Option<f64>,
    /// The largest global gradient norm; 0 turns clipping off.
    #[serde(default)]
    pub grad_clip: Option<f64>,
    #[serde(default)]
    pub batch_size: Option<usize>,
    #[serde(default)]
    pub epochs: Option<usize>,
    #[serde(default)]
    pub max_steps: Option<usize>,
    /// SafeR-CLIP's easy→hard curriculum (on by default for SafeR-CLIP only).
    #[serde(default)]
    pub curriculum: Option<bool>,
    #[serde(default)]
    pub target_query: Option<TargetQuery>,
    #[serde(default)]
    pub exclude_own_pair: Option<bool>,
    #[serde(default)]
    pub seed: Option<u64>,
}

impl TrainOptions {
    /// The method's defaults, nothing else chosen.
    pub fn new(method: Option<Method>) -> Self {
        Self {
            method,
            rank: None,
            alpha: None,
            dropout: None,
            targets: None,
            learning_rate: None,
            weight_decay: None,
            grad_clip: None,
            batch_size: None,
            epochs: None,
            max_steps: None,
            curriculum: None,
            target_query: None,
            exclude_own_pair: None,
            seed: None,
        }
    }

    /// The run's config: the method's defaults with every choice applied, checked.
    pub fn config(&self) -> Result<TrainConfig> {
        let mut config = TrainConfig::new(self.method.unwrap_or(Method::Safer));
        let lora = &mut config.lora;
        lora.rank = self.rank.unwrap_or(lora.rank);
        lora.alpha = self.alpha.unwrap_or(lora.alpha);
        lora.dropout = self.dropout.unwrap_or(lora.dropout);
        lora.targets = self
            .targets
            .clone()
            .unwrap_or(std::mem::take(&mut lora.targets));
        let optimizer = &mut config.optimizer;
        optimizer.learning_rate = self.learning_rate.unwrap_or(optimizer.learning_rate);
        optimizer.weight_decay = self.weight_decay.unwrap_or(optimizer.weight_decay);
        if let Some(norm) = self.grad_clip {
            if !(norm.is_finite() && norm >= 0.0) {
                return Err(Error::Input(format!(
                    "the gradient clipping norm must be a positive number, or 0 to turn clipping off; got {norm}"
                )));
            }
            optimizer.max_grad_norm = (norm > 0.0).then_some(norm);
        }
        config.batch_size = self.batch_size.unwrap_or(config.batch_size);
        config.epochs = self.epochs.unwrap_or(config.epochs);
        config.max_steps = self.max_steps.or(config.max_steps);
        match self.curriculum {
            Some(true) => {
                config.curriculum = config.curriculum.or(Some(CurriculumConfig::default()))
            }
            Some(false) => config.curriculum = None,
            None => {}
        }
        config.target_query = self.target_query.unwrap_or(config.target_query);
        config.exclude_own_pair = self.exclude_own_pair.unwrap_or(config.exclude_own_pair);
        config.seed = self.seed.unwrap_or(config.seed);
        config.validate()?;
        Ok(config)
    }

    /// The settings of a resumed run: the checkpoint's, with `epochs` and `max_steps` applied
    /// (they lengthen or shorten the same schedule). Any other option given must equal the
    /// checkpoint's; one that differs is refused by name.
    pub fn resumed(&self, saved: &TrainConfig) -> Result<TrainConfig> {
        let requested = TrainOptions {
            method: Some(self.method.unwrap_or(saved.method)),
            ..self.clone()
        }
        .config()?;
        let mut differ = Vec::new();
        let mut check = |given: bool, name: &str, here: String, there: String| {
            if given && here != there {
                differ.push(format!("{name} ({here} here, {there} in the checkpoint)"));
            }
        };
        let (r, s) = (&requested, saved);
        check(
            self.method.is_some(),
            "method",
            format!("{:?}", r.method),
            format!("{:?}", s.method),
        );
        check(
            self.rank.is_some(),
            "rank",
            r.lora.rank.to_string(),
            s.lora.rank.to_string(),
        );
        check(
            self.alpha.is_some(),
            "alpha",
            r.lora.alpha.to_string(),
            s.lora.alpha.to_string(),
        );
        check(
            self.dropout.is_some(),
            "dropout",
            r.lora.dropout.to_string(),
            s.lora.dropout.to_string(),
        );
        check(
            self.targets.is_some(),
            "targets",
            format!("{:?}", r.lora.targets),
            format!("{:?}", s.lora.targets),
        );
        let (ro, so) = (&r.optimizer, &s.optimizer);
        check(
            self.learning_rate.is_some(),
            "learning rate",
            ro.learning_rate.to_string(),
            so.learning_rate.to_string(),
        );
        check(
            self.weight_decay.is_some(),
            "weight decay",
            ro.weight_decay.to_string(),
            so.weight_decay.to_string(),
        );
        check(
            self.grad_clip.is_some(),
            "gradient clipping",
            format!("{:?}", ro.max_grad_norm),
            format!("{:?}", so.max_grad_norm),
        );
        check(
            self.batch_size.is_some(),
            "batch size",
            r.batch_size.to_string(),
            s.batch_size.to_string(),
        );
        check(
            self.curriculum.is_some(),
            "curriculum",
            format!("{:?}", r.curriculum),
            format!("{:?}", s.curriculum),
        );
        check(
            self.target_query.is_some(),
            "target query",
            format!("{:?}", r.target_query),
            format!("{:?}", s.target_query),
        );
        check(
            self.exclude_own_pair.is_some(),
            "exclude own pair",
            r.exclude_own_pair.to_string(),
            s.exclude_own_pair.to_string(),
        );
        check(
            self.seed.is_some(),
            "seed",
            r.seed.to_string(),
            s.seed.to_string(),
        );
        if !differ.is_empty() {
            return Err(Error::Input(format!(
                "a resumed run keeps the settings it started with, and these differ: {}; leave them out, or start a new run",
                differ.join("; ")
            )));
        }
        let mut config = saved.clone();
        if self.epochs.is_some() {
            config.epochs = requested.epochs;
        }
        if self.max_steps.is_some() {
            config.max_steps = requested.max_steps;
        }
        config.validate()?;
        Ok(config)
    }
}
