//! Bottleneck adapters (Houlsby et al., 2019): a small residual MLP on a
//! sublayer's output,
//!
//! ```text
//! a(y) = y + up(f(down(y)))      down: (r, C) + bias, up: (C, r) + bias, r ≪ C
//! ```
//!
//! `f` is any [`Activation`] (ReLU, GELU, ...). `up` starts at zero, so a
//! fresh adapter is the identity. In a pre-norm block ([`BlockAdapters`])
//! one adapter sits on the attention's output (after its output
//! projection) and one on the FFN's output, each before its residual add:
//!
//! ```text
//! h   = x + a_attn(attn(norm1(x)))
//! out = h + a_ffn(ffn(norm2(h)))
//! ```
//!
//! Backward: with `p = down(y)`, `g = f(p)`,
//! `dup = dyᵀ·g`, `dg = dy·up`, `dp = dg ⊙ f'(p)`, `ddown = dpᵀ·y`,
//! `dy_in = dy + dp·down`.

use super::activation::Activation;
use super::linear::{Linear, LinearGrad};
use super::TensorMut;
use alloc::vec::Vec;
use ndarray::{Array2, ArrayView2};

/// One bottleneck adapter.
#[derive(Clone, Debug)]
pub struct Bottleneck {
    /// Down-projection `(C) -> (r)`.
    pub down: Linear,
    /// Up-projection `(r) -> (C)`, zero when fresh.
    pub up: Linear,
    /// The nonlinearity between them.
    pub activation: Activation,
}

/// What [`Bottleneck::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct BottleneckActivations {
    /// The input `(N, C)`.
    pub x: Array2<f32>,
    /// `down(x)` before the activation, `(N, r)`.
    pub pre: Array2<f32>,
    /// `f(down(x))`, `(N, r)`.
    pub hidden: Array2<f32>,
}

/// Gradients of a [`Bottleneck`].
#[derive(Clone, Debug, PartialEq)]
pub struct BottleneckGrad {
    /// Of `down`.
    pub down: LinearGrad,
    /// Of `up`.
    pub up: LinearGrad,
}

impl Bottleneck {
    /// `x: (N, C) -> x + up(f(down(x)))`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut hidden = self.down.forward(x); // (N, r)
        self.activation.apply_inplace(&mut hidden);
        let mut out = self.up.forward(hidden.view()); // (N, C)
        out += &x;
        out
    }

    /// [`forward`](Self::forward) keeping the activations.
    pub fn forward_train(&self, x: Array2<f32>) -> (Array2<f32>, BottleneckActivations) {
        let pre = self.down.forward(x.view()); // (N, r)
        let mut hidden = pre.clone();
        self.activation.apply_inplace(&mut hidden);
        let mut out = self.up.forward(hidden.view()); // (N, C)
        out += &x;
        (out, BottleneckActivations { x, pre, hidden })
    }

    /// Backward: `dy: (N, C) -> dx: (N, C)`, accumulating into `grad`.
    pub fn backward(&self, acts: &BottleneckActivations, dy: ArrayView2<f32>, grad: &mut BottleneckGrad) -> Array2<f32> {
        let d_hidden = self.up.backward(acts.hidden.view(), dy, &mut grad.up); // (N, r)
        let d_pre = self.activation.backward(acts.pre.view(), d_hidden.view());
        let mut dx = self.down.backward(acts.x.view(), d_pre.view(), &mut grad.down); // (N, C)
        dx += &dy;
        dx
    }

    /// Zero gradients shaped like the adapter.
    pub fn zero_grad(&self) -> BottleneckGrad {
        BottleneckGrad { down: LinearGrad::zeros(&self.down), up: LinearGrad::zeros(&self.up) }
    }

    /// Appends `down`'s then `up`'s tensors.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.down.params_mut(out);
        self.up.params_mut(out);
    }
}

