//! LoRA adapters alone as a small safetensors file, under PEFT's key names
//! (`base_model.model.<projection>.lora_A.weight` `[r, in]`, `lora_B.weight` `[out, r]`; for the
//! patch embedding `[r, channels, patch, patch]` and `[out, r, 1, 1]`), with
//! the [`LoraConfig`] in the header so that the file says how to rebuild what it holds. A HySAC
//! adapter also holds its hyperbolic head (`hysac.<scalar>`, `[1, 1]`) and, in the header, its
//! safe region (`hysac_safe_region`).

use std::collections::HashMap;

use safetensors::SafeTensors;

use super::checkpoint::Checkpoint;
use super::layout::torch_shapes;
use super::writer::SafetensorsWriter;
use crate::error::{Error, Result};

use crate::hyperbolic::{Hyperbolic, HyperbolicHead, SafeRegion, Thresholds};
use crate::lora::{LoraAdapter, LoraConfig};
use crate::model::ClipModel;

/// Header value of `format` in an adapter file.
pub const ADAPTER_FORMAT: &str = "safer-clip-lora";

const PREFIX: &str = "base_model.model";

const HEAD_PREFIX: &str = "hysac";
const REGION_KEY: &str = "hysac_safe_region";
const THRESHOLDS_KEY: &str = "hysac_thresholds";

fn key(projection: &str, factor: &str) -> String {
    format!("{PREFIX}.{projection}.lora_{factor}.weight")
}

/// Stores every adapter of `model` and the config they were built with.
pub async fn write_adapters(
    writer: &mut SafetensorsWriter,
    model: &ClipModel,
    config: &LoraConfig,
) -> Result<()> {
    writer.metadata("format", ADAPTER_FORMAT);
    writer.metadata(
        "lora_config",
        serde_json::to_string(config).expect("config serialises"),
    );
    let mut stored = 0;
    for projection in model.projections() {
        if let Some(adapter) = &projection.layer.adapter {
            let [_, a_shape, b_shape] =
                torch_shapes(projection.kernel, projection.layer.dims(), config.rank);
            writer
                .add_transposed_as(&key(&projection.name, "A"), adapter.a.val(), &a_shape)
                .await?;
            writer
                .add_transposed_as(&key(&projection.name, "B"), adapter.b.val(), &b_shape)
                .await?;
            stored += 1;
        }
    }
    if stored == 0 {
        return Err(Error::Input(
            "the model carries no LoRA adapter to export".into(),
        ));
    }
    Ok(())
}

/// An adapter file's bytes, with `extra` header entries (method, base model, …).
pub async fn save_adapters(
    model: &ClipModel,
    config: &LoraConfig,
    hyperbolic: Option<&Hyperbolic>,
    extra: &[(&str, String)],
) -> Result<Vec<u8>> {
    let mut writer = SafetensorsWriter::new();
    write_adapters(&mut writer, model, config).await?;
    if let Some(hyperbolic) = hyperbolic {
        write_hyperbolic(&mut writer, hyperbolic).await?;
    }
    for (key, value) in extra {
        writer.metadata(key, value.clone());
    }
    writer.finish()
}

/// The LoRA config recorded in a checkpoint's header.
pub fn adapter_config(checkpoint: &Checkpoint) -> Result<LoraConfig> {
    let json = checkpoint.metadata("lora_config").ok_or_else(|| {
        Error::Weights(format!(
            "not a {ADAPTER_FORMAT} file: its header has no `lora_config`"
        ))
    })?;
    let config: LoraConfig = serde_json::from_str(json)
        .map_err(|e| Error::Weights(format!("the adapter's `lora_config` is invalid: {e}")))?;
    config.validate()?;
    Ok(config)
}

/// `model` (base weights) with the adapters stored in `checkpoint` attached, every shape
/// checked against the model. Tensors other than adapters are left for the caller to read.
pub fn read_adapters(model: ClipModel, checkpoint: &Checkpoint) -> Result<(ClipModel, LoraConfig)> {
    let config = adapter_config(checkpoint)?;
    let kernels: HashMap<String, Option<[usize; 3]>> = model
        .projections()
        .into_iter()
        .map(|p| (p.name, p.kernel))
        .collect();
    let model = model.with_adapters(&config, |name, [d_in, d_out]| {
        let [_, a_shape, b_shape] = torch_shapes(kernels[name], [d_in, d_out], config.rank);
        let a = checkpoint.matrix_transposed_as(&key(name, "A"), &a_shape, d_in, config.rank)?;
        let b = checkpoint.matrix_transposed_as(&key(name, "B"), &b_shape, config.rank, d_out)?;
        Ok(LoraAdapter::from_factors(a.val(), b.val(), &config))
    })?;
    Ok((model, config))
}

