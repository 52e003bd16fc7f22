//! Linear layer: `out = inp · W (+ bias)`, and its backward pass.
//!
//! Hugging Face stores weights two ways and we keep each checkpoint's own
//! layout so loading and exporting are plain copies:
//! - GPT-2's `Conv1D` stores `W` as `(in, out)`: `out = inp · W`.
//! - `nn.Linear` (Llama, and GPT-2's tied `lm_head`) stores `(out, in)`:
//!   `out = inp · Wᵀ`.
//!
//! The transpose costs nothing: it is a stride change handed to the GEMM.

use crate::train::gemm::{gemm, Mat};
use crate::train::TrainError;

/// How a weight matrix is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WeightLayout {
    /// `(in, out)`, GPT-2's `Conv1D`.
    InOut,
    /// `(out, in)`, `nn.Linear` and embedding matrices used as a head.
    OutIn,
}

/// The weight as an `(in, out)` operand, whatever its storage.
fn weight_in_out(weight: &[f32], in_dim: usize, out_dim: usize, layout: WeightLayout) -> Mat<'_> {
    match layout {
        WeightLayout::InOut => Mat::new(weight, in_dim, out_dim),
        WeightLayout::OutIn => Mat::new(weight, out_dim, in_dim).t(),
    }
}

/// `out (N, out_dim) = inp (N, in_dim) · W + bias`; `out` is overwritten.
pub fn forward(
    out: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    n: usize,
    in_dim: usize,
    out_dim: usize,
    layout: WeightLayout,
) -> Result<(), TrainError> {
    let out = out.get_mut(..n * out_dim).ok_or(TrainError::Shape("linear output buffer too small"))?;
    let beta = match bias {
        Some(bias) => {
            let bias = bias.get(..out_dim).ok_or(TrainError::Shape("linear bias too small"))?;
            for row in out.chunks_exact_mut(out_dim) {
                row.copy_from_slice(bias);
            }
            1.0
        }
        None => 0.0,
    };
    gemm(Mat::new(inp, n, in_dim), weight_in_out(weight, in_dim, out_dim, layout), out, n, out_dim, out_dim, 1.0, beta)
}

/// Backward of [`forward`]. Accumulates (`+=`) into `d_inp`, `d_weight` and
/// `d_bias`, so callers zero them once per step (gradient accumulation then
/// comes for free).
pub fn backward(
    d_inp: &mut [f32],
    d_weight: &mut [f32],
    d_bias: Option<&mut [f32]>,
    d_out: &[f32],
    inp: &[f32],
    weight: &[f32],
    n: usize,
    in_dim: usize,
    out_dim: usize,
    layout: WeightLayout,
) -> Result<(), TrainError> {
    // dinp (N, in) += dout (N, out) · Wᵀ (out, in)
    gemm(Mat::new(d_out, n, out_dim), weight_in_out(weight, in_dim, out_dim, layout).t(), d_inp, n, in_dim, in_dim, 1.0, 1.0)?;
    match layout {
        // dW (in, out) += inpᵀ (in, N) · dout (N, out)
        WeightLayout::InOut => {
            gemm(Mat::new(inp, n, in_dim).t(), Mat::new(d_out, n, out_dim), d_weight, in_dim, out_dim, out_dim, 1.0, 1.0)?
        }
        // dW (out, in) += doutᵀ (out, N) · inp (N, in)
        WeightLayout::OutIn => {
            gemm(Mat::new(d_out, n, out_dim).t(), Mat::new(inp, n, in_dim), d_weight, out_dim, in_dim, in_dim, 1.0, 1.0)?
        }
    }
    if let Some(d_bias) = d_bias {
        let d_bias = d_bias.get_mut(..out_dim).ok_or(TrainError::Shape("linear bias gradient too small"))?;
        for row in d_out.chunks_exact(out_dim).take(n) {
            for (db, &g) in d_bias.iter_mut().zip(row) {
                *db += g;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::layers::gradcheck::{check_gradient, random_vec};

    fn run(layout: WeightLayout) {
        let (n, i, o) = (3, 4, 5);
        let inp = random_vec(n * i, 1);
        let w = random_vec(i * o, 2);
        let b = random_vec(o, 3);
        let probe = random_vec(n * o, 4);
        // loss = Σ out ⊙ probe, so dout = probe.
        let loss = |inp: &[f32], w: &[f32], b: &[f32]| {
            let mut out = vec![0.0; n * o];
            forward(&mut out, inp, w, Some(b), n, i, o, layout).unwrap();
            out.iter().zip(&probe).map(|(&a, &p)| a as f64 * p as f64).sum::<f64>()
        };
        let (mut di, mut dw, mut db) = (vec![0.0; n * i], vec![0.0; i * o], vec![0.0; o]);
        backward(&mut di, &mut dw, Some(&mut db), &probe, &inp, &w, n, i, o, layout).unwrap();
        check_gradient(&inp, &di, |x| loss(x, &w, &b));
        check_gradient(&w, &dw, |x| loss(&inp, x, &b));
        check_gradient(&b, &db, |x| loss(&inp, &w, x));
    }

    #[test]
    fn gradients_match_finite_differences_in_out() {
        run(WeightLayout::InOut);
    }

    #[test]
    fn gradients_match_finite_differences_out_in() {
        run(WeightLayout::OutIn);
    }
}
