//! The attention kernel on an autodiff graph (training on wgpu), with a backward pass of two
//! kernels where Burn's would split the heads with copies and run four batched matmuls, a
//! softmax's backward and the copies back. FlashAttention's recurrence, with the scores
//! recomputed rather than kept: a thread per query of a head finds its softmax's log-sum-exp, `δ =
//! dO · O` and `dq = scale Σ_j p_j (dO · v_j − δ) k_j`; then a thread per key of a head gathers
//! `dv = Σ_i p_i dO_i` and `dk = scale Σ_i p_i (dO_i · v − δ_i) q_i` over the queries that see it.

use burn::backend::DType;
use burn::backend::Wgpu;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::NoCheckpointing;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::cubecl::dtype_to_storage_type;
use burn::tensor::Tensor;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::Graph;
use super::attention::{GROUP, Layout, launch, prefix_lengths};
use kernel::{key_gradients_kernel, query_gradients_kernel};

/// [`super::fused_attention`] on the autodiff graph: `q`, `k` and `v` `[batch, len, hidden]` as
/// `layout` says, each query of sequence `b` seeing the first `visible[b]` keys when given.
pub(super) fn graph_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    visible: Option<&[usize]>,
    layout: Layout,
) -> Option<Tensor<3>> {
    let q = q.try_into_primitive::<Graph>().ok()?;
    let k = k.try_into_primitive::<Graph>().ok()?;
    let v = v.try_into_primitive::<Graph>().ok()?;
    let prep = AttentionGradients
        .prepare::<NoCheckpointing>([q.node(), k.node(), v.node()])
        .compute_bound()
        .stateful();
    let q = into_contiguous(q.into_primitive());
    let k = into_contiguous(k.into_primitive());
    let v = into_contiguous(v.into_primitive());
    let prefixes = visible.map(|visible| prefix_lengths(visible, &q.device));
    let output = launch(q.clone(), k.clone(), v.clone(), prefixes.clone(), layout);
    let output = match prep {
        OpsKind::Tracked(prep) => {
            let state = AttentionState {
                q,
                k,
                v,
                output: output.clone(),
                prefixes,
                layout,
            };
            prep.finish(state, output)
        }
        OpsKind::UnTracked(prep) => prep.finish(output),
    };
    Some(Tensor::from_primitive::<Graph>(output))
}

/// What the backward pass reads: the forward's operands and output, contiguous.
#[derive(Clone, Debug)]
struct AttentionState {
    q: CubeTensor,
    k: CubeTensor,
    v: CubeTensor,
    output: CubeTensor,
    prefixes: Option<CubeTensor>,
    layout: Layout,
}

#[derive(Debug)]
struct AttentionGradients;

impl Backward<Wgpu, 3> for AttentionGradients {
    type State = AttentionState;

    fn backward(
        self,
        ops: Ops<Self::State, 3>,
        grads: &mut Gradients,
        _checkpointer: &mut Checkpointer,
    ) {
        let [node_q, node_k, node_v] = ops.parents;
        let grad = into_contiguous(grads.consume::<Wgpu>(&ops.node));
        let state = ops.state;
        let (dq, statistics) = query_gradients(&state, grad.clone());
        if let Some(node) = node_q {
            grads.register::<Wgpu>(node.id, dq);
        }
        if node_k.is_some() || node_v.is_some() {
            let (dk, dv) = key_gradients(&state, grad, statistics);
            if let Some(node) = node_k {
                grads.register::<Wgpu>(node.id, dk);
            }
            if let Some(node) = node_v {
                grads.register::<Wgpu>(node.id, dv);
            }
        }
    }
}

/// `dq` `[batch, queries, hidden]` and, per query of each head, its scores' log-sum-exp and `δ`
/// (`[batch, heads, queries, 2]`, f32), for the gradient `grad` of the output.
fn query_gradients(state: &AttentionState, grad: CubeTensor) -> (CubeTensor, CubeTensor) {
    let AttentionState {
        q,
        k,
        v,
        output,
        prefixes,
        layout,
    } = state;
    let client = q.client.clone();
    let dtype = q.dtype;
    let index_dtype = prefixes.as_ref().map_or(DType::I32, |p| p.dtype);
    let dq = empty_device_dtype(
        client.clone(),
        q.device.clone(),
        q.meta.shape.clone(),
        dtype,
    );
    let statistics = empty_device_dtype(
        client.clone(),
        q.device.clone(),
        [layout.batch, layout.heads, layout.queries, 2].into(),
        DType::F32,
    );
    query_gradients_kernel::launch(
        &client,
        CubeCount::Static(
            layout.queries.div_ceil(GROUP as usize) as u32,
            layout.heads as u32,
            layout.batch as u32,
        ),
        CubeDim::new_1d(GROUP),
        layout.vector,
        q.clone().into_tensor_arg(),
        k.clone().into_tensor_arg(),
        v.clone().into_tensor_arg(),
        output.clone().into_tensor_arg(),
        grad.into_tensor_arg(),
        prefixes.clone().map(CubeTensor::into_tensor_arg).into(),
        dq.clone().into_tensor_arg(),
        statistics.clone().into_tensor_arg(),
        layout.queries as u32,
        layout.seq as u32,
        (layout.hidden / layout.vector) as u32,
        layout.scale,
        layout.head_vectors(),
        layout.causal,
        [
            dtype_to_storage_type(dtype),
            dtype_to_storage_type(index_dtype),
        ],
    );
    (dq, statistics)
}

