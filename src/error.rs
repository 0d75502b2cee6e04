//! One error type for the whole core, so the CLI and the browser show the same readable messages.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid model config: {0}")]
    Config(String),

    #[error("cannot read weights: {0}")]
    Weights(String),

    #[error("weight `{key}` is missing from the checkpoint")]
    MissingWeight { key: String },

    #[error("weight `{key}` has shape {found:?}, expected {expected:?}")]
    WeightShape {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("weight `{key}` has dtype {dtype}, expected F32, F16 or BF16")]
    WeightDtype { key: String, dtype: String },

    #[error("the checkpoint has {} unexpected weight(s), e.g. {}", .keys.len(), .keys.iter().take(3).cloned().collect::<Vec<_>>().join(", "))]
    UnexpectedWeights { keys: Vec<String> },

    #[error("tokenizer: {0}")]
    Tokenizer(String),

    #[error("image: {0}")]
    Image(String),

    #[error("invalid input: {0}")]
    Input(String),

    #[error("device: {0}")]
    Device(String),

    #[error("training stopped: {0}")]
    Training(String),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// Reads a whole file, saying which one when it cannot.
#[cfg(not(target_arch = "wasm32"))]
pub fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::io(format!("cannot read {}", path.display()), e))
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
