//! HySAC against the PyTorch reference (`scripts/reference_hysac.py`): every Lorentz-geometry
//! function's values and gradients (points and curvature), every loss term and total with and
//! without images (tuned features and the head's scalars), on random, near-origin and large-norm
//! inputs; then the traversal's guarantees.

use crate::common;

use std::collections::HashMap;

use crate::common::{backends, fixtures};
use burn::prelude::*;
use safer_clip::device::block_on;
use safer_clip::hyperbolic::HyperbolicHead;
use safer_clip::hyperbolic::lorentz::{
    exp_map0, half_aperture, log_map0, oxy_angle, pairwise_distance, pairwise_inner,
    pairwise_oxy_angle, root_distance, time_component,
};
use safer_clip::safety::hysac::hysac_terms;
use safer_clip::safety::losses::{ImageEmbeddings, StepEmbeddings, total};
use safer_clip::safety::traversal::{
    nearest_by_distance, nearest_entailing, to_safe_region, traversal_boundary, walk,
};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Fixture {
    geometry: Vec<GeometryCase>,
    losses: Vec<LossCase>,
}

#[derive(Deserialize)]
struct GeometryCase {
    name: String,
    points: HashMap<String, Value>,
    curvature: Value,
    functions: HashMap<String, Expected>,
}

#[derive(Deserialize)]
struct LossCase {
    name: String,
    inputs: HashMap<String, Value>,
    head: HashMap<String, Value>,
    methods: HashMap<String, MethodExpected>,
}

#[derive(Deserialize)]
struct MethodExpected {
    terms: HashMap<String, Expected>,
    total: Expected,
}

#[derive(Deserialize)]
struct Expected {
    value: Value,
    #[serde(default)]
    weights: Option<Value>,
    grads: HashMap<String, Value>,
}

/// Nested JSON numbers flattened, with the shape they had.
fn flatten(value: &Value) -> (Vec<f64>, Vec<usize>) {
    match value {
        Value::Number(n) => (vec![n.as_f64().unwrap()], vec![]),
        Value::Array(rows) => {
            let parts: Vec<_> = rows.iter().map(flatten).collect();
            let mut shape = vec![rows.len()];
            shape.extend(parts.first().map(|p| p.1.clone()).unwrap_or_default());
            (parts.into_iter().flat_map(|p| p.0).collect(), shape)
        }
        other => panic!("not a number or array: {other}"),
    }
}

fn matrix(value: &Value, device: &Device) -> Tensor<2> {
    let (values, shape) = flatten(value);
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, [shape[0], shape[1]]), device)
}

fn read(tensor: Tensor<2>) -> Vec<f64> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
        .iter()
        .map(|&v| v as f64)
        .collect()
}

/// Float32 against float64: absolute 5e-5 plus 2e-3 relative (the large-norm case lifts points to
/// norms ~1e5, where f32 keeps ~7 digits of quantities that then cancel).
fn close(ours: f64, theirs: f64) -> bool {
    (ours - theirs).abs() <= 5e-5 + 2e-3 * theirs.abs()
}

fn compare(what: &str, ours: &[f64], theirs: &Value) {
    let (theirs, _) = flatten(theirs);
    assert_eq!(ours.len(), theirs.len(), "{what}: size");
    for (i, (o, t)) in ours.iter().zip(&theirs).enumerate() {
        assert!(close(*o, *t), "{what}[{i}]: {o} vs {t}");
    }
}

fn as_matrix(t: Tensor<1>) -> Tensor<2> {
    let [n] = t.dims();
    t.reshape([n, 1])
}

