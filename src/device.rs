//! Choosing where tensors live: a CPU backend, or a GPU through wgpu (Vulkan, Metal, DX12, or
//! WebGPU in the browser).

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;
use burn::tensor::{DType, FloatDType};

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Burn's Flex backend: the CPU, with SIMD (and natively every core).
    Flex,
    /// wgpu: a GPU (Vulkan, Metal, DX12, WebGPU in the browser), or the CPU through a software
    /// Vulkan driver such as lavapipe.
    Wgpu,
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "flex" | "cpu" => Ok(Self::Flex),
            "wgpu" | "gpu" => Ok(Self::Wgpu),
            other => Err(Error::Device(format!(
                "unknown backend `{other}` (expected flex or wgpu)"
            ))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
        })
    }
}

/// What a model computes in: f32, or f16 on a GPU that offers it (WebGPU's `shader-f16`), where
/// each layer reads half the bytes of weights and activations. The kernels sum in f32 either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    F32,
    F16,
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            other => Err(Error::Input(format!(
                "unknown precision `{other}` (expected f32 or f16)"
            ))),
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
        })
    }
}

impl Precision {
    /// The dtype a model on `device` of `backend` computes in at this precision, or why it
    /// cannot: f16 needs a GPU whose adapter offers it (the CPU backend widens every weight to
    /// f32 as it loads, which is faster there).
    pub fn float_dtype(self, backend: Backend, device: &Device) -> Result<FloatDType> {
        match self {
            Self::F32 => Ok(FloatDType::F32),
            Self::F16 if backend == Backend::Wgpu && device.supports_dtype(DType::F16) => {
                Ok(FloatDType::F16)
            }
            Self::F16 if backend == Backend::Wgpu => Err(Error::Device(
                "this GPU adapter cannot compute in f16 (it lacks shader-f16); use f32".into(),
            )),
            Self::F16 => Err(Error::Device(
                "f16 compute is for a GPU (--backend wgpu); the CPU computes in f32".into(),
            )),
        }
    }

    /// The best this device offers: f16 where [`Self::float_dtype`] allows it, else f32.
    pub fn best(backend: Backend, device: &Device) -> Self {
        match Self::F16.float_dtype(backend, device) {
            Ok(_) => Self::F16,
            Err(_) => Self::F32,
        }
    }
}

/// The device of a backend. wgpu's runtime can be set up once per process, so its device is
/// created on first use and shared afterwards.
#[cfg(not(target_arch = "wasm32"))]
pub fn device(backend: Backend) -> Result<Device> {
    #[cfg(feature = "wgpu")]
    use std::sync::OnceLock;
    #[cfg(feature = "wgpu")]
    static WGPU: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    match backend {
        Backend::Flex => Ok(Device::flex()),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => Err(Error::Device(
            "this build has no GPU backend (build it with the `wgpu` feature)".into(),
        )),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => WGPU
            .get_or_init(|| {
                Device::wgpu_options().init().map_err(|e| {
                    format!(
                        "no usable GPU adapter ({e}); on a machine without a GPU install a \
                         software Vulkan driver (Debian: mesa-vulkan-drivers)"
                    )
                })
            })
            .clone()
            .map_err(Error::Device),
    }
}

/// The page's device: the CPU, or WebGPU once the browser grants an adapter.
#[cfg(target_arch = "wasm32")]
pub async fn device(backend: Backend) -> Result<Device> {
    match backend {
        Backend::Flex => Ok(Device::flex()),
        #[cfg(feature = "wgpu")]
        Backend::Wgpu => Device::wgpu_options()
            .init_async()
            .await
            .map_err(|e| Error::Device(format!("WebGPU is not available: {e}"))),
        #[cfg(not(feature = "wgpu"))]
        Backend::Wgpu => Err(Error::Device(
            "this build of the core has no GPU backend (it is the multithreaded CPU module)".into(),
        )),
    }
}

/// Sets how many threads the CPU backend computes on (natively; the browser's module has one).
/// `None` keeps rayon's choice: `RAYON_NUM_THREADS`, else every core. Call it before any work.
#[cfg(feature = "native")]
pub fn set_cpu_threads(threads: Option<usize>) -> Result<()> {
    let available = std::thread::available_parallelism().map_or(1, usize::from);
    let Some(threads) = threads else {
        return Ok(());
    };
    if threads == 0 || threads > available {
        return Err(Error::Input(format!(
            "--threads must be between 1 and {available}, the cores this machine offers; got {threads}"
        )));
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .map_err(|e| Error::Device(format!("cannot start {threads} CPU threads: {e}")))
}

/// Reads a tensor back as `f32` values. Awaiting lets the browser's event loop run while the GPU
/// finishes; natively, [`block_on`] waits for it.
pub async fn read_f32<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| Error::Device(format!("cannot read a result back from the device: {e:?}")))?
        .convert::<f32>()
        .try_into_vec::<f32>()
        .map_err(|e| Error::Device(format!("cannot read a result back from the device: {e:?}")))
}

/// Like [`read_f32`], for values a person will read: a NaN or an infinity (from weights, a config
/// or an adapter out of range) is an error naming `what`, never a number printed as `null`.
pub async fn read_finite<const D: usize>(tensor: Tensor<D>, what: &str) -> Result<Vec<f32>> {
    let values = read_f32(tensor).await?;
    match values.iter().position(|v| !v.is_finite()) {
        Some(bad) => Err(Error::Input(format!(
            "the model produced {} in {what} (value {bad}): its weights, config or adapter are out of range",
            values[bad]
        ))),
        None => Ok(values),
    }
}

/// Reads an integer tensor back (indices, class ids), like [`read_f32`].
pub async fn read_i64<const D: usize>(tensor: Tensor<D, Int>) -> Result<Vec<i64>> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| Error::Device(format!("cannot read a result back from the device: {e:?}")))?
        .convert::<i64>()
        .try_into_vec::<i64>()
        .map_err(|e| Error::Device(format!("cannot read a result back from the device: {e:?}")))
}

/// Runs an async core function to completion on the calling thread (native only).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    futures_lite::future::block_on(future)
}
