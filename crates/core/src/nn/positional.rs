//! How a transformer learns where a token is.
//!
//! - [`sinusoidal_table`]: the fixed sin/cos table of "Attention Is All You
//!   Need", added to the token embeddings.
//! - Learned tables (GPT-2, BERT) are plain [`Embedding`](super::embedding::Embedding)s.
//! - [`Rope`]: rotary embeddings (Llama) rotate each query/key pair of
//!   features by an angle proportional to the position, so `q·k` depends only
//!   on the distance between them. Hugging Face's `rotate_half` convention:
//!   feature `i` is paired with feature `i + D/2`.
//! - [`t5_relative_position_bucket`]: T5 adds a learned scalar per head and
//!   per (bucketed) distance to the attention scores instead.

use alloc::vec::Vec;
use ndarray::{Array2, ArrayView2, Axis};

/// The sinusoidal table `(positions, dim)`:
/// `PE[p, 2i] = sin(p / 10000^(2i/dim))`, `PE[p, 2i+1] = cos(p / 10000^(2i/dim))`.
pub fn sinusoidal_table(positions: usize, dim: usize) -> Array2<f32> {
    Array2::from_shape_fn((positions, dim), |(p, j)| {
        let pair = (j / 2) as f64;
        let angle = p as f64 / libm::pow(10000.0, 2.0 * pair / dim as f64);
        if j % 2 == 0 {
            libm::sin(angle) as f32
        } else {
            libm::cos(angle) as f32
        }
    })
}

/// How the RoPE frequencies are stretched for long contexts.
#[derive(Clone, Debug, PartialEq)]
pub enum RopeScaling {
    /// Plain RoPE.
    None,
    /// Every frequency divided by `factor` (position interpolation).
    Linear {
        /// Divisor of every frequency.
        factor: f32,
    },
    /// Llama 3.1's scheme: low frequencies divided by `factor`, high ones
    /// kept, a smooth blend in between.
    Llama3 {
        /// Divisor of the low frequencies.
        factor: f32,
        /// Wavelengths longer than `original_max_positions / low_freq_factor` are scaled.
        low_freq_factor: f32,
        /// Wavelengths shorter than `original_max_positions / high_freq_factor` are kept.
        high_freq_factor: f32,
        /// The context length the model was pre-trained with.
        original_max_positions: f32,
    },
}

/// Rotary position embedding for heads of width `D`.
#[derive(Clone, Debug)]
pub struct Rope {
    /// `θ_i` for `i in 0..D/2`: the angle per position of feature pair `i`.
    pub inv_freq: Vec<f32>,
}

impl Rope {
    /// Frequencies `1 / theta^(2i/D)` (computed in f32 like Hugging Face),
    /// then scaled.
    pub fn new(head_dim: usize, theta: f32, scaling: &RopeScaling) -> Self {
        let half = head_dim / 2;
        let mut inv_freq: Vec<f32> =
            (0..half).map(|i| 1.0 / libm::powf(theta, (2 * i) as f32 / head_dim as f32)).collect();
        match *scaling {
            RopeScaling::None => {}
            RopeScaling::Linear { factor } => inv_freq.iter_mut().for_each(|f| *f /= factor),
            RopeScaling::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_positions } => {
                let low_freq_wavelen = original_max_positions / low_freq_factor;
                let high_freq_wavelen = original_max_positions / high_freq_factor;
                for f in inv_freq.iter_mut() {
                    let wavelen = 2.0 * core::f32::consts::PI / *f;
                    let scaled = if wavelen > low_freq_wavelen { *f / factor } else { *f };
                    let is_medium = !(wavelen < high_freq_wavelen) && !(wavelen > low_freq_wavelen);
                    *f = if is_medium {
                        let smooth = (original_max_positions / wavelen - low_freq_factor)
                            / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * scaled / factor + smooth * scaled
                    } else {
                        scaled
                    };
                }
            }
        }
        Self { inv_freq }
    }

    /// `(cos, sin)` of every pair's angle at `position`, each `(D/2)`.
    pub fn cos_sin(&self, position: usize) -> (Vec<f32>, Vec<f32>) {
        let p = position as f32;
        self.inv_freq.iter().map(|f| (libm::cosf(p * f), libm::sinf(p * f))).unzip()
    }

    /// Rotates one head vector `x: (D)` in place with precomputed `cos_sin`:
    /// `x[i], x[i+D/2] <- x[i]·cos - x[i+D/2]·sin, x[i+D/2]·cos + x[i]·sin`.
    pub fn rotate(x: &mut [f32], cos: &[f32], sin: &[f32]) {
        Self::rotate_signed::<false>(x, cos, sin);
    }

    /// The inverse (= transposed) rotation, used by the backward pass: a
    /// rotation is orthogonal, so the gradient of its input is the output
    /// gradient rotated back by the same angle.
    pub fn rotate_back(x: &mut [f32], cos: &[f32], sin: &[f32]) {
        Self::rotate_signed::<true>(x, cos, sin);
    }

    /// The rotation by `+angle` (or `-angle` when `BACK`): one loop for both
    /// directions, specialised at compile time so the forward pays nothing.
    #[inline]
    fn rotate_signed<const BACK: bool>(x: &mut [f32], cos: &[f32], sin: &[f32]) {
        let half = cos.len();
        if x.len() < 2 * half {
            return;
        }
        let (first, second) = x.split_at_mut(half);
        for i in 0..half {
            let (a, b) = (first[i], second[i]);
            let s = if BACK { -sin[i] } else { sin[i] };
            first[i] = a * cos[i] - b * s;
            second[i] = b * cos[i] + a * s;
        }
    }

    /// The rotation angles as a `(positions, D/2)` matrix, for the teaching heatmap.
    pub fn angle_table(&self, positions: usize) -> Array2<f32> {
        Array2::from_shape_fn((positions, self.inv_freq.len()), |(p, i)| p as f32 * self.inv_freq[i])
    }

    /// `cos` and `sin` of every pair's angle as a `(positions, D)` matrix,
    /// `[cos(p·θ_0) .. cos(p·θ_{D/2-1}) | sin(p·θ_0) .. sin(p·θ_{D/2-1})]`:
    /// the rotation applied at position `p`, for the teaching heatmap. The
    /// cosine similarity of rows `p` and `p + d` is the mean of `cos(d·θ_i)`,
    /// which depends on the distance `d` only, RoPE's defining property.
    pub fn cos_sin_table(&self, positions: usize) -> Array2<f32> {
        let half = self.inv_freq.len();
        Array2::from_shape_fn((positions, 2 * half), |(p, j)| {
            let angle = p as f32 * self.inv_freq[j % half];
            if j < half {
                libm::cosf(angle)
            } else {
                libm::sinf(angle)
            }
        })
    }

    /// `cos` of the angles as a `(positions, D)` matrix laid out like the
    /// features it multiplies (`cat(cos, cos)`), for the teaching heatmap.
    pub fn cos_table(&self, positions: usize) -> Array2<f32> {
        let half = self.inv_freq.len();
        Array2::from_shape_fn((positions, 2 * half), |(p, j)| libm::cosf(p as f32 * self.inv_freq[j % half]))
    }
}

