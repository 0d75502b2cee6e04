//! Computing in f16 on a GPU that offers it: ViT-B/32's embeddings stay within 5e-3 of f32's
//! (cosine ≥ 0.999), adapters join a model at its precision, and a device without f16 is refused
//! by name.

use crate::common::{load_fixture_model, matrix, reference_inputs};
use crate::lora::trained_adapters;
use burn::prelude::*;
use burn::tensor::{DType, Distribution, FloatDType};
use safer_clip::device::{Backend, Precision, block_on, device};
use safer_clip::lora::{LoraConfig, LoraTarget};
use safer_clip::model::{ClipConfig, ClipModel};
use safer_clip::tokenizer::TokenBatch;
use safer_clip::weights::{load_adapters, random_clip, save_adapters};

/// The GPU, which must offer f16: Mesa's lavapipe (what CI runs on) and current GPUs do.
fn gpu_with_f16() -> Device {
    let gpu = device(Backend::Wgpu).unwrap();
    assert!(
        gpu.supports_dtype(DType::F16),
        "this GPU adapter lacks shader-f16; the f16 tests need one (Mesa's lavapipe has it)"
    );
    gpu
}

/// The largest difference and the least cosine between the rows of two embedding matrices.
fn drift(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32) {
    assert_eq!(a.len(), b.len());
    let mut max_abs = 0f32;
    let mut min_cos = 1f32;
    for (x, y) in a.iter().zip(b) {
        let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        let norm = |v: &[f32]| v.iter().map(|p| p * p).sum::<f32>().sqrt();
        min_cos = min_cos.min(dot / (norm(x) * norm(y)));
        for (p, q) in x.iter().zip(y) {
            max_abs = max_abs.max((p - q).abs());
        }
    }
    (max_abs, min_cos)
}

fn embeddings(model: &ClipModel, tokens: &TokenBatch, pixels: Tensor<4>) -> [Vec<Vec<f32>>; 2] {
    let out = model.forward(tokens, pixels).unwrap();
    [matrix(out.text_embeds), matrix(out.image_embeds)]
}

#[test]
fn f16_needs_a_gpu_that_offers_it() {
    let cpu = device(Backend::Flex).unwrap();
    let refused = Precision::F16
        .float_dtype(Backend::Flex, &cpu)
        .unwrap_err()
        .to_string();
    assert!(refused.contains("--backend wgpu"), "{refused}");
    assert_eq!(Precision::best(Backend::Flex, &cpu), Precision::F32);
    assert_eq!(
        Precision::F32.float_dtype(Backend::Flex, &cpu).unwrap(),
        FloatDType::F32
    );
    let gpu = gpu_with_f16();
    assert_eq!(Precision::best(Backend::Wgpu, &gpu), Precision::F16);
    assert_eq!(
        Precision::F16.float_dtype(Backend::Wgpu, &gpu).unwrap(),
        FloatDType::F16
    );
    assert!("f64".parse::<Precision>().is_err());
}

#[test]
fn f16_embeddings_of_vit_b_32_stay_near_f32s() {
    let gpu = gpu_with_f16();
    let full = random_clip(&ClipConfig::vit_base_patch32(), 3, &gpu).unwrap();
    let half = full.clone().with_float_dtype(FloatDType::F16);
    assert_eq!(half.float_dtype(), FloatDType::F16);
    assert_eq!(
        half.vision_model.encoder.layers[0]
            .mlp
            .fc1
            .base
            .weight
            .val()
            .dtype(),
        DType::F16
    );

    // Texts of 5, 12 and 77 tokens (start, ids spread over the vocabulary, end), and a random
    // image.
    let sequences: Vec<Vec<u32>> = [3, 10, 75]
        .into_iter()
        .map(|n| {
            let ids = (0..n).map(|i| (i * 7_919 + n * 104_729) % 49_000);
            [vec![49_406], ids.collect(), vec![49_407]].concat()
        })
        .collect();
    let tokens = TokenBatch::from_sequences(&sequences, 49_407);
    let pixels = Tensor::<4>::random([1, 3, 224, 224], Distribution::Normal(0.0, 1.0), &gpu);

    let reference = embeddings(&full, &tokens, pixels.clone());
    let ours = embeddings(&half, &tokens, pixels);
    for (what, (a, b)) in ["text", "image"].iter().zip(reference.iter().zip(&ours)) {
        let (max_abs, min_cos) = drift(a, b);
        println!("f16 {what} embeddings: max abs {max_abs:.2e}, least cosine {min_cos:.6}");
        assert!(
            max_abs > 0.0,
            "{what}: f16 gave f32's values, so it did not run in f16"
        );
        assert!(max_abs <= 5e-3, "{what}: max abs drift {max_abs}");
        assert!(min_cos >= 0.999, "{what}: least cosine {min_cos}");
    }
}

#[test]
fn adapters_join_an_f16_model_in_f16() {
    let gpu = gpu_with_f16();
    let config = LoraConfig {
        targets: vec![LoraTarget::KProj, LoraTarget::VProj, LoraTarget::Fc2],
        ..LoraConfig::default()
    };
    let base = load_fixture_model("tiny-quickgelu", &gpu);
    let tuned = trained_adapters(base.clone(), &config);
    let file = block_on(save_adapters(&tuned, &config, None, &[])).unwrap();

    let half = load_adapters(base.with_float_dtype(FloatDType::F16), &file)
        .unwrap()
        .model;
    let adapter = half.text_model.encoder.layers[0]
        .self_attn
        .k_proj
        .adapter
        .as_ref()
        .expect("k_proj has an adapter");
    assert_eq!(adapter.a.val().dtype(), DType::F16);
    assert_eq!(adapter.b.val().dtype(), DType::F16);

    let (tokens, pixels) = reference_inputs("tiny-quickgelu", &gpu);
    let reference = embeddings(&tuned, &tokens, pixels.clone());
    let ours = embeddings(&half, &tokens, pixels);
    for (what, (a, b)) in ["text", "image"].iter().zip(reference.iter().zip(&ours)) {
        let (max_abs, min_cos) = drift(a, b);
        println!("tuned, f16 {what}: max abs {max_abs:.2e}, least cosine {min_cos:.6}");
        assert!(max_abs <= 5e-3, "{what}: max abs drift {max_abs}");
        assert!(min_cos >= 0.999, "{what}: least cosine {min_cos}");
    }
}
