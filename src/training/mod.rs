//! Safety fine-tuning with LoRA: the run's config, the frozen targets, the curriculum
//! schedule, the optimiser and the step-by-step trainer.

mod config;
mod optimizer;
mod schedule;
mod targets;
mod trainer;

pub use config::{
    CurriculumConfig, Method, OptimizerConfig, TargetQuery, TrainConfig, TrainOptions,
};
pub use optimizer::{AdamW, Moments, Update};
pub use schedule::{Batch, curriculum_stage, schedule};
pub use targets::{FrozenImages, FrozenTargets, frozen_targets};
pub use trainer::{StepReport, TermValue, Trainer, TrainingSet};
