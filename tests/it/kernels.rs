//! The fused wgpu kernels against the Burn ops they replace.

use burn::prelude::*;
use burn::tensor::Distribution;
use burn::tensor::module::layer_norm;
use safer_clip::device::Backend;
use safer_clip::kernels::fused_layer_norm;

use crate::common::backends;

/// One dispatch gives Burn's LayerNorm, on CLIP's widths and on rows whose mean dwarfs their
/// spread (where a one-pass variance would cancel), and is not used where it cannot be: other
/// backends, tensors recorded for autodiff, and more rows than one dispatch can count.
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

            let tracked =
                Tensor::<3>::from_data(x.into_data(), &device.clone().autodiff()).require_grad();
            assert!(
                fused_layer_norm(tracked, gamma, beta, eps).is_none(),
                "the fused kernel (no backward pass) ran on a tensor recorded for autodiff"
            );
        }
    }
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
