//! Measuring a tuned model against its original: retrieval (does an unsafe query land on safe
//! content?), zero-shot accuracy (does it still know what it knew?) and drift (how far did it
//! move?), and HySAC's safe/unsafe classifier.

mod classifier;
mod drift;
mod hysac;
mod report;
mod retrieval;
mod sweep;
mod zero_shot;

pub use classifier::{ClassifierMetrics, classify, fit_threshold};
pub use drift::{EmbeddingDrift, LayerDrift, embedding_drift, weight_drift};
pub use hysac::{
    CategoryClassifier, HysacMetrics, PairSet, TraversalMetrics, hysac_metrics, safe_region,
};
pub use report::{Drift, PairMetrics, drift, pair_metrics};
pub use retrieval::{
    CategoryRedirection, RECALL_KS, Recall, TextRedirection, VisuRetrieval, recall_at_k,
    text_redirection, visu_retrieval,
};
pub use sweep::{SweepPoint, ZeroShotSet, sweep};
pub use zero_shot::{
    PromptSet, ZeroShot, class_embeddings, class_probabilities, parse_prompt_file,
    zero_shot_accuracy,
};
