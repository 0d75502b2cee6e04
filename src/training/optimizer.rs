//! AdamW (Loshchilov & Hutter) over the LoRA factors (and HySAC's scalars), with global-norm gradient clipping.
//!
//! Burn's optimisers key their state by parameter id, which is new on every load; this one keys
//! it by the factor's checkpoint name, so a checkpoint holds the moments and a resumed run
//! continues exactly where it stopped. Everything stays on the device: no read-backs.

use std::collections::BTreeMap;

use burn::prelude::*;

use super::config::OptimizerConfig;

/// Adam's running averages of a factor's gradient and squared gradient.
#[derive(Debug, Clone)]
pub struct Moments {
    pub first: Tensor<2>,
    pub second: Tensor<2>,
}

#[derive(Debug, Clone)]
pub struct AdamW {
    config: OptimizerConfig,
    /// Updates applied so far (Adam's `t`).
    pub steps: usize,
    pub moments: BTreeMap<String, Moments>,
}

/// A parameter to update: its name, current value and gradient (both without autodiff), and
/// whether weight decay applies to it.
pub struct Update {
    pub name: String,
    pub value: Tensor<2>,
    pub grad: Tensor<2>,
    pub decay: bool,
}

impl AdamW {
    pub fn new(config: OptimizerConfig) -> Self {
        Self {
            config,
            steps: 0,
            moments: BTreeMap::new(),
        }
    }

    /// `‖g‖₂` over all gradients together, a one-element tensor.
    pub fn global_norm(updates: &[Update]) -> Tensor<1> {
        updates
            .iter()
            .map(|u| u.grad.clone().powi_scalar(2).sum())
            .reduce(|a, b| a + b)
            .expect("at least one factor to update")
            .sqrt()
    }

    /// One step on every factor; returns the new values in the same order. Gradients are first
    /// scaled by `min(1, max_norm / ‖g‖)` when clipping is on.
    pub fn step(&mut self, updates: Vec<Update>, grad_norm: Tensor<1>) -> Vec<Tensor<2>> {
        let c = &self.config;
        self.steps += 1;
        let t = self.steps as i32;
        let clip = c.max_grad_norm.map(|max| {
            (grad_norm.add_scalar(1e-6).recip() * max)
                .clamp_max(1.0)
                .unsqueeze::<2>()
        });
        let correction1 = 1.0 - c.beta1.powi(t);
        let correction2 = 1.0 - c.beta2.powi(t);
        updates
            .into_iter()
            .map(
                |Update {
                     name,
                     value,
                     grad,
                     decay,
                 }| {
                    let grad = match &clip {
                        Some(scale) => grad * scale.clone(),
                        None => grad,
                    };
                    let moments = match self.moments.remove(&name) {
                        Some(m) => Moments {
                            first: m.first * c.beta1 + grad.clone() * (1.0 - c.beta1),
                            second: m.second * c.beta2 + grad.powi_scalar(2) * (1.0 - c.beta2),
                        },
                        None => Moments {
                            first: grad.clone() * (1.0 - c.beta1),
                            second: grad.powi_scalar(2) * (1.0 - c.beta2),
                        },
                    };
                    let step = (moments.first.clone() / correction1)
                        / ((moments.second.clone() / correction2).sqrt() + c.epsilon);
                    let decayed = if decay {
                        value.clone() - value * (c.learning_rate * c.weight_decay)
                    } else {
                        value
                    };
                    self.moments.insert(name, moments);
                    decayed - step * c.learning_rate
                },
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adam on f(x) = ½‖x − 3‖², against the same recurrence written out in f64.
    #[test]
    fn matches_the_textbook_recurrence() {
        let device = Device::flex();
        let config = OptimizerConfig {
            learning_rate: 0.1,
            weight_decay: 0.01,
            max_grad_norm: None,
            ..OptimizerConfig::default()
        };
        let mut adam = AdamW::new(config.clone());
        let mut x = Tensor::<2>::from_data([[0.0f32, 1.0]], &device);
        let (mut xs, mut m, mut v) = ([0.0f64, 1.0], [0.0f64; 2], [0.0f64; 2]);
        for t in 1..=5 {
            let grad = x.clone().sub_scalar(3.0);
            let norm = AdamW::global_norm(&[Update {
                name: "x".into(),
                value: x.clone(),
                grad: grad.clone(),
                decay: true,
            }]);
            x = adam
                .step(
                    vec![Update {
                        name: "x".into(),
                        value: x,
                        grad,
                        decay: true,
                    }],
                    norm,
                )
                .remove(0);
            for i in 0..2 {
                let g = xs[i] - 3.0;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                let update = (m[i] / (1.0 - 0.9f64.powi(t)))
                    / ((v[i] / (1.0 - 0.999f64.powi(t))).sqrt() + 1e-8);
                xs[i] = xs[i] - 0.1 * 0.01 * xs[i] - 0.1 * update;
            }
        }
        let ours = x.into_data().try_to_vec::<f32>().unwrap();
        for (o, e) in ours.iter().zip(xs) {
            assert!((*o as f64 - e).abs() < 1e-5, "{o} vs {e}");
        }
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let device = Device::flex();
        let config = OptimizerConfig {
            learning_rate: 1.0,
            beta1: 0.0,
            beta2: 0.0,
            max_grad_norm: Some(1.0),
            ..OptimizerConfig::default()
        };
        let mut adam = AdamW::new(config);
        let grads = [
            Tensor::<2>::from_data([[30.0f32, 40.0]], &device),
            Tensor::<2>::from_data([[0.0f32]], &device),
        ];
        let updates: Vec<Update> = grads
            .iter()
            .enumerate()
            .map(|(i, g)| Update {
                name: i.to_string(),
                value: g.zeros_like(),
                grad: g.clone(),
                decay: true,
            })
            .collect();
        let norm = AdamW::global_norm(&updates);
        assert_eq!(
            norm.clone().into_data().try_to_vec::<f32>().unwrap(),
            [50.0]
        );
        adam.step(updates, norm);
        // With β = 0 the first moment is the clipped gradient itself.
        let first = adam.moments["0"]
            .first
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!(
            (first[0] - 0.6).abs() < 1e-5 && (first[1] - 0.8).abs() < 1e-5,
            "{first:?}"
        );
    }
}
