//! The optimisation loop's pieces: learning-rate schedule, global-norm
//! gradient clipping and AdamW. They walk the model's tensors as a list of
//! slices ([`TensorMut`], from `DecoderOnly::params_mut` and
//! `DecoderOnlyGrad::tensors_mut`), so they need no knowledge of its layers.

use alloc::vec;
use alloc::vec::Vec;

use crate::nn::TensorMut;

/// Warmup then cosine decay, the curriculum's formula. `step` counts
/// optimiser steps from 1:
/// - `step ≤ warmup`: `lr_max · step / warmup`
/// - after: `lr_max · ½ · (1 + cos(π · (step − warmup) / (total − warmup)))`,
///   which reaches 0 at `step = total`.
pub fn learning_rate(step: u64, lr_max: f64, warmup: u64, total: u64) -> f64 {
    if warmup > 0 && step <= warmup {
        return lr_max * step as f64 / warmup as f64;
    }
    if total <= warmup {
        return lr_max;
    }
    let progress = ((step - warmup) as f64 / (total - warmup) as f64).min(1.0);
    lr_max * 0.5 * (1.0 + libm::cos(core::f64::consts::PI * progress))
}

/// L2 norm of all gradients together, accumulated in f64.
pub fn global_norm(grads: &[TensorMut<'_>]) -> f64 {
    libm::sqrt(grads.iter().flat_map(|t| t.values.iter()).map(|&g| g as f64 * g as f64).sum::<f64>())
}

/// Scales the gradients so their global norm is at most `max_norm`
/// (PyTorch `clip_grad_norm_`: coefficient `max_norm / (norm + 1e-6)`,
/// applied only when below 1). Returns the norm before clipping.
pub fn clip_grad_norm(grads: &mut [TensorMut<'_>], max_norm: f64) -> f64 {
    let norm = global_norm(grads);
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let coef = coef as f32;
        grads.iter_mut().flat_map(|t| t.values.iter_mut()).for_each(|g| *g *= coef);
    }
    norm
}

/// AdamW hyper-parameters (PyTorch defaults except the decay).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdamWConfig {
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    /// Decoupled weight decay, applied to matrices and embedding tables only.
    pub weight_decay: f64,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.01 }
    }
}

/// AdamW and its moments, one value per parameter in the order the model
/// lists its tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct AdamW {
    pub config: AdamWConfig,
    /// Steps taken so far (bias correction uses it).
    pub step: u64,
    pub m: Vec<f32>,
    pub v: Vec<f32>,
}

impl AdamW {
    /// Fresh state for `num_params` parameters.
    pub fn new(config: AdamWConfig, num_params: usize) -> Self {
        Self { config, step: 0, m: vec![0.0; num_params], v: vec![0.0; num_params] }
    }

    /// One update with learning rate `lr`, PyTorch `torch.optim.AdamW`
    /// semantics:
    /// p ← p − lr·wd·p (decoupled decay); m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²;
    /// p ← p − lr/(1−β₁ᵗ) · m / (√v/√(1−β₂ᵗ) + ε).
    /// `params` and `grads` list the same tensors in the same order; decay
    /// applies to the tensors flagged `matrix`.
    pub fn update(&mut self, params: Vec<TensorMut<'_>>, grads: &[TensorMut<'_>], lr: f64) {
        self.step += 1;
        let c = self.config;
        let t = self.step as f64;
        let bc1 = 1.0 - libm::pow(c.beta1, t);
        let bc2_sqrt = libm::sqrt(1.0 - libm::pow(c.beta2, t));
        let step_size = (lr / bc1) as f32;
        let (b1, b2, eps) = (c.beta1 as f32, c.beta2 as f32, c.eps as f32);
        let decay_factor = (1.0 - lr * c.weight_decay) as f32;
        let inv_bc2_sqrt = (1.0 / bc2_sqrt) as f32;
        let (mut m_rest, mut v_rest) = (&mut self.m[..], &mut self.v[..]);
        for (param, grad) in params.into_iter().zip(grads) {
            let n = param.values.len().min(m_rest.len()).min(v_rest.len());
            let (m, m_tail) = core::mem::take(&mut m_rest).split_at_mut(n);
            let (v, v_tail) = core::mem::take(&mut v_rest).split_at_mut(n);
            (m_rest, v_rest) = (m_tail, v_tail);
            let decay = param.matrix;
            for (((p, &g), m), v) in param.values.iter_mut().zip(grad.values.iter()).zip(m.iter_mut()).zip(v.iter_mut()) {
                if decay {
                    *p *= decay_factor;
                }
                *m = b1 * *m + (1.0 - b1) * g;
                *v = b2 * *v + (1.0 - b2) * g * g;
                let denom = libm::sqrtf(*v) * inv_bc2_sqrt + eps;
                *p -= step_size * *m / denom;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_follows_the_formula() {
        assert_eq!(learning_rate(5, 1e-3, 10, 100), 5e-4);
        assert_eq!(learning_rate(10, 1e-3, 10, 100), 1e-3);
        assert!((learning_rate(55, 1e-3, 10, 100) - 5e-4).abs() < 1e-12);
        assert!(learning_rate(100, 1e-3, 10, 100).abs() < 1e-12);
        assert_eq!(learning_rate(3, 1e-3, 0, 0), 1e-3);
    }

    #[test]
    fn clipping_caps_the_global_norm() {
        let mut g = [3.0f32, 4.0];
        let mut grads = [TensorMut { values: &mut g, matrix: true }];
        let norm = clip_grad_norm(&mut grads, 1.0);
        assert!((norm - 5.0).abs() < 1e-9);
        assert!((global_norm(&grads) - 1.0).abs() < 1e-5);
        let mut small = [0.3f32, 0.4];
        clip_grad_norm(&mut [TensorMut { values: &mut small, matrix: true }], 1.0);
        assert_eq!(small, [0.3, 0.4]);
    }

    #[test]
    fn first_adamw_step_moves_by_lr_against_the_gradient_sign() {
        // After one step m̂ = g and v̂ = g², so the update is lr·g/(|g|+ε).
        let mut opt = AdamW::new(AdamWConfig { weight_decay: 0.1, ..Default::default() }, 3);
        let (mut p, mut bias) = ([1.0f32, -1.0], [1.0f32]);
        let (mut g, mut g_bias) = ([0.5f32, -2.0], [0.5f32]);
        let params = vec![TensorMut { values: &mut p, matrix: true }, TensorMut { values: &mut bias, matrix: false }];
        let grads = [TensorMut { values: &mut g, matrix: true }, TensorMut { values: &mut g_bias, matrix: false }];
        opt.update(params, &grads, 0.01);
        assert!((p[0] - (1.0 * (1.0 - 0.001) - 0.01)).abs() < 1e-6);
        assert!((p[1] - (-1.0 * (1.0 - 0.001) + 0.01)).abs() < 1e-6);
        // no decay on the bias
        assert!((bias[0] - (1.0 - 0.01)).abs() < 1e-6);
    }
}
