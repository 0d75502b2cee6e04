//! Attaching LoRA adapters to a CLIP model (PEFT's injection): every adaptable projection of
//! both towers by its `transformers` module path, fresh adapters on the targeted ones, and
//! merging them back into the base weights.

use burn::module::Param;
use burn::prelude::*;

use super::clip::ClipModel;
use crate::error::{Error, Result};
use crate::lora::{LoraAdapter, LoraConfig, LoraLinear, is_target};
use crate::random::SplitMix64;

/// One adaptable projection: its `transformers` module path (`text_model.encoder.layers.0.
/// self_attn.k_proj`, `vision_model.embeddings.patch_embedding`, …) and the layer. `kernel` is
/// `[channels, patch, patch]` for the patch embedding, which PyTorch holds as a convolution.
pub struct Projection<L> {
    pub name: String,
    pub layer: L,
    pub kernel: Option<[usize; 3]>,
}

const PATCH_EMBEDDING: &str = "vision_model.embeddings.patch_embedding";

/// The largest adapter strength: twice the trained update. Beyond it the update leaves the
/// region training explored, and nothing says what the model then does.
pub const MAX_STRENGTH: f64 = 2.0;

/// A strength in `[0, MAX_STRENGTH]`, refused by name otherwise.
pub fn check_strength(strength: f64) -> Result<()> {
    if !(0.0..=MAX_STRENGTH).contains(&strength) {
        return Err(Error::Input(format!(
            "the adapter strength must be between 0 (the original model) and {MAX_STRENGTH}; got {strength}"
        )));
    }
    Ok(())
}

impl ClipModel {
    /// Every adaptable projection of both towers, in checkpoint order.
    pub fn projections(&self) -> Vec<Projection<&LoraLinear>> {
        let patches = &self.vision_model.patch_embedding;
        in_order(
            self.text_model.encoder.projections(),
            Projection {
                name: PATCH_EMBEDDING.into(),
                layer: &patches.projection,
                kernel: Some(patches.kernel()),
            },
            self.vision_model.encoder.projections(),
        )
    }

    /// [`Self::projections`], mutably.
    pub fn projections_mut(&mut self) -> Vec<Projection<&mut LoraLinear>> {
        let patches = &mut self.vision_model.patch_embedding;
        let kernel = Some(patches.kernel());
        let patches = Projection {
            name: PATCH_EMBEDDING.into(),
            layer: &mut patches.projection,
            kernel,
        };
        in_order(
            self.text_model.encoder.projections_mut(),
            patches,
            self.vision_model.encoder.projections_mut(),
        )
    }

    /// The model with every base weight frozen and a fresh adapter on each targeted projection
    /// of both towers (drawn from `seed`): the same outputs until the adapters train.
    pub fn with_lora(self, config: &LoraConfig, seed: u64) -> Result<Self> {
        let device = self.logit_scale.device();
        let mut rng = SplitMix64::new(seed);
        self.with_adapters(config, |_, [d_in, d_out]| {
            Ok(LoraAdapter::new(d_in, d_out, config, &mut rng, &device))
        })
    }

    /// The model with every base weight frozen and, on each projection `config` targets, the
    /// adapter `make` builds from its name and `[in, out]`, once the rank is known to fit every
    /// targeted layer (nothing of a hostile rank is allocated).
    pub fn with_adapters(
        self,
        config: &LoraConfig,
        mut make: impl FnMut(&str, [usize; 2]) -> Result<LoraAdapter>,
    ) -> Result<Self> {
        config.validate()?;
        let targeted: Vec<[usize; 2]> = self
            .projections()
            .into_iter()
            .filter(|p| is_target(&p.name, &config.targets))
            .map(|p| p.layer.dims())
            .collect();
        config.check_budget(&targeted, self.num_params())?;
        let mut model = self.no_grad();
        for Projection { name, layer, .. } in model.projections_mut() {
            if is_target(&name, &config.targets) {
                layer.adapter = Some(make(&name, layer.dims())?);
            }
        }
        Ok(model)
    }

    /// Whether any projection carries an adapter.
    pub fn has_adapters(&self) -> bool {
        self.projections().iter().any(|p| p.layer.adapter.is_some())
    }

    /// Every adapter factor, named `<projection>.a` and `<projection>.b`: what training updates
    /// and a checkpoint keeps moments for.
    pub fn adapter_factors(&self) -> Vec<(String, &Param<Tensor<2>>)> {
        let mut factors = Vec::new();
        for Projection { name, layer, .. } in self.projections() {
            if let Some(adapter) = &layer.adapter {
                factors.push((format!("{name}.a"), &adapter.a));
                factors.push((format!("{name}.b"), &adapter.b));
            }
        }
        factors
    }

    /// [`Self::adapter_factors`], mutably.
    pub fn adapter_factors_mut(&mut self) -> Vec<(String, &mut Param<Tensor<2>>)> {
        let mut factors = Vec::new();
        for Projection { name, layer, .. } in self.projections_mut() {
            if let Some(adapter) = &mut layer.adapter {
                factors.push((format!("{name}.a"), &mut adapter.a));
                factors.push((format!("{name}.b"), &mut adapter.b));
            }
        }
        factors
    }

    /// The model with each adapter's update scaled by `strength`: 0 is the original model
    /// (adapters dropped, so exactly its outputs), 1 the model as trained, values in between
    /// trade safety for what the original knew. Up to [`MAX_STRENGTH`].
    pub fn with_strength(self, strength: f64) -> Result<Self> {
        check_strength(strength)?;
        let mut model = self;
        for projection in model.projections_mut() {
            if strength == 0.0 {
                projection.layer.adapter = None;
            } else if let Some(adapter) = &mut projection.layer.adapter {
                adapter.scale *= strength;
            }
        }
        Ok(model)
    }

    /// The model with every adapter folded into its base weight.
    pub fn merged(self) -> Self {
        let mut model = self;
        for projection in model.projections_mut() {
            *projection.layer = projection.layer.clone().merged();
        }
        model
    }
}

/// The text tower's encoder projections, the patch embedding, then the vision tower's.
fn in_order<L>(
    text: Vec<(String, L)>,
    patches: Projection<L>,
    vision: Vec<(String, L)>,
) -> Vec<Projection<L>> {
    let encoder = |tower: &'static str, layers: Vec<(String, L)>| {
        layers.into_iter().map(move |(name, layer)| Projection {
            name: format!("{tower}.encoder.{name}"),
            layer,
            kernel: None,
        })
    };
    encoder("text_model", text)
        .chain(std::iter::once(patches))
        .chain(encoder("vision_model", vision))
        .collect()
}
