//! Zero-shot classification in the page: does the tuned model still know what the original knew?

use js_sys::Array;
use wasm_bindgen::prelude::*;

use super::clip::WebClip;
use super::error::{JsResult, js_error, to_js};
use crate::evaluation::{PromptSet, class_probabilities};

#[wasm_bindgen]
impl WebClip {
    /// Each encoded image's probability of each class, with OpenAI's prompt templates (`{}`
    /// where the class name goes): `[[p_class0, p_class1, …], …]`, one row per image.
    #[wasm_bindgen(js_name = zeroShot)]
    pub async fn zero_shot(
        &self,
        classes: Vec<String>,
        templates: Vec<String>,
        images: Array,
    ) -> JsResult<JsValue> {
        let pixels = self.pixels(images)?;
        let prompts = PromptSet { classes, templates };
        to_js(
            &class_probabilities(&self.clip, &prompts, &pixels)
                .await
                .map_err(js_error)?,
        )
    }
}