/// `dk` and `dv`, `[batch, seq, hidden]`, from the output's gradient and each query's statistics.
fn key_gradients(
    state: &AttentionState,
    grad: CubeTensor,
    statistics: CubeTensor,
) -> (CubeTensor, CubeTensor) {
    let AttentionState {
        q,
        k,
        v,
        prefixes,
        layout,
        ..
    } = state;
    let client = q.client.clone();
    let dtype = q.dtype;
    let index_dtype = prefixes.as_ref().map_or(DType::I32, |p| p.dtype);
    let empty = || {
        empty_device_dtype(
            client.clone(),
            k.device.clone(),
            k.meta.shape.clone(),
            dtype,
        )
    };
    let (dk, dv) = (empty(), empty());
    key_gradients_kernel::launch(
        &client,
        CubeCount::Static(
            layout.seq.div_ceil(GROUP as usize) as u32,
            layout.heads as u32,
            layout.batch as u32,
        ),
        CubeDim::new_1d(GROUP),
        layout.vector,
        q.clone().into_tensor_arg(),
        k.clone().into_tensor_arg(),
        v.clone().into_tensor_arg(),
        grad.into_tensor_arg(),
        statistics.into_tensor_arg(),
        prefixes.clone().map(CubeTensor::into_tensor_arg).into(),
        dk.clone().into_tensor_arg(),
        dv.clone().into_tensor_arg(),
        layout.queries as u32,
        layout.seq as u32,
        (layout.hidden / layout.vector) as u32,
        layout.scale,
        layout.head_vectors(),
        layout.causal,
        [
            dtype_to_storage_type(dtype),
            dtype_to_storage_type(index_dtype),
        ],
    );
    (dk, dv)
}

mod kernel {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

    use crate::kernels::attention::kernel::{QuerySlot, dot_row, query_slot};
    use crate::kernels::sums::{lanes_sum, wide};

    /// Query `CUBE_POS_X · CUBE_DIM_X + UNIT_POS_X` of head `CUBE_POS_Y` of sequence
    /// `CUBE_POS_Z`, laid out as the forward kernel's: its row of `dq`, and its log-sum-exp and
    /// `δ` in `statistics` (`[batch, heads, queries, 2]`).
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    pub fn query_gradients_kernel<F: Float, N: Size, I: Int>(
        q: &Tensor<Vector<F, N>>,
        k: &Tensor<Vector<F, N>>,
        v: &Tensor<Vector<F, N>>,
        output: &Tensor<Vector<F, N>>,
        grad: &Tensor<Vector<F, N>>,
        prefixes: ComptimeOption<&Tensor<I>>,
        dq: &mut Tensor<Vector<F, N>>,
        statistics: &mut Tensor<f32>,
        queries: u32,
        seq: u32,
        hidden_vectors: u32,
        scale: f32,
        #[comptime] head_vectors: usize,
        #[comptime] causal: bool,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let query = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
        let (queries, seq) = (queries as usize, seq as usize);
        if query >= queries {
            terminate!();
        }
        let hidden_vectors = hidden_vectors as usize;
        let QuerySlot { mine, head, keys } = query_slot(
            query,
            queries,
            seq,
            hidden_vectors,
            prefixes,
            head_vectors,
            causal,
        );
        let batch = CUBE_POS_Z as usize;

        let scaled = Vector::<f32, N>::new(scale);
        let mut query_row = Array::<Vector<f32, N>>::new(head_vectors);
        let mut grad_row = Array::<Vector<f32, N>>::new(head_vectors);
        let mut delta = Vector::<f32, N>::new(0.0f32);
        #[unroll]
        for d in 0..head_vectors {
            query_row[d] = wide(q[mine + d]) * scaled;
            grad_row[d] = wide(grad[mine + d]);
            delta += grad_row[d] * wide(output[mine + d]);
        }
        let delta = lanes_sum(delta);

        // The scores' log-sum-exp, online as in the forward kernel; key 0 starts it.
        let mut max = dot_row(&query_row, k, head, head_vectors);
        let mut sum = 1.0f32;
        for key in 1..keys {
            let score = dot_row(&query_row, k, head + key * hidden_vectors, head_vectors);
            let new_max = cubecl::prelude::max(max, score);
            sum = sum * f32::exp(max - new_max) + f32::exp(score - new_max);
            max = new_max;
        }
        let log_sum_exp = max + f32::ln(sum);

        let mut acc = Array::<Vector<f32, N>>::new(head_vectors);
        #[unroll]
        for d in 0..head_vectors {
            acc[d] = Vector::new(0.0f32);
        }
        for key in 0..keys {
            let row = head + key * hidden_vectors;
            let p = f32::exp(dot_row(&query_row, k, row, head_vectors) - log_sum_exp);
            let dp = dot_row(&grad_row, v, row, head_vectors);
            let ds = Vector::<f32, N>::new(p * (dp - delta));
            #[unroll]
            for d in 0..head_vectors {
                acc[d] += wide(k[row + d]) * ds;
            }
        }
        #[unroll]
        for d in 0..head_vectors {
            dq[mine + d] = Vector::cast_from(acc[d] * scaled);
        }
        let at = ((batch * CUBE_COUNT_Y as usize + CUBE_POS_Y as usize) * queries + query) * 2;
        statistics[at] = log_sum_exp;
        statistics[at + 1] = delta;
    }

