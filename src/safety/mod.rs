//! The safety methods: nearest-safe target selection, the losses of Safe-CLIP, SafeR-CLIP and
//! HySAC, HySAC's safety traversal, and what a HySAC model answers about a query.

pub mod hysac;
pub mod hysac_search;
pub mod losses;
pub mod nearest;
pub mod traversal;
