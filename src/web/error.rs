//! Failures as JS errors: the message for the person, the `name` for the page to act on.

use serde::Serialize;
use wasm_bindgen::JsValue;

use crate::error::Error;

pub type JsResult<T> = Result<T, JsValue>;

/// A JS `Error` named `name`.
pub fn named(name: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(name);
    error.into()
}

/// A core error as a JS `Error` named by its kind (`InvalidModel`, `InvalidInput`, …).
pub fn js_error(error: Error) -> JsValue {
    named(error.kind().name(), &error.to_string())
}

/// Plain data as a JS value (objects, not maps).
pub fn to_js<T: Serialize>(value: &T) -> JsResult<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| named("WorkerError", &e.to_string()))
}