impl BottleneckGrad {
    /// Appends the tensors in [`Bottleneck::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.down.tensors_mut(out);
        self.up.tensors_mut(out);
    }
}

/// The two adapters of one pre-norm block.
#[derive(Clone, Debug)]
pub struct BlockAdapters {
    /// On the attention's output, before the first residual add.
    pub attn: Bottleneck,
    /// On the FFN's output, before the second residual add.
    pub ffn: Bottleneck,
}

/// What the two adapters of a block keep for the backward pass.
#[derive(Clone, Debug)]
pub struct BlockAdaptersActivations {
    /// Of the attention's adapter.
    pub attn: BottleneckActivations,
    /// Of the FFN's adapter.
    pub ffn: BottleneckActivations,
}

/// Gradients of a block's two adapters.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockAdaptersGrad {
    /// Of the attention's adapter.
    pub attn: BottleneckGrad,
    /// Of the FFN's adapter.
    pub ffn: BottleneckGrad,
}

impl BlockAdapters {
    /// Zero gradients shaped like the adapters.
    pub fn zero_grad(&self) -> BlockAdaptersGrad {
        BlockAdaptersGrad { attn: self.attn.zero_grad(), ffn: self.ffn.zero_grad() }
    }

    /// Appends the attention adapter's tensors, then the FFN adapter's.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.attn.params_mut(out);
        self.ffn.params_mut(out);
    }
}

impl BlockAdaptersGrad {
    /// Appends the tensors in [`BlockAdapters::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.attn.tensors_mut(out);
        self.ffn.tensors_mut(out);
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
            Some(Array1::from(random_vec(out, seed + 50))),
        )
    }

    fn param_values(adapter: &Bottleneck, k: usize) -> Vec<f32> {
        let mut probe = adapter.clone();
        let mut params = Vec::new();
        probe.params_mut(&mut params);
        params[k].values.to_vec()
    }

    #[test]
    fn backward_matches_finite_differences() {
        let (n, c, r) = (5, 6, 3);
        for activation in [Activation::Relu, Activation::GeluExact, Activation::Silu] {
            let adapter = Bottleneck { down: linear(r, c, 1), up: linear(c, r, 2), activation };
            let x = Array2::from_shape_vec((n, c), random_vec(n * c, 3)).unwrap();
            let weights = Array2::from_shape_vec((n, c), random_vec(n * c, 4)).unwrap();
            let loss = |a: &Bottleneck, x: &Array2<f32>| (a.forward(x.view()) * &weights).iter().map(|&v| f64::from(v)).sum::<f64>();
            let (y, acts) = adapter.forward_train(x.clone());
            assert_eq!(y, adapter.forward(x.view()));
            let mut grad = adapter.zero_grad();
            let dx = adapter.backward(&acts, weights.view(), &mut grad);
            check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
                loss(&adapter, &Array2::from_shape_vec((n, c), p.to_vec()).unwrap())
            });
            let mut grad_copy = grad.clone();
            let mut grads = Vec::new();
            grad_copy.tensors_mut(&mut grads);
            assert_eq!(grads.len(), 4);
            for (k, g) in grads.iter().enumerate() {
                let values = param_values(&adapter, k);
                check_gradient(&values, &*g.values, |p| {
                    let mut changed = adapter.clone();
                    let mut params = Vec::new();
                    changed.params_mut(&mut params);
                    params[k].values.copy_from_slice(p);
                    drop(params);
                    loss(&changed, &x)
                });
            }
        }
    }

    #[test]
    fn a_zero_up_projection_is_the_identity() {
        let mut adapter = Bottleneck { down: linear(2, 4, 7), up: linear(4, 2, 8), activation: Activation::Relu };
        adapter.up = Linear::new(Array2::zeros((4, 2)), Some(Array1::zeros(4)));
        let x = Array2::from_shape_vec((3, 4), random_vec(12, 9)).unwrap();
        assert_eq!(adapter.forward(x.view()), x);
    }
}
