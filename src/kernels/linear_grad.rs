//! The linear kernel on an autodiff graph (training on wgpu): `x W + b` recorded with a backward
//! pass of its own, `dx = dy Wᵀ` (the forward kernel over `W` transposed) and `dW = xᵀ dy` (a
//! kernel here). Burn's matmul, forward and backward, was most of a LoRA step's time on a software
//! GPU: the frozen base layers take the first gradient, the adapters' factors both.

use burn::backend::Wgpu;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind, binary};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Tensor;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::ops::permute;
use burn_cubecl::tensor::CubeTensor;

use super::linear::launch;
use super::{Activation, Graph};
use kernel::weight_gradient_kernel;

/// Elements per vector load and store.
const BLOCK: usize = 4;
/// Threads of a workgroup along the weight gradient's columns (vectors) and rows (blocks of 4).
const GROUP: (u32, u32) = (16, 4);

/// `x W + b` on the autodiff graph, `x` `[rows, depth]` and `W` `[depth, width]` (both widths
/// multiples of 4, checked by the caller); `None` when an operand is not on the wgpu graph or `b`
/// takes a gradient.
pub(super) fn graph_linear(
    x: Tensor<2>,
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
) -> Option<Tensor<2>> {
    let [rows, depth] = x.dims();
    let width = weight.dims()[1];
    let dims = [rows, depth, width];
    let bias = match bias {
        Some(bias) => Some(bias.try_into_primitive::<Graph>().ok()?),
        None => None,
    };
    if bias.as_ref().is_some_and(|bias| bias.is_tracked()) {
        return None;
    }
    let weight = weight.try_into_primitive::<Graph>().ok()?;
    let x = x.try_into_primitive::<Graph>().ok()?;
    let (x_tracked, weight_tracked) = (x.is_tracked(), weight.is_tracked());
    let bias = bias.map(|bias| into_contiguous(bias.into_primitive()));
    let prep = LinearGradients
        .prepare::<NoCheckpointing>([x.node(), weight.node()])
        .compute_bound()
        .stateful();
    let input = into_contiguous(x.into_primitive());
    let weight = into_contiguous(weight.into_primitive());
    let output = match prep {
        OpsKind::Tracked(prep) => {
            let state = LinearState {
                transposed: x_tracked.then(|| into_contiguous(permute(weight.clone(), &[1, 0]))),
                input: weight_tracked.then(|| input.clone()),
                dims,
            };
            let output = launch(input, weight, bias, None, Activation::Identity, dims);
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(launch(
            input,
            weight,
            bias,
            None,
            Activation::Identity,
            dims,
        )),
    };
    Some(Tensor::<2>::from_primitive::<Graph>(output))
}

/// What the backward pass keeps of the forward: `Wᵀ` when `x` takes a gradient, `x` when `W`
/// does, and `[rows, depth, width]`.
#[derive(Clone, Debug)]
struct LinearState {
    transposed: Option<CubeTensor>,
    input: Option<CubeTensor>,
    dims: [usize; 3],
}

#[derive(Debug)]
struct LinearGradients;

impl Backward<Wgpu, 2> for LinearGradients {
    type State = LinearState;

    fn backward(
        self,
        ops: Ops<Self::State, 2>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let LinearState {
            transposed,
            input,
            dims: [rows, depth, width],
        } = ops.state;
        binary::<Wgpu, _, _>(
            ops.parents,
            ops.node,
            grads,
            |grad| {
                let transposed = transposed.expect("Wᵀ is kept when x takes a gradient");
                let dims = [rows, width, depth];
                launch(
                    into_contiguous(grad),
                    transposed,
                    None,
                    None,
                    Activation::Identity,
                    dims,
                )
            },
            |grad| {
                let input = input.expect("x is kept when W takes a gradient");
                weight_gradient(input, into_contiguous(grad), [rows, depth, width])
            },
        );
    }
}

/// `xᵀ dy`, `[depth, width]`, for `x` `[rows, depth]` and `dy` `[rows, width]`, contiguous.
fn weight_gradient(x: CubeTensor, dy: CubeTensor, [rows, depth, width]: [usize; 3]) -> CubeTensor {
    let client = x.client.clone();
    let dtype = x.dtype;
    let output = empty_device_dtype(
        client.clone(),
        x.device.clone(),
        [depth, width].into(),
        dtype,
    );
    weight_gradient_kernel::launch(
        &client,
        CubeCount::Static(
            (width / BLOCK).div_ceil(GROUP.0 as usize) as u32,
            (depth / BLOCK).div_ceil(GROUP.1 as usize) as u32,
            1,
        ),
        CubeDim::new_2d(GROUP.0, GROUP.1),
        BLOCK,
        x.into_tensor_arg(),
        dy.into_tensor_arg(),
        output.clone().into_tensor_arg(),
        rows as u32,
        (depth / BLOCK) as u32,
        (width / BLOCK) as u32,
        dtype_to_storage_type(dtype),
    );
    output
}

mod kernel {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

    /// Rows `4 r .. 4 r + 4` and columns `4 c .. 4 c + 4` of `output = inputᵀ · grad`, summed over
    /// the `rows` rows of both: `input` `[rows, depth4 · 4]`, `grad` `[rows, width4 · 4]`, as
    /// 4-wide vectors. Each thread keeps its 4 × 4 block in registers, as the forward kernel does.
    #[cube(launch)]
    pub fn weight_gradient_kernel<F: Float, N: Size>(
        input: &Tensor<Vector<F, N>>,
        grad: &Tensor<Vector<F, N>>,
        output: &mut Tensor<Vector<F, N>>,
        rows: u32,
        depth4: u32,
        width4: u32,
        #[define(F)] _dtype: ElemType,
    ) {
        let column = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
        let block = (CUBE_POS_Y * CUBE_DIM_Y + UNIT_POS_Y) as usize;
        let (rows, depth4, width4) = (rows as usize, depth4 as usize, width4 as usize);
        if column < width4 && block < depth4 {
            let mut acc0 = Vector::<F, N>::new(F::new(0.0));
            let mut acc1 = Vector::<F, N>::new(F::new(0.0));
            let mut acc2 = Vector::<F, N>::new(F::new(0.0));
            let mut acc3 = Vector::<F, N>::new(F::new(0.0));
            for row in 0..rows {
                let x = input[row * depth4 + block];
                let g = grad[row * width4 + column];
                acc0 += g * Vector::new(x.extract(0usize));
                acc1 += g * Vector::new(x.extract(1usize));
                acc2 += g * Vector::new(x.extract(2usize));
                acc3 += g * Vector::new(x.extract(3usize));
            }
            let at = 4 * block * width4 + column;
            output[at] = acc0;
            output[at + width4] = acc1;
            output[at + 2 * width4] = acc2;
            output[at + 3 * width4] = acc3;
        }
    }
}
