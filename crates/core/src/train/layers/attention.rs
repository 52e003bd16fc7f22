//! Causal multi-head self-attention (with grouped-query heads), and RoPE.
//!
//! The projections are ordinary linear layers (see `linear.rs`); this file is
//! the part between them. Per token row, the `qkv` buffer holds
//! `[q: H heads | k: KV heads | v: KV heads]`, each head `D` wide, which is
//! exactly GPT-2's fused `c_attn` output (KV = H) and what Llama's three
//! projections write side by side. Query head `h` reads key/value head
//! `h / (H / KV)` (grouped-query attention; KV = H is plain multi-head).
//!
//! Forward per (batch b, head h), with scale = 1/√D:
//!   scores = q·kᵀ·scale            (T, T)
//!   att    = softmax over s ≤ t    (T, T), zero above the diagonal (causal)
//!   y      = att·v                 (T, D)

use crate::train::gemm::{gemm, Mat};
use crate::train::precision::Precision;
use crate::train::TrainError;

/// Sizes of one attention call.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    /// Sequences in the batch (B).
    pub batch: usize,
    /// Tokens per sequence (T).
    pub seq: usize,
    /// Query heads (H).
    pub heads: usize,
    /// Key/value heads (KV); divides H.
    pub kv_heads: usize,
    /// Width of one head (D).
    pub head_dim: usize,
}

impl AttentionShape {
    /// Width of one `qkv` row: (H + 2·KV)·D.
    pub fn qkv_width(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }
    /// Width of one output row: H·D.
    pub fn out_width(&self) -> usize {
        self.heads * self.head_dim
    }
    fn columns(&self, h: usize) -> (usize, usize, usize) {
        let group = self.heads / self.kv_heads.max(1);
        let kvh = h / group.max(1);
        let d = self.head_dim;
        (h * d, (self.heads + kvh) * d, (self.heads + self.kv_heads + kvh) * d)
    }
    fn validate(&self, qkv: usize, att: usize, y: usize) -> Result<(), TrainError> {
        let n = self.batch * self.seq;
        if self.kv_heads == 0 || self.heads % self.kv_heads != 0 {
            return Err(TrainError::Shape("attention heads must be a multiple of key/value heads"));
        }
        if qkv < n * self.qkv_width() || att < self.batch * self.heads * self.seq * self.seq || y < n * self.out_width() {
            return Err(TrainError::Shape("attention buffers too small"));
        }
        Ok(())
    }
}

/// Forward. qkv: (B, T, (H+2KV)·D) → att: (B, H, T, T) saved for backward,
/// y: (B, T, H·D) overwritten.
pub fn forward(
    y: &mut [f32],
    att: &mut [f32],
    qkv: &[f32],
    s: AttentionShape,
    precision: Precision,
) -> Result<(), TrainError> {
    s.validate(qkv.len(), att.len(), y.len())?;
    let (t, d, w, yw) = (s.seq, s.head_dim, s.qkv_width(), s.out_width());
    let scale = 1.0 / libm::sqrtf(d as f32);
    for b in 0..s.batch {
        let rows = &qkv[b * t * w..];
        for h in 0..s.heads {
            let (qc, kc, vc) = s.columns(h);
            let a = &mut att[(b * s.heads + h) * t * t..][..t * t];
            gemm(Mat::strided(&rows[qc..], t, d, w), Mat::strided(&rows[kc..], t, d, w).t(), a, t, t, t, scale, 0.0)?;
            for (row, scores) in a.chunks_exact_mut(t).enumerate() {
                let (visible, future) = scores.split_at_mut(row + 1);
                let max = visible.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                let mut sum = 0.0f32;
                for v in visible.iter_mut() {
                    *v = super::math::exp(*v - max);
                    sum += *v;
                }
                let inv = 1.0 / sum;
                for v in visible.iter_mut() {
                    *v *= inv;
                }
                future.fill(0.0);
            }
            precision.round(a);
            gemm(Mat::new(a, t, t), Mat::strided(&rows[vc..], t, d, w), &mut y[b * t * yw + h * d..], t, d, yw, 1.0, 0.0)?;
        }
    }
    precision.round(&mut y[..s.batch * t * yw]);
    Ok(())
}

