//! Softmax, log-softmax and the seeded draw.
//!
//! torch computes `softmax` in `f32` as `exp(x - max) / sum`; we do the same
//! (the sum is accumulated in `f64`, a few ULPs closer to the exact value than
//! torch's vectorised `f32` lanes, far inside the 1e-5 parity tolerance).
//! `-inf` logits get probability exactly 0, as in torch.

use alloc::vec::Vec;

use crate::rng::Rng;

/// `softmax(scores)` in `f32`. An all `-inf` row gives all zeros (torch would
/// give NaN; callers check for that case before sampling).
pub fn softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return alloc::vec![0.0; scores.len()];
    }
    let exps: Vec<f32> = scores.iter().map(|&x| libm::expf(x - max)).collect();
    let sum: f64 = exps.iter().map(|&e| e as f64).sum();
    let sum = sum as f32;
    exps.into_iter().map(|e| e / sum).collect()
}

/// `log_softmax(scores)` in `f32`: `x - max - ln(sum(exp(x - max)))`.
pub fn log_softmax(scores: &[f32]) -> Vec<f32> {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        return alloc::vec![f32::NEG_INFINITY; scores.len()];
    }
    let sum: f64 = scores.iter().map(|&x| libm::expf(x - max) as f64).sum();
    let log_sum = libm::log(sum) as f32;
    scores.iter().map(|&x| (x - max) - log_sum).collect()
}

/// Draw one token id from the distribution `softmax(scores)`.
/// Returns `None` when every score is `-inf` (nothing left to draw).
pub fn sample(scores: &[f32], rng: &mut Rng) -> Option<usize> {
    let probs = softmax(scores);
    sample_from_probs(&probs, rng)
}

/// Draw an index from probabilities (need not be normalised).
pub fn sample_from_probs(probs: &[f32], rng: &mut Rng) -> Option<usize> {
    let weights: Vec<f64> = probs.iter().map(|&p| p as f64).collect();
    rng.categorical(&weights)
}

/// The `n` most probable `(index, probability)` pairs, most probable first
/// (ties: lower index first). Zero-probability entries are skipped.
pub fn top_candidates(probs: &[f32], n: usize) -> Vec<(u32, f32)> {
    let mut order: Vec<usize> = (0..probs.len()).filter(|&i| probs[i] > 0.0).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order.truncate(n);
    order.into_iter().map(|i| (i as u32, probs[i])).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_masks_neg_inf() {
        let p = softmax(&[1.0, 2.0, f32::NEG_INFINITY, 0.5]);
        assert_eq!(p[2], 0.0);
        let s: f32 = p.iter().sum();
        assert!((s - 1.0).abs() < 1e-6);
        // exp(2-1) ratio
        assert!((p[1] / p[0] - core::f32::consts::E).abs() < 1e-5);
    }

    #[test]
    fn log_softmax_matches_log_of_softmax() {
        let x = [0.3, -1.2, 4.0, 2.5];
        let p = softmax(&x);
        let lp = log_softmax(&x);
        for (a, b) in p.iter().zip(&lp) {
            assert!((libm::logf(*a) - b).abs() < 1e-5);
        }
    }

    #[test]
    fn sampling_is_reproducible_and_never_picks_masked() {
        let x = [0.0, f32::NEG_INFINITY, 1.0, 0.5];
        let mut a = Rng::new(9);
        let mut b = Rng::new(9);
        for _ in 0..1000 {
            let i = sample(&x, &mut a).unwrap();
            assert_ne!(i, 1);
            assert_eq!(i, sample(&x, &mut b).unwrap());
        }
        assert_eq!(sample(&[f32::NEG_INFINITY; 3], &mut a), None);
    }

    #[test]
    fn top_candidates_are_sorted() {
        let c = top_candidates(&[0.1, 0.5, 0.0, 0.4], 3);
        assert_eq!(c, alloc::vec![(1, 0.5), (3, 0.4), (0, 0.1)]);
    }
}
