//! Zero-shot probabilities (the page's zero-shot panel) are the softmax of the logits `encode`
//! prints, class by class.

use safer_clip::device::{Backend, block_on, device};
use safer_clip::evaluation::{PromptSet, class_probabilities};
use safer_clip::preprocess::preprocess_image;

use crate::common::fixtures;
use crate::reliability::{cli_output, path, succeeded, word_model};

#[test]
fn class_probabilities_are_the_softmax_of_encode_logits() {
    let model = word_model("zero-shot");
    let images: Vec<_> = ["down-57x83.png", "wide-200x31.png"]
        .iter()
        .map(|n| fixtures().join("images").join(n))
        .collect();
    let classes = ["dog", "cat", "car"];
    let mut args = vec!["encode", "--model", path(&model), "--json"];
    for class in &classes {
        args.extend(["--text", class]);
    }
    for image in &images {
        args.extend(["--image", path(image)]);
    }
    let encoded: serde_json::Value = serde_json::from_str(&succeeded(cli_output(&args))).unwrap();
    let clip = safer_clip::Clip::from_dir(&model, &device(Backend::Flex).unwrap()).unwrap();
    let pixels: Vec<_> = images
        .iter()
        .map(|p| preprocess_image(&std::fs::read(p).unwrap(), clip.image_size()).unwrap())
        .collect();
    let prompts = PromptSet {
        classes: classes.map(String::from).to_vec(),
        templates: vec!["{}".into()],
    };
    let probabilities = block_on(class_probabilities(&clip, &prompts, &pixels)).unwrap();
    for (i, row) in probabilities.iter().enumerate() {
        let logits: Vec<f64> = (0..classes.len())
            .map(|c| encoded["logits_per_text"][c][i].as_f64().unwrap())
            .collect();
        let top = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = logits.iter().map(|l| (l - top).exp()).sum();
        for (c, p) in row.iter().enumerate() {
            let expected = (logits[c] - top).exp() / total;
            assert!(
                (*p as f64 - expected).abs() < 1e-4,
                "image {i} class {c}: {p} vs {expected}"
            );
        }
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
    let blank = PromptSet {
        classes: vec!["dog".into(), " ".into()],
        templates: vec!["{}".into()],
    };
    assert!(
        block_on(class_probabilities(&clip, &blank, &pixels))
            .unwrap_err()
            .to_string()
            .contains("blank")
    );
}
