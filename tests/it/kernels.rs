//! The fused wgpu kernels against the Burn ops they replace.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::activation::{gelu, sigmoid};
use burn::tensor::module::{attention, layer_norm, linear};
use burn::tensor::ops::AttentionModuleOptions;
use safer_clip::device::Backend;
use safer_clip::kernels::{Activation, KeyMask, fused_attention, fused_layer_norm, fused_linear};

use crate::common::backends;

/// One dispatch gives Burn's LayerNorm, on CLIP's widths and on rows whose mean dwarfs their
/// spread (where a one-pass variance would cancel), and is not used where it cannot be: other
/// backends, and more rows than one dispatch can count.
#[test]
fn fused_layer_norm_equals_burns() {
    let eps = 1e-5;
    for (backend, device) in backends() {
        for (shape, offset) in [
            ([2, 77, 512], 0.0),
            ([3, 50, 768], 0.0),
            ([1, 5, 768], 100.0),
        ] {
            let width = shape[2];
            let gamma = Tensor::<1>::random([width], Distribution::Normal(1.0, 0.5), &device);
            let beta = Tensor::<1>::random([width], Distribution::Normal(0.0, 0.5), &device);
            let x = Tensor::<3>::random(shape, Distribution::Normal(offset, 2.0), &device);
            let fused = fused_layer_norm(x.clone(), gamma.clone(), beta.clone(), eps);
            if backend != Backend::Wgpu {
                assert!(fused.is_none(), "the fused kernel ran on {backend}");
                continue;
            }
            let fused = fused.expect("the fused kernel did not run on wgpu");
            let burns = layer_norm(x.clone(), gamma.clone(), Some(beta.clone()), eps);
            let exact = exact_layer_norm(&x, &gamma, &beta, eps);
            let (ours, theirs) = (max_abs_diff(fused, &exact), max_abs_diff(burns, &exact));
            println!("{shape:?}, mean {offset}: fused {ours:.2e}, Burn's {theirs:.2e} from f64");
            assert!(
                ours <= 1e-5_f64.max(theirs),
                "{shape:?}, mean {offset}: {ours} from the f64 LayerNorm, Burn's ops {theirs}"
            );

            let too_many_rows = Tensor::<2>::zeros([65_536, 4], &device);
            let (gamma4, beta4) = (Tensor::ones([4], &device), Tensor::zeros([4], &device));
            assert!(
                fused_layer_norm(too_many_rows, gamma4, beta4, eps).is_none(),
                "the fused kernel took more rows than a dispatch can count"
            );
        }
    }
}

/// On an autodiff graph the kernel runs with a backward pass of its own: the same outputs and
/// gradient of `x` as Burn's ops, on CLIP's widths, on rows whose mean dwarfs their spread and on
/// a width narrower than the workgroup; a `γ` that takes a gradient is left to Burn's ops.
#[test]
fn fused_layer_norm_trains_like_burns() {
    let eps = 1e-5;
    for (backend, device) in backends() {
        let graph = device.clone().autodiff();
        for (shape, offset) in [
            ([2, 77, 512], 0.0),
            ([3, 50, 768], 0.0),
            ([1, 5, 768], 100.0),
            ([2, 3, 8], 0.0),
        ] {
            let width = shape[2];
            let gamma = Tensor::<1>::random([width], Distribution::Normal(1.0, 0.5), &graph);
            let beta = Tensor::<1>::random([width], Distribution::Normal(0.0, 0.5), &graph);
            let x = Tensor::<3>::random(shape, Distribution::Normal(offset, 2.0), &graph)
                .require_grad();
            let fused = fused_layer_norm(x.clone(), gamma.clone(), beta.clone(), eps);
            if backend != Backend::Wgpu {
                assert!(fused.is_none(), "the fused kernel ran on {backend}");
                continue;
            }
            let fused = fused.expect("the fused kernel did not run on the wgpu autodiff graph");
            let burns = layer_norm(x.clone(), gamma.clone(), Some(beta.clone()), eps);
            let outputs = max_abs_diff(fused.clone(), &values(burns.clone()));
            // A loss that weighs every output differently, so the gradient tells entries apart.
            let g = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &graph);
            let ours = (fused * g.clone()).sum().backward();
            let theirs = (burns * g).sum().backward();
            let dx = |grads| x.grad(grads).expect("no gradient reached x");
            let dx = max_abs_diff(dx(&ours), &values(dx(&theirs)));
            println!("{shape:?}, mean {offset}: outputs {outputs:.2e}, dx {dx:.2e} from Burn's");
            assert!(
                outputs <= 5e-5,
                "{shape:?}, mean {offset}: outputs {outputs} from Burn's"
            );
            assert!(dx <= 5e-5, "{shape:?}, mean {offset}: dx {dx} from Burn's");
        }
        if backend == Backend::Wgpu {
            let x = Tensor::<3>::random([1, 2, 8], Distribution::Normal(0.0, 1.0), &graph);
            let gamma = Tensor::<1>::ones([8], &graph).require_grad();
            let beta = Tensor::<1>::zeros([8], &graph);
            assert!(
                fused_layer_norm(x, gamma, beta, eps).is_none(),
                "the fused kernel ran with a γ that takes a gradient (it has no dγ)"
            );
        }
    }
}

