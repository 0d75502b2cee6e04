//! The user's files, natively: read with a size bound (a pipe or `/dev/zero` cannot exhaust
//! memory), written so that a killed process leaves either the old file or the new one, never
//! half of one.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const MIB: u64 = 1 << 20;

/// The largest file of each kind read whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `config.json`, adapter configs, reports.
    Config,
    /// `tokenizer.json`.
    Tokenizer,
    /// Pair files, caption pools, prompt files.
    Text,
    /// JPEG, PNG or WebP files.
    Image,
    /// `model.safetensors`, adapters, checkpoints.
    Weights,
}

impl Limit {
    pub fn bytes(self) -> u64 {
        match self {
            Self::Config => 16 * MIB,
            Self::Tokenizer => 64 * MIB,
            Self::Text => 512 * MIB,
            Self::Image => 256 * MIB,
            Self::Weights => 32 * 1024 * MIB,
        }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Config => "a config file",
            Self::Tokenizer => "a tokenizer file",
            Self::Text => "a text file",
            Self::Image => "an image file",
            Self::Weights => "a weights file",
        }
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1024 * MIB {
        format!("{} GiB", bytes / (1024 * MIB))
    } else {
        format!("{} MiB", bytes / MIB)
    }
}

fn too_large(path: &Path, limit: Limit) -> Error {
    Error::Input(format!(
        "{} is larger than {}, the most {} may be",
        path.display(),
        size(limit.bytes()),
        limit.what()
    ))
}

