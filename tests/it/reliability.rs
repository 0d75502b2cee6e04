//! What the CLI promises about the user's files and hostile input: nothing it writes is ever half
//! written or written through an input, sizes from files are checked before anything of that size
//! exists, reads stop at a bound, and values that make results meaningless are refused by name.
//! Each test reproduces a failure found by trying bad inputs on the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::common::{TempDir, fixtures, temp_dir};
use safer_clip::device::block_on;
use safer_clip::lora::LoraConfig;
use safer_clip::random::SplitMix64;
use safer_clip::weights::{SafetensorsWriter, load_adapters, save_adapters, write_adapters};
use safer_clip::{Clip, device::Backend, device::device};

const FIXTURE: &str = "tiny-quickgelu";

/// Words of the tiny model's word-level tokenizer (its vocabulary is 512 ids).
const WORDS: &[&str] = &[
    "a", "photo", "of", "dog", "cat", "car", "street", "man", "woman", "child", "park", "knife",
    "gun", "blood", "fight", "holding", "running", "sitting", "on", "with", "the", "red", "blue",
    "bench", "table", "beach",
];

/// A model folder: the tiny fixture with a word-level tokenizer whose ids fit its vocabulary, and
/// the end-of-text token the highest id (the fixture pools at the highest id, as CLIP's legacy
/// configs do).
pub fn word_model(test: &str) -> TempDir {
    let dir = temp_dir(test);
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixtures().join(FIXTURE).join(file), dir.join(file)).unwrap();
    }
    let vocab: serde_json::Map<String, serde_json::Value> =
        std::iter::once(("<unk>".to_string(), 0.into()))
            .chain(
                WORDS
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (w.to_string(), (i + 1).into())),
            )
            .chain([
                ("<|startoftext|>".to_string(), 510.into()),
                ("<|endoftext|>".to_string(), 511.into()),
            ])
            .collect();
    let special = |content: &str, id: u32| {
        serde_json::json!({"id": id, "content": content, "single_word": false, "lstrip": false, "rstrip": false,
                           "normalized": false, "special": true})
    };
    let token = |name: &str| serde_json::json!({"SpecialToken": {"id": name, "type_id": 0}});
    let tokenizer = serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [special("<|startoftext|>", 510), special("<|endoftext|>", 511)],
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [token("<|startoftext|>"), {"Sequence": {"id": "A", "type_id": 0}}, token("<|endoftext|>")],
            "pair": [token("<|startoftext|>"), {"Sequence": {"id": "A", "type_id": 0}},
                     {"Sequence": {"id": "B", "type_id": 0}}, token("<|endoftext|>")],
            "special_tokens": {
                "<|startoftext|>": {"id": "<|startoftext|>", "ids": [510], "tokens": ["<|startoftext|>"]},
                "<|endoftext|>": {"id": "<|endoftext|>", "ids": [511], "tokens": ["<|endoftext|>"]}
            }
        },
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();
    dir
}

/// `n` distinct short pairs over three categories.
pub fn write_pairs(path: &Path, n: usize) {
    let mut rng = SplitMix64::new(n as u64);
    let mut word = || WORDS[rng.below(WORDS.len())];
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let (subject, place) = (word(), word());
            let category = ["violence", "weapons", "drugs"][i % 3];
            serde_json::json!({
                "safe": format!("a {subject} in the {place} {i}"),
                "unsafe": format!("a {subject} with a gun in the {place} {i}"),
                "category": category,
            })
            .to_string()
        })
        .collect();
    std::fs::write(path, lines.join("\n")).unwrap();
}

/// A test's own tiny model, a folder to work in, and pairs written there.
pub struct Workspace {
    pub model: TempDir,
    pub work: TempDir,
    pub pairs: PathBuf,
}

/// [`Workspace`] with `pairs` short pairs.
pub fn workspace(test: &str, pairs: usize) -> Workspace {
    let model = word_model(test);
    let work = temp_dir(&format!("{test}-work"));
    let path = work.join("pairs.jsonl");
    write_pairs(&path, pairs);
    Workspace {
        model,
        work,
        pairs: path,
    }
}

