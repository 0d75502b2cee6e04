//! The Lorentz (hyperboloid) model of hyperbolic space, as MERU and HySAC use it: a point is
//! stored by its space components `x_s ∈ ℝᴰ`; its time component is implied,
//! `x_t = sqrt(1/c + ‖x_s‖²)`, for the hyperboloid of curvature `−c`. The root (origin) is
//! `x_s = 0`. Formulas and their guards: `docs/losses.md`, "HySAC".
//!
//! The curvature `c` is a `[1, 1]` tensor so that it can be learned. Rows are points; results are
//! per row (`[n]`) or per pair of rows (`[n, m]`).

use burn::prelude::*;

/// Smallest norm divided by (as MERU's `eps`).
const EPS: f64 = 1e-8;

/// Inputs of `acos`/`asin` are kept this far inside [−1, 1], so that no gradient is infinite in
/// `f32` (MERU's 1e-8 rounds away in `f32`).
const ANGLE_EPS: f64 = 1e-6;

/// HySAC's (and MERU's) minimum cone radius `K` in the half-aperture.
pub const MIN_RADIUS: f64 = 0.1;

/// `sinh` arguments are clamped here (MERU: `asinh(2¹⁵)`), bounding lifted norms near 2¹⁵.
fn max_sinh_input() -> f64 {
    2f64.powi(15).asinh()
}

/// `‖x‖₂` of each row, `[n, 1]`.
pub fn norms(x: Tensor<2>) -> Tensor<2> {
    x.powi_scalar(2).sum_dim(1).sqrt()
}

/// `x_t = sqrt(1/c + ‖x_s‖²)`, `[n, 1]`.
pub fn time_component(x: Tensor<2>, curvature: Tensor<2>) -> Tensor<2> {
    squares_and_times(x, curvature).1
}

/// Lifts tangent vectors at the root onto the hyperboloid: `sinh(√c‖v‖) v / (√c‖v‖)`.
pub fn exp_map0(v: Tensor<2>, curvature: Tensor<2>) -> Tensor<2> {
    let scaled_norm = norms(v.clone()) * curvature.sqrt();
    let sinh = scaled_norm.clone().clamp(EPS, max_sinh_input()).sinh();
    v * sinh / scaled_norm.clamp_min(EPS)
}

/// Inverse of [`exp_map0`]: `asinh(√c‖x‖) x / (√c‖x‖)` (MERU writes `acosh(√c x_t)`; the two
/// are equal, and `asinh` keeps a finite gradient at the root).
pub fn log_map0(x: Tensor<2>, curvature: Tensor<2>) -> Tensor<2> {
    let scaled_norm = norms(x.clone()) * curvature.sqrt();
    x * scaled_norm.clone().asinh() / scaled_norm.clamp_min(EPS)
}

/// Geodesic distance of each point to the root, `asinh(√c‖x‖)/√c`, `[n]`.
pub fn root_distance(x: Tensor<2>, curvature: Tensor<2>) -> Tensor<1> {
    let [n, _] = x.dims();
    let sqrt_c = curvature.sqrt();
    ((norms(x) * sqrt_c.clone()).asinh() / sqrt_c).reshape([n])
}

/// Space components of the point on the ray from the root through `x` at root distance `d`
/// (`[n, 1]`): `x/‖x‖ · sinh(√c d)/√c`.
pub fn at_root_distance(x: Tensor<2>, distance: Tensor<2>, curvature: Tensor<2>) -> Tensor<2> {
    let sqrt_c = curvature.sqrt();
    let norm = (distance * sqrt_c.clone()).sinh() / sqrt_c;
    x.clone() / norms(x).clamp_min(EPS) * norm
}

/// Lorentzian inner products `⟨x_i, y_j⟩_L = x_s·y_s − x_t y_t`, `[n, m]`.
pub fn pairwise_inner(x: Tensor<2>, y: Tensor<2>, curvature: Tensor<2>) -> Tensor<2> {
    let x_time = time_component(x.clone(), curvature.clone());
    let y_time = time_component(y.clone(), curvature);
    x.matmul(y.transpose()) - x_time.matmul(y_time.transpose())
}

/// `‖x_s‖²`, `x_t` of each row, `[n, 1]` each.
fn squares_and_times(x: Tensor<2>, curvature: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
    let squared = x.powi_scalar(2).sum_dim(1);
    let time = (squared.clone() + curvature.recip()).sqrt();
    (squared, time)
}