#[test]
fn geometry_matches_pytorch_in_value_and_gradient() {
    let text = std::fs::read_to_string(fixtures().join("hysac.json")).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    type Function = fn(&HashMap<&str, Tensor<2>>, Tensor<2>) -> Tensor<2>;
    let functions: [(&str, &[&str], Function); 9] = [
        ("time_component", &["x"], |p, c| {
            time_component(p["x"].clone(), c)
        }),
        ("exp_map0", &["x"], |p, c| exp_map0(p["x"].clone(), c)),
        ("log_map0", &["y"], |p, c| log_map0(p["y"].clone(), c)),
        ("root_distance", &["y"], |p, c| {
            as_matrix(root_distance(p["y"].clone(), c))
        }),
        ("pairwise_inner", &["x", "y"], |p, c| {
            pairwise_inner(p["x"].clone(), p["y"].clone(), c)
        }),
        ("pairwise_distance", &["x", "y"], |p, c| {
            pairwise_distance(p["x"].clone(), p["y"].clone(), c)
        }),
        ("half_aperture", &["x"], |p, c| {
            as_matrix(half_aperture(p["x"].clone(), c))
        }),
        ("oxy_angle", &["x", "z"], |p, c| {
            as_matrix(oxy_angle(p["x"].clone(), p["z"].clone(), c))
        }),
        ("pairwise_oxy_angle", &["x", "y"], |p, c| {
            pairwise_oxy_angle(p["x"].clone(), p["y"].clone(), c)
        }),
    ];
    for (backend, device) in backends() {
        let device = device.autodiff();
        for case in &fixture.geometry {
            for (name, args, function) in functions {
                let what = format!("{backend} {} {name}", case.name);
                let expected = &case.functions[name];
                let points: HashMap<&str, Tensor<2>> = args
                    .iter()
                    .map(|&a| (a, matrix(&case.points[a], &device).require_grad()))
                    .collect();
                let curvature = matrix(&case.curvature, &device).require_grad();
                let value = function(&points, curvature.clone());
                compare(
                    &format!("{what} value"),
                    &read(value.clone()),
                    &expected.value,
                );
                let [rows, cols] = value.dims();
                let (weights, _) = flatten(expected.weights.as_ref().unwrap());
                let weights: Vec<f32> = weights.iter().map(|&w| w as f32).collect();
                let weights =
                    Tensor::<2>::from_data(TensorData::new(weights, [rows, cols]), &device);
                let grads = (value * weights).sum().backward();
                for &a in args {
                    let grad = points[a]
                        .grad(&grads)
                        .unwrap_or_else(|| panic!("{what}: no gradient for {a}"));
                    compare(&format!("{what} d/d{a}"), &read(grad), &expected.grads[a]);
                }
                let grad = curvature
                    .grad(&grads)
                    .unwrap_or_else(|| panic!("{what}: no gradient for c"));
                compare(
                    &format!("{what} d/dc"),
                    &read(grad),
                    &expected.grads["curvature"],
                );
            }
        }
    }
}

#[test]
fn losses_match_pytorch_in_value_and_gradient() {
    let text = std::fs::read_to_string(fixtures().join("hysac.json")).unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    for (backend, device) in backends() {
        let device = device.autodiff();
        for case in &fixture.losses {
            for (method, with_images) in [("hysac", true), ("hysac_text", false)] {
                let expected = &case.methods[method];
                let fresh = || {
                    let inputs: HashMap<String, Tensor<2>> = case
                        .inputs
                        .iter()
                        .map(|(k, v)| {
                            let t = matrix(v, &device);
                            (
                                k.clone(),
                                if k.starts_with("tuned") {
                                    t.require_grad()
                                } else {
                                    t
                                },
                            )
                        })
                        .collect();
                    let mut head = HyperbolicHead::new(8, &device);
                    for (name, value) in head.named_mut() {
                        *value = matrix(&case.head[name], &device).require_grad();
                    }
                    (inputs, head)
                };
                let embeddings = |x: &HashMap<String, Tensor<2>>| StepEmbeddings {
                    tuned_text_safe: x["tuned_text_safe"].clone(),
                    tuned_text_unsafe: x["tuned_text_unsafe"].clone(),
                    frozen_text_safe: x["frozen_text_safe"].clone(),
                    frozen_text_unsafe: x["frozen_text_unsafe"].clone(),
                    frozen_text_target: x["frozen_text_safe"].clone(),
                    images: with_images.then(|| ImageEmbeddings {
                        tuned_image_safe: x["tuned_image_safe"].clone(),
                        tuned_image_unsafe: x["tuned_image_unsafe"].clone(),
                        frozen_image_safe: x["tuned_image_safe"].clone(),
                        frozen_image_unsafe: x["tuned_image_unsafe"].clone(),
                        frozen_image_target: x["tuned_image_safe"].clone(),
                    }),
                };
                let check = |what: String,
                             value: Tensor<1>,
                             expected: &Expected,
                             x: &HashMap<String, Tensor<2>>,
                             head: &HyperbolicHead| {
                    let grads = value.backward();
                    compare(
                        &format!("{what} value"),
                        &read(value.reshape([1, 1])),
                        &expected.value,
                    );
                    for (name, tensor) in x.iter().filter(|(k, _)| k.starts_with("tuned")) {
                        match (tensor.grad(&grads), expected.grads.get(name)) {
                            (Some(grad), Some(theirs)) => {
                                compare(&format!("{what} d/d{name}"), &read(grad), theirs)
                            }
                            (None, None) => {}
                            (Some(grad), None) => {
                                let max = read(grad).iter().fold(0f64, |m, v| m.max(v.abs()));
                                assert!(max == 0.0, "{what}: d/d{name} should be zero, max {max}");
                            }
                            (None, Some(_)) => panic!("{what}: no gradient reached {name}"),
                        }
                    }
                    for (name, tensor) in head.named() {
                        match (tensor.grad(&grads), expected.grads.get(name)) {
                            (Some(grad), Some(theirs)) => {
                                compare(&format!("{what} d/d{name}"), &read(grad), theirs)
                            }
                            (None, None) => {}
                            (Some(grad), None) => {
                                assert!(read(grad)[0] == 0.0, "{what}: d/d{name} should be zero")
                            }
                            (None, Some(theirs)) => {
                                let (theirs, _) = flatten(theirs);
                                assert!(
                                    theirs[0] == 0.0,
                                    "{what}: no gradient reached {name}, expected {}",
                                    theirs[0]
                                );
                            }
                        }
                    }
                };
                let (x, head) = fresh();
                let names: Vec<&str> = hysac_terms(&embeddings(&x), &head)
                    .iter()
                    .map(|t| t.name)
                    .collect();
                let mut expected_names: Vec<&str> =
                    expected.terms.keys().map(String::as_str).collect();
                let mut sorted = names.clone();
                sorted.sort();
                expected_names.sort();
                assert_eq!(sorted, expected_names, "{method}: terms");
                for name in &names {
                    let (x, head) = fresh();
                    let term = hysac_terms(&embeddings(&x), &head)
                        .into_iter()
                        .find(|t| t.name == *name)
                        .unwrap();
                    check(
                        format!("{backend} {} {name}", case.name),
                        term.value,
                        &expected.terms[*name],
                        &x,
                        &head,
                    );
                }
                let (x, head) = fresh();
                let total = total(&hysac_terms(&embeddings(&x), &head));
                check(
                    format!("{backend} {} {method} total", case.name),
                    total,
                    &expected.total,
                    &x,
                    &head,
                );
            }
        }
    }
}

