//! LoRA adapters: a fresh adapter changes nothing, merging equals the unmerged forward, adapter
//! files and full-model exports round-trip, only the factors train, and bad files are refused.

use crate::common::{backends, load_fixture_model, matrix, max_abs_diff, reference_inputs};
use burn::prelude::*;
use burn::tensor::Distribution;
use safer_clip::device::{Backend, block_on};
use safer_clip::lora::{LoraAdapter, LoraConfig, LoraTarget};
use safer_clip::model::{ClipModel, Projection};
use safer_clip::weights::{
    Checkpoint, SafetensorsWriter, load_adapters, load_clip, save_adapters, save_clip,
};

const MODEL: &str = "tiny-quickgelu";

fn embeddings(model: &ClipModel, device: &Device) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let (tokens, pixels) = reference_inputs(MODEL, device);
    let out = model.forward(&tokens, pixels).unwrap();
    (matrix(out.text_embeds), matrix(out.image_embeds))
}

fn max_diff(a: &(Vec<Vec<f32>>, Vec<Vec<f32>>), b: &(Vec<Vec<f32>>, Vec<Vec<f32>>)) -> f32 {
    max_abs_diff(&a.0, &b.0).max(max_abs_diff(&a.1, &b.1))
}

/// Adapters with non-zero `B`, as after some training.
pub fn trained_adapters(model: ClipModel, config: &LoraConfig) -> ClipModel {
    let mut model = model.with_lora(config, 0).unwrap();
    for Projection { layer, .. } in model.projections_mut() {
        if let Some(adapter) = &layer.adapter {
            let b = Tensor::random(
                adapter.b.val().dims(),
                Distribution::Normal(0.0, 0.5),
                &adapter.b.val().device(),
            );
            layer.adapter = Some(LoraAdapter::from_factors(adapter.a.val(), b, config));
        }
    }
    model
}

#[test]
fn fresh_adapters_leave_outputs_unchanged() {
    for (backend, device) in backends() {
        let base = load_fixture_model(MODEL, &device);
        let before = embeddings(&base, &device);
        let config = LoraConfig {
            targets: LoraTarget::ALL.to_vec(),
            ..LoraConfig::default()
        };
        let adapted = base.with_lora(&config, 0).unwrap();
        let layers = adapted
            .projections()
            .iter()
            .filter(|p| p.layer.adapter.is_some())
            .count();
        assert_eq!(
            layers,
            6 * (2 + 2) + 1,
            "every projection of both 2-layer towers, and the patch embedding"
        );
        let diff = max_diff(&before, &embeddings(&adapted, &device));
        // On wgpu a layer without an adapter applies its activation and residual inside the
        // fused linear kernel, one with an adapter through Burn's ops after it: the same values,
        // rounded apart.
        let tolerance = if backend == Backend::Wgpu { 1e-6 } else { 0.0 };
        assert!(
            diff <= tolerance,
            "{backend}: a zero B changed outputs by {diff}"
        );
    }
}

#[test]
fn merging_matches_the_unmerged_forward_and_the_export_round_trips() {
    for (backend, device) in backends() {
        let base = load_fixture_model(MODEL, &device);
        let original = embeddings(&base, &device);
        // HySAC's targets: the default ones and the patch embedding (stored 4-D).
        let mut targets = LoraConfig::default().targets;
        targets.push(LoraTarget::PatchEmbedding);
        let config = LoraConfig {
            rank: 4,
            alpha: 8.0,
            targets,
            ..LoraConfig::default()
        };
        let adapted = trained_adapters(base.clone(), &config);
        let unmerged = embeddings(&adapted, &device);
        assert!(
            max_diff(&original, &unmerged) > 1e-3,
            "{backend}: adapters should matter"
        );

        let merged = adapted.clone().merged();
        assert!(
            merged
                .projections()
                .iter()
                .all(|p| p.layer.adapter.is_none())
        );
        let diff = max_diff(&unmerged, &embeddings(&merged, &device));
        assert!(diff < 1e-5, "{backend}: merged vs unmerged {diff}");

        // The merged model written in `transformers`' layout and read back.
        assert!(
            block_on(save_clip(&adapted)).is_err(),
            "unmerged adapters cannot be exported whole"
        );
        let bytes = block_on(save_clip(&merged)).unwrap();
        let checkpoint = Checkpoint::parse(&bytes, &device).unwrap();
        let reloaded = load_clip(&merged.config, &checkpoint).unwrap();
        let diff = max_diff(&unmerged, &embeddings(&reloaded, &device));
        assert!(diff < 1e-5, "{backend}: exported merge vs unmerged {diff}");

        // The adapters alone, and back onto the base model.
        let file = block_on(save_adapters(
            &adapted,
            &config,
            None,
            &[("method", "test".into())],
        ))
        .unwrap();
        let restored = load_adapters(base, &file).unwrap();
        let (restored, restored_config) = (restored.model, restored.lora);
        assert_eq!(restored_config, config);
        let diff = max_diff(&unmerged, &embeddings(&restored, &device));
        assert!(
            diff == 0.0,
            "{backend}: adapter round trip changed outputs by {diff}"
        );
    }
}

