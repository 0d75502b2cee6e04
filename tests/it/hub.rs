//! `--model owner/name`: downloads through the Hugging Face cache, against a local imitation of
//! the hub's `resolve` endpoint on 127.0.0.1 (ETag, X-Repo-Commit, Range requests, a 401 for a
//! private repo without its token, a 404 for what is missing, a connection dropped mid-file).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::common::temp_dir;
use crate::reliability::word_model;

const COMMIT: &str = "1f2e3d4c5b6a79880123456789abcdef01234567";
const TOKEN: &str = "hf_secret";

/// `(path, Range header)` of every request the imitation hub answered.
type Requests = Mutex<Vec<(String, Option<String>)>>;

/// What the imitation hub serves and what it was asked.
struct Hub {
    port: u16,
    /// `(path, range)` of every request.
    requests: Arc<Requests>,
}

fn etag(bytes: &[u8]) -> String {
    // Any stable string will do; the hub's is the file's sha256 for large files.
    format!(
        "{:016x}{:016x}",
        bytes.len(),
        bytes
            .iter()
            .fold(0u64, |h, &b| h.wrapping_mul(31).wrapping_add(b as u64))
    )
}

fn respond(
    mut stream: TcpStream,
    files: &HashMap<String, Vec<u8>>,
    requests: &Requests,
    dropped: &Mutex<bool>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    requests.lock().unwrap().push((path.clone(), range.clone()));
    let authorised = headers
        .get("authorization")
        .is_some_and(|a| a == &format!("Bearer {TOKEN}"));
    let status = |stream: &mut TcpStream, code: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {code}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    if path.starts_with("/test/private/") && !authorised {
        return status(&mut stream, "401 Unauthorized");
    }
    let Some(body) = files.get(&path) else {
        return status(&mut stream, "404 Not Found");
    };
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let end = match range.as_deref() {
        Some("bytes=0-0") => 0,
        _ => body.len() - 1,
    };
    let part = &body[start..=end];
    let _ = write!(
        stream,
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{}\r\nETag: \"{}\"\r\nX-Repo-Commit: {COMMIT}\r\nConnection: close\r\n\r\n",
        part.len(),
        body.len(),
        etag(body)
    );
    // The first full download of the weights stops halfway, as a dropped connection does.
    let mut dropped = dropped.lock().unwrap();
    if path.ends_with("model.safetensors") && end > 0 && start == 0 && !*dropped {
        *dropped = true;
        let _ = stream.write_all(&part[..part.len() / 2]);
        return;
    }
    let _ = stream.write_all(part);
}

fn serve(model: &Path) -> Hub {
    let mut files = HashMap::new();
    let read = |name: &str| std::fs::read(model.join(name)).unwrap();
    for repo in [
        "test/tiny-clip",
        "test/private",
        "test/no-tokenizer",
        "test/bert",
    ] {
        for name in ["config.json", "model.safetensors", "tokenizer.json"] {
            if repo == "test/no-tokenizer" && name == "tokenizer.json" {
                continue;
            }
            let bytes = match (repo, name) {
                ("test/bert", "config.json") => br#"{"model_type": "bert"}"#.to_vec(),
                _ => read(name),
            };
            files.insert(format!("/{repo}/resolve/main/{name}"), bytes);
        }
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let dropped = Mutex::new(false);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            respond(stream, &files, &log, &dropped);
        }
    });
    Hub { port, requests }
}

