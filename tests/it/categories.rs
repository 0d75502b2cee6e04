//! Per-category answers: every report breaks redirection and HySAC's classifier down by the
//! pairs' category, the parts add up to the whole, a category the training never saw is named,
//! and a HySAC adapter carries the thresholds fitted on its validation split.

use crate::reliability::{Workspace, cli_output, succeeded, train_args, workspace};
use safer_clip::device::{Backend, device};
use safer_clip::weights::load_adapters;

/// A run of `method` with `--test` at `test`, on pairs with a one-pair category of its own: the
/// test split takes it, and training never sees it. The workspace and the report.
fn train(method: &str, test: &str) -> (Workspace, serde_json::Value) {
    let run = workspace(&format!("categories-{method}"), 24);
    let rare = serde_json::json!({"safe": "a cat on a bench", "unsafe": "a cat with blood on a bench", "category": "rare"});
    let text = std::fs::read_to_string(&run.pairs).unwrap();
    std::fs::write(&run.pairs, format!("{text}\n{rare}")).unwrap();
    let mut args = train_args(&run.model, &run.pairs, &run.work);
    let at = args.iter().position(|a| *a == "--test").unwrap() + 1;
    args[at] = test;
    args.extend(["--max-steps", "2", "--method", method, "--json"]);
    let report = serde_json::from_str(&succeeded(cli_output(&args))).unwrap();
    (run, report)
}

/// `Σ weight · value / Σ weight` over the categories.
fn weighted(
    parts: &[serde_json::Value],
    weight: &str,
    value: impl Fn(&serde_json::Value) -> f64,
) -> f64 {
    let total: f64 = parts.iter().map(|p| p[weight].as_f64().unwrap()).sum();
    parts
        .iter()
        .map(|p| p[weight].as_f64().unwrap() * value(p))
        .sum::<f64>()
        / total
}

#[test]
fn redirection_by_category_adds_up_and_an_unseen_category_is_named() {
    let (_run, report) = train("safer", "0.5");
    assert_eq!(
        report["data"]["unseen_categories"],
        serde_json::json!(["rare"])
    );
    for side in ["original", "tuned"] {
        let text = &report[side]["text"];
        let parts = text["by_category"].as_array().unwrap();
        let names: Vec<&str> = parts
            .iter()
            .map(|p| p["category"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["drugs", "rare", "violence", "weapons"]);
        let top1 = weighted(parts, "pairs", |p| p["safe_top1"].as_f64().unwrap());
        assert!(
            (top1 - text["safe_top1"].as_f64().unwrap()).abs() < 1e-12,
            "{side}: {top1}"
        );
        for (k, recall) in text["paired_safe"].as_array().unwrap().iter().enumerate() {
            let parts_recall = weighted(parts, "pairs", |p| {
                p["paired_safe"][k]["recall"].as_f64().unwrap()
            });
            assert!(
                (parts_recall - recall["recall"].as_f64().unwrap()).abs() < 1e-12,
                "{side} R@{}",
                recall["k"]
            );
        }
    }
}

#[test]
fn hysac_classifies_by_category_and_its_adapter_keeps_the_thresholds() {
    let (run, report) = train("hysac", "0.3");
    let (model, work) = (&run.model, &run.work);
    let tuned = &report["hysac"]["tuned"];
    let parts = tuned["text_by_category"].as_array().unwrap();
    let items = |p: &serde_json::Value| p["global"]["items"].as_f64().unwrap();
    let accuracy = parts
        .iter()
        .map(|p| items(p) * p["global"]["accuracy"].as_f64().unwrap())
        .sum::<f64>()
        / parts.iter().map(items).sum::<f64>();
    assert!(
        (accuracy - tuned["text"]["accuracy"].as_f64().unwrap()).abs() < 1e-12,
        "{accuracy}"
    );
    let clip = safer_clip::Clip::from_dir(model, &device(Backend::Flex).unwrap()).unwrap();
    let adapter = load_adapters(
        clip.model,
        &std::fs::read(work.join("adapter.safetensors")).unwrap(),
    )
    .unwrap();
    let thresholds = adapter
        .thresholds
        .expect("a HySAC adapter with a validation split keeps its thresholds");
    assert_eq!(
        thresholds.global,
        tuned["text"]["threshold"].as_f64().unwrap() as f32
    );
    for part in parts {
        let category = part["category"].as_str().unwrap();
        match part["own"]["threshold"].as_f64() {
            Some(own) => assert_eq!(thresholds.by_category[category], own as f32, "{category}"),
            None => assert!(!thresholds.by_category.contains_key(category), "{category}"),
        }
    }
}
