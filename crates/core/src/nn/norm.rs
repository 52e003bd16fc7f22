//! Normalisation layers, applied to every row (position) independently.
//!
//! - LayerNorm (GPT-2, BERT): `(x - mean) / sqrt(var + eps) * γ + β`.
//! - RMSNorm (Llama, and T5's `T5LayerNorm`): `x / sqrt(mean(x²) + eps) * γ`,
//!   no centring and no bias.

use ndarray::{Array1, Array2, Axis};

/// LayerNorm over the last axis.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    /// γ, `(C)`.
    pub weight: Array1<f32>,
    /// β, `(C)`.
    pub bias: Array1<f32>,
    /// Added to the variance (1e-5 in GPT-2, 1e-12 in BERT).
    pub eps: f32,
}

impl LayerNorm {
    /// `x: (N, C)` normalised in place.
    pub fn forward_inplace(&self, x: &mut Array2<f32>) {
        for mut row in x.axis_iter_mut(Axis(0)) {
            let n = row.len() as f32;
            let mean = row.sum() / n;
            let var = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
            let inv = 1.0 / libm::sqrtf(var + self.eps);
            for ((v, g), b) in row.iter_mut().zip(&self.weight).zip(&self.bias) {
                *v = (*v - mean) * inv * g + b;
            }
        }
    }

    /// Returns a normalised copy of `x: (N, C)`.
    pub fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        let mut y = x.clone();
        self.forward_inplace(&mut y);
        y
    }
}

/// RMSNorm over the last axis (also T5's LayerNorm).
#[derive(Clone, Debug)]
pub struct RmsNorm {
    /// γ, `(C)`.
    pub weight: Array1<f32>,
    /// Added to the mean square (1e-6 in T5, 1e-5/1e-6 in Llama).
    pub eps: f32,
}

impl RmsNorm {
    /// `x: (N, C)` normalised in place.
    pub fn forward_inplace(&self, x: &mut Array2<f32>) {
        for mut row in x.axis_iter_mut(Axis(0)) {
            let mean_square = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
            let inv = 1.0 / libm::sqrtf(mean_square + self.eps);
            for (v, g) in row.iter_mut().zip(&self.weight) {
                *v = g * (*v * inv);
            }
        }
    }

    /// Returns a normalised copy of `x: (N, C)`.
    pub fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        let mut y = x.clone();
        self.forward_inplace(&mut y);
        y
    }
}

/// Either normalisation, so that blocks can be written once.
#[derive(Clone, Debug)]
pub enum Norm {
    /// Mean-centred LayerNorm with bias.
    Layer(LayerNorm),
    /// Root-mean-square norm without bias.
    Rms(RmsNorm),
}

impl Norm {
    /// Returns a normalised copy of `x: (N, C)`.
    pub fn forward(&self, x: &Array2<f32>) -> Array2<f32> {
        match self {
            Norm::Layer(n) => n.forward(x),
            Norm::Rms(n) => n.forward(x),
        }
    }

    /// Normalises `x: (N, C)` in place.
    pub fn forward_inplace(&self, x: &mut Array2<f32>) {
        match self {
            Norm::Layer(n) => n.forward_inplace(x),
            Norm::Rms(n) => n.forward_inplace(x),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn layer_norm_centres_and_scales() {
        let ln = LayerNorm { weight: array![1.0, 1.0, 1.0, 1.0], bias: array![0.0, 0.0, 0.0, 1.0], eps: 0.0 };
        let y = ln.forward(&array![[1.0, 2.0, 3.0, 4.0]]);
        // mean 2.5, var 1.25
        let s = 1.0 / 1.25f32.sqrt();
        assert!((y[[0, 0]] + 1.5 * s).abs() < 1e-6);
        assert!((y[[0, 3]] - (1.5 * s + 1.0)).abs() < 1e-6);
    }

    #[test]
    fn rms_norm_matches_formula() {
        let n = RmsNorm { weight: array![2.0, 2.0], eps: 0.0 };
        let y = n.forward(&array![[3.0, 4.0]]);
        let rms = (12.5f32).sqrt();
        assert!((y[[0, 0]] - 6.0 / rms).abs() < 1e-6);
    }
}
