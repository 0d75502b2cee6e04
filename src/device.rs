//! Choosing where tensors live: a CPU backend, or a GPU through wgpu (Vulkan, Metal, DX12, or
//! WebGPU in the browser).

use std::fmt;
use std::str::FromStr;

use burn::prelude::*;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Burn's NdArray backend (CPU).
    #[cfg(not(target_arch = "wasm32"))]
    Ndarray,
    /// Burn's Flex backend, the pure-Rust CPU backend that succeeds NdArray.
    #[cfg(not(target_arch = "wasm32"))]
    Flex,
    /// wgpu: a GPU, or the CPU through a software Vulkan driver such as lavapipe.
    Wgpu,
}

impl FromStr for Backend {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self> {
        match name {
            #[cfg(not(target_arch = "wasm32"))]
            "ndarray" => Ok(Self::Ndarray),
            #[cfg(not(target_arch = "wasm32"))]
            "flex" => Ok(Self::Flex),
            "wgpu" => Ok(Self::Wgpu),
            other => Err(Error::Device(format!(
                "unknown backend `{other}` (expected ndarray, flex or wgpu)"
            ))),
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            #[cfg(not(target_arch = "wasm32"))]
            Self::Ndarray => "ndarray",
            #[cfg(not(target_arch = "wasm32"))]
            Self::Flex => "flex",
            Self::Wgpu => "wgpu",
        })
    }
}

/// The device of a backend. wgpu's runtime can be set up once per process, so its device is
/// created on first use and shared afterwards.
#[cfg(not(target_arch = "wasm32"))]
pub fn device(backend: Backend) -> Result<Device> {
    use std::sync::OnceLock;
    static WGPU: OnceLock<std::result::Result<Device, String>> = OnceLock::new();
    match backend {
        // Deprecated upstream in favour of Flex; kept as the baseline the benchmarks compare.
        #[allow(deprecated)]
        Backend::Ndarray => Ok(Device::ndarray()),
        Backend::Flex => Ok(Device::flex()),
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

/// The WebGPU device of the page, after the browser grants an adapter.
#[cfg(target_arch = "wasm32")]
pub async fn device(_backend: Backend) -> Result<Device> {
    Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| Error::Device(format!("WebGPU is not available: {e}")))
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
