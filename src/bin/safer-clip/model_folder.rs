//! Writing a new model folder from an existing one (`merge`, `convert`): where it may go, and the
//! files that carry over unchanged.

use std::path::{Path, PathBuf};

use safer_clip::error::{Error, Result};
use safer_clip::files::{Limit, read_bounded, write_atomic};
use safer_clip::pipeline::{CONFIG_FILE, TOKENIZER_FILE};

/// What a model folder holds besides its weights.
const UNCHANGED_FILES: [&str; 7] = [
    CONFIG_FILE,
    TOKENIZER_FILE,
    "preprocessor_config.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.json",
    "merges.txt",
];

/// The output may be neither the model folder nor a folder holding it, so that no input is
/// ever written through or replaced by the output; an existing one is replaced only with `force`.
pub fn check_output(model: &Path, out: &Path, force: bool) -> Result<()> {
    let model = model
        .canonicalize()
        .map_err(|e| Error::io(format!("cannot read {}", model.display()), e))?;
    // The output may not exist yet: resolve its nearest existing ancestor.
    let mut existing = out.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(
            existing
                .file_name()
                .map(|n| n.to_owned())
                .unwrap_or_default(),
        );
        if !existing.pop() {
            existing = PathBuf::from(".");
            break;
        }
    }
    let mut resolved = existing
        .canonicalize()
        .map_err(|e| Error::io(format!("cannot read {}", existing.display()), e))?;
    resolved.extend(rest.iter().rev());
    if model.starts_with(&resolved) {
        return Err(Error::Input(format!(
            "--out {} overlaps the model folder {}; write to another folder",
            out.display(),
            model.display()
        )));
    }
    if out.exists() && !force {
        return Err(Error::Input(format!(
            "{} already exists; choose another folder, or pass --force to replace it",
            out.display()
        )));
    }
    Ok(())
}

/// Copies the model folder's files other than its weights into `folder`.
pub fn copy_unchanged(model: &Path, folder: &Path) -> Result<()> {
    for name in UNCHANGED_FILES {
        let source = model.join(name);
        if source.exists() {
            write_atomic(
                &folder.join(name),
                &read_bounded(&source, Limit::Tokenizer)?,
            )?;
        }
    }
    Ok(())
}
