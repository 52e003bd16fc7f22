//! Normalisation layers, applied to every row (position) independently.
//!
//! - LayerNorm (GPT-2, BERT): `(x - mean) / sqrt(var + eps) * γ + β`.
//! - RMSNorm (Llama, and T5's `T5LayerNorm`): `x / sqrt(mean(x²) + eps) * γ`,
//!   no centring and no bias.
//!
//! Backward (per row, `n̂` the normalised row before the gain, `r` the
//! inverse standard deviation or RMS, `g = dy ⊙ γ`):
//! - LayerNorm: `dx = r·(g − mean(g) − n̂·mean(g ⊙ n̂))`, `dγ += dy ⊙ n̂`, `dβ += dy`.
//! - RMSNorm: `dx = r·(g − n̂·mean(g ⊙ n̂))`, `dγ += dy ⊙ n̂`.
//!
//! The statistics are recomputed from the saved input rather than stored.

use super::{push_array, TensorMut};
use alloc::vec::Vec;
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};

/// Gradients of a norm's gain (and LayerNorm's bias), kept apart from the layer.
#[derive(Clone, Debug, PartialEq)]
pub struct NormGrad {
    /// dγ, `(C)`.
    pub weight: Array1<f32>,
    /// dβ, `(C)` (LayerNorm only).
    pub bias: Option<Array1<f32>>,
}

impl NormGrad {
    /// Appends the tensors in [`Norm::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        push_array(out, &mut self.weight);
        if let Some(bias) = self.bias.as_mut() {
            push_array(out, bias);
        }
    }
}

/// Shared backward of both norms for one row: `x` input, `dy` output
/// gradient, `gain` γ; writes `dx` and accumulates `dγ` (and `dβ`).
fn norm_row_backward(
    x: ArrayView1<f32>,
    dy: ArrayView1<f32>,
    gain: ArrayView1<f32>,
    eps: f32,
    centred: bool,
    mut dx: ndarray::ArrayViewMut1<f32>,
    grad: &mut NormGrad,
) {
    let n = x.len() as f32;
    let mean = if centred { x.sum() / n } else { 0.0 };
    let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / n;
    let r = 1.0 / libm::sqrtf(var + eps);
    let (mut mean_g, mut mean_gn) = (0.0f32, 0.0f32);
    for ((&xi, &di), &gi) in x.iter().zip(dy.iter()).zip(gain.iter()) {
        let normed = (xi - mean) * r;
        let g = di * gi;
        mean_g += g;
        mean_gn += g * normed;
    }
    mean_g /= n;
    mean_gn /= n;
    if !centred {
        mean_g = 0.0;
    }
    for (i, ((&xi, &di), &gi)) in x.iter().zip(dy.iter()).zip(gain.iter()).enumerate() {
        let normed = (xi - mean) * r;
        dx[i] = r * (di * gi - mean_g - normed * mean_gn);
        grad.weight[i] += di * normed;
        if let Some(db) = grad.bias.as_mut() {
            db[i] += di;
        }
    }
}

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