fn root_distances(points: Tensor<2>, curvature: Tensor<2>) -> Vec<f32> {
    root_distance(points, curvature)
        .into_data()
        .try_to_vec::<f32>()
        .unwrap()
}

#[test]
fn traversal_is_monotone_and_stops_at_the_boundary() {
    for (backend, device) in backends() {
        let curvature = Tensor::<2>::from_data([[0.8f32]], &device);
        let point = exp_map0(
            Tensor::<2>::random(
                [1, 16],
                burn::tensor::Distribution::Normal(0.0, 1.0),
                &device,
            ),
            curvature.clone(),
        );
        let start = root_distances(point.clone(), curvature.clone())[0];

        let path = walk(point.clone(), 12, 0.0, curvature.clone()).unwrap();
        let distances = root_distances(path.clone(), curvature.clone());
        assert!(
            (distances[0] - start).abs() < 1e-4 * start.max(1.0),
            "{backend}: starts at the query"
        );
        assert!(
            distances[11].abs() < 1e-5,
            "{backend}: ends at the root, {}",
            distances[11]
        );
        assert!(
            distances.windows(2).all(|w| w[1] < w[0]),
            "{backend}: not monotone: {distances:?}"
        );
        // Every point of the walk stays on the query's geodesic: same direction.
        let rows = common::matrix(path);
        let first = &rows[0];
        for row in &rows[1..11] {
            let cos = row.iter().zip(first).map(|(a, b)| a * b).sum::<f32>()
                / (row.iter().map(|a| a * a).sum::<f32>().sqrt()
                    * first.iter().map(|a| a * a).sum::<f32>().sqrt());
            assert!(cos > 0.9999, "{backend}: left the geodesic, cos {cos}");
        }

        let stop = start / 3.0;
        let to_boundary = root_distances(
            walk(point.clone(), 5, stop, curvature.clone()).unwrap(),
            curvature.clone(),
        );
        assert!(
            (to_boundary[4] - stop).abs() < 1e-4 * stop.max(1.0),
            "{backend}: stops at {stop}: {to_boundary:?}"
        );
        assert!(to_boundary.windows(2).all(|w| w[1] < w[0]));
        // A point already inside stays put.
        let inside = root_distances(
            walk(point.clone(), 3, start * 2.0, curvature.clone()).unwrap(),
            curvature.clone(),
        );
        assert!(
            inside
                .iter()
                .all(|d| (d - start).abs() < 1e-4 * start.max(1.0)),
            "{inside:?}"
        );
        assert!(walk(point.clone(), 1, 0.0, curvature.clone()).is_err());

        // to_safe_region: points beyond the boundary land on it, points inside do not move.
        let boundary = start * 0.5;
        let far_and_near = Tensor::cat(vec![point.clone(), point.clone() * 0.01], 0);
        let before = root_distances(far_and_near.clone(), curvature.clone());
        let moved = to_safe_region(far_and_near.clone(), boundary, curvature.clone());
        let after = root_distances(moved.clone(), curvature.clone());
        assert!(
            (after[0] - boundary).abs() < 1e-4 * boundary.max(1.0),
            "{backend}: {after:?}"
        );
        assert_eq!(after[1], before[1], "{backend}: a safe point moved");
        assert_eq!(common::matrix(moved)[1], common::matrix(far_and_near)[1]);
    }
}