    /// Key `CUBE_POS_X · CUBE_DIM_X + UNIT_POS_X` of head `CUBE_POS_Y` of sequence
    /// `CUBE_POS_Z`: its rows of `dk` and `dv`, summed over the queries that see it (none past a
    /// sequence's prefix).
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    pub fn key_gradients_kernel<F: Float, N: Size, I: Int>(
        q: &Tensor<Vector<F, N>>,
        k: &Tensor<Vector<F, N>>,
        v: &Tensor<Vector<F, N>>,
        grad: &Tensor<Vector<F, N>>,
        statistics: &Tensor<f32>,
        prefixes: ComptimeOption<&Tensor<I>>,
        dk: &mut Tensor<Vector<F, N>>,
        dv: &mut Tensor<Vector<F, N>>,
        queries: u32,
        seq: u32,
        hidden_vectors: u32,
        scale: f32,
        #[comptime] head_vectors: usize,
        #[comptime] causal: bool,
        #[define(F, I)] _dtypes: [ElemType; 2],
    ) {
        let key = (CUBE_POS_X * CUBE_DIM_X + UNIT_POS_X) as usize;
        let (queries, seq) = (queries as usize, seq as usize);
        if key >= seq {
            terminate!();
        }
        let hidden_vectors = hidden_vectors as usize;
        let batch = CUBE_POS_Z as usize;
        let mine = CUBE_POS_Y as usize * head_vectors + (batch * seq + key) * hidden_vectors;
        let head = CUBE_POS_Y as usize * head_vectors + batch * queries * hidden_vectors;
        let statistics_row = (batch * CUBE_COUNT_Y as usize + CUBE_POS_Y as usize) * queries;
        let mut first = 0;
        if causal {
            first = key;
        }
        #[comptime]
        let unseen = match prefixes {
            ComptimeOption::Some(prefixes) => key >= usize::cast_from(prefixes[batch]),
            ComptimeOption::None => false,
        };
        let mut last = queries;
        if unseen {
            last = first;
        }

        let scaled = Vector::<f32, N>::new(scale);
        let mut key_row = Array::<Vector<f32, N>>::new(head_vectors);
        let mut value_row = Array::<Vector<f32, N>>::new(head_vectors);
        let mut dk_acc = Array::<Vector<f32, N>>::new(head_vectors);
        let mut dv_acc = Array::<Vector<f32, N>>::new(head_vectors);
        #[unroll]
        for d in 0..head_vectors {
            key_row[d] = wide(k[mine + d]) * scaled;
            value_row[d] = wide(v[mine + d]);
            dk_acc[d] = Vector::new(0.0f32);
            dv_acc[d] = Vector::new(0.0f32);
        }
        for query in first..last {
            let row = head + query * hidden_vectors;
            let at = (statistics_row + query) * 2;
            let p = f32::exp(dot_row(&key_row, q, row, head_vectors) - statistics[at]);
            let dp = dot_row(&value_row, grad, row, head_vectors);
            let ds = Vector::<f32, N>::new(p * (dp - statistics[at + 1]));
            let p = Vector::<f32, N>::new(p);
            #[unroll]
            for d in 0..head_vectors {
                dv_acc[d] += wide(grad[row + d]) * p;
                dk_acc[d] += wide(q[row + d]) * ds;
            }
        }
        #[unroll]
        for d in 0..head_vectors {
            dk[mine + d] = Vector::cast_from(dk_acc[d] * scaled);
            dv[mine + d] = Vector::cast_from(dv_acc[d]);
        }
    }
}
