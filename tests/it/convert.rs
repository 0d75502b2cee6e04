//! `safer-clip convert`: f16 and q8 files load natively through the same loader as fp32 and give
//! the same embeddings within the stated drift; their layouts are refused by name when broken.

use burn::prelude::*;
use safer_clip::device::{Backend, device};
use safer_clip::model::{ClipConfig, l2_normalize};
use safer_clip::tokenizer::TokenBatch;
use safer_clip::weights::{Checkpoint, StorageDtype, convert, load_clip};
use safetensors::SafeTensors;

use crate::common::{fixtures, matrix, temp_dir};
use crate::reliability::{cli_output, refused, succeeded, train_args, word_model, workspace};

fn reference_embeddings(weights: &[u8]) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let device = device(Backend::Flex).unwrap();
    let dir = fixtures().join("tiny-quickgelu");
    let config =
        ClipConfig::from_json(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    let model = load_clip(&config, &Checkpoint::parse(weights, &device).unwrap()).unwrap();
    let tokens = TokenBatch::from_sequences(&[vec![510, 7, 8, 9, 511], vec![510, 3, 4, 511]], 511);
    let pixels: Vec<f32> = (0..2 * 3 * 32 * 32)
        .map(|i| ((i * 7919) % 255) as f32 / 128.0 - 1.0)
        .collect();
    let pixels = Tensor::<4>::from_data(TensorData::new(pixels, [2, 3, 32, 32]), &device);
    (
        matrix(l2_normalize(model.text_features(&tokens).unwrap())),
        matrix(l2_normalize(model.image_features(pixels).unwrap())),
    )
}

fn drift(a: &[Vec<f32>], b: &[Vec<f32>]) -> (f32, f32) {
    let mut max_abs = 0.0f32;
    let mut min_cos = 1.0f32;
    for (x, y) in a.iter().zip(b) {
        let dot: f32 = x.iter().zip(y).map(|(p, q)| p * q).sum();
        min_cos = min_cos.min(dot);
        max_abs = x
            .iter()
            .zip(y)
            .fold(max_abs, |m, (p, q)| m.max((p - q).abs()));
    }
    (max_abs, min_cos)
}

#[test]
fn half_and_quarter_size_weights_embed_within_the_stated_drift() {
    let original = std::fs::read(fixtures().join("tiny-quickgelu/model.safetensors")).unwrap();
    let (texts, images) = reference_embeddings(&original);
    for (dtype, max_abs_bound, min_cos_bound, max_size) in [
        (StorageDtype::F16, 5e-3, 0.999, 0.52),
        (StorageDtype::Q8, f32::INFINITY, 0.99, 0.33),
    ] {
        let converted = convert(&original, dtype).unwrap();
        let ratio = converted.len() as f64 / original.len() as f64;
        assert!(ratio <= max_size, "{dtype:?}: {ratio:.3} of the fp32 size");
        let (t, i) = reference_embeddings(&converted);
        for (what, ours, reference) in [("text", &t, &texts), ("image", &i, &images)] {
            let (max_abs, min_cos) = drift(ours, reference);
            println!("{dtype:?} {what}: max abs {max_abs:.2e}, min cosine {min_cos:.6}");
            assert!(
                max_abs <= max_abs_bound && min_cos >= min_cos_bound,
                "{dtype:?} {what}: {max_abs} / {min_cos}"
            );
        }
    }
}

#[test]
fn a_broken_q8_file_is_refused_by_the_name_of_what_is_wrong() {
    let original = std::fs::read(fixtures().join("tiny-quickgelu/model.safetensors")).unwrap();
    let quantized = convert(&original, StorageDtype::Q8).unwrap();
    let file = SafeTensors::deserialize(&quantized).unwrap();
    let key = "text_model.encoder.layers.0.mlp.fc1.weight";
    let rebuild = |drop: &str| {
        let kept: Vec<(String, safetensors::tensor::TensorView)> = file
            .tensors()
            .into_iter()
            .filter(|(name, _)| name != drop)
            .collect();
        let metadata = SafeTensors::read_metadata(&quantized)
            .unwrap()
            .1
            .metadata()
            .clone();
        safetensors::serialize(kept, metadata).unwrap()
    };
    let device = device(Backend::Flex).unwrap();
    let config = ClipConfig::from_json(
        &std::fs::read_to_string(fixtures().join("tiny-quickgelu/config.json")).unwrap(),
    )
    .unwrap();
    let load = |bytes: &[u8]| {
        let checkpoint = Checkpoint::parse(bytes, &device)?;
        load_clip(&config, &checkpoint).map(|_| ())
    };
    let error = load(&rebuild(&format!("{key}.q8_scales")))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(&format!("int8 weight `{key}` has no `{key}.q8_scales`")),
        "{error}"
    );
    assert!(
        convert(&quantized, StorageDtype::F16)
            .unwrap_err()
            .to_string()
            .contains("quantized already")
    );
}

#[test]
fn the_command_writes_a_folder_the_cli_loads_and_refuses_what_encode_refuses() {
    let model = word_model("convert-model");
    let work = temp_dir("convert-work");
    let out = work.join("q8");
    let args = [
        "convert",
        "--model",
        model.to_str().unwrap(),
        "--dtype",
        "q8",
        "--out",
        out.to_str().unwrap(),
    ];
    let output = cli_output(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(out.join("tokenizer.json").exists() && out.join("config.json").exists());
    let encoded = cli_output(&[
        "encode",
        "--model",
        out.to_str().unwrap(),
        "--text",
        "a dog",
        "--json",
    ]);
    assert!(
        encoded.status.success(),
        "{}",
        String::from_utf8_lossy(&encoded.stderr)
    );
    let message = refused(cli_output(&args));
    assert!(
        message.contains("already exists") && message.contains("--force"),
        "{message}"
    );

    let weights = model.join("model.safetensors");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let other = work.join("from-truncated");
    let message = refused(cli_output(&[
        "convert",
        "--model",
        model.to_str().unwrap(),
        "--dtype",
        "f16",
        "--out",
        other.to_str().unwrap(),
    ]));
    assert!(
        message.contains("model.safetensors") && message.contains("not a valid safetensors file"),
        "{message}"
    );
    assert!(!other.exists(), "no folder is left behind");
}

#[test]
fn lora_trains_on_half_and_quarter_size_base_weights_and_its_adapters_stay_f32() {
    let ws = workspace("convert-train", 12);
    for dtype in ["f16", "q8"] {
        let base = ws.work.join(dtype);
        let (model, out) = (ws.model.to_str().unwrap(), base.to_str().unwrap());
        succeeded(cli_output(&[
            "convert", "--model", model, "--dtype", dtype, "--out", out,
        ]));
        let run = ws.work.join(format!("run-{dtype}"));
        let mut args = train_args(&base, &ws.pairs, &run);
        args.extend(["--max-steps", "2"]);
        succeeded(cli_output(&args));

        let adapter = std::fs::read(run.join("adapter.safetensors")).unwrap();
        let adapter = SafeTensors::deserialize(&adapter).unwrap();
        assert!(!adapter.is_empty());
        for (key, view) in adapter.tensors() {
            assert_eq!(view.dtype(), safetensors::Dtype::F32, "{dtype}: `{key}`");
        }
        let report: serde_json::Value =
            serde_json::from_slice(&std::fs::read(run.join("report.json")).unwrap()).unwrap();
        let steps = report["steps"].as_array().unwrap();
        assert_eq!(steps.len(), 2, "{dtype}");
        for step in steps {
            assert!(
                step["loss"].as_f64().is_some_and(f64::is_finite),
                "{dtype}: {step}"
            );
        }
    }
}
