//! `safer-clip encode`: CLIP's README example as a command.

use std::path::PathBuf;

use clap::Args;

use crate::inputs::{ModelArgs, read_image};

use safer_clip::error::{Error, Result};
use safer_clip::pipeline::to_rows;
use serde::Serialize;

#[derive(Args)]
pub struct EncodeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// A text to embed (repeat for several).
    #[arg(long = "text")]
    texts: Vec<String>,
    /// An image file to embed: JPEG, PNG or WebP (repeat for several).
    #[arg(long = "image")]
    images: Vec<PathBuf>,
    /// Print the embeddings and logits as JSON, as `transformers`' CLIPModel returns them.
    #[arg(long)]
    json: bool,
}

/// The JSON output: normalised projected embeddings and scaled logits.
#[derive(Serialize)]
struct Encoded {
    text_embeds: Vec<Vec<f32>>,
    image_embeds: Vec<Vec<f32>>,
    logits_per_text: Vec<Vec<f32>>,
}

pub fn run(args: EncodeArgs) -> Result<()> {
    if args.texts.is_empty() && args.images.is_empty() {
        return Err(Error::Input("give at least one --text or --image".into()));
    }
    let clip = args.model.load()?;

    let texts = if args.texts.is_empty() {
        None
    } else {
        Some(clip.embed_texts(&args.texts)?)
    };
    let images = if args.images.is_empty() {
        None
    } else {
        let pixels = args
            .images
            .iter()
            .map(|path| read_image(path, clip.image_size()))
            .collect::<Result<Vec<_>>>()?;
        Some(clip.embed_images(&pixels)?)
    };
    let logits_per_text = match (&texts, &images) {
        (Some(t), Some(i)) => to_rows(clip.model.logits_per_text(t.clone(), i.clone()))?,
        _ => Vec::new(),
    };
    let encoded = Encoded {
        text_embeds: texts.map(to_rows).transpose()?.unwrap_or_default(),
        image_embeds: images.map(to_rows).transpose()?.unwrap_or_default(),
        logits_per_text,
    };

    if args.json {
        println!(
            "{}",
            serde_json::to_string(&encoded).expect("floats serialise")
        );
    } else {
        let image_names: Vec<String> = args
            .images
            .iter()
            .map(|p| {
                p.file_name().map_or_else(
                    || p.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                )
            })
            .collect();
        print_table(&args.texts, &image_names, &encoded);
    }
    Ok(())
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// For each image, each text's cosine similarity, logit, and probability (softmax over the
/// texts), like CLIP's README example; with one modality only, the cosine matrix within it.
fn print_table(texts: &[String], images: &[String], encoded: &Encoded) {
    let width = texts
        .iter()
        .chain(images)
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0)
        .min(48);
    let clip = |s: &str| -> String {
        if s.chars().count() > width {
            s.chars().take(width - 1).chain(['…']).collect()
        } else {
            s.to_string()
        }
    };
    if !texts.is_empty() && !images.is_empty() {
        for (i, image) in images.iter().enumerate() {
            println!("{image}");
            let logits: Vec<f32> = encoded.logits_per_text.iter().map(|row| row[i]).collect();
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exp: Vec<f32> = logits.iter().map(|l| (l - max).exp()).collect();
            let total: f32 = exp.iter().sum();
            println!(
                "  {:<width$}  {:>7}  {:>7}  {:>7}",
                "text", "cosine", "logit", "prob"
            );
            for (t, text) in texts.iter().enumerate() {
                let cosine = dot(&encoded.text_embeds[t], &encoded.image_embeds[i]);
                println!(
                    "  {:<width$}  {:>7.4}  {:>7.3}  {:>6.2}%",
                    clip(text),
                    cosine,
                    logits[t],
                    100.0 * exp[t] / total
                );
            }
        }
        return;
    }
    let (names, embeds) = if images.is_empty() {
        (texts, &encoded.text_embeds)
    } else {
        (images, &encoded.image_embeds)
    };
    println!("cosine similarity");
    for (a, name) in names.iter().enumerate() {
        let row: Vec<String> = embeds
            .iter()
            .map(|e| format!("{:>7.4}", dot(&embeds[a], e)))
            .collect();
        println!("  {:<width$}  {}", clip(name), row.join(" "));
    }
}
