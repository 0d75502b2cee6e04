//! The safety methods: target selection and, as they land, the losses of Safe-CLIP, SafeR-CLIP
//! and HySAC.

pub mod nearest;