/// In f16 the kernel sums in f32: rows whose squares pass f16's range (±65504) are normalised as
/// exactly as f16 can hold the result (Burn's ops in f16 were 6.1 off on these rows).
#[test]
fn fused_layer_norm_in_f16_sums_in_f32() {
    let device = safer_clip::device::device(Backend::Wgpu).unwrap();
    let half = |t: Tensor<1>| t.cast(burn::tensor::FloatDType::F16);
    let gamma = Tensor::<1>::random([768], Distribution::Normal(1.0, 0.5), &device);
    let beta = Tensor::<1>::random([768], Distribution::Normal(0.0, 0.5), &device);
    let x = Tensor::<3>::random([2, 7, 768], Distribution::Normal(20.0, 300.0), &device);
    let x = x.cast(burn::tensor::FloatDType::F16);
    let (gamma, beta) = (half(gamma), half(beta));
    let exact = exact_layer_norm(&x, &gamma, &beta, 1e-5);
    let fused = fused_layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5)
        .expect("the fused kernel did not run on f16");
    let burns = max_abs_diff(
        layer_norm(x.clone(), gamma.clone(), Some(beta.clone()), 1e-5),
        &exact,
    );
    println!("Burn's ops in f16: {burns:.2e}");
    assert_eq!(fused.dtype(), burn::tensor::DType::F16);
    let ours = max_abs_diff(fused, &exact);
    let largest = exact.iter().fold(0.0, |m: f64, v| m.max(v.abs()));
    println!(
        "f16 LayerNorm of rows with spread 300: {ours:.2e} from f64 (outputs up to {largest:.1})"
    );
    // f16 holds a value v to within |v| · 2⁻¹¹.
    assert!(
        ours <= largest * 2f64.powi(-11),
        "{ours} from the f64 LayerNorm"
    );
}

/// LayerNorm of `x`'s rows in f64.
fn exact_layer_norm(x: &Tensor<3>, gamma: &Tensor<1>, beta: &Tensor<1>, eps: f64) -> Vec<f64> {
    let values = |t: Tensor<1>| -> Vec<f64> {
        let data = t.into_data().convert::<f64>();
        data.try_into_vec::<f64>().unwrap()
    };
    let width = gamma.dims()[0];
    let (gamma, beta) = (values(gamma.clone()), values(beta.clone()));
    let rows = values(x.clone().flatten(0, 2));
    rows.chunks(width)
        .flat_map(|row| {
            let mean = row.iter().sum::<f64>() / width as f64;
            let variance = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / width as f64;
            let scale = 1.0 / (variance + eps).sqrt();
            row.iter()
                .zip(gamma.iter().zip(&beta))
                .map(move |(v, (g, b))| (v - mean) * scale * g + b)
                .collect::<Vec<_>>()
        })
        .collect()
}

