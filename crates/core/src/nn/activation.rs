//! Elementwise non-linearities, named as in Hugging Face configs
//! (`activation_function`, `hidden_act`, `dense_act_fn`).
//!
//! Each has its derivative next to it ([`Activation::derivative`]) for the
//! backward pass: `dx = dy ⊙ f'(x)` with `x` the saved pre-activation.

use super::math::sigmoid;
use super::NnError;

/// √(2/π), GELU's tanh-approximation constant.
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
use ndarray::{Array2, ArrayView2};

/// An activation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `x·Φ(x)` with the exact Gaussian CDF (BERT's `gelu`).
    GeluExact,
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))` (GPT-2's `gelu_new`).
    GeluTanh,
    /// `x·σ(1.702·x)` (`quick_gelu`).
    QuickGelu,
    /// `max(0, x)` (original T5, the 2017 Transformer).
    Relu,
    /// `x·σ(x)`, also called swish (Llama's SwiGLU gate).
    Silu,
}

impl Activation {
    /// Parses a Hugging Face activation name.
    pub fn from_hf_name(name: &str) -> Result<Self, NnError> {
        Ok(match name {
            "gelu" => Activation::GeluExact,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "quick_gelu" => Activation::QuickGelu,
            "relu" => Activation::Relu,
            "silu" | "swish" => Activation::Silu,
            other => return Err(NnError::UnknownActivation(other.into())),
        })
    }

    /// Applies the function to one value.
    #[inline(always)]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::GeluExact => gelu_exact(x),
            Activation::GeluTanh => gelu_tanh(x),
            Activation::QuickGelu => quick_gelu(x),
            Activation::Relu => x.max(0.0),
            Activation::Silu => silu(x),
        }
    }

    /// Applies the function in place to every element.
    ///
    /// The `match` sits outside the loop, so each arm is a tight loop that
    /// the compiler vectorises (the branch-free `exp` makes that possible).
    pub fn apply_inplace(self, x: &mut Array2<f32>) {
        match self {
            Activation::GeluExact => x.mapv_inplace(gelu_exact),
            Activation::GeluTanh => x.mapv_inplace(gelu_tanh),
            Activation::QuickGelu => x.mapv_inplace(quick_gelu),
            Activation::Relu => x.mapv_inplace(|v| v.max(0.0)),
            Activation::Silu => x.mapv_inplace(silu),
        }
    }

    /// `f'(x)`. ReLU's derivative at 0 is 0, as in PyTorch.
    #[inline(always)]
    pub fn derivative(self, x: f32) -> f32 {
        match self {
            Activation::GeluExact => {
                // Φ(x) + x·φ(x)
                const INV_SQRT_2PI: f32 = 0.398_942_3;
                let cdf = 0.5 * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2));
                cdf + x * INV_SQRT_2PI * libm::expf(-0.5 * x * x)
            }
            Activation::GeluTanh => {
                // s = σ(2u) = ½(1 + tanh u): gelu' = s + 2x·s(1 − s)·u'.
                let s = sigmoid(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
                s + 2.0 * x * s * (1.0 - s) * SQRT_2_OVER_PI * (1.0 + 3.0 * 0.044715 * x * x)
            }
            Activation::QuickGelu => {
                let s = sigmoid(1.702 * x);
                s + 1.702 * x * s * (1.0 - s)
            }
            Activation::Relu => {
                if x > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Silu => {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
        }
    }

    /// Backward: `x` the saved pre-activation, `dy` the output gradient ->
    /// `dx = dy ⊙ f'(x)`.
    pub fn backward(self, x: ArrayView2<f32>, dy: ArrayView2<f32>) -> Array2<f32> {
        let mut dx = dy.to_owned();
        macro_rules! each {
            ($act:expr) => {
                ndarray::Zip::from(&mut dx).and(&x).for_each(|d, &v| *d *= $act.derivative(v))
            };
        }
        match self {
            Activation::GeluExact => each!(Activation::GeluExact),
            Activation::GeluTanh => each!(Activation::GeluTanh),
            Activation::QuickGelu => each!(Activation::QuickGelu),
            Activation::Relu => each!(Activation::Relu),
            Activation::Silu => each!(Activation::Silu),
        }
        dx
    }
}

#[inline(always)]
fn gelu_exact(x: f32) -> f32 {
    0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2))
}

/// ½(1 + tanh u) = σ(2u): one exp instead of a tanh.
#[inline(always)]
fn gelu_tanh(x: f32) -> f32 {
    x * sigmoid(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x))
}

#[inline(always)]
fn quick_gelu(x: f32) -> f32 {
    x * sigmoid(1.702 * x)
}

#[inline(always)]
fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        // Values from torch.nn.functional.gelu (exact and approximate='tanh') and silu.
        assert!((Activation::GeluExact.apply(1.0) - 0.841_344_7).abs() < 1e-6);
        assert!((Activation::GeluTanh.apply(1.0) - 0.841_192).abs() < 1e-6);
        assert!((Activation::Silu.apply(1.0) - 0.731_058_6).abs() < 1e-6);
        assert_eq!(Activation::Relu.apply(-3.0), 0.0);
        assert!(Activation::from_hf_name("tanh_of_doom").is_err());
    }

    #[test]
    fn every_derivative_matches_finite_differences() {
        use crate::nn::gradcheck::{check_gradient, random_vec};
        for act in [Activation::GeluExact, Activation::GeluTanh, Activation::QuickGelu, Activation::Relu, Activation::Silu] {
            // Spread over [-3, 3]; keep ReLU's points away from its kink.
            let x: alloc::vec::Vec<f32> = random_vec(40, 3).iter().map(|v| v * 3.0).map(|v| if v.abs() < 0.05 { 0.5 } else { v }).collect();
            let analytic: alloc::vec::Vec<f32> = x.iter().map(|&v| act.derivative(v)).collect();
            check_gradient(&x, &analytic, |p| p.iter().map(|&v| f64::from(act.apply(v))).sum());
        }
    }
}
