//! LayerNorm in one dispatch on wgpu. Burn composes it from nine (two means, a subtraction, a
//! square, a square root, a division, the scale and the shift), each a pass over the activations;
//! here one workgroup per row computes the mean and the variance in shared memory, two-pass like
//! PyTorch, and writes the normalised row. Tensors on other backends, or recorded for autodiff
//! (training), are left to Burn's.

use burn::backend::TensorMetadata;
use burn::backend::Wgpu;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Tensor;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

use kernel::layer_norm_kernel;

/// Threads per row: enough to cover CLIP's widths (512–1024) in a few strides each.
const UNITS: u32 = 128;

/// Workgroups a dispatch may count along one dimension on every WebGPU adapter
/// (`maxComputeWorkgroupsPerDimension`); one workgroup normalises one row.
const MAX_ROWS: usize = 65_535;

/// A LayerNorm over the last dimension of `x` in one dispatch, when every operand lives on wgpu
/// outside an autodiff graph, in one dtype, with at most [`MAX_ROWS`] rows; `None` otherwise.
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
    let gamma = gamma.try_into_primitive::<Wgpu>().ok()?;
    let beta = beta.try_into_primitive::<Wgpu>().ok()?;
    let input = x.try_into_primitive::<Wgpu>().ok()?;
    Some(Tensor::from_primitive::<Wgpu>(launch(
        input, gamma, beta, epsilon,
    )))
}

fn launch(input: CubeTensor, gamma: CubeTensor, beta: CubeTensor, epsilon: f64) -> CubeTensor {
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

mod kernel {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

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
        // The statistics are summed in f32 whatever the storage dtype: a half-precision row's
        // squares can exceed f16's range, and its sums lose digits.
        let mut partial = Shared::new_slice(units);
        let count = f32::cast_from(width as u32);

        let mut sum = 0.0f32;
        let mut i = unit;
        while i < width {
            sum += f32::cast_from(input[start + i]);
            i += units;
        }
        let mean = sum_over_cube(&mut partial, sum, units) / count;

        let mut squares = 0.0f32;
        let mut i = unit;
        while i < width {
            let centered = f32::cast_from(input[start + i]) - mean;
            squares += centered * centered;
            i += units;
        }
        let variance = sum_over_cube(&mut partial, squares, units) / count;
        let scale = 1.0f32 / f32::sqrt(variance + epsilon);

        let mut i = unit;
        while i < width {
            let centered = f32::cast_from(input[start + i]) - mean;
            output[start + i] =
                F::cast_from(centered * scale * f32::cast_from(gamma[i]) + f32::cast_from(beta[i]));
            i += units;
        }
    }

    /// The sum of every thread's `value`, pairwise (a tree, as accurate as the reductions Burn
    /// composes LayerNorm from); `units` is a power of two. Every barrier is reached by the whole
    /// workgroup, as WGSL requires.
    #[cube]
    fn sum_over_cube(partial: &mut Shared<[f32]>, value: f32, #[comptime] units: usize) -> f32 {
        let unit = UNIT_POS_X as usize;
        partial[unit] = value;
        sync_cube();
        #[unroll]
        for level in 0..units.trailing_zeros() {
            let stride = units >> (level + 1);
            if unit < stride {
                let other = partial[unit + stride];
                partial[unit] += other;
            }
            sync_cube();
        }
        let total = partial[0];
        // The slots are written again by the next sum: everyone reads the total first.
        sync_cube();
        total
    }
}