impl Workspace {
    /// `train` into `out` with the tests' small settings and `extra` options, which must succeed;
    /// its standard output.
    pub fn train(&self, out: &Path, extra: &[&str]) -> String {
        let mut args = train_args(&self.model, &self.pairs, out);
        args.extend(extra);
        succeeded(cli_output(&args))
    }
}

pub fn cli_output(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_safer-clip"))
        .args(args)
        .output()
        .unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A run's refusal: exit code 1 with the message on stderr (never a panic's 101 or an abort).
pub fn refused(output: Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "expected a refusal, got {:?}: {}",
        output.status,
        stderr(&output)
    );
    stderr(&output)
}

pub fn succeeded(output: Output) -> String {
    assert!(output.status.success(), "{}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

pub fn train_args<'a>(model: &'a Path, pairs: &'a Path, out: &'a Path) -> Vec<&'a str> {
    let mut args = vec![
        "train",
        "--model",
        path(model),
        "--pairs",
        path(pairs),
        "--out",
        path(out),
    ];
    args.extend([
        "--rank",
        "4",
        "--batch-size",
        "4",
        "--lr",
        "1e-2",
        "--dropout",
        "0",
        "--test",
        "0.2",
    ]);
    args
}

/// An adapter file for the word model, written through the library.
fn adapter_file(model: &Path, config: &LoraConfig) -> Vec<u8> {
    let clip = Clip::from_dir(model, &device(Backend::Flex).unwrap()).unwrap();
    let adapted = clip.model.with_lora(config, 3).unwrap();
    block_on(save_adapters(&adapted, config, None, &[])).unwrap()
}

fn files_in(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn merge_never_writes_through_its_input_nor_replaces_a_folder_unasked() {
    let outer = temp_dir("merge-outer");
    let model = outer.join("model");
    std::fs::create_dir(&model).unwrap();
    for entry in std::fs::read_dir(&*word_model("merge-model")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), model.join(entry.file_name())).unwrap();
    }
    let work = temp_dir("merge-work");
    let adapter = work.join("adapter.safetensors");
    std::fs::write(&adapter, adapter_file(&model, &LoraConfig::default())).unwrap();
    let before = files_in(&model);
    let merge = |out: &Path, force: bool| {
        let mut args = vec![
            "merge",
            "--model",
            path(&model),
            "--adapter",
            path(&adapter),
            "--out",
            path(out),
        ];
        if force {
            args.push("--force");
        }
        cli_output(&args)
    };
    // Once, `--out` equal to `--model` emptied config.json and tokenizer.json and exited 0.
    for out in [model.clone(), model.join("."), outer.to_path_buf()] {
        for force in [false, true] {
            let message = refused(merge(&out, force));
            assert!(message.contains("overlaps the model folder"), "{message}");
        }
    }
    assert_eq!(files_in(&model), before, "the model folder is untouched");

    let out = work.join("merged");
    succeeded(merge(&out, false));
    assert!(out.join("model.safetensors").exists() && out.join("tokenizer.json").exists());
    let message = refused(merge(&out, false));
    assert!(
        message.contains("already exists") && message.contains("--force"),
        "{message}"
    );
    std::fs::write(out.join("stale.txt"), "old").unwrap();
    succeeded(merge(&out, true));
    assert!(
        !out.join("stale.txt").exists(),
        "a forced merge replaces the folder whole"
    );
    let names: Vec<String> = std::fs::read_dir(&*work)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 2, "no scratch folder is left: {names:?}");
}

