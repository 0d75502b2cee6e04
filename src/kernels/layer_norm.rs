//! LayerNorm in one dispatch on wgpu. Burn composes it from nine (two means, a subtraction, a
//! square, a square root, a division, the scale and the shift), each a pass over the activations;
//! here one workgroup per row computes the mean and the variance in shared memory, two-pass like
//! PyTorch, and writes the normalised row. Tensors on other backends are left to Burn's; in
//! training the kernel runs with a backward pass of its own (`layer_norm_grad.rs`).

use burn::backend::TensorMetadata;
use burn::backend::Wgpu;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Tensor;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::Graph;
use super::layer_norm_grad::graph_layer_norm;
use kernel::layer_norm_kernel;

/// Threads per row: enough to cover CLIP's widths (512–1024) in a few strides each.
pub(super) const UNITS: u32 = 128;

/// Workgroups a dispatch may count along one dimension on every WebGPU adapter
/// (`maxComputeWorkgroupsPerDimension`); one workgroup normalises one row.
const MAX_ROWS: usize = 65_535;

/// A LayerNorm over the last dimension of `x` in one dispatch, when every operand lives on wgpu,
/// in one dtype, with at most [`MAX_ROWS`] rows; `None` otherwise. On an autodiff graph
/// (training) `gamma` and `beta` must take no gradient, as a LoRA run's frozen ones do.
pub fn fused_layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> Option<Tensor<D>> {
    let rows = x.shape().num_elements() / x.dims()[D - 1].max(1);
    let one_dtype = x.dtype() == gamma.dtype() && x.dtype() == beta.dtype();
    if rows == 0 || rows > MAX_ROWS || !one_dtype {
        return None;
    }
    if x.clone().try_into_primitive::<Graph>().is_ok() {
        return graph_layer_norm(x, gamma, beta, epsilon);
    }
    let gamma = gamma.try_into_primitive::<Wgpu>().ok()?;
    let beta = beta.try_into_primitive::<Wgpu>().ok()?;
    let input = x.try_into_primitive::<Wgpu>().ok()?;
    Some(Tensor::from_primitive::<Wgpu>(launch(
        input, gamma, beta, epsilon,
    )))
}

/// Launches the kernel over the rows of `input`; returns the normalised rows, shaped as `input`.
pub(super) fn launch(
    input: CubeTensor,
    gamma: CubeTensor,
    beta: CubeTensor,
    epsilon: f64,
) -> CubeTensor {
    let input = into_contiguous(input);
    let (gamma, beta) = (into_contiguous(gamma), into_contiguous(beta));
    let shape = input.shape();
    let width = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / width;
    let client = input.client.clone();
    let dtype = input.dtype;
    let output = empty_device_dtype(client.clone(), input.device.clone(), shape, dtype);
    layer_norm_kernel::launch(
        &client,
        CubeCount::Static(rows as u32, 1, 1),
        CubeDim::new_1d(UNITS),
        input.into_tensor_arg(),
        gamma.into_tensor_arg(),
        beta.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        width as u32,
        epsilon as f32,
        UNITS as usize,
        dtype_to_storage_type(dtype),
    );
    output
}

pub(super) mod kernel {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

    use crate::kernels::sums::sum_over_cube;

    /// Row `CUBE_POS_X` of the contiguous `input` (`width` wide), normalised into `output`.
    #[cube(launch)]
    pub fn layer_norm_kernel<F: Float>(
        input: &Tensor<F>,
        gamma: &Tensor<F>,
        beta: &Tensor<F>,
        output: &mut Tensor<F>,
        width: u32,
        epsilon: f32,
        #[comptime] units: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let unit = UNIT_POS_X as usize;
        let width = width as usize;
        let start = CUBE_POS_X as usize * width;
        let mut partial = Shared::new_slice(units);
        let mean = row_mean(input, start, width, &mut partial, units);
        let scale = inverse_deviation(input, start, width, mean, epsilon, &mut partial, units);

        let mut i = unit;
        while i < width {
            let centered = f32::cast_from(input[start + i]) - mean;
            output[start + i] =
                F::cast_from(centered * scale * f32::cast_from(gamma[i]) + f32::cast_from(beta[i]));
            i += units;
        }
    }

    /// The mean of the row of `input` at `start`, `width` wide. The statistics are summed in f32
    /// whatever the storage dtype: a half-precision row's squares can exceed f16's range, and its
    /// sums lose digits.
    #[cube]
    pub fn row_mean<F: Float>(
        input: &Tensor<F>,
        start: usize,
        width: usize,
        partial: &mut Shared<[f32]>,
        #[comptime] units: usize,
    ) -> f32 {
        let mut sum = 0.0f32;
        let mut i = UNIT_POS_X as usize;
        while i < width {
            sum += f32::cast_from(input[start + i]);
            i += units;
        }
        sum_over_cube(partial, sum, units) / f32::cast_from(width as u32)
    }

    /// `1 / √(variance + ε)` of the same row, its variance two-pass (about `mean`), as PyTorch's.
    #[cube]
    pub fn inverse_deviation<F: Float>(
        input: &Tensor<F>,
        start: usize,
        width: usize,
        mean: f32,
        epsilon: f32,
        partial: &mut Shared<[f32]>,
        #[comptime] units: usize,
    ) -> f32 {
        let mut squares = 0.0f32;
        let mut i = UNIT_POS_X as usize;
        while i < width {
            let centered = f32::cast_from(input[start + i]) - mean;
            squares += centered * centered;
            i += units;
        }
        let variance = sum_over_cube(partial, squares, units) / f32::cast_from(width as u32);
        1.0f32 / f32::sqrt(variance + epsilon)
    }
}
