//! Text and image files in, embeddings out, through the real CLIP tokenizer and the CLI,
//! against `transformers` (a tiny model with CLIP's full vocabulary, `tiny-fullvocab`); and
//! the train → merge → eval workflow of the CLI.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{backends, fixtures, hub_model_dir, matrix, max_abs_diff};
use safer_clip::Clip;
use safer_clip::device::block_on;
use safer_clip::safety::nearest::{nearest, read_neighbours};
use serde::Deserialize;

const TOLERANCE: f32 = 1e-4;
const IMAGE_SIZE: usize = 32;

#[derive(Deserialize)]
struct Reference {
    texts: Vec<String>,
    images: Vec<String>,
    text_embeds: Vec<Vec<f32>>,
    image_embeds: Vec<Vec<f32>>,
    logits_per_text: Vec<Vec<f32>>,
}

fn reference() -> Reference {
    let path = fixtures().join("tiny-fullvocab/reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn image_path(name: &str) -> PathBuf {
    fixtures().join("images").join(name)
}

#[test]
#[ignore = "needs ../shared"]
fn texts_and_image_files_match_transformers() {
    let dir = hub_model_dir("pipeline");
    let reference = reference();
    for (backend, device) in backends() {
        let clip = Clip::from_dir(&dir, &device).unwrap();
        assert_eq!(clip.image_size(), IMAGE_SIZE);
        let texts = matrix(clip.embed_texts(&reference.texts).unwrap());
        let err = max_abs_diff(&texts, &reference.text_embeds);
        assert!(
            err <= TOLERANCE,
            "{backend}: text embeddings differ by {err}"
        );

        let pixels: Vec<_> = reference
            .images
            .iter()
            .map(|name| {
                clip.preprocess(&std::fs::read(image_path(name)).unwrap())
                    .unwrap()
            })
            .collect();
        let images = matrix(clip.embed_images(&pixels).unwrap());
        let err = max_abs_diff(&images, &reference.image_embeds);
        assert!(
            err <= TOLERANCE,
            "{backend}: image embeddings differ by {err}"
        );
    }
}

#[derive(Deserialize)]
struct Encoded {
    text_embeds: Vec<Vec<f32>>,
    image_embeds: Vec<Vec<f32>>,
    logits_per_text: Vec<Vec<f32>>,
}

/// A command that must succeed, and the JSON it prints.
fn cli_json(args: &[&str]) -> serde_json::Value {
    let (ok, stdout, stderr) = cli(args);
    assert!(ok, "{stderr}");
    serde_json::from_str(&stdout).unwrap()
}

/// `eval` of `adapter` on `model` over the test split of the bundled pairs.
fn eval_test_split(model: &str, adapter: &Path) -> serde_json::Value {
    cli_json(&[
        "eval",
        "--model",
        model,
        "--adapter",
        adapter.to_str().unwrap(),
        "--pairs",
        PAIRS,
        "--test-split",
    ])
}

fn cli(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_safer-clip"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
#[ignore = "needs ../shared"]
fn encode_command_prints_what_transformers_returns() {
    let dir = hub_model_dir("encode");
    let reference = reference();
    let mut args = vec!["encode", "--model", dir.to_str().unwrap(), "--json"];
    for text in &reference.texts {
        args.extend(["--text", text]);
    }
    let paths: Vec<String> = reference
        .images
        .iter()
        .map(|i| image_path(i).display().to_string())
        .collect();
    for path in &paths {
        args.extend(["--image", path]);
    }
    let (ok, stdout, stderr) = cli(&args);
    assert!(ok, "{stderr}");
    let encoded: Encoded = serde_json::from_str(&stdout).unwrap();
    assert!(max_abs_diff(&encoded.text_embeds, &reference.text_embeds) <= TOLERANCE);
    assert!(max_abs_diff(&encoded.image_embeds, &reference.image_embeds) <= TOLERANCE);
    assert!(max_abs_diff(&encoded.logits_per_text, &reference.logits_per_text) <= 1e-3);

    // The readable table lists every text under every image, with probabilities.
    let table_args: Vec<&str> = args.iter().copied().filter(|a| *a != "--json").collect();
    let (ok, table, _) = cli(&table_args);
    assert!(ok);
    assert!(
        table.contains("down-57x83.png")
            && table.contains("a photo of a cat")
            && table.contains('%')
    );
}

#[derive(Deserialize)]
struct NearestLine {
    query: String,
    neighbours: Vec<NearestNeighbour>,
}

#[derive(Deserialize)]
struct NearestNeighbour {
    caption: String,
    index: usize,
    score: f32,
}

#[test]
#[ignore = "needs ../shared"]
fn nearest_command_lists_pool_captions_by_score() {
    let dir = hub_model_dir("nearest");
    let pool: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "a photo of a {} number {i}",
                ["cat", "dog", "car", "tree"][i % 4]
            )
        })
        .collect();
    let pool_path = dir.join("pool.txt");
    std::fs::write(&pool_path, pool.join("\n")).unwrap();
    let (ok, stdout, stderr) = cli(&[
        "nearest",
        "--model",
        dir.to_str().unwrap(),
        "--pool",
        pool_path.to_str().unwrap(),
        "--query",
        "a photo of a cat number 7",
        "--query",
        "a red car",
        "--k",
        "3",
        "--json",
        "--batch-size",
        "16",
    ]);
    assert!(ok, "{stderr}");
    let lines: Vec<NearestLine> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].query, "a photo of a cat number 7");
    for line in &lines {
        assert_eq!(line.neighbours.len(), 3);
        for pair in line.neighbours.windows(2) {
            assert!(
                pair[0].score >= pair[1].score,
                "neighbours must come best first"
            );
        }
        for n in &line.neighbours {
            assert_eq!(
                pool[n.index], n.caption,
                "index must be the caption's 0-based line"
            );
        }
    }
    // A query that is itself in the pool scores 1 with its own line, so the best score is 1.
    assert!((lines[0].neighbours[0].score - 1.0).abs() < 1e-4);
    // And the command agrees with the library, read back on the same backend.
    let (_, device) = backends().remove(0);
    let clip = Clip::from_dir(&dir, &device).unwrap();
    let queries = clip
        .embed_texts(&["a photo of a cat number 7", "a red car"])
        .unwrap();
    let top = nearest(queries, clip.embed_texts(&pool).unwrap(), 3, None, 8).unwrap();
    for (line, expected) in lines.iter().zip(block_on(read_neighbours(top)).unwrap()) {
        for (ours, theirs) in line.neighbours.iter().zip(expected) {
            assert!(
                (ours.score - theirs.score).abs() < 1e-5,
                "{} vs {}",
                ours.score,
                theirs.score
            );
        }
    }

    std::fs::write(&pool_path, "a cat\n\na dog\n").unwrap();
    let (ok, _, stderr) = cli(&[
        "nearest",
        "--model",
        dir.to_str().unwrap(),
        "--pool",
        pool_path.to_str().unwrap(),
        "--query",
        "x",
    ]);
    assert!(!ok && stderr.contains("line 2"), "{stderr}");
}

