//! The one random number generator of LLM Lab.
//!
//! Sampling, dropout, weight initialisation and data shuffling all draw from
//! [`Rng`], a PCG-64 (`Lcg128Xsl64`) generator from `rand_pcg`. Its output is
//! fully specified by the seed and independent of platform and pointer width,
//! which is what lets a share link reproduce the exact same text in the
//! browser as the CLI prints natively.

use rand_core::{RngCore, SeedableRng};
use rand_pcg::Pcg64;

/// Seeded PCG-64 generator with the float helpers the engine needs.
#[derive(Clone, Debug)]
pub struct Rng {
    inner: Pcg64,
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Self { inner: Pcg64::seed_from_u64(seed) }
    }

    /// Next raw 32 bits.
    pub fn next_u32(&mut self) -> u32 {
        self.inner.next_u32()
    }

    /// Next raw 64 bits.
    pub fn next_u64(&mut self) -> u64 {
        self.inner.next_u64()
    }

    /// Uniform in `[0, 1)` with 53 bits of precision.
    pub fn uniform_f64(&mut self) -> f64 {
        // Take the top 53 bits: every representable multiple of 2^-53 is
        // equally likely and 1.0 is never returned.
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[0, 1)` with 24 bits of precision.
    pub fn uniform_f32(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32)
    }

    /// Uniform integer in `[0, n)`; `n` must be non-zero (returns 0 for 0).
    /// Uses rejection sampling so there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }

    /// Standard normal sample (Box–Muller, using the cosine branch only so the
    /// stream does not depend on hidden cached state).
    pub fn normal(&mut self) -> f64 {
        // 1 - u keeps the argument of ln strictly positive.
        let u1 = 1.0 - self.uniform_f64();
        let u2 = self.uniform_f64();
        libm::sqrt(-2.0 * libm::log(u1)) * libm::cos(core::f64::consts::TAU * u2)
    }

    /// Draw an index from unnormalised non-negative `weights` (probabilities
    /// need not sum to 1). Returns `None` when every weight is zero or any is
    /// not finite, so callers can report "every token was filtered out".
    pub fn categorical(&mut self, weights: &[f64]) -> Option<usize> {
        let mut total = 0.0;
        for &w in weights {
            if !w.is_finite() || w < 0.0 {
                return None;
            }
            total += w;
        }
        if total <= 0.0 {
            return None;
        }
        let target = self.uniform_f64() * total;
        let mut acc = 0.0;
        let mut last_positive = None;
        for (i, &w) in weights.iter().enumerate() {
            if w > 0.0 {
                last_positive = Some(i);
                acc += w;
                if target < acc {
                    return Some(i);
                }
            }
        }
        // Rounding can leave `target` a hair above the running sum.
        last_positive
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_pinned_values() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        let xs: alloc::vec::Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: alloc::vec::Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(Rng::new(43).next_u64(), xs[0]);
    }

    #[test]
    fn uniform_is_in_range_and_roughly_uniform() {
        let mut r = Rng::new(7);
        let n = 100_000;
        let mut sum = 0.0;
        for _ in 0..n {
            let x = r.uniform_f64();
            assert!((0.0..1.0).contains(&x));
            sum += x;
        }
        let mean = sum / n as f64;
        // Standard error is 1/sqrt(12 n) ≈ 0.0009; allow 5 sigma.
        assert!((mean - 0.5).abs() < 0.0046, "mean {mean}");
    }

    #[test]
    fn categorical_matches_weights_and_rejects_empty() {
        let mut r = Rng::new(1);
        let w = [0.0, 1.0, 3.0, 0.0];
        let mut counts = [0usize; 4];
        for _ in 0..40_000 {
            counts[r.categorical(&w).unwrap()] += 1;
        }
        assert_eq!(counts[0], 0);
        assert_eq!(counts[3], 0);
        let frac = counts[2] as f64 / 40_000.0;
        assert!((frac - 0.75).abs() < 0.011, "frac {frac}");
        assert_eq!(r.categorical(&[0.0, 0.0]), None);
        assert_eq!(r.categorical(&[f64::NAN, 1.0]), None);
    }

    #[test]
    fn normal_has_unit_variance() {
        let mut r = Rng::new(3);
        let n = 50_000;
        let xs: alloc::vec::Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / n as f64;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.03, "var {var}");
    }
}
