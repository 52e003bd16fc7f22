//! The feed-forward non-linearities.
//!
//! - GELU, tanh approximation (GPT-2's `gelu_new`):
//!   `gelu(x) = ½x(1 + tanh(√(2/π)(x + 0.044715x³)))`.
//! - SwiGLU (Llama): `h = silu(gate) ⊙ up` with `silu(x) = x·σ(x)`; the FFN is
//!   `down(silu(gate(x)) ⊙ up(x))`.

const SQRT_2_OVER_PI: f32 = 0.797_884_56;
const GELU_CUBIC: f32 = 0.044_715;

/// out = gelu(inp), elementwise over (N, I).
///
/// Uses the identity ½(1 + tanh(u)) = σ(2u), so gelu(x) = x·σ(2u): one exp
/// instead of a tanh, which profiling showed dominated the whole step.
pub fn gelu_forward(out: &mut [f32], inp: &[f32]) {
    for (o, &x) in out.iter_mut().zip(inp) {
        let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
        *o = x * sigmoid(2.0 * u);
    }
}

/// d_inp += gelu'(inp) · d_out. With s = σ(2u) = ½(1 + tanh u):
/// gelu' = s + ½x·(1 − tanh²u)·u' = s + 2x·s(1 − s)·u'.
pub fn gelu_backward(d_inp: &mut [f32], inp: &[f32], d_out: &[f32]) {
    for ((di, &x), &g) in d_inp.iter_mut().zip(inp).zip(d_out) {
        let u = SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x);
        let s = sigmoid(2.0 * u);
        let du = SQRT_2_OVER_PI * (1.0 + 3.0 * GELU_CUBIC * x * x);
        *di += g * (s + 2.0 * x * s * (1.0 - s) * du);
    }
}

use super::math::sigmoid;

/// out = silu(gate) ⊙ up, elementwise over (N, I).
pub fn swiglu_forward(out: &mut [f32], gate: &[f32], up: &[f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = g * sigmoid(g) * u;
    }
}

/// Backward of SwiGLU; accumulates into `d_gate` and `d_up`.
/// silu'(g) = σ(g)(1 + g(1 - σ(g))).
pub fn swiglu_backward(d_gate: &mut [f32], d_up: &mut [f32], gate: &[f32], up: &[f32], d_out: &[f32]) {
    for ((((dg, du), &g), &u), &d) in d_gate.iter_mut().zip(d_up.iter_mut()).zip(gate).zip(up).zip(d_out) {
        let s = sigmoid(g);
        *du += d * g * s;
        *dg += d * u * s * (1.0 + g * (1.0 - s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::layers::gradcheck::{check_gradient, random_vec};

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    #[test]
    fn gelu_gradient_matches_finite_differences() {
        let x: Vec<f32> = random_vec(20, 1).iter().map(|v| v * 3.0).collect();
        let probe = random_vec(20, 2);
        let mut dx = vec![0.0; 20];
        gelu_backward(&mut dx, &x, &probe);
        check_gradient(&x, &dx, |x| {
            let mut y = vec![0.0; 20];
            gelu_forward(&mut y, x);
            dot(&y, &probe)
        });
    }

    #[test]
    fn gelu_matches_known_values() {
        let mut y = [0.0f32; 3];
        gelu_forward(&mut y, &[0.0, 1.0, -2.0]);
        // torch.nn.functional.gelu(x, approximate="tanh")
        assert!((y[0]).abs() < 1e-7);
        assert!((y[1] - 0.841_192).abs() < 1e-5);
        assert!((y[2] + 0.045_402_3).abs() < 1e-5);
    }

    #[test]
    fn swiglu_gradients_match_finite_differences() {
        let g: Vec<f32> = random_vec(12, 3).iter().map(|v| v * 3.0).collect();
        let u = random_vec(12, 4);
        let probe = random_vec(12, 5);
        let (mut dg, mut du) = (vec![0.0; 12], vec![0.0; 12]);
        swiglu_backward(&mut dg, &mut du, &g, &u, &probe);
        let loss = |g: &[f32], u: &[f32]| {
            let mut y = vec![0.0; 12];
            swiglu_forward(&mut y, g, u);
            dot(&y, &probe)
        };
        check_gradient(&g, &dg, |v| loss(v, &u));
        check_gradient(&u, &du, |v| loss(&g, v));
    }
}
