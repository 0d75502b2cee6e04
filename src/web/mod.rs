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

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

/// `initThreadPool(n)`: starts the rayon pool of the multithreaded CPU module.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;
