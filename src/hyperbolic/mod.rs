//! Hyperbolic space as HySAC uses it: the Lorentz model's geometry and the learned head that
//! lifts CLIP's features into it, with the safe region around its root.

mod head;
pub mod lorentz;

pub use head::{
    HeadValues, Hyperbolic, HyperbolicHead, PointKind, SAFE_REGION_PERCENTILE, SafeRegion,
    Thresholds, is_unsafe, quantile, root_distances,
};
