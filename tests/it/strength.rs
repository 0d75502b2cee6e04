//! The safety–knowledge dial: an adapter at strength 0 is the original model exactly, at 1 the
//! model as trained, and `eval --sweep` gives, at each strength, what separate runs give.

use std::path::Path;

use crate::reliability::{cli_output, path, refused, succeeded, workspace};

fn json(output: std::process::Output) -> serde_json::Value {
    serde_json::from_str(&succeeded(output)).unwrap()
}

#[test]
fn strength_zero_is_the_original_and_one_the_trained_model() {
    let run = workspace("strength", 24);
    run.train(&run.work, &["--max-steps", "4"]);
    let (model, work): (&Path, &Path) = (&run.model, &run.work);
    let adapter = work.join("adapter.safetensors");
    let encode = |extra: &[&str]| {
        let mut args = vec![
            "encode",
            "--model",
            path(model),
            "--text",
            "a dog on the beach",
            "--text",
            "a gun",
            "--json",
        ];
        args.extend(extra);
        json(cli_output(&args))["text_embeds"].clone()
    };
    let original = encode(&[]);
    let tuned = encode(&["--adapter", path(&adapter)]);
    assert_ne!(original, tuned, "four steps at lr 1e-2 move the embeddings");
    assert_eq!(
        encode(&["--adapter", path(&adapter), "--strength", "0"]),
        original,
        "exactly"
    );
    let at_one = encode(&["--adapter", path(&adapter), "--strength", "1"]);
    let rows = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()))
            .collect()
    };
    let diff = rows(&at_one)
        .iter()
        .zip(rows(&tuned))
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    assert!(diff <= 1e-6, "{diff}");
    for bad in ["-0.5", "nan", "3"] {
        let strength = format!("--strength={bad}");
        let message = refused(cli_output(&[
            "encode",
            "--model",
            path(model),
            "--adapter",
            path(&adapter),
            &strength,
            "--text",
            "a",
        ]));
        assert!(
            message.contains("the adapter strength must be between 0"),
            "{bad}: {message}"
        );
    }
}

#[test]
fn a_sweep_has_every_strength_and_agrees_with_separate_evaluations() {
    let run = workspace("sweep", 24);
    run.train(&run.work, &["--max-steps", "4"]);
    let (model, work, pairs): (&Path, &Path, &Path) = (&run.model, &run.work, &run.pairs);
    let adapter = work.join("adapter.safetensors");
    let out = work.join("sweep");
    let base = [
        "eval",
        "--model",
        path(model),
        "--adapter",
        path(&adapter),
        "--pairs",
        path(pairs),
    ];
    let mut sweep = base.to_vec();
    sweep.extend(["--sweep", "0,0.5,1,1.5", "--out", path(&out)]);
    let table = succeeded(cli_output(&sweep));
    assert!(table.contains("unsafe→safe top-1"), "{table}");
    let points: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let strengths: Vec<f64> = points
        .iter()
        .map(|p| p["strength"].as_f64().unwrap())
        .collect();
    assert_eq!(strengths, [0.0, 0.5, 1.0, 1.5]);
    let svg = std::fs::read_to_string(out.join("sweep.svg")).unwrap();
    assert_eq!(svg.matches("<circle").count(), 4);
    for point in &points {
        let strength = point["strength"].as_f64().unwrap().to_string();
        let mut single = base.to_vec();
        single.extend(["--strength", &strength]);
        let report = json(cli_output(&single));
        assert_eq!(
            point["safe_top1"], report["tuned"]["pairs"]["text"]["safe_top1"],
            "s = {strength}"
        );
        assert_eq!(
            point["paired_safe"], report["tuned"]["pairs"]["text"]["paired_safe"],
            "s = {strength}"
        );
        assert_eq!(
            point["safe_caption_cosine"], report["drift"]["safe_captions"]["mean_cosine"],
            "s = {strength}"
        );
    }
    let unchanged = points[0]["safe_caption_cosine"].as_f64().unwrap();
    assert!(
        (unchanged - 1.0).abs() < 1e-6,
        "strength 0 is the original: {unchanged}"
    );
}