fn max_abs_diff(ours: Tensor<3>, exact: &[f64]) -> f64 {
    let ours = ours.flatten::<1>(0, 2).into_data().convert::<f64>();
    ours.try_into_vec::<f64>()
        .unwrap()
        .iter()
        .zip(exact)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max)
}

/// One dispatch gives Burn's `act(x W + b) + residual` for each activation, with and without a
/// bias and a residual, on row counts that do not fill the kernel's blocks (5, 50, 77), and is
/// not used where it cannot be: other backends, widths that are not a multiple of 4, an input
/// recorded for autodiff with weights that are not.
#[test]
fn fused_linear_equals_burns() {
    for (backend, device) in backends() {
        for (shape, width, activation, bias, residual) in [
            ([2, 77, 512], 2048, Activation::QuickGelu, true, false),
            ([1, 50, 768], 768, Activation::Identity, true, true),
            ([3, 5, 512], 512, Activation::Gelu, false, true),
            ([1, 1, 512], 512, Activation::Identity, false, false),
        ] {
            let depth = shape[2];
            let x = Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
            let std = 1.0 / (depth as f64).sqrt();
            let w = Tensor::<2>::random([depth, width], Distribution::Normal(0.0, std), &device);
            let b =
                bias.then(|| Tensor::<1>::random([width], Distribution::Normal(0.0, 1.0), &device));
            let r = residual.then(|| {
                Tensor::<3>::random(
                    [shape[0], shape[1], width],
                    Distribution::Normal(0.0, 1.0),
                    &device,
                )
            });
            let fused = fused_linear(x.clone(), w.clone(), b.clone(), activation, r.clone());
            if backend != Backend::Wgpu {
                assert!(fused.is_none(), "the fused kernel ran on {backend}");
                continue;
            }
            let fused = fused.expect("the fused kernel did not run on wgpu");
            let y = linear(x.clone(), w.clone(), b.clone());
            let y = match activation {
                Activation::Identity => y,
                Activation::QuickGelu => y.clone() * sigmoid(y * 1.702),
                Activation::Gelu => gelu(y),
            };
            let burns = match r {
                Some(r) => r + y,
                None => y,
            };
            let diff = max_abs_diff(fused, &values(burns));
            println!(
                "{shape:?} → {width}, {activation:?}, bias {bias}, residual {residual}: {diff:.2e}"
            );
            assert!(
                diff <= 2e-5,
                "{shape:?} → {width}, {activation:?}: {diff} from Burn's ops"
            );

            let odd = Tensor::<2>::zeros([depth, 6], &device);
            assert!(
                fused_linear(x.clone(), odd, None, Activation::Identity, None).is_none(),
                "the fused kernel took a width that is not a multiple of 4"
            );
            let tracked =
                Tensor::<3>::from_data(x.into_data(), &device.clone().autodiff()).require_grad();
            assert!(
                fused_linear(tracked, w, b, activation, None).is_none(),
                "the fused kernel ran on a tensor recorded for autodiff, its weights not"
            );
        }
    }
}

