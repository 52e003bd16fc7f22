//! LayerNorm (GPT-2) and RMSNorm (Llama), forward and backward.
//!
//! Both normalise each row of `(N, C)` independently. We save the per-row
//! statistics (`mean`, `rstd` = 1/std) in the forward pass so the backward
//! pass does not recompute them, as llm.c does.

use crate::train::TrainError;

fn check(len: usize, n: usize, c: usize, what: &'static str) -> Result<(), TrainError> {
    if len < n * c {
        Err(TrainError::Shape(what))
    } else {
        Ok(())
    }
}

/// LayerNorm: `out = (x - mean) * rstd * weight + bias` per row.
/// inp, out: (N, C); mean, rstd: (N)
pub fn layernorm_forward(
    out: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: &[f32],
    n: usize,
    c: usize,
    eps: f32,
) -> Result<(), TrainError> {
    check(out.len().min(inp.len()), n, c, "layernorm buffers too small")?;
    check(mean.len().min(rstd.len()), n, 1, "layernorm statistics too small")?;
    check(weight.len().min(bias.len()), 1, c, "layernorm parameters too small")?;
    for ((x, y), (m_out, r_out)) in
        inp.chunks_exact(c).zip(out.chunks_exact_mut(c)).zip(mean.iter_mut().zip(rstd.iter_mut())).take(n)
    {
        let m = x.iter().sum::<f32>() / c as f32;
        let var = x.iter().map(|&v| (v - m) * (v - m)).sum::<f32>() / c as f32;
        let r = 1.0 / libm::sqrtf(var + eps);
        for (((yo, &xi), &w), &b) in y.iter_mut().zip(x).zip(weight).zip(bias) {
            *yo = (xi - m) * r * w + b;
        }
        *m_out = m;
        *r_out = r;
    }
    Ok(())
}

/// Backward of LayerNorm; accumulates into `d_inp`, `d_weight`, `d_bias`.
/// With x̂ = (x-mean)·rstd and g = dout·weight:
/// dx = rstd · (g - mean(g) - x̂ · mean(g·x̂)).
pub fn layernorm_backward(
    d_inp: &mut [f32],
    d_weight: &mut [f32],
    d_bias: &mut [f32],
    d_out: &[f32],
    inp: &[f32],
    weight: &[f32],
    mean: &[f32],
    rstd: &[f32],
    n: usize,
    c: usize,
) -> Result<(), TrainError> {
    check(d_inp.len().min(d_out.len()).min(inp.len()), n, c, "layernorm backward buffers too small")?;
    check(d_weight.len().min(d_bias.len()).min(weight.len()), 1, c, "layernorm parameters too small")?;
    check(mean.len().min(rstd.len()), n, 1, "layernorm statistics too small")?;
    for (((dx, dy), x), (&m, &r)) in d_inp
        .chunks_exact_mut(c)
        .zip(d_out.chunks_exact(c))
        .zip(inp.chunks_exact(c))
        .zip(mean.iter().zip(rstd))
        .take(n)
    {
        let mut g_mean = 0.0f32;
        let mut gx_mean = 0.0f32;
        for i in 0..c {
            let xhat = (x[i] - m) * r;
            let g = dy[i] * weight[i];
            g_mean += g;
            gx_mean += g * xhat;
        }
        g_mean /= c as f32;
        gx_mean /= c as f32;
        for i in 0..c {
            let xhat = (x[i] - m) * r;
            d_bias[i] += dy[i];
            d_weight[i] += dy[i] * xhat;
            dx[i] += r * (dy[i] * weight[i] - g_mean - xhat * gx_mean);
        }
    }
    Ok(())
}

/// RMSNorm: `out = x · rstd · weight` with rstd = 1/sqrt(mean(x²) + eps).
/// inp, out: (N, C); rstd: (N)
pub fn rmsnorm_forward(
    out: &mut [f32],
    rstd: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    n: usize,
    c: usize,
    eps: f32,
) -> Result<(), TrainError> {
    check(out.len().min(inp.len()), n, c, "rmsnorm buffers too small")?;
    check(rstd.len(), n, 1, "rmsnorm statistics too small")?;
    check(weight.len(), 1, c, "rmsnorm weight too small")?;
    for ((x, y), r_out) in inp.chunks_exact(c).zip(out.chunks_exact_mut(c)).zip(rstd.iter_mut()).take(n) {
        let ms = x.iter().map(|&v| v * v).sum::<f32>() / c as f32;
        let r = 1.0 / libm::sqrtf(ms + eps);
        for ((yo, &xi), &w) in y.iter_mut().zip(x).zip(weight) {
            *yo = xi * r * w;
        }
        *r_out = r;
    }
    Ok(())
}

