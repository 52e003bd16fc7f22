//! Mixed precision, simulated on f32 storage.
//!
//! Master weights, gradients and optimiser state stay f32. In bf16/fp16 mode
//! the model computes with weights and matmul/activation outputs rounded to
//! the half type (round-to-nearest-even through the `half` crate), which is
//! what autocast does on a GPU: the numbers carry only 8 (bf16) or 11 (fp16)
//! significant bits, and fp16 overflows past 65504.
//!
//! fp16's narrow exponent makes small gradients underflow to zero, so fp16
//! training multiplies the loss by a large scale before backward and divides
//! the gradients by it after ([`LossScaler`], PyTorch's `GradScaler`): if a
//! gradient overflowed to inf/NaN the step is skipped and the scale halved;
//! after `growth_interval` good steps in a row the scale doubles.

use half::{bf16, f16};

use crate::nn::TensorMut;

/// Arithmetic used for the forward and backward compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Plain f32 everywhere.
    Fp32,
    /// bfloat16 compute (8-bit exponent like f32, 8-bit mantissa).
    Bf16,
    /// IEEE half compute (5-bit exponent, 11-bit mantissa); needs loss scaling.
    Fp16,
}

impl Precision {
    /// Parses `fp32`, `bf16` or `fp16`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fp32" | "f32" => Some(Self::Fp32),
            "bf16" => Some(Self::Bf16),
            "fp16" | "f16" => Some(Self::Fp16),
            _ => None,
        }
    }

    /// The name [`Precision::parse`] accepts.
    pub fn key(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
            Self::Fp16 => "fp16",
        }
    }

    /// Rounds every value to the nearest representable half value (no-op
    /// in fp32). Values beyond fp16's range become ±inf, as on hardware.
    pub fn round(self, values: &mut [f32]) {
        match self {
            Self::Fp32 => {}
            Self::Bf16 => values.iter_mut().for_each(|v| *v = bf16::from_f32(*v).to_f32()),
            Self::Fp16 => values.iter_mut().for_each(|v| *v = f16::from_f32(*v).to_f32()),
        }
    }
}

/// Dynamic loss scaling for fp16 (PyTorch `GradScaler` semantics).
#[derive(Clone, Debug, PartialEq)]
pub struct LossScaler {
    /// Current multiplier of the loss.
    pub scale: f32,
    /// Good steps needed before the scale doubles.
    pub growth_interval: u32,
    /// Good steps since the last change.
    pub good_steps: u32,
    /// Steps skipped because a gradient overflowed.
    pub skipped_steps: u64,
}

impl LossScaler {
    /// PyTorch's defaults: scale 2^16, doubling every 2000 good steps.
    pub fn new() -> Self {
        Self { scale: 65536.0, growth_interval: 2000, good_steps: 0, skipped_steps: 0 }
    }

    /// Inspects the scaled gradients: if all are finite, divides them by the
    /// scale and returns true (take the step); otherwise halves the scale and
    /// returns false (skip the step). Grows the scale after enough good steps.
    pub fn unscale_and_update(&mut self, grads: &mut [TensorMut<'_>]) -> bool {
        if grads.iter().flat_map(|t| t.values.iter()).any(|g| !g.is_finite()) {
            self.scale *= 0.5;
            self.good_steps = 0;
            self.skipped_steps += 1;
            return false;
        }
        let inv = 1.0 / self.scale;
        grads.iter_mut().flat_map(|t| t.values.iter_mut()).for_each(|g| *g *= inv);
        self.good_steps += 1;
        if self.good_steps >= self.growth_interval {
            self.scale *= 2.0;
            self.good_steps = 0;
        }
        true
    }
}

impl Default for LossScaler {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_loses_the_expected_bits() {
        let mut v = [1.0 + 1.0 / 512.0, 70000.0, 1e-8];
        Precision::Bf16.round(&mut v[..1]);
        assert_eq!(v[0], 1.0); // bf16 keeps 8 significant bits
        let mut w = [1.0 + 1.0 / 512.0, 70000.0, 1e-8];
        Precision::Fp16.round(&mut w);
        assert_eq!(w[0], 1.0 + 1.0 / 512.0); // fp16 keeps 11
        assert!(w[1].is_infinite()); // beyond 65504
        assert_eq!(w[2], 0.0); // below the smallest subnormal
    }

    fn tensor(values: &mut [f32]) -> [TensorMut<'_>; 1] {
        [TensorMut { values, matrix: true }]
    }

    #[test]
    fn scaler_skips_on_overflow_and_grows_after_good_steps() {
        let mut s = LossScaler { growth_interval: 2, ..LossScaler::new() };
        let mut bad = [1.0, f32::INFINITY];
        assert!(!s.unscale_and_update(&mut tensor(&mut bad)));
        assert_eq!(s.scale, 32768.0);
        let mut good = [32768.0, -65536.0];
        assert!(s.unscale_and_update(&mut tensor(&mut good)));
        assert_eq!(good, [1.0, -2.0]);
        assert!(s.unscale_and_update(&mut tensor(&mut [0.0])));
        assert_eq!(s.scale, 65536.0);
        assert_eq!(s.skipped_steps, 1);
    }
}
