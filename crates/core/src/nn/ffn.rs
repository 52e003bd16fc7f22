//! Position-wise feed-forward networks.
//!
//! - Plain: `down(act(up(x)))` (GPT-2 and BERT with GELU, original T5 with ReLU).
//! - Gated (GLU family): `down(act(gate(x)) ⊙ up(x))`; SwiGLU when `act` is
//!   SiLU (Llama), GEGLU when it is GELU (T5 v1.1's `gated-gelu`).
//!
//! Backward of the gated form with `m = act(g) ⊙ u`: `dg = dm ⊙ u ⊙ act'(g)`,
//! `du = dm ⊙ act(g)`, and `dx` sums what flows back through both branches.

use super::activation::Activation;
use super::linear::{Linear, LinearGrad};
use super::TensorMut;
use alloc::vec::Vec;
use ndarray::{Array2, ArrayView2};

/// What [`FeedForward::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct FeedForwardActivations {
    /// The input `(N, C)`.
    pub x: Array2<f32>,
    /// Pre-activation: `up(x)` (plain) or `gate(x)` (gated), `(N, F)`.
    pub pre: Array2<f32>,
    /// `up(x)` of the gated form (empty for plain), `(N, F)`.
    pub up: Array2<f32>,
    /// The input of `down`, `(N, F)`.
    pub hidden: Array2<f32>,
}

/// Gradients of a [`FeedForward`].
#[derive(Clone, Debug, PartialEq)]
pub struct FeedForwardGrad {
    /// Of `gate` (gated form only).
    pub gate: Option<LinearGrad>,
    /// Of `up`.
    pub up: LinearGrad,
    /// Of `down`.
    pub down: LinearGrad,
}