/// On an autodiff graph the kernel computes `x W + b` with a backward pass of its own, Burn's ops
/// the activation and residual: the same outputs and the same gradients of `x`, of a trainable
/// `W` (a LoRA factor, 16 wide) and of the residual as Burn's ops, on rows that do not fill the
/// kernel's blocks, and an `x` that takes no gradient; a bias that takes one is left to Burn's.
#[test]
fn fused_linear_trains_like_burns() {
    for (backend, device) in backends() {
        let graph = device.clone().autodiff();
        for (shape, width, activation, bias, residual, trained_weight, trained_x) in [
            (
                [2, 77, 512],
                768,
                Activation::Identity,
                true,
                false,
                false,
                true,
            ),
            (
                [2, 77, 768],
                16,
                Activation::Identity,
                false,
                false,
                true,
                true,
            ),
            (
                [3, 5, 16],
                512,
                Activation::QuickGelu,
                false,
                true,
                true,
                true,
            ),
            ([1, 50, 64], 256, Activation::Gelu, true, true, true, false),
        ] {
            let depth = shape[2];
            let random = |dims: Vec<usize>, std: f64| {
                Tensor::<3>::random(dims, Distribution::Normal(0.0, std), &graph)
            };
            let mut x = random(shape.to_vec(), 1.0);
            if trained_x {
                x = x.require_grad();
            }
            let std = 1.0 / (depth as f64).sqrt();
            let mut w = Tensor::<2>::random([depth, width], Distribution::Normal(0.0, std), &graph);
            if trained_weight {
                w = w.require_grad();
            }
            let b =
                bias.then(|| Tensor::<1>::random([width], Distribution::Normal(0.0, 1.0), &graph));
            let out = vec![shape[0], shape[1], width];
            let r = residual.then(|| random(out.clone(), 1.0).require_grad());
            // A loss that weighs every output differently, so the gradients tell entries apart.
            let g = random(out, 1.0);
            let fused = fused_linear(x.clone(), w.clone(), b.clone(), activation, r.clone());
            if backend != Backend::Wgpu {
                assert!(fused.is_none(), "the fused kernel ran on {backend}");
                continue;
            }
            let fused = fused.expect("the fused kernel did not run on the wgpu autodiff graph");
            let burns = activation.then(linear(x.clone(), w.clone(), b.clone()), r.clone());
            let case = format!("{shape:?} → {width}, {activation:?}");
            let outputs = max_abs_diff(fused.clone(), &values(burns.clone()));
            assert!(outputs <= 2e-5, "{case}: outputs {outputs} from Burn's");
            let ours = (fused * g.clone()).sum().backward();
            let theirs = (burns * g).sum().backward();
            let mut compared = vec![];
            if trained_x {
                let dx = |grads| x.grad(grads).expect("no gradient reached x");
                compared.push(("dx", max_abs_diff(dx(&ours), &values(dx(&theirs)))));
            } else {
                assert!(
                    x.grad(&ours).is_none(),
                    "{case}: a gradient reached an untracked x"
                );
            }
            if trained_weight {
                let dw = |grads| {
                    w.grad(grads)
                        .expect("no gradient reached W")
                        .unsqueeze::<3>()
                };
                compared.push(("dW", max_abs_diff(dw(&ours), &values(dw(&theirs)))));
            }
            if let Some(r) = &r {
                let dr = |grads| r.grad(grads).expect("no gradient reached the residual");
                compared.push(("dr", max_abs_diff(dr(&ours), &values(dr(&theirs)))));
            }
            let told: Vec<String> = compared
                .iter()
                .map(|(what, d)| format!("{what} {d:.2e}"))
                .collect();
            println!("{case}: outputs {outputs:.2e}, {}", told.join(", "));
            for (what, diff) in compared {
                assert!(diff <= 1e-4, "{case}: {what} {diff} from Burn's");
            }
        }
        if backend == Backend::Wgpu {
            let x =
                Tensor::<2>::random([4, 8], Distribution::Normal(0.0, 1.0), &graph).require_grad();
            let w = Tensor::<2>::random([8, 4], Distribution::Normal(0.0, 1.0), &graph);
            let b = Tensor::<1>::zeros([4], &graph).require_grad();
            assert!(
                fused_linear(x, w, Some(b), Activation::Identity, None).is_none(),
                "the fused kernel ran on a bias that takes a gradient (it has no db)"
            );
        }
    }
}

