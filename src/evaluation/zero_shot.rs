//! Zero-shot classification as in the CLIP paper: each class is the normalised mean of its
//! prompt-template embeddings, and an image takes the class of highest cosine.

use burn::prelude::*;
use serde::Serialize;

use burn::tensor::activation::softmax;

use crate::device::{read_finite, read_i64};
use crate::error::{Error, Result};
use crate::model::l2_normalize;
use crate::pipeline::Clip;
use crate::preprocess::Pixels;

/// Class names and templates (with `{}` for the class) of one dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct PromptSet {
    pub classes: Vec<String>,
    pub templates: Vec<String>,
}

/// Reads one dataset's section (`## CIFAR10`, …) of OpenAI's `prompts.md`: a `classes = [...]`
/// and a `templates = [...]` list of quoted strings.
pub fn parse_prompt_file(markdown: &str, dataset: &str) -> Result<PromptSet> {
    let heading = format!("## {dataset}");
    let section = markdown
        .split("\n## ")
        .find(|s| s.trim_start_matches("## ").lines().next().map(str::trim) == Some(dataset))
        .ok_or_else(|| Error::Input(format!("no `{heading}` section in the prompt file")))?;
    let list = |name: &str| -> Result<Vec<String>> {
        let start = section
            .find(&format!("{name} = ["))
            .ok_or_else(|| Error::Input(format!("the {dataset} section has no `{name}` list")))?;
        let body = &section[start..];
        let body = &body[..body.find(']').unwrap_or(body.len())];
        let items: Vec<String> = body
            .lines()
            .skip(1)
            .filter_map(|line| {
                let line = line.trim().trim_end_matches(',');
                let quote = line.chars().next().filter(|c| *c == '\'' || *c == '"')?;
                Some(line.trim_matches(quote).to_string())
            })
            .collect();
        if items.is_empty() {
            return Err(Error::Input(format!(
                "the {dataset} `{name}` list is empty"
            )));
        }
        Ok(items)
    };
    Ok(PromptSet {
        classes: list("classes")?,
        templates: list("templates")?,
    })
}

/// `[classes, d]` unit-length class embeddings.
pub fn class_embeddings(clip: &Clip, prompts: &PromptSet) -> Result<Tensor<2>> {
    let rows = prompts
        .classes
        .iter()
        .map(|class| {
            let texts: Vec<String> = prompts
                .templates
                .iter()
                .map(|t| t.replace("{}", class))
                .collect();
            Ok(clip.embed_texts(&texts)?.mean_dim(0))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(l2_normalize(Tensor::cat(rows, 0)))
}

/// Each image's probability of each class: the softmax over classes of
/// `exp(logit_scale) · cos(image, class)`, as `CLIPModel`'s `logits_per_image` gives them.
pub async fn class_probabilities(
    clip: &Clip,
    prompts: &PromptSet,
    images: &[Pixels],
) -> Result<Vec<Vec<f32>>> {
    if images.is_empty() {
        return Err(Error::Input("no images to classify".into()));
    }
    if prompts.classes.is_empty() || prompts.classes.iter().any(|c| c.trim().is_empty()) {
        return Err(Error::Input("give class names, none of them blank".into()));
    }
    if prompts.templates.is_empty() || prompts.templates.iter().any(|t| !t.contains("{}")) {
        return Err(Error::Input(
            "give prompt templates, each with {} where the class name goes".into(),
        ));
    }
    let classes = class_embeddings(clip, prompts)?;
    let logits = clip
        .model
        .logits_per_text(clip.embed_images(images)?, classes);
    let n = prompts.classes.len();
    let values = read_finite(softmax(logits, 1), "a class probability").await?;
    Ok(values.chunks(n).map(<[f32]>::to_vec).collect())
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ZeroShot {
    pub images: usize,
    pub accuracy: f64,
    /// Each class's accuracy; `None` for a class without images.
    pub per_class: Vec<(String, Option<f64>)>,
}

/// Accuracy over `(image, class index)` examples, `batch` images at a time.
pub async fn zero_shot_accuracy(
    clip: &Clip,
    prompts: &PromptSet,
    examples: &[(Pixels, usize)],
    batch: usize,
) -> Result<ZeroShot> {
    if examples.is_empty() {
        return Err(Error::Input("no images to classify".into()));
    }
    let classes = class_embeddings(clip, prompts)?;
    let mut correct = vec![0usize; prompts.classes.len()];
    let mut total = vec![0usize; prompts.classes.len()];
    for chunk in examples.chunks(batch.max(1)) {
        let pixels: Vec<Pixels> = chunk.iter().map(|(p, _)| p.clone()).collect();
        let scores = clip
            .embed_images(&pixels)?
            .matmul(classes.clone().transpose());
        let predicted = read_i64(scores.argmax(1)).await?;
        for ((_, truth), guess) in chunk.iter().zip(predicted) {
            total[*truth] += 1;
            correct[*truth] += usize::from(guess as usize == *truth);
        }
    }
    let all: usize = total.iter().sum();
    Ok(ZeroShot {
        images: all,
        accuracy: correct.iter().sum::<usize>() as f64 / all as f64,
        per_class: prompts
            .classes
            .iter()
            .zip(correct.iter().zip(&total))
            .map(|(name, (&c, &t))| (name.clone(), (t > 0).then(|| c as f64 / t as f64)))
            .collect(),
    })
}
