//! The native half of the "same training in the browser" check: a few steps
//! of nanoGPT's CPU configuration (4 layers, 4 heads, width 128, context 64,
//! batch 12) on the addition toy corpus, whose losses are pinned here and in
//! `tests/browser/train.rs`, which runs the identical steps in headless
//! Chromium. Both must land on the same numbers (the engine is deterministic
//! given the seed; only float rounding may differ between targets).

use llmlab_core::rng::Rng;
use llmlab_core::train::char_tokenizer::CharTokenizer;
use llmlab_core::train::optim::AdamWConfig;
use llmlab_core::train::toy::ToyTask;
use llmlab_core::train::trainer::{TrainConfig, Trainer};
use llmlab_core::train::{Config, Model, Precision};

/// Losses of steps 1..=5, as this native run printed them (the browser test
/// pins the same values).
const EXPECTED: [f64; 5] = [2.6770597778448058, 2.5775917292706634, 2.5442083933860196, 2.5027682411865095, 2.4650358943942616];

#[test]
fn nanogpt_cpu_config_first_steps_match_the_pinned_losses() {
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
    let start = std::time::Instant::now();
    let mut tokens = 0;
    let mut losses = Vec::new();
    for _ in 0..EXPECTED.len() {
        let stats = trainer.step(&ids).unwrap();
        tokens += stats.tokens;
        losses.push(stats.loss);
    }
    let seconds = start.elapsed().as_secs_f64();
    // The browser test prints the same line; their ratio is the Train tab's speed against native.
    println!("native training, nanoGPT CPU config: {:.0} tokens/s ({tokens} tokens in {seconds:.2} s), losses {losses:?}", tokens as f64 / seconds);
    assert!(losses[4] < losses[0] - 0.1, "the loss decreases: {losses:?}");
    for (got, want) in losses.iter().zip(EXPECTED) {
        assert!((got - want).abs() < 1e-4, "{losses:?} vs pinned {EXPECTED:?}");
    }
}

#[path = "../../../tests/common/train_phases.rs"]
mod train_phases;

/// Prints where a step's time goes (compare with the browser test's line).
#[test]
fn training_phase_times_are_measurable() {
    let start = std::time::Instant::now();
    let line = train_phases::phase_times(&|| start.elapsed().as_secs_f64() * 1000.0, 5);
    println!("native {line}");
    assert!(line.starts_with("phases"));
}