#[test]
fn a_training_run_killed_at_any_moment_leaves_files_that_resume_and_eval_read() {
    let run = workspace("kill", 40);
    let (model, work, pairs): (&Path, &Path, &Path) = (&run.model, &run.work, &run.pairs);
    let mut rng = SplitMix64::new(11);
    // Once, a kill while the checkpoint was being written left it at 0 bytes or truncated, and
    // `--resume` failed with the last good checkpoint gone.
    for round in 0..8 {
        let out = work.join(format!("run-{round}"));
        let mut args = train_args(model, pairs, &out);
        args.extend([
            "--epochs",
            "20",
            "--max-steps",
            "40",
            "--checkpoint-every",
            "1",
        ]);
        let mut child = Command::new(env!("CARGO_BIN_EXE_safer-clip"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(300 + rng.below(2500) as u64));
        let _ = child.kill();
        child.wait().unwrap();
        if !out.join("checkpoint.safetensors").exists() {
            continue;
        }
        let mut resume = train_args(model, pairs, &out);
        resume.extend(["--epochs", "20", "--max-steps", "40", "--resume", "--json"]);
        let report: serde_json::Value =
            serde_json::from_str(&succeeded(cli_output(&resume))).unwrap();
        let steps: Vec<u64> = report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["step"].as_u64().unwrap())
            .collect();
        assert_eq!(
            steps.last(),
            Some(&40),
            "round {round}: the resumed run finishes"
        );
        assert!(
            steps.windows(2).all(|w| w[1] == w[0] + 1),
            "round {round}: no step twice or missing: {steps:?}"
        );
        let adapter = out.join("adapter.safetensors");
        succeeded(cli_output(&[
            "eval",
            "--model",
            path(model),
            "--adapter",
            path(&adapter),
            "--pairs",
            path(pairs),
        ]));
        let scratch = std::fs::read_dir(&out).unwrap().filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with('.')
        });
        assert_eq!(
            scratch.count(),
            0,
            "round {round}: no partial file is left once a run ends"
        );
    }
}

#[test]
fn hostile_adapter_sizes_are_refused_before_anything_of_that_size_exists() {
    let model = word_model("hostile-rank");
    let device = device(Backend::Flex).unwrap();
    let clip = Clip::from_dir(&model, &device).unwrap();
    // Once, rank 10^12 aborted on a 16 TB allocation, 2^61 and 2^62 panicked, and 10^6 in a
    // 36 KB file allocated 1.9 GB before being refused.
    for rank in [1_000_000_000_000usize, 1 << 61, 1 << 62, 1_000_000] {
        let config = LoraConfig {
            rank,
            ..LoraConfig::default()
        };
        let mut writer = SafetensorsWriter::new();
        writer.metadata("lora_config", serde_json::to_string(&config).unwrap());
        writer.metadata("format", "safer-clip-lora");
        let bytes = writer.finish().unwrap();
        let message = load_adapters(clip.model.clone(), &bytes)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains(&format!("LoRA rank {rank} would give the adapters")),
            "{rank}: {message}"
        );
    }
    let small = LoraConfig {
        rank: 4,
        ..LoraConfig::default()
    };
    let mut writer = SafetensorsWriter::new();
    block_on(write_adapters(
        &mut writer,
        &clip.model.clone().with_lora(&small, 0).unwrap(),
        &small,
    ))
    .unwrap();
    assert!(load_adapters(clip.model.clone(), &writer.finish().unwrap()).is_ok());

    let work = temp_dir("hostile-rank-train");
    let pairs = work.join("pairs.jsonl");
    write_pairs(&pairs, 20);
    let mut args = train_args(&model, &pairs, &work);
    let rank = args.iter().position(|a| *a == "--rank").unwrap() + 1;
    args[rank] = "1000000000000";
    let message = refused(cli_output(&args));
    assert!(
        message.contains("LoRA rank 1000000000000 would give the adapters"),
        "{message}"
    );
}

