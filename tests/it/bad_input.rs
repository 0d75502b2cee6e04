//! Every kind of bad input gets a clear error that names the problem, never a panic.

use crate::common::{fixtures, load_fixture_model};
use burn::prelude::*;
use safer_clip::Clip;
use safer_clip::device::{Backend, device};
use safer_clip::error::Error;
use safer_clip::model::ClipConfig;
use safer_clip::tokenizer::TokenBatch;
use safer_clip::weights::{Checkpoint, load_clip};
use safetensors::{Dtype, SafeTensors, tensor::TensorView};

const FIXTURE: &str = "tiny-quickgelu";

fn config() -> ClipConfig {
    let text = std::fs::read_to_string(fixtures().join(FIXTURE).join("config.json")).unwrap();
    ClipConfig::from_json(&text).unwrap()
}

fn weights() -> Vec<u8> {
    std::fs::read(fixtures().join(FIXTURE).join("model.safetensors")).unwrap()
}

/// Rewrites the fixture checkpoint through `edit`, which gets (name, dtype, shape, bytes).
fn edited(edit: impl Fn(&mut Vec<(String, Dtype, Vec<usize>, Vec<u8>)>)) -> Vec<u8> {
    let bytes = weights();
    let parsed = SafeTensors::deserialize(&bytes).unwrap();
    let mut tensors: Vec<_> = parsed
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            (
                name,
                view.dtype(),
                view.shape().to_vec(),
                view.data().to_vec(),
            )
        })
        .collect();
    edit(&mut tensors);
    let views: Vec<(String, TensorView)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), data).unwrap(),
            )
        })
        .collect();
    safetensors::serialize(views, None).unwrap()
}

fn load(bytes: &[u8]) -> Result<(), Error> {
    let device = device(Backend::Flex)?;
    let checkpoint = Checkpoint::parse(bytes, &device)?;
    load_clip(&config(), &checkpoint).map(|_| ())
}

fn message(result: Result<(), Error>) -> String {
    result.expect_err("bad input must be rejected").to_string()
}

const KEY: &str = "text_model.encoder.layers.1.mlp.fc1.weight";

#[test]
fn missing_tensor_is_named() {
    let bytes = edited(|t| t.retain(|(name, ..)| name != KEY));
    let msg = message(load(&bytes));
    assert!(msg.contains(KEY) && msg.contains("missing"), "{msg}");
}

#[test]
fn extra_tensor_is_named() {
    let bytes = edited(|t| {
        t.push((
            "text_model.extra.weight".into(),
            Dtype::F32,
            vec![1],
            vec![0; 4],
        ))
    });
    let msg = message(load(&bytes));
    assert!(
        msg.contains("text_model.extra.weight") && msg.contains("unexpected"),
        "{msg}"
    );
}

#[test]
fn position_ids_buffer_is_accepted() {
    let bytes = edited(|t| {
        t.push((
            "text_model.embeddings.position_ids".into(),
            Dtype::I64,
            vec![1, 16],
            vec![0; 128],
        ))
    });
    load(&bytes).unwrap();
}

#[test]
fn wrong_shape_names_key_and_both_shapes() {
    let bytes = edited(|t| {
        let entry = t.iter_mut().find(|(name, ..)| name == KEY).unwrap();
        entry.2 = vec![32, 64];
    });
    let msg = message(load(&bytes));
    assert!(
        msg.contains(KEY) && msg.contains("[64, 32]") && msg.contains("[32, 64]"),
        "{msg}"
    );
}

#[test]
fn integer_weights_are_rejected() {
    let bytes = edited(|t| {
        let entry = t.iter_mut().find(|(name, ..)| name == KEY).unwrap();
        entry.1 = Dtype::I32;
    });
    let msg = message(load(&bytes));
    assert!(msg.contains(KEY) && msg.contains("I32"), "{msg}");
}

#[test]
fn non_finite_weights_are_rejected() {
    let bytes = edited(|t| {
        let entry = t.iter_mut().find(|(name, ..)| name == KEY).unwrap();
        entry.3[..4].copy_from_slice(&f32::NAN.to_le_bytes());
    });
    let msg = message(load(&bytes));
    assert!(msg.contains(KEY) && msg.contains("non-finite"), "{msg}");
}

#[test]
fn truncated_file_is_reported() {
    let bytes = weights();
    for cut in [0, 7, 100, bytes.len() / 2, bytes.len() - 1] {
        let msg = message(load(&bytes[..cut]));
        assert!(
            msg.contains("not a valid safetensors file"),
            "cut at {cut}: {msg}"
        );
    }
}

#[test]
fn random_bytes_are_reported() {
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let msg = message(load(&garbage));
    assert!(msg.contains("not a valid safetensors file"), "{msg}");
}

#[test]
fn config_that_disagrees_with_weights_names_the_first_missing_layer() {
    let mut config = config();
    config.text_config.num_hidden_layers = 3;
    let device = device(Backend::Flex).unwrap();
    let bytes = weights();
    let checkpoint = Checkpoint::parse(&bytes, &device).unwrap();
    let msg = load_clip(&config, &checkpoint)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("text_model.encoder.layers.2"), "{msg}");
}

#[test]
fn malformed_config_is_reported() {
    for json in [
        "",
        "{",
        "[1, 2]",
        r#"{"projection_dim": -1}"#,
        r#"{"vision_config": {"patch_size": 0}}"#,
    ] {
        let err = ClipConfig::from_json(json).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{json}: {err}");
    }
}

#[test]
fn missing_model_folder_names_the_file() {
    let device = device(Backend::Flex).unwrap();
    let msg = Clip::from_dir(std::path::Path::new("/nonexistent/model"), &device)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("/nonexistent/model/config.json"), "{msg}");
}

#[test]
fn bad_model_inputs_are_rejected() {
    let device = device(Backend::Flex).unwrap();
    let model = load_fixture_model(FIXTURE, &device);
    let cases = [
        (
            TokenBatch::from_sequences(&[vec![1, 600, 2]], 0),
            "outside the vocabulary",
        ),
        (
            TokenBatch::from_sequences(&[vec![1; 17]], 0),
            "exceed the model's 16 positions",
        ),
        (TokenBatch::from_sequences(&[], 0), "no text"),
    ];
    for (tokens, expected) in cases {
        let msg = model
            .embed_text(&tokens)
            .map(|_| ())
            .unwrap_err()
            .to_string();
        assert!(msg.contains(expected), "{msg}");
    }
    let wrong = Tensor::<4>::zeros([1, 3, 16, 32], &device);
    let msg = model
        .embed_images(wrong)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("[1, 3, 16, 32]") && msg.contains("[batch, 3, 32, 32]"),
        "{msg}"
    );
}
