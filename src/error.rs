//! One error type for the whole core, so the CLI and the browser show the same readable messages,
//! and a kind a front end can react to without reading them.

use std::fmt;

#[derive(Debug)]
pub enum Error {
    /// `config.json` is not a CLIP config this core can build.
    Config(String),
    /// A weights file (model, adapter, checkpoint) cannot be read as what it should be.
    Weights(String),
    MissingWeight {
        key: String,
    },
    WeightShape {
        key: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    WeightDtype {
        key: String,
        dtype: String,
    },
    UnexpectedWeights {
        keys: Vec<String>,
    },
    Tokenizer(String),
    Image(String),
    /// Input the core refuses: texts, pair files, pools, options.
    Input(String),
    Device(String),
    /// A training step went non-finite; the adapters from the step before are kept.
    Training(String),
    Io {
        context: String,
        source: std::io::Error,
    },
    /// `source`, with where it happened (a file, a line, a request) said first.
    Context {
        context: String,
        source: Box<Error>,
    },
}

/// What a front end can do about an error: the browser's JS error takes this as its `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The files are not a CLIP checkpoint (or adapter) this core can read.
    InvalidModel,
    InvalidInput,
    Device,
    TrainingStopped,
    Io,
}

impl ErrorKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::InvalidModel => "InvalidModel",
            Self::InvalidInput => "InvalidInput",
            Self::Device => "DeviceError",
            Self::TrainingStopped => "TrainingStopped",
            Self::Io => "IoError",
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// This error, said to have happened in `context` (a file's path, say): one message, with the
    /// kind's prefix once.
    pub fn context(self, context: impl fmt::Display) -> Self {
        Error::Context {
            context: context.to_string(),
            source: Box::new(self),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Config(_)
            | Self::Weights(_)
            | Self::MissingWeight { .. }
            | Self::WeightShape { .. }
            | Self::WeightDtype { .. }
            | Self::UnexpectedWeights { .. }
            | Self::Tokenizer(_) => ErrorKind::InvalidModel,
            Self::Image(_) | Self::Input(_) => ErrorKind::InvalidInput,
            Self::Device(_) => ErrorKind::Device,
            Self::Training(_) => ErrorKind::TrainingStopped,
            Self::Io { .. } => ErrorKind::Io,
            Self::Context { source, .. } => source.kind(),
        }
    }

    /// What the message starts with, once however many contexts wrap the error.
    fn prefix(&self) -> Option<&'static str> {
        match self {
            Self::Config(_) => Some("invalid model config"),
            Self::Weights(_) => Some("cannot read weights"),
            Self::Tokenizer(_) => Some("tokenizer"),
            Self::Image(_) => Some("image"),
            Self::Input(_) => Some("invalid input"),
            Self::Device(_) => Some("device"),
            Self::Training(_) => Some("training stopped"),
            Self::Context { source, .. } => source.prefix(),
            _ => None,
        }
    }

    fn detail(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(m)
            | Self::Weights(m)
            | Self::Tokenizer(m)
            | Self::Image(m)
            | Self::Input(m)
            | Self::Device(m)
            | Self::Training(m) => f.write_str(m),
            Self::MissingWeight { key } => {
                write!(f, "weight `{key}` is missing from the checkpoint")
            }
            Self::WeightShape {
                key,
                expected,
                found,
            } => {
                write!(
                    f,
                    "weight `{key}` has shape {found:?}, expected {expected:?}"
                )
            }
            Self::WeightDtype { key, dtype } => write!(
                f,
                "weight `{key}` has dtype {dtype}, expected F32, F16, BF16, or I8 in safer-clip's q8 layout"
            ),
            Self::UnexpectedWeights { keys } => write!(
                f,
                "the checkpoint has {} unexpected weight(s), e.g. {}",
                keys.len(),
                keys.iter().take(3).cloned().collect::<Vec<_>>().join(", ")
            ),
            Self::Io { context, source } => write!(f, "{context}: {source}"),
            Self::Context { context, source } => {
                write!(f, "{context}: ")?;
                source.detail(f)
            }
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(prefix) = self.prefix() {
            write!(f, "{prefix}: ")?;
        }
        self.detail(f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Context { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_is_said_once_before_the_detail() {
        let error = Error::Input("line 3: blank line".into())
            .context("pairs.jsonl")
            .context("train");
        assert_eq!(
            error.to_string(),
            "invalid input: train: pairs.jsonl: line 3: blank line"
        );
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        let missing = Error::MissingWeight { key: "w".into() }.context("model.safetensors");
        assert_eq!(
            missing.to_string(),
            "model.safetensors: weight `w` is missing from the checkpoint"
        );
        assert_eq!(missing.kind().name(), "InvalidModel");
    }
}
