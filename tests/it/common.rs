//! Helpers shared by the integration tests: fixture paths, backends, and comparisons.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use burn::prelude::*;
use safer_clip::device::{Backend, device};
use safer_clip::model::{ClipConfig, ClipModel};
use safer_clip::weights::{Checkpoint, load_clip};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// `../shared` beside the repository. The tests that need it are `#[ignore = "needs ../shared"]`;
/// `tests/run.sh` includes them when it is there, so a run without it reports them as ignored.
pub fn shared(what: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(
        dir.is_dir(),
        "{what} needs ../shared (the CLIP tokenizer and golden data) beside the repository"
    );
    dir
}

/// Every backend the parity tests run on. wgpu needs a GPU or lavapipe (`mesa-vulkan-drivers`).
pub fn backends() -> Vec<(Backend, Device)> {
    [Backend::Flex, Backend::Wgpu]
        .into_iter()
        .map(|backend| {
            let device = device(backend).unwrap_or_else(|e| panic!("{backend}: {e}"));
            (backend, device)
        })
        .collect()
}

pub fn load_fixture_model(name: &str, device: &Device) -> ClipModel {
    let dir = fixtures().join(name);
    let config = std::fs::read_to_string(dir.join("config.json")).unwrap();
    let config = ClipConfig::from_json(&config).unwrap();
    let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
    let checkpoint = Checkpoint::parse(&bytes, device).unwrap();
    load_clip(&config, &checkpoint).unwrap()
}

pub fn matrix(tensor: Tensor<2>) -> Vec<Vec<f32>> {
    safer_clip::pipeline::to_rows(tensor).unwrap()
}

pub fn max_abs_diff(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len(), "row counts differ");
    a.iter()
        .zip(b)
        .flat_map(|(x, y)| {
            assert_eq!(x.len(), y.len(), "column counts differ");
            x.iter().zip(y).map(|(p, q)| (p - q).abs())
        })
        .fold(0.0, f32::max)
}

/// The token ids and pixels a fixture's `reference.json` was computed on.
pub fn reference_inputs(
    name: &str,
    device: &Device,
) -> (safer_clip::tokenizer::TokenBatch, Tensor<4>) {
    #[derive(serde::Deserialize)]
    struct Inputs {
        input_ids: Vec<Vec<u32>>,
        pixel_values: Vec<f32>,
        pixel_shape: [usize; 4],
    }
    let text = std::fs::read_to_string(fixtures().join(name).join("reference.json")).unwrap();
    let inputs: Inputs = serde_json::from_str(&text).unwrap();
    let tokens = safer_clip::tokenizer::TokenBatch::from_sequences(&inputs.input_ids, 0);
    let pixels = Tensor::from_data(
        TensorData::new(inputs.pixel_values, inputs.pixel_shape),
        device,
    );
    (tokens, pixels)
}

/// A temporary folder, removed with everything in it when dropped (also when a test fails).
pub struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh temporary folder for `test`, removed when dropped.
pub fn temp_dir(test: &str) -> TempDir {
    let dir =
        TempDir(std::env::temp_dir().join(format!("safer-clip-{test}-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&*dir);
    std::fs::create_dir_all(&*dir).unwrap();
    dir
}

/// A model folder as on the hub: the `tiny-fullvocab` fixture's weights and config with the real
/// CLIP tokenizer from `../shared`, in a fresh temporary folder.
pub fn hub_model_dir(test: &str) -> TempDir {
    let shared = shared(test);
    let dir = temp_dir(test);
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixtures().join("tiny-fullvocab").join(file), dir.join(file)).unwrap();
    }
    std::fs::copy(
        shared.join("assets/clip-vit-base-patch32/tokenizer.json"),
        dir.join("tokenizer.json"),
    )
    .unwrap();
    dir
}
