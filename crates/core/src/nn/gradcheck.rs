//! Finite-difference gradient checking, shared by every layer's tests.
//!
//! For each input element we nudge it by ±h and compare the central
//! difference `(L(x+h) - L(x-h)) / 2h` with the analytic gradient. Layers run
//! in f32, so the loss is summed in f64 and `h` is large enough (1e-2) that
//! rounding noise (~1e-7 relative) stays far below the O(h²) truncation error
//! of smooth layers; the tolerance is relative to the gradient's scale.

use alloc::vec::Vec;

use crate::rng::Rng;

/// Deterministic values in roughly [-1, 1] for test inputs.
pub fn random_vec(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..len).map(|_| rng.uniform_f32() * 2.0 - 1.0).collect()
}

/// Asserts that `analytic` matches the central difference of `loss` at `x`.
pub fn check_gradient(x: &[f32], analytic: &[f32], loss: impl FnMut(&[f32]) -> f64) {
    check_gradient_with(x, analytic, loss, 2e-3, 1e-4);
}

/// [`check_gradient`] with explicit tolerances: |numeric − analytic| must be
/// at most `rel · max|analytic| + abs`.
pub fn check_gradient_with(x: &[f32], analytic: &[f32], mut loss: impl FnMut(&[f32]) -> f64, rel: f64, abs: f64) {
    assert_eq!(x.len(), analytic.len());
    let h = 1e-2f32;
    let mut probe = x.to_vec();
    let scale = analytic.iter().fold(1e-3f64, |m, &g| m.max((g as f64).abs()));
    for i in 0..x.len() {
        probe[i] = x[i] + h;
        let plus = loss(&probe);
        probe[i] = x[i] - h;
        let minus = loss(&probe);
        probe[i] = x[i];
        let numeric = (plus - minus) / (2.0 * h as f64);
        let diff = (numeric - analytic[i] as f64).abs();
        assert!(
            diff <= rel * scale + abs,
            "gradient mismatch at {i}: analytic {} vs numeric {numeric} (scale {scale})",
            analytic[i]
        );
    }
}
