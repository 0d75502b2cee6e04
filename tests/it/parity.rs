//! The Burn model against `transformers`' CLIPModel on the same random weights and inputs
//! (fixtures from `scripts/make_fixtures.py`), on every backend.

use crate::common::{backends, fixtures, load_fixture_model, matrix, max_abs_diff};
use burn::prelude::*;
use burn::tensor::Distribution;
use safer_clip::tokenizer::TokenBatch;
use serde::Deserialize;

const TOLERANCE: f32 = 1e-4;

#[derive(Deserialize)]
struct Reference {
    input_ids: Vec<Vec<u32>>,
    pixel_values: Vec<f32>,
    pixel_shape: [usize; 4],
    text_embeds: Vec<Vec<f32>>,
    image_embeds: Vec<Vec<f32>>,
    logits_per_text: Vec<Vec<f32>>,
}

fn check(name: &str) {
    let text = std::fs::read_to_string(fixtures().join(name).join("reference.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    for (backend, device) in backends() {
        let model = load_fixture_model(name, &device);
        let tokens = TokenBatch::from_sequences(&reference.input_ids, 0);
        let pixels = Tensor::<4>::from_data(
            TensorData::new(reference.pixel_values.clone(), reference.pixel_shape),
            &device,
        );
        let out = model.forward(&tokens, pixels).unwrap();
        for (what, ours, theirs) in [
            (
                "text_embeds",
                matrix(out.text_embeds),
                &reference.text_embeds,
            ),
            (
                "image_embeds",
                matrix(out.image_embeds),
                &reference.image_embeds,
            ),
            (
                "logits_per_text",
                matrix(out.logits_per_text),
                &reference.logits_per_text,
            ),
        ] {
            let err = max_abs_diff(&ours, theirs);
            println!("{name} {backend} {what}: max abs error {err:.2e}");
            assert!(
                err <= TOLERANCE,
                "{name} on {backend}: {what} differs by {err}"
            );
        }
    }
}

#[test]
fn openai_layout_matches_transformers() {
    check("tiny-quickgelu");
}

#[test]
fn fp16_gelu_checkpoint_matches_transformers() {
    check("tiny-gelu-fp16");
}

#[test]
fn padding_length_does_not_change_text_embeddings() {
    let text = std::fs::read_to_string(fixtures().join("tiny-quickgelu/reference.json")).unwrap();
    let reference: Reference = serde_json::from_str(&text).unwrap();
    let (_, device) = backends().remove(0);
    let model = load_fixture_model("tiny-quickgelu", &device);
    // The shortest sequence alone, without the padding the batch gave it.
    let alone: Vec<u32> = reference.input_ids[0].iter().copied().take(5).collect();
    let single = matrix(
        model
            .embed_text(&TokenBatch::from_sequences(&[alone], 0))
            .unwrap(),
    );
    let err = max_abs_diff(&single, &reference.text_embeds[..1]);
    assert!(err <= TOLERANCE, "padding changed the embedding by {err}");
}

/// The last layer run for the pooled rows alone gives those rows of the full last layer, with the
/// text tower's causal attention and the vision tower's full attention.
#[test]
fn the_last_layer_for_pooled_rows_equals_the_full_layer_at_those_rows() {
    for (backend, device) in backends() {
        let model = load_fixture_model("tiny-quickgelu", &device);
        for (encoder, causal) in [
            (&model.text_model.encoder, true),
            (&model.vision_model.encoder, false),
        ] {
            let width = encoder.layers[0].layer_norm1.gamma.dims()[0];
            let x = Tensor::<3>::random([3, 7, width], Distribution::Normal(0.0, 1.0), &device);
            let rows = [6, 0, 3];
            let full = encoder
                .layers
                .iter()
                .fold(x.clone(), |x, layer| layer.forward(x, causal));
            let expected: Vec<Vec<f32>> = rows
                .iter()
                .enumerate()
                .map(|(b, &row)| {
                    let picked = full.clone().slice([b..b + 1, row..row + 1]);
                    picked
                        .reshape([width])
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap()
                })
                .collect();
            let ours = matrix(encoder.forward_rows(x, &rows, causal));
            let err = max_abs_diff(&ours, &expected);
            assert!(
                err <= 1e-5,
                "{backend}, causal {causal}: pooled rows differ from the full layer by {err}"
            );
        }
    }
}

/// The warm-up's one-patch image runs the whole vision tower on two tokens: a unit-length
/// embedding, the same on every backend (the GPU's fused kernels on the shortest sequence).
#[test]
fn one_blank_patch_embeds_alike_on_every_backend() {
    let embeddings: Vec<(String, Vec<Vec<f32>>)> = backends()
        .into_iter()
        .map(|(backend, device)| {
            let model = load_fixture_model("tiny-quickgelu", &device);
            (backend.to_string(), matrix(model.embed_one_patch()))
        })
        .collect();
    let (first, reference) = &embeddings[0];
    let norm = reference[0].iter().map(|v| v * v).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{first}: norm {norm}");
    for (backend, ours) in &embeddings[1..] {
        let err = max_abs_diff(ours, reference);
        assert!(err <= 1e-5, "{backend} differs from {first} by {err}");
    }
}