/// Backward of RMSNorm; accumulates. With x̂ = x·rstd and g = dout·weight:
/// dx = rstd · (g - x̂ · mean(g·x̂)).
pub fn rmsnorm_backward(
    d_inp: &mut [f32],
    d_weight: &mut [f32],
    d_out: &[f32],
    inp: &[f32],
    weight: &[f32],
    rstd: &[f32],
    n: usize,
    c: usize,
) -> Result<(), TrainError> {
    check(d_inp.len().min(d_out.len()).min(inp.len()), n, c, "rmsnorm backward buffers too small")?;
    check(d_weight.len().min(weight.len()), 1, c, "rmsnorm weight too small")?;
    check(rstd.len(), n, 1, "rmsnorm statistics too small")?;
    for ((dx, dy), (x, &r)) in
        d_inp.chunks_exact_mut(c).zip(d_out.chunks_exact(c)).zip(inp.chunks_exact(c).zip(rstd)).take(n)
    {
        let mut gx_mean = 0.0f32;
        for i in 0..c {
            gx_mean += dy[i] * weight[i] * x[i] * r;
        }
        gx_mean /= c as f32;
        for i in 0..c {
            let xhat = x[i] * r;
            d_weight[i] += dy[i] * xhat;
            dx[i] += r * (dy[i] * weight[i] - xhat * gx_mean);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::layers::gradcheck::{check_gradient, random_vec};

    const N: usize = 3;
    const C: usize = 6;

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    #[test]
    fn layernorm_gradients_match_finite_differences() {
        let x = random_vec(N * C, 1);
        let w: Vec<f32> = random_vec(C, 2).iter().map(|v| 1.0 + v).collect();
        let b = random_vec(C, 3);
        let probe = random_vec(N * C, 4);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| {
            let (mut y, mut m, mut r) = (vec![0.0; N * C], vec![0.0; N], vec![0.0; N]);
            layernorm_forward(&mut y, &mut m, &mut r, x, w, b, N, C, 1e-5).unwrap();
            dot(&y, &probe)
        };
        let (mut y, mut m, mut r) = (vec![0.0; N * C], vec![0.0; N], vec![0.0; N]);
        layernorm_forward(&mut y, &mut m, &mut r, &x, &w, &b, N, C, 1e-5).unwrap();
        let (mut dx, mut dw, mut db) = (vec![0.0; N * C], vec![0.0; C], vec![0.0; C]);
        layernorm_backward(&mut dx, &mut dw, &mut db, &probe, &x, &w, &m, &r, N, C).unwrap();
        check_gradient(&x, &dx, |v| loss(v, &w, &b));
        check_gradient(&w, &dw, |v| loss(&x, v, &b));
        check_gradient(&b, &db, |v| loss(&x, &w, v));
    }

    #[test]
    fn rmsnorm_gradients_match_finite_differences() {
        let x = random_vec(N * C, 5);
        let w: Vec<f32> = random_vec(C, 6).iter().map(|v| 1.0 + v).collect();
        let probe = random_vec(N * C, 7);
        let loss = |x: &[f32], w: &[f32]| {
            let (mut y, mut r) = (vec![0.0; N * C], vec![0.0; N]);
            rmsnorm_forward(&mut y, &mut r, x, w, N, C, 1e-6).unwrap();
            dot(&y, &probe)
        };
        let (mut y, mut r) = (vec![0.0; N * C], vec![0.0; N]);
        rmsnorm_forward(&mut y, &mut r, &x, &w, N, C, 1e-6).unwrap();
        let (mut dx, mut dw) = (vec![0.0; N * C], vec![0.0; C]);
        rmsnorm_backward(&mut dx, &mut dw, &probe, &x, &w, &r, N, C).unwrap();
        check_gradient(&x, &dx, |v| loss(v, &w));
        check_gradient(&w, &dw, |v| loss(&x, v));
    }
}
