//! wasm-bindgen bindings: the surface the Web Worker calls (`www/worker.js`). Glue only: each
//! call goes to the core, reads its result back asynchronously, and turns a failure into a JS
//! `Error` whose `name` is the core error's kind. The logic lives in the core, where the native
//! tests reach it.

mod clip;
mod dial;
mod error;
mod hysac;
mod matrix;
mod pool;
mod trainer;
mod weights;
mod zero_shot;

pub use clip::WebClip;
pub use hysac::HyperbolicPoints;
pub use matrix::Matrix;
pub use pool::CaptionPool;
pub use trainer::WebTrainer;
pub use weights::convert_weights;

use wasm_bindgen::prelude::*;

unsafe extern "C" {
    /// Synthesised by wasm-ld: runs the module's static constructors (the `inventory`
    /// registrations of CubeCL's IR crate, pliron).
    fn __wasm_call_ctors();
}

#[wasm_bindgen(start)]
pub fn start() {
    // A module that never calls its constructors itself is linked "command style": wasm-ld then
    // runs every constructor at the start of every export, some 0.15 ms per call from JavaScript
    // (each string or value handed over is one), which made handing the 2,400-caption pool to
    // the core take 2 s. Calling them once here, before any other export, turns that off.
    // SAFETY: wasm-bindgen calls `start` right after instantiation, before any other export
    // (once per thread in the threaded core); inventory's constructors are idempotent.
    unsafe { __wasm_call_ctors() };
    console_error_panic_hook::set_once();
}

/// `initThreadPool(n)`: starts the rayon pool of the multithreaded CPU module.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;