impl LayerNorm {
    /// Backward of [`forward`](Self::forward): `x: (N, C)` saved input,
    /// `dy: (N, C)`; accumulates into `grad`, returns `dx: (N, C)`.
    pub fn backward(&self, x: ArrayView2<f32>, dy: ArrayView2<f32>, grad: &mut NormGrad) -> Array2<f32> {
        let mut dx = Array2::zeros(x.raw_dim());
        for ((xr, dr), dxr) in x.axis_iter(Axis(0)).zip(dy.axis_iter(Axis(0))).zip(dx.axis_iter_mut(Axis(0))) {
            norm_row_backward(xr, dr, self.weight.view(), self.eps, true, dxr, grad);
        }
        dx
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

impl RmsNorm {
    /// Backward of [`forward`](Self::forward): `x: (N, C)` saved input,
    /// `dy: (N, C)`; accumulates into `grad`, returns `dx: (N, C)`.
    pub fn backward(&self, x: ArrayView2<f32>, dy: ArrayView2<f32>, grad: &mut NormGrad) -> Array2<f32> {
        let mut dx = Array2::zeros(x.raw_dim());
        for ((xr, dr), dxr) in x.axis_iter(Axis(0)).zip(dy.axis_iter(Axis(0))).zip(dx.axis_iter_mut(Axis(0))) {
            norm_row_backward(xr, dr, self.weight.view(), self.eps, false, dxr, grad);
        }
        dx
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

    /// Backward: `x: (N, C)` saved input, `dy: (N, C)` -> `dx: (N, C)`.
    pub fn backward(&self, x: ArrayView2<f32>, dy: ArrayView2<f32>, grad: &mut NormGrad) -> Array2<f32> {
        match self {
            Norm::Layer(n) => n.backward(x, dy, grad),
            Norm::Rms(n) => n.backward(x, dy, grad),
        }
    }

    /// A copy of this norm's parameters in the gradient's layout.
    pub fn parameters(&self) -> NormGrad {
        match self {
            Norm::Layer(n) => NormGrad { weight: n.weight.clone(), bias: Some(n.bias.clone()) },
            Norm::Rms(n) => NormGrad { weight: n.weight.clone(), bias: None },
        }
    }

    /// Appends the gain (and LayerNorm's bias) to `out`.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        match self {
            Norm::Layer(n) => {
                push_array(out, &mut n.weight);
                push_array(out, &mut n.bias);
            }
            Norm::Rms(n) => push_array(out, &mut n.weight),
        }
    }

    /// Zero gradients for this norm's parameters.
    pub fn zero_grad(&self) -> NormGrad {
        match self {
            Norm::Layer(n) => NormGrad { weight: Array1::zeros(n.weight.len()), bias: Some(Array1::zeros(n.bias.len())) },
            Norm::Rms(n) => NormGrad { weight: Array1::zeros(n.weight.len()), bias: None },
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

    fn check_norm_backward(norm: Norm) {
        use crate::nn::gradcheck::{check_gradient, random_vec};
        let (n, c) = (3, 6);
        let x = Array2::from_shape_vec((n, c), random_vec(n * c, 7)).unwrap();
        let r = Array2::from_shape_vec((n, c), random_vec(n * c, 8)).unwrap();
        let mut grad = norm.zero_grad();
        let dx = norm.backward(x.view(), r.view(), &mut grad);
        let loss = |norm: &Norm, x: &Array2<f32>| (norm.forward(x) * &r).iter().map(|&v| f64::from(v)).sum::<f64>();
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
            loss(&norm, &Array2::from_shape_vec((n, c), p.to_vec()).unwrap())
        });
        let gain = match &norm {
            Norm::Layer(l) => l.weight.clone(),
            Norm::Rms(l) => l.weight.clone(),
        };
        check_gradient(gain.as_slice().unwrap(), grad.weight.as_slice().unwrap(), |p| {
            let mut changed = norm.clone();
            match &mut changed {
                Norm::Layer(l) => l.weight = Array1::from(p.to_vec()),
                Norm::Rms(l) => l.weight = Array1::from(p.to_vec()),
            }
            loss(&changed, &x)
        });
        if let (Norm::Layer(l), Some(db)) = (&norm, &grad.bias) {
            check_gradient(l.bias.as_slice().unwrap(), db.as_slice().unwrap(), |p| {
                let changed = Norm::Layer(LayerNorm { bias: Array1::from(p.to_vec()), ..l.clone() });
                loss(&changed, &x)
            });
        }
    }

    #[test]
    fn layer_norm_backward_matches_finite_differences() {
        let weight = Array1::from(crate::nn::gradcheck::random_vec(6, 9)) + 1.0;
        let bias = Array1::from(crate::nn::gradcheck::random_vec(6, 10));
        check_norm_backward(Norm::Layer(LayerNorm { weight, bias, eps: 1e-5 }));
    }

    #[test]
    fn rms_norm_backward_matches_finite_differences() {
        let weight = Array1::from(crate::nn::gradcheck::random_vec(6, 11)) + 1.0;
        check_norm_backward(Norm::Rms(RmsNorm { weight, eps: 1e-6 }));
    }

    #[test]
    fn rms_norm_matches_formula() {
        let n = RmsNorm { weight: array![2.0, 2.0], eps: 0.0 };
        let y = n.forward(&array![[3.0, 4.0]]);
        let rms = (12.5f32).sqrt();
        assert!((y[[0, 0]] - 6.0 / rms).abs() < 1e-6);
    }
}