/// Reads a whole file of at most `limit` bytes: a regular file's size is checked before anything
/// is allocated; anything else (a pipe, a device) is read until the limit and refused beyond it.
pub fn read_bounded(path: &Path, limit: Limit) -> Result<Vec<u8>> {
    let cannot = |e| Error::io(format!("cannot read {}", path.display()), e);
    let file = File::open(path).map_err(cannot)?;
    let metadata = file.metadata().map_err(cannot)?;
    if metadata.is_dir() {
        return Err(Error::Input(format!(
            "{} is a folder, not a file",
            path.display()
        )));
    }
    if metadata.is_file() && metadata.len() > limit.bytes() {
        return Err(too_large(path, limit));
    }
    let mut bytes = Vec::with_capacity(if metadata.is_file() {
        metadata.len() as usize
    } else {
        0
    });
    file.take(limit.bytes() + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > limit.bytes() {
        return Err(too_large(path, limit));
    }
    Ok(bytes)
}

/// Like [`read_bounded`], as UTF-8 text (a leading byte-order mark is kept for the parser).
pub fn read_text(path: &Path, limit: Limit) -> Result<String> {
    String::from_utf8(read_bounded(path, limit)?).map_err(|e| {
        Error::Input(format!(
            "{} is not UTF-8 text (byte {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}

/// A name beside `path` that no other process of ours uses.
fn scratch_path(path: &Path, what: &str) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{what}-{}", std::process::id()))
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Directories cannot be opened for syncing on every platform; where they can, this makes the
    // rename itself durable.
    if let Ok(handle) = File::open(dir) {
        handle
            .sync_all()
            .map_err(|e| Error::io(format!("cannot sync {}", dir.display()), e))?;
    }
    Ok(())
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Whether process `pid` is running, where the system can tell (Linux's `/proc`).
fn process_runs(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// Removes the scratch files that writers of `path` killed mid-write left beside it, so that
/// killed runs do not pile them up. A writer that may still be running keeps its file.
fn remove_abandoned_scratch(path: &Path) {
    let (Some(name), Ok(entries)) = (path.file_name(), fs::read_dir(parent(path))) else {
        return;
    };
    let prefix = format!(".{}.partial-", name.to_string_lossy());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let pid = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok());
        if pid.is_some_and(|pid| process_runs(pid) == Some(false)) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder that is flushed, synced
/// and renamed over the old one: a reader, or a process killed at any moment, sees the old file
/// whole or the new one whole.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    remove_abandoned_scratch(path);
    let scratch = scratch_path(path, "partial");
    let written = (|| {
        let mut file = File::create(&scratch)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&scratch, path)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&scratch);
        return Err(Error::io(format!("cannot write {}", path.display()), e));
    }
    sync_dir(parent(path))
}

/// Builds a folder at `target` as one step: `fill` writes into a scratch folder beside it, which
/// is then renamed into place, so no half-written folder is ever at `target`. An existing `target`
/// is replaced only with `force` (and removed only once the new folder is in place).
pub fn write_folder(
    target: &Path,
    force: bool,
    fill: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    if target.exists() && !force {
        return Err(Error::Input(format!(
            "{} already exists; choose another folder, or pass --force to replace it",
            target.display()
        )));
    }
    let scratch = scratch_path(target, "partial");
    let _ = fs::remove_dir_all(&scratch);
    let io = |context: String| move |e| Error::io(context, e);
    fs::create_dir_all(&scratch).map_err(io(format!("cannot create {}", scratch.display())))?;
    let built = fill(&scratch).and_then(|()| {
        for entry in
            fs::read_dir(&scratch).map_err(io(format!("cannot list {}", scratch.display())))?
        {
            let path = entry
                .map_err(io(format!("cannot list {}", scratch.display())))?
                .path();
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(io(format!("cannot sync {}", path.display())))?;
        }
        sync_dir(&scratch)
    });
    if let Err(e) = built {
        let _ = fs::remove_dir_all(&scratch);
        return Err(e);
    }
    let old = scratch_path(target, "replaced");
    let had_old = target.exists();
    if had_old {
        fs::rename(target, &old).map_err(io(format!("cannot move {} aside", target.display())))?;
    }
    if let Err(e) = fs::rename(&scratch, target) {
        if had_old {
            let _ = fs::rename(&old, target);
        }
        let _ = fs::remove_dir_all(&scratch);
        return Err(Error::io(
            format!("cannot move the new folder to {}", target.display()),
            e,
        ));
    }
    sync_dir(parent(target))?;
    if had_old {
        fs::remove_dir_all(&old)
            .map_err(io(format!("cannot remove the replaced {}", old.display())))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_dir(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("safer-clip-files-{test}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn reads_stop_at_the_limit_even_without_a_size() {
        let error = read_bounded(Path::new("/dev/zero"), Limit::Config)
            .unwrap_err()
            .to_string();
        assert!(error.contains("/dev/zero is larger than 16 MiB"), "{error}");
    }

    #[test]
    fn an_atomic_write_replaces_the_file_and_leaves_no_scratch() {
        let dir = scratch_dir("atomic");
        let path = dir.join("adapter.safetensors");
        write_atomic(&path, b"old").unwrap();
        write_atomic(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_atomic_write_removes_what_a_killed_writer_left_but_not_a_running_one() {
        let dir = scratch_dir("abandoned");
        let path = dir.join("checkpoint.safetensors");
        // No process has an id this large (Linux's pid_max is at most 2^22); process 1 runs.
        let abandoned = dir.join(".checkpoint.safetensors.partial-999999999");
        let running = dir.join(".checkpoint.safetensors.partial-1");
        let other = dir.join(".adapter.safetensors.partial-999999999");
        for scratch in [&abandoned, &running, &other] {
            fs::write(scratch, b"half").unwrap();
        }
        write_atomic(&path, b"new").unwrap();
        assert!(
            !abandoned.exists(),
            "a dead writer's scratch file is removed"
        );
        assert!(running.exists(), "a running writer's scratch file is kept");
        assert!(
            other.exists(),
            "another file's scratch is not this write's business"
        );
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_folder_is_replaced_only_when_forced_and_a_failed_fill_leaves_the_old_one() {
        let dir = scratch_dir("folder");
        let target = dir.join("model");
        write_folder(&target, false, |d| write_atomic(&d.join("a"), b"1")).unwrap();
        let refused = write_folder(&target, false, |_| Ok(()))
            .unwrap_err()
            .to_string();
        assert!(refused.contains("--force"), "{refused}");
        let failed = write_folder(&target, true, |d| {
            write_atomic(&d.join("b"), b"2")?;
            Err(Error::Input("stopped".into()))
        });
        assert!(failed.is_err());
        assert_eq!(fs::read(target.join("a")).unwrap(), b"1");
        write_folder(&target, true, |d| write_atomic(&d.join("b"), b"2")).unwrap();
        assert!(!target.join("a").exists() && target.join("b").exists());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no scratch folder is left beside it"
        );
        fs::remove_dir_all(dir).unwrap();
    }
}
