//! `--model` as a Hugging Face repo id (`openai/clip-vit-base-patch32`): the model folder's files
//! are downloaded once into the standard Hugging Face cache, the one Python's `huggingface_hub`
//! uses (`HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`), with a progress bar;
//! an interrupted download resumes where it stopped. `HF_ENDPOINT`, `HF_TOKEN` and
//! `HF_HUB_OFFLINE` mean what they mean there.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::{Cache, Repo, RepoType};
use safer_clip::error::{Error, Result};
use safer_clip::files::{Limit, read_bounded};
use safer_clip::pipeline::{CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE};

/// Attempts per file: a dropped connection resumes from the bytes already on disk.
const RETRIES: usize = 3;

/// Whether `model` names a hub repo (`owner/name`) rather than a folder.
fn is_repo_id(model: &str) -> bool {
    let parts: Vec<&str> = model.split('/').collect();
    parts.len() == 2
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                && !p.starts_with('.')
        })
}

fn cache() -> Result<Cache> {
    let path = match std::env::var_os("HF_HUB_CACHE") {
        Some(path) => PathBuf::from(path),
        None => Cache::from_env().path().clone(),
    };
    // The cache links snapshots to blobs by relative paths, computed from absolute ones.
    let path = std::path::absolute(&path)
        .map_err(|e| Error::io(format!("cannot resolve {}", path.display()), e))?;
    Ok(Cache::new(path))
}

fn offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|v| ["1", "ON", "YES", "TRUE"].contains(&v.to_uppercase().as_str()))
}

/// What went wrong fetching `file` of `repo` at `revision`, said for a person.
fn download_error(repo: &str, revision: &str, file: &str, error: ApiError) -> Error {
    let status = match &error {
        ApiError::RequestError(e) => match e.as_ref() {
            ureq::Error::StatusCode(code) => Some(*code),
            _ => None,
        },
        ApiError::TooManyRetries(inner) => match inner.as_ref() {
            ApiError::RequestError(e) => match e.as_ref() {
                ureq::Error::StatusCode(code) => Some(*code),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    };
    let why = match status {
        Some(401 | 403) => "the hub refused access: the repo is private or gated; set HF_TOKEN to a token that may read it".into(),
        Some(404) => format!("not found: there is no such repo, revision `{revision}`, or file in it"),
        _ => error.to_string(),
    };
    Error::Input(format!("{repo}@{revision}: cannot download {file}: {why}"))
}

/// Where a repo's files come from: the cache alone when offline, else the hub through it.
enum Source {
    Cache(hf_hub::CacheRepo, PathBuf),
    Hub(Box<hf_hub::api::sync::ApiRepo>),
}

struct Hub<'a> {
    name: &'a str,
    revision: &'a str,
    source: Source,
}

impl<'a> Hub<'a> {
    fn new(name: &'a str, revision: &'a str, repo: Repo) -> Result<Self> {
        let cache = cache()?;
        let source = if offline() {
            let path = cache.path().clone();
            Source::Cache(cache.repo(repo), path)
        } else {
            let token = std::env::var("HF_TOKEN").ok().or_else(|| cache.token());
            let mut builder = ApiBuilder::from_cache(cache)
                .with_token(token)
                .with_retries(RETRIES)
                .with_progress(true);
            if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
                builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
            }
            let api = builder
                .build()
                .map_err(|e| Error::Input(format!("cannot reach the hub: {e}")))?;
            Source::Hub(Box::new(api.repo(repo)))
        };
        Ok(Self {
            name,
            revision,
            source,
        })
    }

    /// The cached file, downloaded first when it is not there yet.
    fn fetch(&self, file: &str) -> Result<PathBuf> {
        match &self.source {
            Source::Cache(cached, path) => cached.get(file).ok_or_else(|| {
                Error::Input(format!(
                    "HF_HUB_OFFLINE is set and {}@{} has no {file} in the cache {}",
                    self.name,
                    self.revision,
                    path.display()
                ))
            }),
            Source::Hub(api) => api
                .get(file)
                .map_err(|e| download_error(self.name, self.revision, file, e)),
        }
    }
}

/// The local folder of `model`: itself when it is a folder, else the cache's snapshot of the hub
/// repo it names (downloading what is missing, unless offline).
pub fn model_folder(model: &Path, revision: Option<&str>) -> Result<PathBuf> {
    let name = model.to_string_lossy();
    if model.is_dir() || !is_repo_id(&name) {
        if revision.is_some() {
            return Err(Error::Input(format!(
                "--revision is for hub repo ids; {name} is a folder"
            )));
        }
        return Ok(model.to_path_buf());
    }
    let revision = revision.unwrap_or("main");
    let repo = Repo::with_revision(name.to_string(), RepoType::Model, revision.to_string());
    let hub = Hub::new(&name, revision, repo)?;
    let fetch = |file: &str| hub.fetch(file);
    // The config first: a repo that is not a CLIPModel is refused before its weights download.
    let config = fetch(CONFIG_FILE)?;
    let json: serde_json::Value = serde_json::from_slice(&read_bounded(&config, Limit::Config)?)
        .map_err(|e| Error::Config(format!("{name}'s {CONFIG_FILE} is not JSON: {e}")))?;
    if let Some(kind) = json
        .get("model_type")
        .and_then(|t| t.as_str())
        .filter(|t| *t != "clip")
    {
        return Err(Error::Input(format!(
            "{name} is a `{kind}` model, not a CLIPModel"
        )));
    }
    fetch(TOKENIZER_FILE)?;
    fetch(WEIGHTS_FILE)?;
    Ok(config
        .parent()
        .expect("a file in a snapshot folder")
        .to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_ids_are_told_from_paths() {
        for id in [
            "openai/clip-vit-base-patch32",
            "aimagelab/safeclip_vit-l_14",
            "a/b.c",
        ] {
            assert!(is_repo_id(id), "{id}");
        }
        for path in [
            "models/x/y",
            "./a/b",
            "/a/b",
            "a",
            "a/",
            "../b",
            "a/.hidden",
            "a b/c",
        ] {
            assert!(!is_repo_id(path), "{path}");
        }
    }
}
