//! Multi-head self-attention, `softmax(q kᵀ · scale) v` per head, in one dispatch on wgpu. Burn
//! splits the heads out with copies, runs two batched matmuls through shared memory and barriers
//! (costly on a software GPU) and a softmax of several passes between them, then copies the heads
//! back. Here a thread owns one query of one head: it reads that head's slice of the `[batch,
//! seq, hidden]` projections in place, keeps its query and output in registers, runs the softmax
//! online over the keys (rescaling its sum as the maximum grows, so one pass suffices) and writes
//! its slice of the output in the same layout the output projection reads.

use burn::backend::cubecl::dtype_to_storage_type;
use burn::backend::ops::IntTensorOps;
use burn::backend::{DType, Wgpu};
use burn::tensor::{Tensor, TensorData};
use burn_cubecl::CubeDevice;
use burn_cubecl::cubecl::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::tensor::CubeTensor;

use super::attention_grad::graph_attention;
use super::{Graph, KeyMask};
use kernel::attention_kernel;

/// Queries (or keys) per workgroup, a thread each.
pub(super) const GROUP: u32 = 64;
/// The widest head kept in registers (CLIP's are 64; ViT-bigG's 104).
const MAX_HEAD_DIM: usize = 128;
/// Workgroups a dispatch may count along one dimension on every WebGPU adapter.
const MAX_GROUPS: usize = 65_535;

/// Attention of `[batch, queries, hidden]` projections `q` over `[batch, seq, hidden]` `k` and
/// `v` in `heads` heads, each query seeing the keys `mask` lets it, as `[batch, queries, hidden]`.
/// `None` unless every operand lives on wgpu, in one float dtype, with heads up to
/// [`MAX_HEAD_DIM`] wide. On an autodiff graph (training) the kernel runs with a backward pass of
/// its own (`attention_grad.rs`).
pub fn fused_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    heads: usize,
    scale: f64,
    mask: KeyMask,
) -> Option<Tensor<3>> {
    let [batch, queries, hidden] = q.dims();
    let seq = k.dims()[1];
    let head_dim = hidden / heads.max(1);
    let fits = heads > 0
        && queries > 0
        && seq > 0
        && match mask {
            KeyMask::All => true,
            KeyMask::Causal => queries == seq,
            KeyMask::Prefixes(visible) => {
                visible.len() == batch && visible.iter().all(|&n| (1..=seq).contains(&n))
            }
        }
        && head_dim * heads == hidden
        && head_dim <= MAX_HEAD_DIM
        && k.dims() == [batch, seq, hidden]
        && v.dims() == k.dims()
        && q.dtype() == k.dtype()
        && q.dtype() == v.dtype()
        && batch
            .max(heads)
            .max(queries.max(seq).div_ceil(GROUP as usize))
            <= MAX_GROUPS;
    if !fits {
        return None;
    }
    // The widest vector that tiles a head: 4 for CLIP's heads of 64.
    let vector = [4, 2, 1]
        .into_iter()
        .find(|&n| head_dim.is_multiple_of(n))
        .unwrap_or(1);
    let layout = Layout {
        batch,
        queries,
        seq,
        hidden,
        heads,
        vector,
        scale: scale as f32,
        causal: mask == KeyMask::Causal,
    };
    let visible = match mask {
        KeyMask::Prefixes(visible) => Some(visible),
        KeyMask::All | KeyMask::Causal => None,
    };
    if q.clone().try_into_primitive::<Graph>().is_ok() {
        return graph_attention(q, k, v, visible, layout);
    }
    let primitive = |t: Tensor<3>| t.try_into_primitive::<Wgpu>().ok().map(into_contiguous);
    let (q, k, v) = (primitive(q)?, primitive(k)?, primitive(v)?);
    let prefixes = visible.map(|visible| prefix_lengths(visible, &q.device));
    let output = launch(q, k, v, prefixes, layout);
    Some(Tensor::from_primitive::<Wgpu>(output))
}

/// The shape of one attention and how the kernels read it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Layout {
    pub batch: usize,
    pub queries: usize,
    pub seq: usize,
    pub hidden: usize,
    pub heads: usize,
    /// Lanes per vector load, a divisor of the head's width.
    pub vector: usize,
    pub scale: f32,
    pub causal: bool,
}

impl Layout {
    pub fn head_vectors(&self) -> usize {
        self.hidden / self.heads / self.vector
    }
}

/// Each sequence's count of visible keys, on the device the kernels read it from.
pub(super) fn prefix_lengths(visible: &[usize], device: &CubeDevice) -> CubeTensor {
    let visible: Vec<i32> = visible.iter().map(|&n| n as i32).collect();
    let shape = [visible.len()];
    Wgpu::int_from_data(TensorData::new(visible, shape), device)
}

