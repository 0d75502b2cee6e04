//! A HySAC model's views: lifted points, safe/unsafe readings, retrieval with redirection, and
//! the traversal to the root (`safety::hysac_search`).

use js_sys::Array;
use wasm_bindgen::prelude::*;

use super::clip::WebClip;
use super::error::{JsResult, js_error, to_js};
use super::matrix::{Matrix, read_matrix};
use crate::hyperbolic::PointKind;
use crate::safety::hysac_search::{
    LiftedPoints, lift_images, lift_texts, readings, retrieve, traverse,
};

/// Captions or images lifted onto a HySAC model's hyperboloid: a pool to retrieve from, or a
/// lifted query (one text), lifted once and reused.
#[wasm_bindgen]
pub struct HyperbolicPoints {
    lifted: LiftedPoints,
}

#[wasm_bindgen]
impl HyperbolicPoints {
    #[wasm_bindgen(getter)]
    pub fn size(&self) -> usize {
        self.lifted.len()
    }

    /// The lifted points, one row each, for a page that keeps them and brings them back with
    /// `WebClip.hyperbolicPointsFromRows`.
    pub async fn rows(&self) -> JsResult<Matrix> {
        read_matrix(self.lifted.points.clone()).await
    }

    /// Adds `other`'s points after these (both captions, or both images).
    pub fn append(&mut self, other: &HyperbolicPoints) -> JsResult<()> {
        self.lifted.append(&other.lifted).map_err(js_error)
    }
}

#[wasm_bindgen]
impl WebClip {
    /// Lifts texts onto the hyperboloid: a caption pool, or a query.
    #[wasm_bindgen(js_name = liftTexts)]
    pub fn lift_texts(&self, texts: Vec<String>) -> JsResult<HyperbolicPoints> {
        let lifted = lift_texts(&self.clip, self.hysac()?, &texts).map_err(js_error)?;
        Ok(HyperbolicPoints { lifted })
    }

    /// Lifts encoded images onto the hyperboloid.
    #[wasm_bindgen(js_name = liftImages)]
    pub fn lift_images(&self, images: Array) -> JsResult<HyperbolicPoints> {
        let lifted =
            lift_images(&self.clip, self.hysac()?, &self.pixels(images)?).map_err(js_error)?;
        Ok(HyperbolicPoints { lifted })
    }

    /// Points kept by the page: `data` holds rows of `cols` values, as `rows()` gave them.
    #[wasm_bindgen(js_name = hyperbolicPointsFromRows)]
    pub fn hyperbolic_points_from_rows(
        &self,
        data: Vec<f32>,
        cols: usize,
        images: bool,
    ) -> JsResult<HyperbolicPoints> {
        self.hysac()?;
        let kind = if images {
            PointKind::Image
        } else {
            PointKind::Text
        };
        let lifted = LiftedPoints::from_rows(data, cols, kind, &self.clip).map_err(js_error)?;
        Ok(HyperbolicPoints { lifted })
    }

    /// HySAC as a classifier: each point's reading, `[{distance, unsafe}]` (`unsafe` is `null`
    /// for images when the run trained on text alone, so has no bound for images).
    #[wasm_bindgen(js_name = poolSafety)]
    pub async fn pool_safety(&self, points: &HyperbolicPoints) -> JsResult<JsValue> {
        to_js(
            &readings(self.hysac()?, self.thresholds.as_ref(), &points.lifted)
                .await
                .map_err(js_error)?,
        )
    }

    /// The `k` pool points nearest to a lifted text `query`, optionally redirected to the safe
    /// region first: `{query: {distance, unsafe}, redirected, results: [{index, distance}]}`.
    #[wasm_bindgen(js_name = retrieveHyperbolic)]
    pub async fn retrieve_hyperbolic(
        &self,
        pool: &HyperbolicPoints,
        query: &HyperbolicPoints,
        k: usize,
        redirect: bool,
    ) -> JsResult<JsValue> {
        let found = retrieve(
            self.hysac()?,
            self.thresholds.as_ref(),
            &pool.lifted,
            &query.lifted,
            k,
            redirect,
        )
        .await
        .map_err(js_error)?;
        to_js(&found)
    }

    /// HySAC's traversal of a lifted text `query` toward the root in `steps` steps, with the
    /// caption retrieved at each: `{bound, boundary, steps: [{caption, distance}]}`.
    pub async fn traverse(
        &self,
        pool: &HyperbolicPoints,
        query: &HyperbolicPoints,
        steps: usize,
    ) -> JsResult<JsValue> {
        let walk = traverse(self.hysac()?, &pool.lifted, &query.lifted, steps)
            .await
            .map_err(js_error)?;
        to_js(&walk)
    }
}
