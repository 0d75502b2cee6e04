//! The sums the kernels share, each in f32 whatever the storage dtype: a vector widened, a
//! vector's lanes, a workgroup's values.

use burn_cubecl::cubecl;
use cubecl::prelude::*;

/// `x` in f32: half-precision operands are summed in single precision, so that a layer's
/// thousands of products lose no more than its f16 inputs and output do.
#[cube]
pub fn wide<F: Float, N: Size>(x: Vector<F, N>) -> Vector<f32, N> {
    Vector::cast_from(x)
}

/// The sum of a vector's lanes.
#[cube]
pub fn lanes_sum<F: Float, N: Size>(v: Vector<F, N>) -> F {
    let lanes = v.vector_size();
    let mut sum = F::new(0.0);
    #[unroll]
    for i in 0..lanes {
        sum += v.extract(i);
    }
    sum
}

/// The sum of every thread's `value`, pairwise (a tree, as accurate as the reductions Burn
/// composes LayerNorm from); `units` is a power of two. Every barrier is reached by the whole
/// workgroup, as WGSL requires.
#[cube]
pub fn sum_over_cube(partial: &mut Shared<[f32]>, value: f32, #[comptime] units: usize) -> f32 {
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