#[test]
fn reads_of_endless_or_huge_inputs_stop_at_their_limit() {
    let model = word_model("endless");
    // Once, `encode --image /dev/zero` read until 24 GB of memory were gone.
    let message = refused(cli_output(&[
        "encode",
        "--model",
        path(&model),
        "--image",
        "/dev/zero",
    ]));
    assert!(
        message.contains("/dev/zero is larger than 256 MiB"),
        "{message}"
    );
    let message = refused(cli_output(&[
        "nearest",
        "--model",
        path(&model),
        "--pool",
        "/dev/zero",
        "--query",
        "a dog",
    ]));
    assert!(message.contains("larger than 512 MiB"), "{message}");
}

#[test]
fn values_that_make_results_meaningless_are_refused_by_name() {
    let model = word_model("meaningless");
    // Once, a negative epsilon gave NaN embeddings printed as `null`, and exit 0.
    let config = model.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replacen("\"layer_norm_eps\": 1e-05", "\"layer_norm_eps\": -1", 1),
    )
    .unwrap();
    let message = refused(cli_output(&[
        "encode",
        "--model",
        path(&model),
        "--text",
        "a dog",
        "--json",
    ]));
    assert!(
        message.contains("text_config.layer_norm_eps must be a small positive number"),
        "{message}"
    );
    assert!(
        message.contains("config.json"),
        "the file is named: {message}"
    );
    std::fs::write(&config, text).unwrap();

    // An alpha of 1e308 gave NaN metrics with exit 0.
    let work = temp_dir("meaningless-work");
    let adapter = work.join("adapter.safetensors");
    let clip = Clip::from_dir(&model, &device(Backend::Flex).unwrap()).unwrap();
    let config = LoraConfig::default();
    let mut writer = SafetensorsWriter::new();
    block_on(write_adapters(
        &mut writer,
        &clip.model.with_lora(&config, 0).unwrap(),
        &config,
    ))
    .unwrap();
    let absurd = serde_json::to_string(&LoraConfig {
        alpha: 1e308,
        ..config
    })
    .unwrap();
    writer.metadata("lora_config", absurd);
    std::fs::write(&adapter, writer.finish().unwrap()).unwrap();
    let pairs = work.join("pairs.jsonl");
    write_pairs(&pairs, 12);
    let message = refused(cli_output(&[
        "eval",
        "--model",
        path(&model),
        "--adapter",
        path(&adapter),
        "--pairs",
        path(&pairs),
    ]));
    assert!(
        message.contains("LoRA alpha 1e308") && message.contains(path(&adapter)),
        "{message}"
    );

    // `--grad-clip -1` or `nan` turned clipping off.
    for clip in ["--grad-clip=-1", "--grad-clip=nan", "--grad-clip=inf"] {
        let mut args = train_args(&model, &pairs, &work);
        args.push(clip);
        let message = refused(cli_output(&args));
        assert!(
            message.contains("gradient clipping norm"),
            "{clip}: {message}"
        );
    }
}