#[test]
fn traversal_boundary_follows_hysac() {
    // b' = b + tanh((b − 0.8)/c) + 1
    assert!((traversal_boundary(0.8, 1.0) - 1.8).abs() < 1e-6);
    assert!((traversal_boundary(2.0, 0.5) - (2.0 + (2.4f32).tanh() + 1.0)).abs() < 1e-6);
    assert!(traversal_boundary(0.2, 1.0) < 1.2);
}

#[test]
fn retrieval_along_the_walk_respects_entailment_cones() {
    let device = Device::flex();
    let curvature = Tensor::<2>::from_data([[1.0f32]], &device);
    let head = {
        let mut head = HyperbolicHead::new(4, &device);
        head.log_curvature = curvature.clone().log();
        head
    };
    // Caption 0: a general concept near the root along e₀ (wide cone); caption 1: a specific one
    // far out along e₀; caption 2: far out along −e₀.
    let captions = Tensor::<2>::from_data(
        [
            [0.3f32, 0.0, 0.0, 0.0],
            [4.0, 0.1, 0.0, 0.0],
            [-4.0, 0.0, 0.0, 0.0],
        ],
        &device,
    );
    // A query just beyond caption 1, walked to the root.
    let query = Tensor::<2>::from_data([[5.0f32, 0.12, 0.0, 0.0]], &device);
    let path = walk(query, 6, 0.0, curvature).unwrap();
    let found = block_on(nearest_entailing(path, captions.clone(), None, &head)).unwrap();
    assert_eq!(found[0].caption, Some(1), "{found:?}");
    assert!(
        found.iter().all(|f| f.caption != Some(2)),
        "caption 2's cone points the other way: {found:?}"
    );
    assert_eq!(
        found[5].caption, None,
        "only the root entails the root: {found:?}"
    );
    assert!(
        found
            .windows(2)
            .all(|w| w[1].root_distance < w[0].root_distance)
    );
    // Excluding the nearest caption falls back to the next entailing one, or the root.
    let exclude = vec![1; 6];
    let without = block_on(nearest_entailing(
        walk(
            Tensor::<2>::from_data([[5.0f32, 0.12, 0.0, 0.0]], &device),
            6,
            0.0,
            head.curvature(),
        )
        .unwrap(),
        captions,
        Some(&exclude),
        &head,
    ))
    .unwrap();
    assert!(without.iter().all(|f| f.caption != Some(1)), "{without:?}");
}

#[test]
fn retrieval_by_distance_ranks_the_pool_and_redirection_changes_it() {
    for (backend, device) in backends() {
        let curvature = Tensor::<2>::from_data([[1.0f32]], &device);
        // Along e₀: a safe caption near the root, an unsafe one far out; a third elsewhere.
        let pool = Tensor::<2>::from_data(
            [[0.5f32, 0.0, 0.0], [3.0, 0.2, 0.0], [0.0, 0.0, 2.0]],
            &device,
        );
        let query = Tensor::<2>::from_data([[3.2f32, 0.25, 0.0]], &device);
        let found = block_on(nearest_by_distance(
            query.clone(),
            pool.clone(),
            3,
            curvature.clone(),
        ))
        .unwrap();
        let expected = read(pairwise_distance(
            query.clone(),
            pool.clone(),
            curvature.clone(),
        ));
        assert_eq!(
            found[0].iter().map(|n| n.index).collect::<Vec<_>>(),
            vec![1, 0, 2],
            "{backend}: {found:?}"
        );
        for near in &found[0] {
            assert!(
                close(near.distance as f64, expected[near.index]),
                "{backend}: {near:?} vs {expected:?}"
            );
        }
        // Moved onto a boundary near the root, the query retrieves the safe caption first.
        let redirected = to_safe_region(query, 0.6, curvature.clone());
        let found = block_on(nearest_by_distance(
            redirected,
            pool.clone(),
            1,
            curvature.clone(),
        ))
        .unwrap();
        assert_eq!(found[0][0].index, 0, "{backend}: {found:?}");
        assert!(
            block_on(nearest_by_distance(
                pool.clone(),
                pool.clone(),
                4,
                curvature.clone()
            ))
            .is_err()
        );
        assert!(
            block_on(nearest_by_distance(
                pool.clone(),
                pool.slice([0..2, 0..2]),
                1,
                curvature
            ))
            .is_err()
        );
    }
}
