//! A linear layer, `x W + b`, in one dispatch on wgpu. Burn's matmul on WebGPU without subgroups
//! (cubek's unit routine) stages tiles through shared memory behind workgroup barriers, which a
//! software GPU (SwiftShader, lavapipe) emulates at great cost: on SwiftShader the matmuls were
//! 99% of a ViT-B/32 text encode. Here each thread keeps a 4 × 4 block of the output in registers
//! and reads `x` and `W` straight from memory as 4-wide vectors, with no shared memory and no
//! barrier; the bias, the activation that follows (CLIP's MLP) and the residual that follows (the
//! ends of both blocks of a layer) are applied before the one write, where Burn would take a
//! dispatch and a pass over the activations for each. Tensors on other backends are left to
//! Burn's; in training the product goes through it with a backward pass (`linear_grad.rs`).

use burn::backend::Wgpu;
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Tensor;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::linear_grad::graph_linear;
use super::{Activation, Graph};
use kernel::linear_kernel;

/// Elements per vector load and store.
const BLOCK: usize = 4;
/// Rows of the output per thread: each vector of the weight read serves this many rows (8 was
/// slower on SwiftShader: ViT-B/32's linear layers took 20% longer).
const BLOCK_ROWS: usize = 4;
/// Threads of a workgroup along the output's columns (each a vector of [`BLOCK`]) and rows
/// (each [`BLOCK_ROWS`] rows): 64 threads cover 64 columns × 16 rows, so that on a real GPU the
/// weight vectors a workgroup reads serve 16 rows from its cache.
const GROUP: (u32, u32) = (16, 4);
/// Workgroups a dispatch may count along one dimension on every WebGPU adapter.
const MAX_GROUPS: usize = 65_535;

/// `act(x W + b) + residual` over the last dimension of `x` (`W` is `[in, out]`, as Burn's
/// `Linear` keeps it) in one dispatch, when every operand lives on wgpu, in one float dtype, with
/// both widths multiples of 4; `None` otherwise. On an autodiff graph (training) the kernel
/// computes `x W + b` with a backward pass of its own (`linear_grad.rs`; `b` must take no
/// gradient), and Burn's ops the activation and the residual, which keep theirs.
pub fn fused_linear<const D: usize>(
    x: Tensor<D>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    activation: Activation,
    residual: Option<Tensor<D>>,
) -> Option<Tensor<D>> {
    let [depth, width] = weight.dims();
    let rows = x.shape().num_elements() / depth.max(1);
    let mut shape = x.dims();
    shape[D - 1] = width;
    let dtype = x.dtype();
    let groups = |columns: usize| columns.div_ceil(BLOCK * GROUP.0 as usize) <= MAX_GROUPS;
    let fits = x.dims()[D - 1] == depth
        && rows > 0
        && depth.is_multiple_of(BLOCK)
        && width.is_multiple_of(BLOCK)
        && groups(width)
        && groups(depth)
        && rows.div_ceil(BLOCK_ROWS * GROUP.1 as usize) <= MAX_GROUPS
        && weight.dtype() == dtype
        && bias.as_ref().is_none_or(|b| b.dtype() == dtype)
        && residual
            .as_ref()
            .is_none_or(|r| r.dtype() == dtype && r.dims() == shape);
    if !fits {
        return None;
    }
    if x.clone().try_into_primitive::<Graph>().is_ok() {
        let y = graph_linear(x.reshape([rows, depth]), weight, bias)?.reshape(shape);
        return Some(activation.then(y, residual));
    }
    let primitive = |t: Tensor<D>| t.try_into_primitive::<Wgpu>().ok().map(into_contiguous);
    let residual = match residual {
        Some(residual) => Some(primitive(residual)?),
        None => None,
    };
    let bias = match bias {
        Some(bias) => Some(into_contiguous(bias.try_into_primitive::<Wgpu>().ok()?)),
        None => None,
    };
    let weight = into_contiguous(weight.try_into_primitive::<Wgpu>().ok()?);
    let input = primitive(x)?;
    let output = launch(
        input,
        weight,
        bias,
        residual,
        activation,
        [rows, depth, width],
    );
    Some(Tensor::<2>::from_primitive::<Wgpu>(output).reshape(shape))
}

/// Launches the kernel: `input` `[rows, depth]` and `weight` `[depth, width]`, contiguous, both
/// widths multiples of [`BLOCK`]; returns `[rows, width]`.
pub(super) fn launch(
    input: CubeTensor,
    weight: CubeTensor,
    bias: Option<CubeTensor>,
    residual: Option<CubeTensor>,
    activation: Activation,
    [rows, depth, width]: [usize; 3],
) -> CubeTensor {
    let client = input.client.clone();
    let dtype = input.dtype;
    let output = empty_device_dtype(
        client.clone(),
        input.device.clone(),
        [rows, width].into(),
        dtype,
    );
    linear_kernel::launch(
        &client,
        CubeCount::Static(
            (width / BLOCK).div_ceil(GROUP.0 as usize) as u32,
            rows.div_ceil(BLOCK_ROWS * GROUP.1 as usize) as u32,
            1,
        ),
        CubeDim::new_2d(GROUP.0, GROUP.1),
        BLOCK,
        input.into_tensor_arg(),
        weight.into_tensor_arg(),
        bias.map(CubeTensor::into_tensor_arg).into(),
        residual.map(CubeTensor::into_tensor_arg).into(),
        output.clone().into_tensor_arg(),
        rows as u32,
        (depth / BLOCK) as u32,
        (width / BLOCK) as u32,
        activation,
        BLOCK_ROWS,
        dtype_to_storage_type(dtype),
    );
    output
}