/// One dispatch gives Burn's multi-head attention: causal over the text tower's shapes, over all
/// keys for the vision tower's, for one query per sequence over a prefix of its keys (the text
/// tower's pooled last layer) or over all of them (the vision tower's), and for heads 2 and 3
/// wide (the tests' tiny models). It declines causal attention of other rows and prefixes that
/// are empty, too long or not one per sequence.
#[test]
fn fused_attention_equals_burns() {
    let pooled_rows = [77, 12, 1];
    for (backend, device) in backends() {
        for (batch, queries, seq, hidden, heads, mask) in [
            (2, 77, 77, 512, 8, KeyMask::Causal),
            (3, 50, 50, 768, 12, KeyMask::All),
            (2, 1, 50, 768, 12, KeyMask::All),
            (3, 1, 77, 512, 8, KeyMask::Prefixes(&pooled_rows)),
            (1, 7, 7, 64, 2, KeyMask::Causal),
            (2, 7, 7, 4, 2, KeyMask::Causal),
            (2, 5, 5, 12, 4, KeyMask::All),
        ] {
            let normal = Distribution::Normal(0.0, 1.0);
            let q = Tensor::<3>::random([batch, queries, hidden], normal, &device);
            let k = Tensor::<3>::random([batch, seq, hidden], normal, &device);
            let v = Tensor::<3>::random([batch, seq, hidden], normal, &device);
            let head_dim = hidden / heads;
            let scale = (head_dim as f64).powf(-0.5);
            let fused = fused_attention(q.clone(), k.clone(), v.clone(), heads, scale, mask);
            if backend != Backend::Wgpu {
                assert!(fused.is_none(), "the fused kernel ran on {backend}");
                continue;
            }
            let fused = fused.expect("the fused kernel did not run on wgpu");
            let burns = burns_attention(q.clone(), k.clone(), v.clone(), heads, scale, mask);
            let diff = max_abs_diff(fused, &values(burns));
            println!(
                "[{batch}, {queries} over {seq}, {hidden}], {heads} heads, {mask:?}: {diff:.2e}"
            );
            assert!(
                diff <= 1e-5,
                "attention {batch}×{queries}×{seq}×{hidden}, {mask:?}: {diff} from Burn's"
            );
            if queries != seq {
                assert!(
                    fused_attention(
                        q.clone(),
                        k.clone(),
                        v.clone(),
                        heads,
                        scale,
                        KeyMask::Causal
                    )
                    .is_none(),
                    "the fused kernel masked causally queries that are not the keys' rows"
                );
                let too_long = vec![seq + 1; batch];
                let wrong_count = vec![1; batch + 1];
                for visible in [vec![0; batch], too_long, wrong_count] {
                    let mask = KeyMask::Prefixes(&visible);
                    assert!(
                        fused_attention(q.clone(), k.clone(), v.clone(), heads, scale, mask)
                            .is_none(),
                        "the fused kernel took the prefixes {visible:?} of {batch} sequences of {seq}"
                    );
                }
            }
        }
    }
}