#[test]
fn a_resumed_run_applies_or_refuses_each_option_and_keeps_its_whole_report() {
    let run = workspace("resume-flags", 30);
    let (model, work, pairs): (&Path, &Path, &Path) = (&run.model, &run.work, &run.pairs);
    let mut first = train_args(model, pairs, work);
    first.extend(["--max-steps", "4", "--checkpoint-every", "2"]);
    succeeded(cli_output(&first));
    // Once, `--resume` ignored `--lr` and rewrote report.json with only the steps after it.
    let mut changed = train_args(model, pairs, work);
    changed.extend(["--max-steps", "6", "--resume"]);
    let lr = changed.iter().position(|a| *a == "1e-2").unwrap();
    changed[lr] = "0.5";
    let message = refused(cli_output(&changed));
    assert!(
        message.contains("learning rate (0.5 here, 0.01 in the checkpoint)"),
        "{message}"
    );
    let mut longer = train_args(model, pairs, work);
    longer.extend(["--max-steps", "6", "--resume", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&succeeded(cli_output(&longer))).unwrap();
    let steps: Vec<u64> = report["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2, 3, 4, 5, 6]);
    assert_eq!(report["config"]["max_steps"], 6);
    // Nothing left to do: the summary says so instead of printing "-0.0 pairs/s".
    let mut again = train_args(model, pairs, work);
    again.extend(["--max-steps", "6", "--resume"]);
    let summary = succeeded(cli_output(&again));
    assert!(
        summary.contains("trained 6 steps") && !summary.contains("-0.0"),
        "{summary}"
    );
}

#[test]
fn problems_with_the_data_come_before_any_training() {
    let run = workspace("late-errors", 1);
    let (model, work, pairs): (&Path, &Path, &Path) = (&run.model, &run.work, &run.pairs);
    let out = work.join("run");
    // Once, a one-pair file trained fully and wrote an adapter before failing on the split.
    let message = refused(cli_output(&train_args(model, pairs, &out)));
    assert!(
        message.contains("the test split holds 0 of the 1 pairs"),
        "{message}"
    );
    assert!(!out.join("adapter.safetensors").exists());

    // Repeated pairs once landed in both the training and the test split.
    write_pairs(pairs, 12);
    let text = std::fs::read_to_string(pairs).unwrap();
    let first = text.lines().next().unwrap().to_string();
    std::fs::write(pairs, format!("{text}\n{first}")).unwrap();
    let message = refused(cli_output(&train_args(model, pairs, &out)));
    assert!(
        message.contains("line 13: repeats the pair of line 1"),
        "{message}"
    );
    assert!(
        !message.contains("invalid input: invalid input"),
        "{message}"
    );
    let mut dropping = train_args(model, pairs, &out);
    dropping.extend(["--drop-duplicates", "--max-steps", "1"]);
    let output = cli_output(&dropping);
    assert!(
        stderr(&output).contains("dropped 1 repeated pairs"),
        "{}",
        stderr(&output)
    );
    succeeded(output);

    // A checkpoint of another model was refused with a bare shape error.
    let other = temp_dir("late-errors-other");
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(
            fixtures().join("tiny-fullvocab").join(file),
            other.join(file),
        )
        .unwrap();
    }
    std::fs::copy(model.join("tokenizer.json"), other.join("tokenizer.json")).unwrap();
    let mut resume = train_args(&other, pairs, &out);
    resume.extend(["--drop-duplicates", "--resume"]);
    let message = refused(cli_output(&resume));
    assert!(
        message.contains("checkpoint.safetensors"),
        "the file is named: {message}"
    );
}

#[test]
fn a_resumed_run_replays_the_same_dropout_masks() {
    // Each process has the backend's random generator to itself, which tests in one process
    // share: the runs go through the command line.
    let run = workspace("dropout-replay", 30);
    let (model, work, pairs): (&Path, &Path, &Path) = (&run.model, &run.work, &run.pairs);
    let run = |out: &Path, steps: &str, resume: bool| {
        let mut args = train_args(model, pairs, out);
        let at = args.iter().position(|a| *a == "--dropout").unwrap() + 1;
        args[at] = "0.3";
        args.extend(["--max-steps", steps, "--checkpoint-every", "1"]);
        if resume {
            args.push("--resume");
        }
        succeeded(cli_output(&args));
    };
    let (straight, interrupted) = (work.join("straight"), work.join("interrupted"));
    run(&straight, "6", false);
    run(&interrupted, "3", false);
    run(&interrupted, "6", true);
    // The factors, by name (the header's entries come in no fixed order).
    let adapter = |dir: &Path| {
        let bytes = std::fs::read(dir.join("adapter.safetensors")).unwrap();
        let file = safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut factors: Vec<(String, Vec<u8>)> = file
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.data().to_vec()))
            .collect();
        factors.sort();
        factors
    };
    assert!(
        adapter(&interrupted) == adapter(&straight),
        "the same masks, batches and moments"
    );
    let no_dropout = work.join("no-dropout");
    let mut args = train_args(model, pairs, &no_dropout);
    args.extend(["--max-steps", "6"]);
    succeeded(cli_output(&args));
    assert!(
        adapter(&no_dropout) != adapter(&straight),
        "dropout 0.3 changes the run"
    );
}