/// `e = −c⟨x, y⟩_L − 1 = c D²/2` from the squared Lorentzian chord
/// `D² = ‖x_s − y_s‖² − (x_t − y_t)²`, with `x_t − y_t = (‖x_s‖² − ‖y_s‖²)/(x_t + y_t)`, and that
/// time gap; any shapes that broadcast. Written this way rather than as `c(x_t y_t − x_s·y_s) − 1`,
/// whose cancellation leaves nearby points near the root at distance 0 in `f32`.
fn excess_and_time_gap(
    x_sq: Tensor<2>,
    y_sq: Tensor<2>,
    dot: Tensor<2>,
    x_time: Tensor<2>,
    y_time: Tensor<2>,
    curvature: Tensor<2>,
) -> (Tensor<2>, Tensor<2>) {
    let time_gap = (x_sq.clone() - y_sq.clone()) / (x_time + y_time);
    let chord_sq = (x_sq + y_sq - dot * 2.0 - time_gap.clone().powi_scalar(2)).clamp_min(0.0);
    (chord_sq * curvature / 2.0, time_gap)
}

/// Geodesic distances `acosh(−c⟨x_i, y_j⟩_L)/√c = acosh(1 + e)/√c`, `[n, m]`, computed as
/// `2 asinh(√(e/2))/√c`.
pub fn pairwise_distance(x: Tensor<2>, y: Tensor<2>, curvature: Tensor<2>) -> Tensor<2> {
    let (x_sq, x_time) = squares_and_times(x.clone(), curvature.clone());
    let (y_sq, y_time) = squares_and_times(y.clone(), curvature.clone());
    let dot = x.matmul(y.transpose());
    let (excess, _) = excess_and_time_gap(
        x_sq,
        y_sq.transpose(),
        dot,
        x_time,
        y_time.transpose(),
        curvature.clone(),
    );
    (excess / 2.0).clamp_min(EPS * EPS).sqrt().asinh() * 2.0 / curvature.sqrt()
}

/// Half-aperture of each point's entailment cone, `asin(2K / (√c‖x‖))`, `[n]`: wide near the
/// root (general concepts), narrow far from it (specific ones).
pub fn half_aperture(x: Tensor<2>, curvature: Tensor<2>) -> Tensor<1> {
    let [n, _] = x.dims();
    let ratio = (norms(x) * curvature.sqrt()).add_scalar(EPS).recip() * (2.0 * MIN_RADIUS);
    ratio
        .clamp(-1.0 + ANGLE_EPS, 1.0 - ANGLE_EPS)
        .asin()
        .reshape([n])
}

/// The exterior angle at `x` of the triangle root–x–y. With `e` as above,
/// `cos = (y_t − x_t − e x_t) / (‖x_s‖ √(e(2 + e)))` (MERU's `(y_t + c⟨x,y⟩_L x_t) /
/// (‖x_s‖ √((c⟨x,y⟩_L)² − 1))`).
fn exterior_angle(
    x: Tensor<2>,
    y: Tensor<2>,
    dot: Tensor<2>,
    pairwise: bool,
    curvature: Tensor<2>,
) -> Tensor<2> {
    let (x_sq, x_time) = squares_and_times(x, curvature.clone());
    let (y_sq, y_time) = squares_and_times(y, curvature.clone());
    let (y_sq, y_time) = if pairwise {
        (y_sq.transpose(), y_time.transpose())
    } else {
        (y_sq, y_time)
    };
    let x_norm = x_sq.clone().sqrt();
    let (excess, time_gap) =
        excess_and_time_gap(x_sq, y_sq, dot, x_time.clone(), y_time, curvature);
    let numerator = time_gap.neg() - excess.clone() * x_time;
    let denominator = (excess.clone() * excess.add_scalar(2.0))
        .clamp_min(EPS)
        .sqrt();
    let cosine = numerator / (x_norm * denominator).add_scalar(EPS);
    cosine.clamp(-1.0 + ANGLE_EPS, 1.0 - ANGLE_EPS).acos()
}

/// `oxy_angle(x_i, y_i)`: the angle at `x_i` between the geodesic away from the root and the one
/// to `y_i`, row by row, `[n]`. `y` lies in `x`'s entailment cone when it is below
/// [`half_aperture`]`(x)`.
pub fn oxy_angle(x: Tensor<2>, y: Tensor<2>, curvature: Tensor<2>) -> Tensor<1> {
    let [n, _] = x.dims();
    let dot = (x.clone() * y.clone()).sum_dim(1);
    exterior_angle(x, y, dot, false, curvature).reshape([n])
}

/// `oxy_angle(x_i, y_j)` for every pair, `[n, m]`.
pub fn pairwise_oxy_angle(x: Tensor<2>, y: Tensor<2>, curvature: Tensor<2>) -> Tensor<2> {
    let dot = x.clone().matmul(y.clone().transpose());
    exterior_angle(x, y, dot, true, curvature)
}
