//! The safety methods: nearest-safe target selection, the losses of Safe-CLIP and SafeR-CLIP,
//! and HySAC's hyperbolic head, losses and safety traversal.

pub mod hysac;
pub mod lorentz;
pub mod losses;
pub mod nearest;
pub mod traversal;