#[test]
fn adapter_files_use_peft_names_and_stay_small() {
    let device = Device::flex();
    let base = load_fixture_model(MODEL, &device);
    let config = LoraConfig::default();
    let adapted = trained_adapters(base, &config);
    let file = block_on(save_adapters(&adapted, &config, None, &[])).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&file).unwrap();
    let mut names = tensors.names();
    names.sort();
    // 2 towers × 2 layers × 5 targets × 2 factors.
    assert_eq!(names.len(), 40);
    let a = tensors
        .tensor("base_model.model.text_model.encoder.layers.0.mlp.fc1.lora_A.weight")
        .unwrap();
    let b = tensors
        .tensor("base_model.model.text_model.encoder.layers.0.mlp.fc1.lora_B.weight")
        .unwrap();
    let (hidden, intermediate) = (
        adapted.config.text_config.hidden_size,
        adapted.config.text_config.intermediate_size,
    );
    assert_eq!(a.shape(), [16, hidden]);
    assert_eq!(b.shape(), [intermediate, 16]);
    assert!(
        !names.iter().any(|n| n.contains("q_proj")),
        "q_proj is not a default target"
    );

    // The patch embedding's factors are stored as PEFT's Conv2d LoRA stores them.
    let config = LoraConfig {
        targets: vec![LoraTarget::PatchEmbedding],
        ..LoraConfig::default()
    };
    let adapted = trained_adapters(adapted.merged(), &config);
    let file = block_on(save_adapters(&adapted, &config, None, &[])).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&file).unwrap();
    let vision = &adapted.config.vision_config;
    let (channels, patch) = (vision.num_channels, vision.patch_size);
    let prefix = "base_model.model.vision_model.embeddings.patch_embedding";
    assert_eq!(tensors.names().len(), 2);
    assert_eq!(
        tensors
            .tensor(&format!("{prefix}.lora_A.weight"))
            .unwrap()
            .shape(),
        [16, channels, patch, patch]
    );
    assert_eq!(
        tensors
            .tensor(&format!("{prefix}.lora_B.weight"))
            .unwrap()
            .shape(),
        [vision.hidden_size, 16, 1, 1]
    );
}

#[test]
fn only_the_adapter_factors_receive_gradients() {
    let device = Device::flex().autodiff();
    let base = load_fixture_model(MODEL, &device);
    let adapted = trained_adapters(base, &LoraConfig::default());
    let (tokens, pixels) = reference_inputs(MODEL, &device);
    let loss = adapted.text_features(&tokens).unwrap().sum()
        + adapted.image_features(pixels).unwrap().sum();
    let grads = loss.backward();
    for Projection { name, layer, .. } in adapted.projections() {
        assert!(
            layer.base.weight.val().grad(&grads).is_none(),
            "{name}: base weight got a gradient"
        );
        if let Some(adapter) = &layer.adapter {
            assert!(
                adapter.a.val().grad(&grads).is_some(),
                "{name}: no gradient for A"
            );
            assert!(
                adapter.b.val().grad(&grads).is_some(),
                "{name}: no gradient for B"
            );
        }
    }
    assert!(adapted.logit_scale.val().grad(&grads).is_none());
    assert!(
        adapted
            .text_model
            .token_embedding
            .weight
            .val()
            .grad(&grads)
            .is_none()
    );
}

#[test]
fn bad_adapter_files_are_refused_clearly() {
    let device = Device::flex();
    let base = load_fixture_model(MODEL, &device);
    let config = LoraConfig::default();
    let file = block_on(save_adapters(
        &trained_adapters(base.clone(), &config),
        &config,
        None,
        &[],
    ))
    .unwrap();

    let error = |bytes: &[u8]| load_adapters(base.clone(), bytes).unwrap_err().to_string();
    assert!(error(&file[..file.len() / 2]).contains("not a valid safetensors file"));
    let full_model = block_on(save_clip(&base)).unwrap();
    assert!(
        error(&full_model).contains("no `lora_config`"),
        "{}",
        error(&full_model)
    );

    // A header that disagrees with the stored factors, and a tensor no adapter uses.
    let wrong_rank = LoraConfig {
        rank: 3,
        ..config.clone()
    };
    let message = error(&rewrite(&file, &wrong_rank, None));
    assert!(
        message.contains("has shape") && message.contains("lora_A"),
        "{message}"
    );
    let message = error(&rewrite(
        &file,
        &config,
        Some("base_model.model.extra.weight"),
    ));
    assert!(
        message.contains("unexpected weight") && message.contains("extra"),
        "{message}"
    );
}

/// `file`'s tensors under a new `lora_config`, plus an optional extra tensor.
fn rewrite(file: &[u8], config: &LoraConfig, extra: Option<&str>) -> Vec<u8> {
    let tensors = safetensors::SafeTensors::deserialize(file).unwrap();
    let mut writer = SafetensorsWriter::new();
    writer.metadata("lora_config", serde_json::to_string(config).unwrap());
    for (name, view) in tensors.tensors() {
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect();
        writer.add_values(&name, view.shape(), &values).unwrap();
    }
    if let Some(name) = extra {
        writer.add_values(name, &[1], &[0.0]).unwrap();
    }
    writer.finish().unwrap()
}
