//! Browser tier for training: the engine's first steps of nanoGPT's CPU
//! configuration (4 layers, 4 heads, width 128, context 64, batch 12) run
//! in headless Chromium, and land on the same losses as the native run
//! pinned in `crates/core/tests/train_browser_reference.rs`. Also prints the
//! training throughput in the browser (tokens/s).
#![cfg(target_arch = "wasm32")]

use llmlab_core::rng::Rng;
use llmlab_core::train::char_tokenizer::CharTokenizer;
use llmlab_core::train::optim::AdamWConfig;
use llmlab_core::train::toy::ToyTask;
use llmlab_core::train::trainer::{TrainConfig, Trainer};
use llmlab_core::train::{Config, Model, Precision};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The native run's losses of steps 1..=5 (same constants as the native test).
const NATIVE: [f64; 5] = [2.6770597778448058, 2.5775917292706634, 2.5442083933860196, 2.5027682411865095, 2.4650358943942616];

#[wasm_bindgen_test]
fn nanogpt_cpu_config_trains_in_the_browser_like_natively() {
    let text = ToyTask::Addition.corpus(1337, 20_000);
    let tok = CharTokenizer::from_corpus(&text);
    let ids = tok.encode(&text).unwrap();
    let model = Model::new(Config::gpt2(tok.vocab_size(), 64, 4, 4, 128), &mut Rng::new(1337)).unwrap();
    let config = TrainConfig {
        batch: 12,
        seq: 64,
        grad_accum: 1,
        steps: 100,
        lr: 1e-3,
        warmup: 0,
        grad_clip: 1.0,
        adamw: AdamWConfig { beta1: 0.9, beta2: 0.99, eps: 1e-8, weight_decay: 0.1 },
        precision: Precision::Fp32,
        seed: 1337,
    };
    let mut trainer = Trainer::new(model, config).unwrap();
    let start = js_sys::Date::now();
    let mut tokens = 0;
    let mut losses = Vec::new();
    for _ in 0..NATIVE.len() {
        let stats = trainer.step(&ids).unwrap();
        tokens += stats.tokens;
        losses.push(stats.loss);
    }
    let seconds = (js_sys::Date::now() - start) / 1000.0;
    let line = format!(
        "browser training, nanoGPT CPU config: {:.0} tokens/s ({tokens} tokens in {seconds:.2} s), losses {losses:?}",
        tokens as f64 / seconds
    );
    // Shown with `wasm-pack test --headless --chrome crates/wasm --test train -- --nocapture`.
    console_log!("{line}");
    assert!(losses[4] < losses[0] - 0.1, "the loss decreases: {losses:?}");
    for (got, want) in losses.iter().zip(NATIVE) {
        assert!((got - want).abs() < 1e-4, "browser {losses:?} vs native {NATIVE:?}");
    }
}

#[path = "../common/train_phases.rs"]
mod train_phases;

/// Prints where a step's time goes (compare with the native test's line).
#[wasm_bindgen_test]
fn training_phase_times_are_measurable() {
    let line = train_phases::phase_times(&js_sys::Date::now, 5);
    console_log!("browser {line}");
    assert!(line.starts_with("phases"));
}
