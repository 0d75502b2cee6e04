//! The LayerNorm kernel on an autodiff graph (training on wgpu), with a backward pass of one
//! kernel where Burn's ops would take a dozen passes over the activations: a workgroup per row
//! recomputes the mean and `1/σ`, sums `g = dy γ` and `g x̂`, and writes
//! `dx = (g − mean(g) − x̂ mean(g x̂)) / σ`. Only `x` takes a gradient: a LoRA run freezes every
//! LayerNorm, and one whose `γ` or `β` trains is left to Burn's ops.

use burn::backend::TensorMetadata;
use burn::backend::Wgpu;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, unary};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Tensor;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::Graph;
use super::layer_norm::{UNITS, launch};
use kernel::layer_norm_gradient_kernel;

/// [`super::fused_layer_norm`] on the autodiff graph; `None` when `gamma` or `beta` takes a
/// gradient.
pub(super) fn graph_layer_norm<const D: usize>(
    x: Tensor<D>,
    gamma: Tensor<1>,
    beta: Tensor<1>,
    epsilon: f64,
) -> Option<Tensor<D>> {
    let gamma = gamma.try_into_primitive::<Graph>().ok()?;
    let beta = beta.try_into_primitive::<Graph>().ok()?;
    if gamma.is_tracked() || beta.is_tracked() {
        return None;
    }
    let x = x.try_into_primitive::<Graph>().ok()?;
    let prep = LayerNormGradients
        .prepare::<NoCheckpointing>([x.node()])
        .compute_bound()
        .stateful();
    let input = into_contiguous(x.into_primitive());
    let gamma = into_contiguous(gamma.into_primitive());
    let output = launch(input.clone(), gamma.clone(), beta.into_primitive(), epsilon);
    let output = match prep {
        OpsKind::Tracked(prep) => prep.finish(
            LayerNormState {
                input,
                gamma,
                epsilon,
            },
            output,
        ),
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Some(Tensor::from_primitive::<Graph>(output))
}

/// What the backward pass reads: the forward's input and scale, contiguous.
#[derive(Clone, Debug)]
struct LayerNormState {
    input: CubeTensor,
    gamma: CubeTensor,
    epsilon: f64,
}

#[derive(Debug)]
struct LayerNormGradients;

impl Backward<Wgpu, 1> for LayerNormGradients {
    type State = LayerNormState;

    fn backward(
        self,
        ops: Ops<Self::State, 1>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let LayerNormState {
            input,
            gamma,
            epsilon,
        } = ops.state;
        unary::<Wgpu, _>(ops.parents, ops.node, grads, |grad| {
            input_gradient(input, gamma, into_contiguous(grad), epsilon)
        });
    }
}

/// `dx` for the gradient `grad` of the output, shaped as `input`.
fn input_gradient(
    input: CubeTensor,
    gamma: CubeTensor,
    grad: CubeTensor,
    epsilon: f64,
) -> CubeTensor {
    let shape = input.shape();
    let width = shape[shape.num_dims() - 1];
    let rows = shape.num_elements() / width;
    let client = input.client.clone();
    let dtype = input.dtype;
    let output = empty_device_dtype(client.clone(), input.device.clone(), shape, dtype);
    layer_norm_gradient_kernel::launch(
        &client,
        CubeCount::Static(rows as u32, 1, 1),
        CubeDim::new_1d(UNITS),
        input.into_tensor_arg(),
        gamma.into_tensor_arg(),
        grad.into_tensor_arg(),
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

    use crate::kernels::layer_norm::kernel::{inverse_deviation, row_mean};
    use crate::kernels::sums::sum_over_cube;

    /// Row `CUBE_POS_X` of `dx` from the same row of the contiguous `input` and `grad` (`width`
    /// wide).
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    pub fn layer_norm_gradient_kernel<F: Float>(
        input: &Tensor<F>,
        gamma: &Tensor<F>,
        grad: &Tensor<F>,
        dx: &mut Tensor<F>,
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

        let mut g_sum = 0.0f32;
        let mut g_normed_sum = 0.0f32;
        let mut i = unit;
        while i < width {
            let normed = (f32::cast_from(input[start + i]) - mean) * scale;
            let g = f32::cast_from(grad[start + i]) * f32::cast_from(gamma[i]);
            g_sum += g;
            g_normed_sum += g * normed;
            i += units;
        }
        let count = f32::cast_from(width as u32);
        let g_mean = sum_over_cube(&mut partial, g_sum, units) / count;
        let g_normed_mean = sum_over_cube(&mut partial, g_normed_sum, units) / count;

        let mut i = unit;
        while i < width {
            let normed = (f32::cast_from(input[start + i]) - mean) * scale;
            let g = f32::cast_from(grad[start + i]) * f32::cast_from(gamma[i]);
            dx[start + i] = F::cast_from(scale * (g - g_mean - normed * g_normed_mean));
            i += units;
        }
    }
}