fn run(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_safer-clip"));
    command.args(args);
    for var in [
        "HF_ENDPOINT",
        "HF_HOME",
        "HF_HUB_CACHE",
        "HF_TOKEN",
        "HF_HUB_OFFLINE",
    ] {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    command.output().unwrap()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_repo_id_downloads_once_into_the_hub_cache_resuming_a_dropped_file() {
    let model = word_model("hub-model");
    let hub = serve(&model);
    let home = temp_dir("hub-home");
    let endpoint = format!("http://127.0.0.1:{}", hub.port);
    let env = [
        ("HF_ENDPOINT", endpoint.as_str()),
        ("HF_HOME", home.to_str().unwrap()),
    ];
    let encode = |repo: &str, env: &[(&str, &str)]| {
        run(
            &["encode", "--model", repo, "--text", "a dog", "--json"],
            env,
        )
    };

    let fresh = encode("test/tiny-clip", &env);
    assert!(fresh.status.success(), "{}", stderr(&fresh));
    let snapshot = home.join(format!("hub/models--test--tiny-clip/snapshots/{COMMIT}"));
    assert_eq!(
        std::fs::read(snapshot.join("model.safetensors")).unwrap(),
        std::fs::read(model.join("model.safetensors")).unwrap()
    );
    assert_eq!(
        std::fs::read_to_string(home.join("hub/models--test--tiny-clip/refs/main")).unwrap(),
        COMMIT
    );
    let weights = std::fs::metadata(model.join("model.safetensors"))
        .unwrap()
        .len();
    let resumed = hub.requests.lock().unwrap().iter().any(|(path, range)| {
        path.ends_with("model.safetensors")
            && range.as_deref() == Some(&format!("bytes={}-", weights / 2))
    });
    assert!(
        resumed,
        "the dropped download resumed from its half: {:?}",
        hub.requests.lock().unwrap()
    );

    let asked = hub.requests.lock().unwrap().len();
    let cached = encode("test/tiny-clip", &env);
    assert!(cached.status.success(), "{}", stderr(&cached));
    assert_eq!(
        hub.requests.lock().unwrap().len(),
        asked,
        "a cached model asks the hub nothing"
    );
    assert_eq!(cached.stdout, fresh.stdout);
    let offline = encode(
        "test/tiny-clip",
        &[("HF_HOME", home.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")],
    );
    assert!(offline.status.success(), "{}", stderr(&offline));
    let elsewhere = temp_dir("hub-cache");
    let by_cache_var = encode(
        "test/tiny-clip",
        &[
            ("HF_ENDPOINT", endpoint.as_str()),
            ("HF_HUB_CACHE", elsewhere.to_str().unwrap()),
        ],
    );
    assert!(by_cache_var.status.success(), "{}", stderr(&by_cache_var));
    assert!(
        elsewhere.join("models--test--tiny-clip").is_dir(),
        "HF_HUB_CACHE is where the cache lives"
    );
}

#[test]
fn what_the_hub_cannot_give_is_named() {
    let model = word_model("hub-errors");
    let hub = serve(&model);
    let home = temp_dir("hub-errors-home");
    let endpoint = format!("http://127.0.0.1:{}", hub.port);
    let env = [
        ("HF_ENDPOINT", endpoint.as_str()),
        ("HF_HOME", home.to_str().unwrap()),
    ];
    let refused = |args: &[&str], env: &[(&str, &str)]| {
        let output = run(args, env);
        assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
        stderr(&output)
    };
    let encode = ["encode", "--text", "a", "--model"];
    let message = refused(&[&encode[..], &["test/no-tokenizer"]].concat(), &env);
    assert!(
        message.contains("test/no-tokenizer@main: cannot download tokenizer.json: not found"),
        "{message}"
    );
    let message = refused(
        &[&encode[..], &["test/tiny-clip", "--revision", "v9"]].concat(),
        &env,
    );
    assert!(
        message.contains("test/tiny-clip@v9") && message.contains("revision `v9`"),
        "{message}"
    );
    let message = refused(&[&encode[..], &["test/bert"]].concat(), &env);
    assert!(
        message.contains("test/bert is a `bert` model, not a CLIPModel"),
        "{message}"
    );
    let message = refused(&[&encode[..], &["test/private"]].concat(), &env);
    assert!(
        message.contains("test/private@main") && message.contains("HF_TOKEN"),
        "{message}"
    );
    let with_token = run(
        &[&encode[..], &["test/private"]].concat(),
        &[env[0], env[1], ("HF_TOKEN", TOKEN)],
    );
    assert!(with_token.status.success(), "{}", stderr(&with_token));
    let message = refused(
        &[&encode[..], &["test/uncached"]].concat(),
        &[("HF_HOME", home.to_str().unwrap()), ("HF_HUB_OFFLINE", "1")],
    );
    assert!(
        message.contains(
            "HF_HUB_OFFLINE is set and test/uncached@main has no config.json in the cache"
        ),
        "{message}"
    );
}