/// On an autodiff graph the attention kernel runs with a backward pass of its own: the same
/// outputs and gradients of `q`, `k` and `v` as Burn's attention on the shapes the towers train
/// (causal text, the vision tower's, and the pooled last layer of each: one query per sequence
/// over a prefix of its keys, or over all), on a tiny model's heads, and when only some operands
/// take a gradient.
#[test]
fn fused_attention_trains_like_burns() {
    let pooled_rows = [77, 12, 1];
    for (backend, device) in backends() {
        let graph = device.clone().autodiff();
        for (batch, queries, seq, hidden, heads, mask, trained) in [
            (2, 77, 77, 512, 8, KeyMask::Causal, [true; 3]),
            (2, 50, 50, 768, 12, KeyMask::All, [true; 3]),
            (3, 1, 77, 512, 8, KeyMask::Prefixes(&pooled_rows), [true; 3]),
            (2, 1, 50, 768, 12, KeyMask::All, [true, false, true]),
            (2, 7, 7, 4, 2, KeyMask::Causal, [false, true, false]),
            (2, 70, 70, 12, 4, KeyMask::All, [true; 3]),
        ] {
            let normal = Distribution::Normal(0.0, 1.0);
            let operand = |len: usize, trained: bool| {
                let t = Tensor::<3>::random([batch, len, hidden], normal, &graph);
                if trained { t.require_grad() } else { t }
            };
            let q = operand(queries, trained[0]);
            let k = operand(seq, trained[1]);
            let v = operand(seq, trained[2]);
            let scale = ((hidden / heads) as f64).powf(-0.5);
            let fused = fused_attention(q.clone(), k.clone(), v.clone(), heads, scale, mask);
            if backend != Backend::Wgpu {
                assert!(fused.is_none(), "the fused kernel ran on {backend}");
                continue;
            }
            let fused = fused.expect("the fused kernel did not run on the wgpu autodiff graph");
            let burns = burns_attention(q.clone(), k.clone(), v.clone(), heads, scale, mask);
            let case =
                format!("[{batch}, {queries} over {seq}, {hidden}], {heads} heads, {mask:?}");
            let outputs = max_abs_diff(fused.clone(), &values(burns.clone()));
            assert!(outputs <= 1e-5, "{case}: outputs {outputs} from Burn's");
            // A loss that weighs every output differently, so the gradients tell entries apart.
            let g = Tensor::<3>::random([batch, queries, hidden], normal, &graph);
            let ours = (fused * g.clone()).sum().backward();
            let theirs = (burns * g).sum().backward();
            let mut compared = vec![];
            for ((name, operand), trained) in [("dq", &q), ("dk", &k), ("dv", &v)]
                .into_iter()
                .zip(trained)
            {
                if !trained {
                    assert!(
                        operand.grad(&ours).is_none(),
                        "{case}: a gradient reached an untracked {name}"
                    );
                    continue;
                }
                let grad = |grads| {
                    operand
                        .grad(grads)
                        .expect("no gradient reached a trained operand")
                };
                compared.push((name, max_abs_diff(grad(&ours), &values(grad(&theirs)))));
            }
            let told: Vec<String> = compared
                .iter()
                .map(|(what, d)| format!("{what} {d:.2e}"))
                .collect();
            println!("{case}: outputs {outputs:.2e}, {}", told.join(", "));
            for (what, diff) in compared {
                assert!(diff <= 2e-5, "{case}: {what} {diff} from Burn's");
            }
        }
    }
}

/// Burn's multi-head attention of `[batch, len, hidden]` projections, as the model ran it before
/// the kernel.
fn burns_attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    heads: usize,
    scale: f64,
    mask: KeyMask,
) -> Tensor<3> {
    let [batch, queries, hidden] = q.dims();
    let seq = k.dims()[1];
    let head_dim = hidden / heads;
    let split = |t: Tensor<3>, len: usize| t.reshape([batch, len, heads, head_dim]).swap_dims(1, 2);
    let hidden_keys = match mask {
        KeyMask::Prefixes(visible) => {
            let hidden: Vec<bool> = visible
                .iter()
                .flat_map(|&n| (0..seq).map(move |key| key >= n))
                .collect();
            let hidden = TensorData::new(hidden, [batch, 1, queries, seq]);
            Some(
                Tensor::<4, Bool>::from_data(hidden, &q.device())
                    .expand([batch, heads, queries, seq]),
            )
        }
        KeyMask::All | KeyMask::Causal => None,
    };
    let options = AttentionModuleOptions {
        scale: Some(scale),
        softcap: None,
        is_causal: mask == KeyMask::Causal,
    };
    attention(
        split(q, queries),
        split(k, seq),
        split(v, seq),
        hidden_keys,
        None,
        options,
    )
    .swap_dims(1, 2)
    .reshape([batch, queries, hidden])
}

fn values(t: Tensor<3>) -> Vec<f64> {
    let data = t.flatten::<1>(0, 2).into_data().convert::<f64>();
    data.try_into_vec::<f64>().unwrap()
}
