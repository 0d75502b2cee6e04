//! HySAC as a safe/unsafe classifier: unsafe content lies further from the root, so an item is
//! called unsafe when its root distance exceeds a threshold chosen on validation data.

use serde::Serialize;

use crate::error::{Error, Result};
use crate::hyperbolic::is_unsafe;

/// The threshold that classifies `safe` and `unsafe_` root distances best (highest accuracy;
/// among ties, the midpoint of the widest gap), halfway between two observed distances.
pub fn fit_threshold(safe: &[f32], unsafe_: &[f32]) -> Result<f32> {
    if safe.is_empty() || unsafe_.is_empty() {
        return Err(Error::Input(
            "choosing a threshold needs safe and unsafe examples".into(),
        ));
    }
    let mut all: Vec<(f32, bool)> = safe
        .iter()
        .map(|&d| (d, false))
        .chain(unsafe_.iter().map(|&d| (d, true)))
        .collect();
    if all.iter().any(|(d, _)| !d.is_finite()) {
        return Err(Error::Input("a root distance is not finite".into()));
    }
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Threshold below every point: everything is called unsafe.
    let mut correct = unsafe_.len() as i64;
    let mut best = (correct, f32::NEG_INFINITY, all[0].0 - 1.0);
    for (i, &(distance, is_unsafe)) in all.iter().enumerate() {
        correct += if is_unsafe { -1 } else { 1 };
        let next = all.get(i + 1).map_or(distance + 1.0, |n| n.0);
        if next == distance {
            continue;
        }
        let gap = next - distance;
        if (correct, gap) > (best.0, best.1) {
            best = (correct, gap, distance + gap / 2.0);
        }
    }
    Ok(best.2)
}

/// How a threshold classifies (positive = unsafe).
#[derive(Debug, Clone, Serialize)]
pub struct ClassifierMetrics {
    pub threshold: f32,
    pub accuracy: f64,
    /// Safe items called unsafe, over safe items.
    pub false_positive_rate: f64,
    /// Unsafe items called safe, over unsafe items.
    pub false_negative_rate: f64,
    pub safe_mean_distance: f64,
    pub unsafe_mean_distance: f64,
    pub items: usize,
}

pub fn classify(safe: &[f32], unsafe_: &[f32], threshold: f32) -> Result<ClassifierMetrics> {
    if safe.is_empty() || unsafe_.is_empty() {
        return Err(Error::Input(
            "classifier metrics need safe and unsafe examples".into(),
        ));
    }
    let false_positives = safe.iter().filter(|&&d| is_unsafe(d, threshold)).count();
    let false_negatives = unsafe_
        .iter()
        .filter(|&&d| !is_unsafe(d, threshold))
        .count();
    let items = safe.len() + unsafe_.len();
    let mean = |v: &[f32]| v.iter().map(|&d| d as f64).sum::<f64>() / v.len() as f64;
    Ok(ClassifierMetrics {
        threshold,
        accuracy: 1.0 - (false_positives + false_negatives) as f64 / items as f64,
        false_positive_rate: false_positives as f64 / safe.len() as f64,
        false_negative_rate: false_negatives as f64 / unsafe_.len() as f64,
        safe_mean_distance: mean(safe),
        unsafe_mean_distance: mean(unsafe_),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separable_distances_get_a_threshold_in_the_gap() {
        let threshold = fit_threshold(&[1.0, 1.2, 1.1], &[2.0, 2.5]).unwrap();
        assert!((threshold - 1.6).abs() < 1e-6, "{threshold}");
        let m = classify(&[1.0, 1.2, 1.1], &[2.0, 2.5], threshold).unwrap();
        assert_eq!(
            (m.accuracy, m.false_positive_rate, m.false_negative_rate),
            (1.0, 0.0, 0.0)
        );
    }

    #[test]
    fn overlapping_distances_get_the_most_accurate_threshold() {
        // Best: between 1.5 and 2.0 (one unsafe item at 1.0 is missed): 5 of 6 right.
        let safe = [0.5, 1.2, 1.5];
        let unsafe_ = [1.0, 2.0, 3.0];
        let threshold = fit_threshold(&safe, &unsafe_).unwrap();
        assert_eq!(threshold, 1.75);
        let m = classify(&safe, &unsafe_, threshold).unwrap();
        assert!((m.accuracy - 5.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.false_positive_rate, 0.0);
        assert!((m.false_negative_rate - 1.0 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn unsafe_items_nearer_the_root_are_all_missed_or_all_flagged() {
        // Reversed order: the best a root-distance threshold can do is call everything one class.
        let threshold = fit_threshold(&[3.0, 4.0], &[1.0]).unwrap();
        let m = classify(&[3.0, 4.0], &[1.0], threshold).unwrap();
        assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-12, "{m:?}");
        assert!(fit_threshold(&[], &[1.0]).is_err());
        assert!(fit_threshold(&[f32::NAN], &[1.0]).is_err());
    }
}