mod kernel {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

    use crate::kernels::Activation;
    use crate::kernels::sums::wide;

    /// Rows `b r .. b r + b` (`b` = `block_rows`, clamped to `rows`) and columns `4 c .. 4 c + 4`
    /// of `output = act(input · weight + bias) + residual`, every operand contiguous and read as
    /// 4-wide vectors: `input` is `[rows, depth4 · 4]`, `weight` `[depth4 · 4, width4 · 4]`.
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    pub fn linear_kernel<F: Float, N: Size>(
        input: &Tensor<Vector<F, N>>,
        weight: &Tensor<Vector<F, N>>,
        bias: ComptimeOption<&Tensor<Vector<F, N>>>,
        residual: ComptimeOption<&Tensor<Vector<F, N>>>,
        output: &mut Tensor<Vector<F, N>>,
        rows: u32,
        depth4: u32,
        width4: u32,
        #[comptime] activation: Activation,
        #[comptime] block_rows: usize,
        #[define(F)] _dtype: ElemType,
    ) {
        let column = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
        let row = ((CUBE_POS_Y * CUBE_DIM_Y + UNIT_POS_Y) as usize) * block_rows;
        let rows = rows as usize;
        let (depth4, width4) = (depth4 as usize, width4 as usize);
        if column >= width4 || row >= rows {
            terminate!();
        }
        // Rows past the end read the last row again and are not written: no branch in the loop.
        let last = rows - 1;
        let mut starts = Array::<usize>::new(block_rows);
        let mut acc = Array::<Vector<f32, N>>::new(block_rows);
        #[unroll]
        for i in 0..block_rows {
            starts[i] = min(row + i, last) * depth4;
            acc[i] = Vector::new(0.0f32);
        }
        for k in 0..depth4 {
            let w = 4 * k * width4 + column;
            let w0 = wide(weight[w]);
            let w1 = wide(weight[w + width4]);
            let w2 = wide(weight[w + 2 * width4]);
            let w3 = wide(weight[w + 3 * width4]);
            #[unroll]
            for i in 0..block_rows {
                acc[i] += dot4(wide(input[starts[i] + k]), w0, w1, w2, w3);
            }
        }
        #[comptime]
        let bias = match bias {
            ComptimeOption::Some(bias) => wide(bias[column]),
            ComptimeOption::None => Vector::new(0.0f32),
        };
        #[unroll]
        for i in 0..block_rows {
            finish(
                acc[i],
                bias,
                row + i,
                rows,
                width4,
                column,
                residual,
                output,
                activation,
            );
        }
    }

    /// Writes row `row` (if it is one) of the output at `column`: `act(sum + bias) + residual`.
    #[cube]
    #[allow(clippy::too_many_arguments)]
    fn finish<F: Float, N: Size>(
        sum: Vector<f32, N>,
        bias: Vector<f32, N>,
        row: usize,
        rows: usize,
        width4: usize,
        column: usize,
        residual: ComptimeOption<&Tensor<Vector<F, N>>>,
        output: &mut Tensor<Vector<F, N>>,
        #[comptime] activation: Activation,
    ) {
        if row < rows {
            let at = row * width4 + column;
            #[comptime]
            let skip = match residual {
                ComptimeOption::Some(residual) => wide(residual[at]),
                ComptimeOption::None => Vector::new(0.0f32),
            };
            output[at] = Vector::cast_from(activate(sum + bias, activation) + skip);
        }
    }

    /// `x₀ w0 + x₁ w1 + x₂ w2 + x₃ w3`: four rows of the weight scaled by one vector of the input.
    #[cube]
    fn dot4<F: Float, N: Size>(
        x: Vector<F, N>,
        w0: Vector<F, N>,
        w1: Vector<F, N>,
        w2: Vector<F, N>,
        w3: Vector<F, N>,
    ) -> Vector<F, N> {
        w0 * Vector::new(x.extract(0usize))
            + w1 * Vector::new(x.extract(1usize))
            + w2 * Vector::new(x.extract(2usize))
            + w3 * Vector::new(x.extract(3usize))
    }

    /// (The binding is how the cube macro is told to resolve the match at compile time.)
    #[cube]
    #[allow(clippy::let_and_return)]
    fn activate<F: Float, N: Size>(
        x: Vector<F, N>,
        #[comptime] activation: Activation,
    ) -> Vector<F, N> {
        #[comptime]
        let value = match activation {
            Activation::Identity => x,
            Activation::QuickGelu => {
                x / (Vector::new(F::new(1.0)) + (x * Vector::new(F::new(-1.702))).exp())
            }
            Activation::Gelu => {
                x * Vector::new(F::new(0.5))
                    * (Vector::new(F::new(1.0))
                        + (x * Vector::new(F::new(core::f32::consts::FRAC_1_SQRT_2))).erf())
            }
        };
        value
    }
}
