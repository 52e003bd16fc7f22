//! Softmax cross-entropy over the vocabulary: the causal LM objective.
//!
//! loss = mean over the N positions of −log softmax(logits)[target].
//! Its gradient with respect to the logits is (softmax − onehot) / N, which
//! is why we keep the probabilities from the forward pass.

use super::NnError;

/// Fills `probs` (N, V) with softmax(logits) and returns the summed (not
/// averaged) negative log-likelihood in f64, so callers can average over any
/// count (tokens, or characters for nats per character).
pub fn forward(probs: &mut [f32], logits: &[f32], targets: &[u32], v: usize) -> Result<f64, NnError> {
    if probs.len() < targets.len() * v || logits.len() < targets.len() * v {
        return Err(NnError::ShapeMismatch("cross-entropy buffers too small"));
    }
    let mut total = 0.0f64;
    for ((p, z), &target) in probs.chunks_exact_mut(v).zip(logits.chunks_exact(v)).zip(targets) {
        let max = z.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        let mut sum = 0.0f64;
        for (pi, &zi) in p.iter_mut().zip(z) {
            let e = libm::exp((zi - max) as f64);
            *pi = e as f32;
            sum += e;
        }
        let inv = 1.0 / sum;
        for pi in p.iter_mut() {
            *pi = (*pi as f64 * inv) as f32;
        }
        let zt = *z.get(target as usize).ok_or(NnError::TokenOutOfRange { id: target, vocab_size: v })?;
        // −log p[target] = log Σ exp(z − max) − (z_t − max), exact even when p underflows.
        total += libm::log(sum) - (zt - max) as f64;
    }
    Ok(total)
}

/// d_logits (N, V) = (probs − onehot(target)) · d_loss; overwritten.
/// `d_loss` is the gradient of the final loss per position (1/N for a mean,
/// times the loss scale in fp16 training).
pub fn backward(d_logits: &mut [f32], probs: &[f32], targets: &[u32], v: usize, d_loss: f32) -> Result<(), NnError> {
    for ((d, p), &target) in d_logits.chunks_exact_mut(v).zip(probs.chunks_exact(v)).zip(targets) {
        for (di, &pi) in d.iter_mut().zip(p) {
            *di = pi * d_loss;
        }
        let dt = d.get_mut(target as usize).ok_or(NnError::TokenOutOfRange { id: target, vocab_size: v })?;
        *dt -= d_loss;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use alloc::vec::Vec;
    use crate::nn::gradcheck::{check_gradient, random_vec};

    #[test]
    fn gradient_matches_finite_differences() {
        let (n, v) = (3, 7);
        let logits: Vec<f32> = random_vec(n * v, 1).iter().map(|x| x * 4.0).collect();
        let targets = [2u32, 6, 0];
        let mut probs = vec![0.0; n * v];
        forward(&mut probs, &logits, &targets, v).unwrap();
        let mut d = vec![0.0; n * v];
        backward(&mut d, &probs, &targets, v, 1.0 / n as f32).unwrap();
        check_gradient(&logits, &d, |z| {
            let mut p = vec![0.0; n * v];
            forward(&mut p, z, &targets, v).unwrap() / n as f64
        });
    }

    #[test]
    fn uniform_logits_give_log_vocab() {
        let mut probs = vec![0.0; 4];
        let loss = forward(&mut probs, &[0.0; 4], &[3], 4).unwrap();
        assert!((loss - 4f64.ln()).abs() < 1e-12);
    }
}