impl FeedForwardGrad {
    /// Appends the tensors in [`FeedForward::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        if let Some(gate) = self.gate.as_mut() {
            gate.tensors_mut(out);
        }
        self.up.tensors_mut(out);
        self.down.tensors_mut(out);
    }
}

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

    /// Like [`forward`](Self::forward), keeping the activations for
    /// [`backward`](Self::backward).
    pub fn forward_train(&self, x: ArrayView2<f32>) -> (Array2<f32>, FeedForwardActivations) {
        let (pre, up, hidden, y) = match self {
            FeedForward::Plain { up, down, act } => {
                let pre = up.forward(x); // (N, F)
                let mut hidden = pre.clone();
                act.apply_inplace(&mut hidden);
                let y = down.forward(hidden.view());
                (pre, Array2::zeros((0, 0)), hidden, y)
            }
            FeedForward::Gated { gate, up, down, act } => {
                let pre = gate.forward(x); // (N, F)
                let u = up.forward(x); // (N, F)
                let mut hidden = pre.clone();
                ndarray::Zip::from(&mut hidden).and(&u).for_each(|g, &u| *g = act.apply(*g) * u);
                let y = down.forward(hidden.view());
                (pre, u, hidden, y)
            }
        };
        (y, FeedForwardActivations { x: x.to_owned(), pre, up, hidden })
    }

    /// Backward of [`forward_train`](Self::forward_train): `dy: (N, C)` ->
    /// `dx: (N, C)`, accumulating into `grad`.
    pub fn backward(&self, acts: &FeedForwardActivations, dy: ArrayView2<f32>, grad: &mut FeedForwardGrad) -> Array2<f32> {
        let x = acts.x.view();
        match self {
            FeedForward::Plain { up, down, act } => {
                let d_hidden = down.backward(acts.hidden.view(), dy, &mut grad.down); // (N, F)
                let d_pre = act.backward(acts.pre.view(), d_hidden.view());
                up.backward(x, d_pre.view(), &mut grad.up)
            }
            FeedForward::Gated { gate, up, down, act } => {
                let mut d_gate = down.backward(acts.hidden.view(), dy, &mut grad.down); // dm: (N, F)
                let mut d_up = d_gate.clone();
                ndarray::Zip::from(&mut d_gate).and(&mut d_up).and(&acts.pre).and(&acts.up).for_each(|dg, du, &g, &u| {
                    *du *= act.apply(g);
                    *dg *= u * act.derivative(g);
                });
                let mut dx = up.backward(x, d_up.view(), &mut grad.up);
                if let Some(gate_grad) = grad.gate.as_mut() {
                    dx += &gate.backward(x, d_gate.view(), gate_grad);
                }
                dx
            }
        }
    }

    /// A copy of this network's parameters in the gradient's layout.
    pub fn parameters(&self) -> FeedForwardGrad {
        match self {
            FeedForward::Plain { up, down, .. } => {
                FeedForwardGrad { gate: None, up: LinearGrad::of(up), down: LinearGrad::of(down) }
            }
            FeedForward::Gated { gate, up, down, .. } => FeedForwardGrad {
                gate: Some(LinearGrad::of(gate)),
                up: LinearGrad::of(up),
                down: LinearGrad::of(down),
            },
        }
    }

    /// Appends gate (gated form), up and down to `out`.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        match self {
            FeedForward::Plain { up, down, .. } => {
                up.params_mut(out);
                down.params_mut(out);
            }
            FeedForward::Gated { gate, up, down, .. } => {
                gate.params_mut(out);
                up.params_mut(out);
                down.params_mut(out);
            }
        }
    }

    /// Zero gradients shaped like this network.
    pub fn zero_grad(&self) -> FeedForwardGrad {
        match self {
            FeedForward::Plain { up, down, .. } => {
                FeedForwardGrad { gate: None, up: LinearGrad::zeros(up), down: LinearGrad::zeros(down) }
            }
            FeedForward::Gated { gate, up, down, .. } => FeedForwardGrad {
                gate: Some(LinearGrad::zeros(gate)),
                up: LinearGrad::zeros(up),
                down: LinearGrad::zeros(down),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{check_gradient, random_vec};
    use ndarray::Array1;

    fn linear(out: usize, inp: usize, seed: u64) -> Linear {
        Linear::new(
            Array2::from_shape_vec((out, inp), random_vec(out * inp, seed)).unwrap(),
            Some(Array1::from(random_vec(out, seed + 100))),
        )
    }

    fn check(ffn: FeedForward) {
        let (n, c) = (3, 4);
        let x = Array2::from_shape_vec((n, c), random_vec(n * c, 21).iter().map(|v| v * 2.0).collect()).unwrap();
        let r = Array2::from_shape_vec((n, c), random_vec(n * c, 22)).unwrap();
        let loss = |f: &FeedForward, x: &Array2<f32>| (f.forward(x.view()) * &r).iter().map(|&v| f64::from(v)).sum::<f64>();
        let (y, acts) = ffn.forward_train(x.view());
        assert_eq!(y, ffn.forward(x.view()));
        let mut grad = ffn.zero_grad();
        let dx = ffn.backward(&acts, r.view(), &mut grad);
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
            loss(&ffn, &Array2::from_shape_vec((n, c), p.to_vec()).unwrap())
        });
        type Field = fn(&mut FeedForward) -> Option<&mut Linear>;
        let layers: [(Field, Option<&LinearGrad>); 3] = [
            (|f| match f { FeedForward::Gated { gate, .. } => Some(gate), FeedForward::Plain { .. } => None }, grad.gate.as_ref()),
            (|f| match f { FeedForward::Gated { up, .. } | FeedForward::Plain { up, .. } => Some(up) }, Some(&grad.up)),
            (|f| match f { FeedForward::Gated { down, .. } | FeedForward::Plain { down, .. } => Some(down) }, Some(&grad.down)),
        ];
        for (field, g) in layers {
            let mut probe = ffn.clone();
            let (Some(layer), Some(g)) = (field(&mut probe), g) else { continue };
            let w = layer.weight.view().to_owned();
            check_gradient(w.as_slice().unwrap(), g.weight.as_slice().unwrap(), |p| {
                let mut changed = ffn.clone();
                if let Some(l) = field(&mut changed) {
                    l.weight = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap().into();
                }
                loss(&changed, &x)
            });
        }
    }

    #[test]
    fn plain_backward_matches_finite_differences() {
        check(FeedForward::Plain { up: linear(5, 4, 1), down: linear(4, 5, 2), act: Activation::GeluTanh });
    }

    #[test]
    fn gated_backward_matches_finite_differences() {
        check(FeedForward::Gated { gate: linear(5, 4, 3), up: linear(5, 4, 4), down: linear(4, 5, 5), act: Activation::Silu });
    }
}
