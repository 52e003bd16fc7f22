//! Where a training step's time goes, timed the same way natively and in
//! the browser: the nanoGPT CPU configuration's forward, backward and AdamW
//! update, plus its largest matrix product alone. Included by
//! `crates/core/tests/train_browser_reference.rs` and `tests/browser/train.rs`,
//! which pass their own clock (milliseconds).

use llmlab_core::rng::Rng;
use llmlab_core::train::optim::{AdamW, AdamWConfig};
use llmlab_core::train::{Config, Model, Precision};
use ndarray::Array2;

/// Milliseconds spent per call in each phase, averaged over `reps` steps.
pub fn phase_times(now_ms: &dyn Fn() -> f64, reps: usize) -> String {
    let (b, t, vocab) = (12, 64, 65);
    let mut model = Model::new(Config::gpt2(vocab, 64, 4, 4, 128), &mut Rng::new(1)).expect("model");
    let mut rng = Rng::new(2);
    let tokens: Vec<u32> = (0..b * t).map(|_| (rng.uniform_f32() * vocab as f32) as u32 % vocab as u32).collect();
    let targets: Vec<u32> = tokens.iter().map(|&x| (x + 1) % vocab as u32).collect();
    let mut adamw = AdamW::new(AdamWConfig { beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1 }, model.num_params());
    let (mut forward, mut backward, mut update) = (0.0, 0.0, 0.0);
    for _ in 0..reps {
        model.zero_grad();
        let t0 = now_ms();
        model.forward(&tokens, Some(&targets), b, t, Precision::Fp32).expect("forward");
        let t1 = now_ms();
        model.backward(1.0 / (b * t) as f32).expect("backward");
        let t2 = now_ms();
        let (params, grads) = model.params_and_grads();
        adamw.update(params, &grads, 1e-4);
        let t3 = now_ms();
        forward += t1 - t0;
        backward += t2 - t1;
        update += t3 - t2;
    }
    // The MLP's up-projection in the forward pass: (B·T, C) x (C, 4C).
    let x = Array2::from_shape_fn((b * t, 128), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1);
    let w = Array2::from_shape_fn((128, 512), |(i, j)| ((i * 5 + j) % 13) as f32 * 0.01);
    let mut y = Array2::<f32>::zeros((b * t, 512));
    let t0 = now_ms();
    for _ in 0..reps * 10 {
        ndarray::linalg::general_mat_mul(1.0, &x, &w, 0.0, &mut y);
    }
    let ndarray_gemm = (now_ms() - t0) / (reps * 10) as f64;
    let t0 = now_ms();
    for _ in 0..reps * 10 {
        llmlab_core::nn::gemm::gemm(1.0, x.view(), w.view(), 0.0, y.view_mut());
    }
    let gemm = (now_ms() - t0) / (reps * 10) as f64;
    let t0 = now_ms();
    for _ in 0..reps * 10 {
        llmlab_core::nn::activation::Activation::GeluTanh.apply_inplace(&mut y);
    }
    let gelu = (now_ms() - t0) / (reps * 10) as f64;
    let t0 = now_ms();
    for _ in 0..reps * 10 {
        let _ = llmlab_core::nn::activation::Activation::GeluTanh.backward(y.view(), y.view());
    }
    let gelu_backward = (now_ms() - t0) / (reps * 10) as f64;
    let r = reps as f64;
    format!(
        "phases (ms per step): forward {:.2}, backward {:.2}, adamw {:.2}; (768x128)·(128x512): ndarray {:.3} ms, nn::gemm {:.3} ms; GELU on (768, 512) {:.3} ms, backward {:.3} ms",
        forward / r,
        backward / r,
        update / r,
        ndarray_gemm,
        gemm,
        gelu,
        gelu_backward
    )
}
