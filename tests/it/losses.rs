//! Safe-CLIP and SafeR-CLIP losses against the PyTorch reference (`scripts/reference_losses.py`):
//! every term's value and gradients, and each method's weighted total, with and without images.

use std::collections::HashMap;

use crate::common::{backends, fixtures};
use burn::prelude::*;
use safer_clip::safety::losses::{
    ImageEmbeddings, SAFECLIP_LOGIT_SCALE, StepEmbeddings, Term, safeclip_terms, safer_terms, total,
};
use serde::Deserialize;

type Matrix = Vec<Vec<f64>>;

#[derive(Deserialize)]
struct Fixture {
    trainable_inputs: Vec<String>,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    name: String,
    inputs: HashMap<String, Matrix>,
    losses: HashMap<String, Expected>,
    totals: HashMap<String, Expected>,
}

#[derive(Deserialize)]
struct Expected {
    value: f64,
    #[serde(default)]
    grads: HashMap<String, Matrix>,
}

fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= 2e-5 + 1e-3 * theirs.abs()
}

fn tensor(rows: &Matrix, device: &Device, trainable: bool) -> Tensor<2> {
    let flat: Vec<f32> = rows.iter().flatten().map(|&v| v as f32).collect();
    let t = Tensor::from_data(TensorData::new(flat, [rows.len(), rows[0].len()]), device);
    if trainable { t.require_grad() } else { t }
}

fn embeddings(inputs: &HashMap<String, Tensor<2>>, with_images: bool) -> StepEmbeddings {
    let get = |name: &str| inputs[name].clone();
    StepEmbeddings {
        tuned_text_safe: get("tuned_text_safe"),
        tuned_text_unsafe: get("tuned_text_unsafe"),
        frozen_text_safe: get("frozen_text_safe"),
        frozen_text_unsafe: get("frozen_text_unsafe"),
        frozen_text_target: get("frozen_text_target"),
        images: with_images.then(|| ImageEmbeddings {
            tuned_image_safe: get("tuned_image_safe"),
            tuned_image_unsafe: get("tuned_image_unsafe"),
            frozen_image_safe: get("frozen_image_safe"),
            frozen_image_unsafe: get("frozen_image_unsafe"),
            frozen_image_target: get("frozen_image_target"),
        }),
    }
}

fn scalar(t: Tensor<1>) -> f64 {
    t.into_data().convert::<f32>().try_to_vec::<f32>().unwrap()[0] as f64
}

/// Checks a value and, through backward, the gradient of every trainable input.
fn check(
    what: &str,
    value: Tensor<1>,
    expected: &Expected,
    inputs: &HashMap<String, Tensor<2>>,
    trainable: &[String],
) {
    let grads = value.backward();
    let ours = scalar(value);
    assert!(
        close(ours, expected.value),
        "{what}: value {ours} vs {}",
        expected.value
    );
    for name in trainable {
        let grad = inputs[name].grad(&grads);
        let theirs = expected.grads.get(name);
        match (grad, theirs) {
            (Some(grad), Some(theirs)) => {
                let ours: Vec<f32> = grad.into_data().try_to_vec::<f32>().unwrap();
                for (i, (o, t)) in ours.iter().zip(theirs.iter().flatten()).enumerate() {
                    assert!(close(*o as f64, *t), "{what}: d/d{name}[{i}] {o} vs {t}");
                }
            }
            (None, None) => {}
            (Some(grad), None) => {
                let max = grad.abs().max().into_data().try_to_vec::<f32>().unwrap()[0];
                assert!(max == 0.0, "{what}: d/d{name} should be zero, max {max}");
            }
            (None, Some(_)) => panic!("{what}: no gradient reached {name}"),
        }
    }
}

/// A method's terms of one step's embeddings.
type TermsOf = fn(&StepEmbeddings) -> Vec<Term>;

#[test]
fn losses_and_gradients_match_pytorch() {
    let text = std::fs::read_to_string(fixtures().join("losses.json")).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    for (backend, device) in backends() {
        let device = device.autodiff();
        for case in &fixture.cases {
            let method_sets: [(&str, bool, TermsOf); 4] = [
                ("safeclip", true, |e| {
                    safeclip_terms(e, SAFECLIP_LOGIT_SCALE)
                }),
                ("safeclip_text", false, |e| {
                    safeclip_terms(e, SAFECLIP_LOGIT_SCALE)
                }),
                ("safer", true, safer_terms),
                ("safer_text", false, safer_terms),
            ];
            for (method, with_images, terms_of) in method_sets {
                let fresh = || -> HashMap<String, Tensor<2>> {
                    case.inputs
                        .iter()
                        .map(|(name, rows)| {
                            let trainable = fixture.trainable_inputs.contains(name);
                            (name.clone(), tensor(rows, &device, trainable))
                        })
                        .collect()
                };
                let inputs = fresh();
                let terms = terms_of(&embeddings(&inputs, with_images));
                for term in &terms {
                    let inputs = fresh();
                    let value = terms_of(&embeddings(&inputs, with_images))
                        .into_iter()
                        .find(|t| t.name == term.name)
                        .unwrap()
                        .value;
                    let what = format!("{backend} {} {}", case.name, term.name);
                    check(
                        &what,
                        value,
                        &case.losses[term.name],
                        &inputs,
                        &fixture.trainable_inputs,
                    );
                }
                let what = format!("{backend} {} {method} total", case.name);
                check(
                    &what,
                    total(&terms),
                    &case.totals[method],
                    &inputs,
                    &fixture.trainable_inputs,
                );
            }
        }
    }
}