/// Stores the learned scalars of a hyperbolic head.
pub async fn write_head(writer: &mut SafetensorsWriter, head: &HyperbolicHead) -> Result<()> {
    for (name, value) in head.named() {
        writer
            .add(&format!("{HEAD_PREFIX}.{name}"), value.clone())
            .await?;
    }
    Ok(())
}

/// The hyperbolic head stored by [`write_head`], on the checkpoint's device.
pub fn read_head(checkpoint: &Checkpoint) -> Result<HyperbolicHead> {
    let mut head = HyperbolicHead::new(1, checkpoint.device());
    for (name, value) in head.named_mut() {
        *value = checkpoint.tensor(&format!("{HEAD_PREFIX}.{name}"), [1, 1])?;
    }
    Ok(head)
}

/// A HySAC adapter's head and safe region.
pub async fn write_hyperbolic(
    writer: &mut SafetensorsWriter,
    hyperbolic: &Hyperbolic,
) -> Result<()> {
    write_head(writer, &hyperbolic.head).await?;
    writer.metadata(
        REGION_KEY,
        serde_json::to_string(&hyperbolic.region).expect("region serialises"),
    );
    Ok(())
}

/// What an adapter file holds.
#[derive(Debug)]
pub struct Adapter {
    /// The base model with the adapters attached.
    pub model: ClipModel,
    pub lora: LoraConfig,
    /// Present for HySAC adapters.
    pub hyperbolic: Option<Hyperbolic>,
    /// A HySAC adapter's classifier thresholds, once `train` fitted them on its validation split.
    pub thresholds: Option<Thresholds>,
}

/// An adapter file with its HySAC classifier's thresholds recorded in the header.
pub fn with_thresholds(file: &[u8], thresholds: &Thresholds) -> Result<Vec<u8>> {
    let invalid = |e| Error::Weights(format!("not a valid adapter file: {e}"));
    let tensors = SafeTensors::deserialize(file).map_err(invalid)?;
    let (_, header) = SafeTensors::read_metadata(file).map_err(invalid)?;
    let mut metadata = header.metadata().clone().unwrap_or_default();
    metadata.insert(
        THRESHOLDS_KEY.into(),
        serde_json::to_string(thresholds).expect("thresholds serialise"),
    );
    safetensors::serialize(tensors.tensors(), Some(metadata))
        .map_err(|e| Error::Weights(format!("cannot write the adapter: {e}")))
}

/// `model` with the adapters of an adapter file attached (and its hyperbolic head, for HySAC);
/// the file must hold nothing else.
pub fn load_adapters(model: ClipModel, bytes: &[u8]) -> Result<Adapter> {
    let device = model.logit_scale.device();
    let dtype = model.float_dtype();
    let checkpoint = Checkpoint::parse(bytes, &device)?;
    let (model, lora) = read_adapters(model, &checkpoint)?;
    // The adapters compute in what the model they join computes in.
    let model = model.with_float_dtype(dtype);
    let hyperbolic = match checkpoint.metadata(REGION_KEY) {
        Some(region) => {
            let region: SafeRegion = serde_json::from_str(region).map_err(|e| {
                Error::Weights(format!("the adapter's `{REGION_KEY}` is invalid: {e}"))
            })?;
            Some(Hyperbolic {
                head: read_head(&checkpoint)?,
                region,
            })
        }
        None => None,
    };
    let thresholds = checkpoint
        .metadata(THRESHOLDS_KEY)
        .map(|json| {
            serde_json::from_str::<Thresholds>(json).map_err(|e| {
                Error::Weights(format!("the adapter's `{THRESHOLDS_KEY}` is invalid: {e}"))
            })
        })
        .transpose()?;
    if let Some(bad) = thresholds
        .iter()
        .flat_map(|t| std::iter::once(t.global).chain(t.by_category.values().copied()))
        .find(|t| !t.is_finite())
    {
        return Err(Error::Weights(format!(
            "the adapter's `{THRESHOLDS_KEY}` holds {bad}"
        )));
    }
    checkpoint.ensure_all_used(|_| false)?;
    Ok(Adapter {
        model,
        lora,
        hyperbolic,
        thresholds,
    })
}