/// How alike two positions' encodings are as a function of their distance:
/// entry `d` is the mean cosine similarity between rows `p` and `p + d` of
/// `table: (positions, dim)`, over every `p` with both rows present, for
/// `d in 0..min(max_distance, positions)`. Sinusoids and RoPE fall off
/// smoothly with `d` whatever `p` is; that is why attention can read off
/// relative position from a dot product. All-zero rows count as similarity 0.
pub fn similarity_by_distance(table: ArrayView2<f32>, max_distance: usize) -> Vec<f32> {
    let positions = table.nrows();
    let norms: Vec<f32> =
        table.axis_iter(Axis(0)).map(|r| libm::sqrtf(r.iter().map(|v| v * v).sum::<f32>())).collect();
    (0..max_distance.min(positions))
        .map(|d| {
            let pairs = positions - d;
            let total: f64 = (0..pairs)
                .map(|p| {
                    let denominator = norms[p] * norms[p + d];
                    if denominator == 0.0 {
                        return 0.0;
                    }
                    let dot: f32 = table.row(p).iter().zip(table.row(p + d).iter()).map(|(a, b)| a * b).sum();
                    f64::from(dot / denominator)
                })
                .sum();
            (total / pairs as f64) as f32
        })
        .collect()
}

/// T5's bucket for `relative_position = key_position - query_position`.
///
/// Half the buckets (all of them if not `bidirectional`) hold exact small
/// distances; larger distances share logarithmically wider buckets up to
/// `max_distance`. Mirrors `T5Attention._relative_position_bucket`,
/// including its f32 logarithm, so bucket edges agree.
pub fn t5_relative_position_bucket(
    relative_position: i64,
    bidirectional: bool,
    num_buckets: usize,
    max_distance: usize,
) -> usize {
    let mut num_buckets = num_buckets as i64;
    let mut bucket = 0i64;
    let distance = if bidirectional {
        num_buckets /= 2;
        if relative_position > 0 {
            bucket += num_buckets;
        }
        relative_position.abs()
    } else {
        // Only the past is visible: future distances collapse to bucket 0.
        (-relative_position).max(0)
    };
    let max_exact = num_buckets / 2;
    if distance < max_exact {
        bucket += distance;
    } else {
        let log_ratio = libm::logf(distance as f32 / max_exact as f32)
            / (libm::log(max_distance as f64 / max_exact as f64) as f32);
        let large = max_exact + (log_ratio * (num_buckets - max_exact) as f32) as i64;
        bucket += large.min(num_buckets - 1);
    }
    bucket.max(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoid_starts_at_sin0_cos0() {
        let pe = sinusoidal_table(4, 6);
        assert_eq!(pe[[0, 0]], 0.0);
        assert_eq!(pe[[0, 1]], 1.0);
        assert!((pe[[1, 0]] - 1f32.sin()).abs() < 1e-6);
    }

    #[test]
    fn sinusoid_matches_the_closed_form_computed_by_numpy() {
        // numpy (float64, rounded to f32): pe[p, 2i] = sin(p / 10000**(2i/16)),
        // pe[p, 2i+1] = cos(p / 10000**(2i/16)) for a (50, 16) table.
        let expected = [
            (1, 0, 0.841_470_96_f32),
            (1, 1, 0.540_302_3),
            (7, 2, 0.800_421_66),
            (7, 3, -0.599_437_4),
            (13, 6, 0.399_614_33),
            (49, 8, 0.470_625_88),
            (49, 15, 0.999_879_96),
            (31, 14, 0.009_802_904),
        ];
        let pe = sinusoidal_table(50, 16);
        assert_eq!(pe.dim(), (50, 16));
        for (p, j, value) in expected {
            assert!((pe[[p, j]] - value).abs() < 1e-6, "pe[{p},{j}] = {} vs numpy {value}", pe[[p, j]]);
        }
        // Every (sin, cos) pair lies on the unit circle.
        for p in 0..50 {
            for i in 0..8 {
                let (s, c) = (pe[[p, 2 * i]], pe[[p, 2 * i + 1]]);
                assert!((s * s + c * c - 1.0).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn similarity_by_distance_matches_numpy_and_rope_depends_on_distance_only() {
        // numpy: mean over p of cos-sim(pe[p], pe[p+d]) for the (50, 16) table.
        let pe = sinusoidal_table(50, 16);
        let sim = similarity_by_distance(pe.view(), 21);
        assert_eq!(sim.len(), 21);
        for (d, value) in [(0usize, 1.0f32), (1, 0.935_645_8), (5, 0.767_13), (20, 0.721_938_2)] {
            assert!((sim[d] - value).abs() < 1e-5, "d = {d}: {} vs numpy {value}", sim[d]);
        }
        // RoPE's cos/sin rows: similarity at distance d is mean_i cos(d·θ_i).
        let rope = Rope::new(8, 10000.0, &RopeScaling::None);
        let table = rope.cos_sin_table(30);
        let sim = similarity_by_distance(table.view(), 10);
        for (d, s) in sim.iter().enumerate() {
            let expected: f32 = rope.inv_freq.iter().map(|f| libm::cosf(d as f32 * f)).sum::<f32>() / 4.0;
            assert!((s - expected).abs() < 1e-5, "d = {d}: {s} vs {expected}");
        }
        // Zero rows do not divide by zero, and the distance is capped by the length.
        assert_eq!(similarity_by_distance(Array2::<f32>::zeros((3, 4)).view(), 10), alloc::vec![0.0; 3]);
    }

    #[test]
    fn rope_preserves_norm_and_relative_angle() {
        let rope = Rope::new(8, 10000.0, &RopeScaling::None);
        let mut q = [1.0f32, 0.5, -0.3, 0.2, 0.7, -1.0, 0.1, 0.4];
        let norm_before: f32 = q.iter().map(|v| v * v).sum();
        let (c, s) = rope.cos_sin(5);
        Rope::rotate(&mut q, &c, &s);
        let norm_after: f32 = q.iter().map(|v| v * v).sum();
        assert!((norm_before - norm_after).abs() < 1e-5);
        // Rotating back restores the input: the backward of a rotation is its transpose.
        Rope::rotate_back(&mut q, &c, &s);
        for (a, b) in q.iter().zip([1.0f32, 0.5, -0.3, 0.2, 0.7, -1.0, 0.1, 0.4]) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    #[test]
    fn t5_buckets_match_reference() {
        // torch: T5Attention._relative_position_bucket(torch.arange(-21, 22), True, 32, 128)
        let expected_bidir = [
            10, 10, 10, 10, 10, 10, 9, 9, 9, 9, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1, 0, 17, 18, 19, 20, 21, 22, 23, 24,
            24, 24, 24, 25, 25, 25, 25, 26, 26, 26, 26, 26, 26,
        ];
        let got: Vec<usize> = (-21..=21).map(|r| t5_relative_position_bucket(r, true, 32, 128)).collect();
        assert_eq!(&got[..], &expected_bidir[..]);
        // torch: T5Attention._relative_position_bucket(torch.arange(-40, 1), False, 32, 128)
        let expected_causal = [
            23, 22, 22, 22, 22, 22, 21, 21, 21, 21, 20, 20, 20, 20, 19, 19, 19, 18, 18, 18, 17, 17, 16, 16, 16, 15,
            14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
        ];
        let got: Vec<usize> = (-40..=0).map(|r| t5_relative_position_bucket(r, false, 32, 128)).collect();
        assert_eq!(&got[..], &expected_causal[..]);
    }
}
