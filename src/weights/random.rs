//! Values for a freshly initialised CLIP, by checkpoint key, at the scales `transformers`'
//! `CLIPPreTrainedModel._init_weights` uses (normal draws with a std of `fan_in^-½`, ones and
//! zeros for norms and biases). Not bit-identical to PyTorch's: a model to test and benchmark
//! on, where real weights cannot be had.

use crate::random::SplitMix64;

/// `log(1 / 0.07)`, CLIP's initial temperature.
const LOGIT_SCALE_INIT: f32 = 2.6592;

pub fn initial_values(key: &str, shape: &[usize], rng: &mut SplitMix64) -> Vec<f32> {
    let len: usize = shape.iter().product();
    let is_norm = ["layer_norm", "layrnorm", "layernorm"]
        .iter()
        .any(|n| key.contains(n));
    if key == "logit_scale" {
        return vec![LOGIT_SCALE_INIT; len];
    }
    if key.ends_with(".bias") {
        return vec![0.0; len];
    }
    if is_norm {
        return vec![1.0; len];
    }
    let std = if key.contains("embeddings.") && !key.contains("class_embedding") {
        0.02
    } else {
        // Linear weights are `[out, in]`; the class embedding is `[hidden]`.
        let fan_in = *shape.last().unwrap_or(&1) as f32;
        fan_in.powf(-0.5)
    };
    (0..len).map(|_| std * standard_normal(rng)).collect()
}

/// Box–Muller.
fn standard_normal(rng: &mut SplitMix64) -> f32 {
    let (u, v) = (rng.unit(), rng.unit());
    ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_have_the_init_scale() {
        let mut rng = SplitMix64::new(1);
        let values = initial_values(
            "text_model.encoder.layers.0.mlp.fc1.weight",
            &[256, 64],
            &mut rng,
        );
        let mean = values.iter().sum::<f32>() / values.len() as f32;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / values.len() as f32;
        assert!(
            mean.abs() < 0.01 && (var.sqrt() - 0.125).abs() < 0.005,
            "mean {mean}, std {}",
            var.sqrt()
        );
        assert_eq!(
            initial_values("a.layer_norm1.weight", &[3], &mut rng),
            [1.0; 3]
        );
        assert_eq!(initial_values("a.fc1.bias", &[2], &mut rng), [0.0; 2]);
    }
}