/// Backward. Accumulates into `d_qkv`; `d_att` is a (T, T) scratch buffer.
pub fn backward(
    d_qkv: &mut [f32],
    d_att: &mut [f32],
    d_y: &[f32],
    qkv: &[f32],
    att: &[f32],
    s: AttentionShape,
) -> Result<(), TrainError> {
    s.validate(qkv.len().min(d_qkv.len()), att.len(), d_y.len())?;
    let (t, d, w, yw) = (s.seq, s.head_dim, s.qkv_width(), s.out_width());
    let d_att = d_att.get_mut(..t * t).ok_or(TrainError::Shape("attention scratch too small"))?;
    let scale = 1.0 / libm::sqrtf(d as f32);
    for b in 0..s.batch {
        let rows = &qkv[b * t * w..];
        let d_rows = &mut d_qkv[b * t * w..];
        let dy = &d_y[b * t * yw..];
        for h in 0..s.heads {
            let (qc, kc, vc) = s.columns(h);
            let a = &att[(b * s.heads + h) * t * t..][..t * t];
            // d_att (T,T) = dy (T,D) · vᵀ (D,T)
            gemm(Mat::strided(&dy[h * d..], t, d, yw), Mat::strided(&rows[vc..], t, d, w).t(), d_att, t, t, t, 1.0, 0.0)?;
            // dv (T,D) += attᵀ (T,T) · dy (T,D)
            gemm(Mat::new(a, t, t).t(), Mat::strided(&dy[h * d..], t, d, yw), &mut d_rows[vc..], t, d, w, 1.0, 1.0)?;
            // softmax backward, row by row: ds = att ⊙ (datt - Σ att·datt)
            for (arow, drow) in a.chunks_exact(t).zip(d_att.chunks_exact_mut(t)) {
                let dot: f32 = arow.iter().zip(drow.iter()).map(|(&p, &g)| p * g).sum();
                for (g, &p) in drow.iter_mut().zip(arow) {
                    *g = p * (*g - dot);
                }
            }
            // dq (T,D) += ds (T,T) · k (T,D) · scale ; dk += dsᵀ · q · scale
            gemm(Mat::new(d_att, t, t), Mat::strided(&rows[kc..], t, d, w), &mut d_rows[qc..], t, d, w, scale, 1.0)?;
            gemm(Mat::new(d_att, t, t).t(), Mat::strided(&rows[qc..], t, d, w), &mut d_rows[kc..], t, d, w, scale, 1.0)?;
        }
    }
    Ok(())
}

/// Rotary position embedding tables, HF's `rotate_half` convention: within a
/// head, element i pairs with element i + D/2 and rotates by pos·θ^(-2i/D).
pub struct Rope {
    /// (T, D/2)
    cos: alloc::vec::Vec<f32>,
    /// (T, D/2)
    sin: alloc::vec::Vec<f32>,
    half: usize,
}

impl Rope {
    /// Tables for positions `0..max_seq` and heads `head_dim` wide.
    pub fn new(max_seq: usize, head_dim: usize, theta: f64) -> Self {
        let half = head_dim / 2;
        let mut cos = alloc::vec::Vec::with_capacity(max_seq * half);
        let mut sin = alloc::vec::Vec::with_capacity(max_seq * half);
        for pos in 0..max_seq {
            for i in 0..half {
                // HF computes inv_freq in f32, then pos·inv_freq in f32.
                let inv_freq = (1.0 / libm::pow(theta, (2 * i) as f64 / head_dim as f64)) as f32;
                let angle = (pos as f32 * inv_freq) as f64;
                cos.push(libm::cos(angle) as f32);
                sin.push(libm::sin(angle) as f32);
            }
        }
        Self { cos, sin, half }
    }

