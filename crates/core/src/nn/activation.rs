//! Elementwise non-linearities, named as in Hugging Face configs
//! (`activation_function`, `hidden_act`, `dense_act_fn`).

use super::NnError;
use ndarray::Array2;

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
    #[inline]
    pub fn apply(self, x: f32) -> f32 {
        match self {
            Activation::GeluExact => 0.5 * x * (1.0 + libm::erff(x * core::f32::consts::FRAC_1_SQRT_2)),
            Activation::GeluTanh => {
                const SQRT_2_OVER_PI: f32 = 0.797_884_6;
                0.5 * x * (1.0 + libm::tanhf(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)))
            }
            Activation::QuickGelu => x / (1.0 + libm::expf(-1.702 * x)),
            Activation::Relu => x.max(0.0),
            Activation::Silu => x / (1.0 + libm::expf(-x)),
        }
    }

    /// Applies the function in place to every element.
    pub fn apply_inplace(self, x: &mut Array2<f32>) {
        x.mapv_inplace(|v| self.apply(v));
    }
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
}
