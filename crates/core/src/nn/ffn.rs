//! Position-wise feed-forward networks.
//!
//! - Plain: `down(act(up(x)))` (GPT-2 and BERT with GELU, original T5 with ReLU).
//! - Gated (GLU family): `down(act(gate(x)) ⊙ up(x))`; SwiGLU when `act` is
//!   SiLU (Llama), GEGLU when it is GELU (T5 v1.1's `gated-gelu`).

use super::activation::Activation;
use super::linear::Linear;
use ndarray::{Array2, ArrayView2};

/// A feed-forward network, `(N, C) -> (N, C)`.
#[derive(Clone, Debug)]
pub enum FeedForward {
    /// `down(act(up(x)))`.
    Plain {
        /// `(C) -> (F)`.
        up: Linear,
        /// `(F) -> (C)`.
        down: Linear,
        /// The non-linearity between them.
        act: Activation,
    },
    /// `down(act(gate(x)) ⊙ up(x))`.
    Gated {
        /// `(C) -> (F)`, goes through the activation.
        gate: Linear,
        /// `(C) -> (F)`, linear branch.
        up: Linear,
        /// `(F) -> (C)`.
        down: Linear,
        /// The gate's non-linearity.
        act: Activation,
    },
}

impl FeedForward {
    /// `x: (N, C) -> (N, C)`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        match self {
            FeedForward::Plain { up, down, act } => {
                let mut h = up.forward(x); // (N, F)
                act.apply_inplace(&mut h);
                down.forward(h.view())
            }
            FeedForward::Gated { gate, up, down, act } => {
                let mut g = gate.forward(x); // (N, F)
                let u = up.forward(x); // (N, F)
                ndarray::Zip::from(&mut g).and(&u).for_each(|g, &u| *g = act.apply(*g) * u);
                down.forward(g.view())
            }
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            FeedForward::Plain { up, down, .. } => up.num_params() + down.num_params(),
            FeedForward::Gated { gate, up, down, .. } => gate.num_params() + up.num_params() + down.num_params(),
        }
    }
}