    /// Rotates the first `heads` heads of every row of `x` (rows `width`
    /// apart, B·T rows, position = row % seq). `inverse` applies the
    /// transpose rotation, which is the backward pass.
    pub fn apply(&self, x: &mut [f32], rows: usize, seq: usize, width: usize, heads: usize, inverse: bool) {
        let half = self.half;
        for (r, row) in x.chunks_exact_mut(width).take(rows).enumerate() {
            let pos = r % seq.max(1);
            let (Some(cos), Some(sin)) = (self.cos.get(pos * half..(pos + 1) * half), self.sin.get(pos * half..(pos + 1) * half))
            else {
                return;
            };
            for head in row.chunks_exact_mut(2 * half).take(heads) {
                let (x1, x2) = head.split_at_mut(half);
                for i in 0..half {
                    let (a, b) = (x1[i], x2[i]);
                    let s = if inverse { -sin[i] } else { sin[i] };
                    x1[i] = a * cos[i] - b * s;
                    x2[i] = b * cos[i] + a * s;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::layers::gradcheck::{check_gradient, random_vec};

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    fn check(shape: AttentionShape) {
        let n = shape.batch * shape.seq;
        let qkv: Vec<f32> = random_vec(n * shape.qkv_width(), 1).iter().map(|v| v * 2.0).collect();
        let probe = random_vec(n * shape.out_width(), 2);
        let att_len = shape.batch * shape.heads * shape.seq * shape.seq;
        let loss = |qkv: &[f32]| {
            let (mut y, mut att) = (vec![0.0; n * shape.out_width()], vec![0.0; att_len]);
            forward(&mut y, &mut att, qkv, shape, Precision::Fp32).unwrap();
            dot(&y, &probe)
        };
        let (mut y, mut att) = (vec![0.0; n * shape.out_width()], vec![0.0; att_len]);
        forward(&mut y, &mut att, &qkv, shape, Precision::Fp32).unwrap();
        let mut d_qkv = vec![0.0; qkv.len()];
        let mut scratch = vec![0.0; shape.seq * shape.seq];
        backward(&mut d_qkv, &mut scratch, &probe, &qkv, &att, shape).unwrap();
        check_gradient(&qkv, &d_qkv, loss);
    }

    #[test]
    fn multi_head_gradients_match_finite_differences() {
        check(AttentionShape { batch: 2, seq: 4, heads: 2, kv_heads: 2, head_dim: 3 });
    }

    #[test]
    fn grouped_query_gradients_match_finite_differences() {
        check(AttentionShape { batch: 1, seq: 5, heads: 4, kv_heads: 2, head_dim: 2 });
    }

    #[test]
    fn attention_is_causal() {
        // Changing the last token's q/k/v must not change earlier outputs.
        let s = AttentionShape { batch: 1, seq: 4, heads: 1, kv_heads: 1, head_dim: 2 };
        let mut qkv = random_vec(4 * s.qkv_width(), 3);
        let (mut y1, mut y2, mut att) = (vec![0.0; 8], vec![0.0; 8], vec![0.0; 16]);
        forward(&mut y1, &mut att, &qkv, s, Precision::Fp32).unwrap();
        for v in &mut qkv[3 * s.qkv_width()..] {
            *v += 1.0;
        }
        forward(&mut y2, &mut att, &qkv, s, Precision::Fp32).unwrap();
        assert_eq!(y1[..6], y2[..6]);
        assert_ne!(y1[6..], y2[6..]);
    }

    #[test]
    fn rope_backward_is_the_transpose_of_forward() {
        let rope = Rope::new(3, 4, 10000.0);
        let x = random_vec(3 * 8, 4);
        let probe = random_vec(3 * 8, 5);
        let mut grad = probe.clone();
        rope.apply(&mut grad, 3, 3, 8, 2, true);
        check_gradient(&x, &grad, |x| {
            let mut y = x.to_vec();
            rope.apply(&mut y, 3, 3, 8, 2, false);
            dot(&y, &probe)
        });
    }
}