/// Launches the forward kernel on contiguous `q`, `k` and `v`; returns `[batch, queries, hidden]`.
pub(super) fn launch(
    q: CubeTensor,
    k: CubeTensor,
    v: CubeTensor,
    prefixes: Option<CubeTensor>,
    layout: Layout,
) -> CubeTensor {
    let Layout {
        batch,
        queries,
        seq,
        hidden,
        heads,
        vector,
        scale,
        causal,
    } = layout;
    let client = q.client.clone();
    let dtype = q.dtype;
    let index_dtype = prefixes.as_ref().map_or(DType::I32, |p| p.dtype);
    let output = empty_device_dtype(
        client.clone(),
        q.device.clone(),
        [batch, queries, hidden].into(),
        dtype,
    );
    attention_kernel::launch(
        &client,
        CubeCount::Static(
            queries.div_ceil(GROUP as usize) as u32,
            heads as u32,
            batch as u32,
        ),
        CubeDim::new_1d(GROUP),
        vector,
        q.into_tensor_arg(),
        k.into_tensor_arg(),
        v.into_tensor_arg(),
        prefixes.map(CubeTensor::into_tensor_arg).into(),
        output.clone().into_tensor_arg(),
        queries as u32,
        seq as u32,
        (hidden / vector) as u32,
        scale,
        layout.head_vectors(),
        causal,
        [
            dtype_to_storage_type(dtype),
            dtype_to_storage_type(index_dtype),
        ],
    );
    output
}

pub(super) mod kernel {
    use burn_cubecl::cubecl;
    use cubecl::prelude::*;

    use crate::kernels::sums::{lanes_sum, wide};

    /// Query `CUBE_POS_X · CUBE_DIM_X + UNIT_POS_X` of head `CUBE_POS_Y` of sequence
    /// `CUBE_POS_Z`; `q` and `output` are `[batch, queries, hidden_vectors]` and `k`, `v`
    /// `[batch, seq, hidden_vectors]` in vectors of `N`, a head being `head_vectors` of a row.
    #[cube(launch)]
    #[allow(clippy::too_many_arguments)]
    pub fn attention_kernel<F: Float, N: Size, I: Int>(
        q: &Tensor<Vector<F, N>>,
        k: &Tensor<Vector<F, N>>,
        v: &Tensor<Vector<F, N>>,
        prefixes: ComptimeOption<&Tensor<I>>,
        output: &mut Tensor<Vector<F, N>>,
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

        // Scores, the softmax and the weighted sum run in f32 whatever the storage dtype.
        let scale = Vector::<f32, N>::new(scale);
        let mut query_row = Array::<Vector<f32, N>>::new(head_vectors);
        #[unroll]
        for d in 0..head_vectors {
            query_row[d] = wide(q[mine + d]) * scale;
        }

        // Key 0 starts the running maximum, sum and output, so no infinity is needed.
        let mut acc = Array::<Vector<f32, N>>::new(head_vectors);
        let mut max = dot_row(&query_row, k, head, head_vectors);
        let mut sum = 1.0f32;
        #[unroll]
        for d in 0..head_vectors {
            acc[d] = wide(v[head + d]);
        }

        for key in 1..keys {
            let row = head + key * hidden_vectors;
            let score = dot_row(&query_row, k, row, head_vectors);
            let new_max = cubecl::prelude::max(max, score);
            let rescale = Vector::<f32, N>::new(f32::exp(max - new_max));
            let weight = f32::exp(score - new_max);
            sum = sum * rescale.extract(0usize) + weight;
            let weight = Vector::<f32, N>::new(weight);
            #[unroll]
            for d in 0..head_vectors {
                acc[d] = acc[d] * rescale + wide(v[row + d]) * weight;
            }
            max = new_max;
        }

        let inverse = Vector::<f32, N>::new(1.0f32 / sum);
        #[unroll]
        for d in 0..head_vectors {
            output[mine + d] = Vector::cast_from(acc[d] * inverse);
        }
    }

    /// Where the thread of one query of one head reads and writes: `mine`, its row's first vector
    /// in `q` (and in the output, of the same layout); `head`, the head's first vector in `k` and
    /// `v` of its sequence; `keys`, how many keys it sees.
    #[derive(CubeType)]
    pub struct QuerySlot {
        pub mine: usize,
        pub head: usize,
        pub keys: usize,
    }

    /// The slot of query `query` of head `CUBE_POS_Y` of sequence `CUBE_POS_Z`.
    #[cube]
    pub fn query_slot<I: Int>(
        query: usize,
        queries: usize,
        seq: usize,
        hidden_vectors: usize,
        prefixes: ComptimeOption<&Tensor<I>>,
        #[comptime] head_vectors: usize,
        #[comptime] causal: bool,
    ) -> QuerySlot {
        let batch = CUBE_POS_Z as usize;
        let all = if causal { query + 1 } else { seq };
        #[comptime]
        let keys = match prefixes {
            ComptimeOption::Some(prefixes) => usize::cast_from(prefixes[batch]),
            ComptimeOption::None => all,
        };
        QuerySlot {
            mine: CUBE_POS_Y as usize * head_vectors + (batch * queries + query) * hidden_vectors,
            head: CUBE_POS_Y as usize * head_vectors + batch * seq * hidden_vectors,
            keys,
        }
    }

    /// `row · other[at..at + head_vectors]`, in f32.
    #[cube]
    pub fn dot_row<F: Float, N: Size>(
        row: &Array<Vector<f32, N>>,
        other: &Tensor<Vector<F, N>>,
        at: usize,
        #[comptime] head_vectors: usize,
    ) -> f32 {
        let mut dot = Vector::<f32, N>::new(0.0f32);
        #[unroll]
        for d in 0..head_vectors {
            dot += row[d] * wide(other[at + d]);
        }
        lanes_sum(dot)
    }
}