#[test]
fn cli_errors_are_readable() {
    let (ok, _, stderr) = cli(&["encode", "--model", "/nonexistent", "--text", "x"]);
    assert!(
        !ok && stderr.starts_with("error: cannot read /nonexistent/config.json"),
        "{stderr}"
    );
    let (ok, _, stderr) = cli(&["encode", "--model", "/nonexistent"]);
    assert!(
        !ok && stderr.contains("at least one --text or --image"),
        "{stderr}"
    );
    let (ok, _, stderr) = cli(&["encode", "--model", ".", "--text", "x", "--backend", "tpu"]);
    assert!(!ok && stderr.contains("unknown backend `tpu`"), "{stderr}");
}

const PAIRS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/data/pairs.jsonl");

#[test]
#[ignore = "needs ../shared"]
fn train_merge_and_eval_from_the_command_line() {
    let dir = hub_model_dir("cli-train");
    let model = dir.to_str().unwrap();
    let out = dir.join("run");
    let out_arg = out.to_str().unwrap();
    let report = cli_json(&[
        "train",
        "--model",
        model,
        "--pairs",
        PAIRS,
        "--out",
        out_arg,
        "--max-steps",
        "4",
        "--batch-size",
        "8",
        "--lr",
        "1e-2",
        "--checkpoint-every",
        "2",
        "--json",
    ]);
    assert_eq!(report["steps"].as_array().unwrap().len(), 4);
    assert_eq!(report["config"]["method"], "safer");
    let pairs = safer_clip::data::parse_pairs(
        &std::fs::read_to_string(PAIRS).unwrap(),
        safer_clip::data::Duplicates::Refuse,
    )
    .unwrap();
    let test_pairs = safer_clip::data::split_pairs(&pairs, 0.1, 0.1, 0)
        .unwrap()
        .test
        .len() as u64;
    assert_eq!(report["data"]["test"].as_u64(), Some(test_pairs));
    for key in ["original", "tuned"] {
        let top1 = report[key]["text"]["safe_top1"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&top1), "{key}: {top1}");
    }
    assert!(report["drift"]["mean_weight_change"].as_f64().unwrap() > 0.0);
    for file in [
        "adapter.safetensors",
        "checkpoint.safetensors",
        "report.json",
    ] {
        assert!(out.join(file).is_file(), "{file} missing");
    }

    let adapter = out.join("adapter.safetensors");
    let merged = dir.join("merged");
    let (ok, _, stderr) = cli(&[
        "merge",
        "--model",
        model,
        "--adapter",
        adapter.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let text = "a man punching another man outside a bar at night";
    let device = burn::prelude::Device::flex();
    let merged_clip = Clip::from_dir(&merged, &device).unwrap();
    let base = Clip::from_dir(&dir, &device).unwrap();
    let adapted =
        safer_clip::weights::load_adapters(base.model.clone(), &std::fs::read(&adapter).unwrap())
            .unwrap()
            .model;
    let tokens = base.tokenizer.encode_batch(&[text]).unwrap();
    let diff = max_abs_diff(
        &matrix(merged_clip.embed_texts(&[text]).unwrap()),
        &matrix(adapted.embed_text(&tokens).unwrap()),
    );
    assert!(diff < 1e-5, "merged folder vs adapter on the base: {diff}");

    let eval = eval_test_split(model, &adapter);
    assert_eq!(
        eval["original"]["pairs"]["pairs"].as_u64(),
        Some(test_pairs)
    );
    assert_eq!(
        eval["tuned"]["pairs"]["text"]["safe_top1"], report["tuned"]["text"]["safe_top1"],
        "eval of the saved adapter on the test split = the training report"
    );
}

#[test]
#[ignore = "needs ../shared"]
fn training_errors_are_readable_and_keep_the_adapter() {
    let dir = hub_model_dir("cli-train-errors");
    let model = dir.to_str().unwrap();
    let bad = dir.join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"safe\": \"a cat\", \"unsafe\": \"a dead cat\"}\n{\"safe\": \"a dog\"}\n",
    )
    .unwrap();
    let out = dir.join("run");
    let (ok, _, stderr) = cli(&[
        "train",
        "--model",
        model,
        "--pairs",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !ok && stderr.contains("line 2") && stderr.contains("missing field `unsafe`"),
        "{stderr}"
    );

    let (ok, _, stderr) = cli(&[
        "train",
        "--model",
        model,
        "--pairs",
        PAIRS,
        "--out",
        out.to_str().unwrap(),
        "--lr",
        "1e30",
        "--grad-clip",
        "0",
        "--batch-size",
        "8",
    ]);
    assert!(
        !ok && stderr.contains("training stopped") && stderr.contains("are kept"),
        "{stderr}"
    );
    assert!(
        out.join("adapter.safetensors").is_file(),
        "the last good adapter is written"
    );

    let (ok, _, stderr) = cli(&[
        "train",
        "--model",
        model,
        "--pairs",
        PAIRS,
        "--out",
        out.to_str().unwrap(),
        "--targets",
        "k_proj,attn",
    ]);
    assert!(
        !ok && stderr.contains("unknown LoRA target `attn`"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs ../shared"]
fn zero_shot_eval_reads_openai_prompts_and_class_folders() {
    let dir = hub_model_dir("cli-zero-shot");
    let shared = common::shared("zero-shot");
    let report = cli_json(&[
        "eval",
        "--model",
        dir.to_str().unwrap(),
        "--images",
        shared.join("data/cifar10-test").to_str().unwrap(),
        "--prompts",
        shared.join("data/clip-prompts.md").to_str().unwrap(),
        "--per-class",
        "3",
    ]);
    let zero_shot = &report["original"]["zero_shot"];
    assert_eq!(zero_shot["images"].as_u64(), Some(30));
    assert_eq!(zero_shot["per_class"].as_array().unwrap().len(), 10);
    assert_eq!(zero_shot["per_class"][0][0], "airplane");
    let accuracy = zero_shot["accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&accuracy));

    let (ok, _, stderr) = cli(&[
        "eval",
        "--model",
        dir.to_str().unwrap(),
        "--images",
        "/nonexistent",
        "--prompts",
        shared.join("data/clip-prompts.md").to_str().unwrap(),
        "--dataset",
        "CIFAR11",
    ]);
    assert!(
        !ok && stderr.contains("no `## CIFAR11` section"),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs ../shared"]
fn hysac_train_eval_and_merge_from_the_command_line() {
    let dir = hub_model_dir("cli-hysac");
    let model = dir.to_str().unwrap();
    let out = dir.join("run");
    let report = cli_json(&[
        "train",
        "--model",
        model,
        "--pairs",
        PAIRS,
        "--out",
        out.to_str().unwrap(),
        "--method",
        "hysac",
        "--max-steps",
        "3",
        "--batch-size",
        "8",
        "--lr",
        "1e-2",
        "--json",
    ]);
    assert_eq!(report["config"]["method"], "hysac");
    assert_eq!(report["config"]["optimizer"]["weight_decay"], 0.2);
    let head = &report["steps"][2]["head"];
    assert!(head["curvature"].as_f64().unwrap() > 0.0, "{head}");
    let tuned = &report["hysac"]["tuned"];
    assert_eq!(tuned["threshold_from"], "validation split");
    for key in ["accuracy", "false_positive_rate", "false_negative_rate"] {
        let value = tuned["text"][key].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&value), "{key}: {value}");
    }

    let adapter = out.join("adapter.safetensors");
    let eval = eval_test_split(model, &adapter);
    assert_eq!(
        eval["hysac"], report["hysac"]["tuned"],
        "eval of the saved adapter = the training report"
    );

    let merged = dir.join("merged");
    let (ok, _, stderr) = cli(&[
        "merge",
        "--model",
        model,
        "--adapter",
        adapter.to_str().unwrap(),
        "--out",
        merged.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let beside: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("hysac.json")).unwrap()).unwrap();
    let bound = |v: &serde_json::Value| v["safe_region"]["text"].as_f64().unwrap();
    assert!(
        (bound(&beside) - bound(&eval["hysac"])).abs() < 1e-6,
        "{beside}"
    );
}
