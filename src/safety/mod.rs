//! The safety methods: nearest-safe target selection and the losses of Safe-CLIP and
//! SafeR-CLIP (HySAC to come).

pub mod losses;
pub mod nearest;
