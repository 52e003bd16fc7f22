//! One training step of the core's engine against PyTorch + HF transformers.
//!
//! The fixtures (tests/fixtures/training/{gpt2,llama}) were written by
//! scripts/fixtures/training.py from HF `GPT2LMHeadModel` / `LlamaForCausalLM`
//! run in float64: the loss and every parameter's gradient after one
//! forward/backward, and every parameter after one clipped AdamW step at the
//! warmup+cosine learning rate. Our f32 engine must match within 1e-4.

use std::path::PathBuf;

use llmlab_core::models::gradients::NamedTensor;
use llmlab_core::train::checkpoint::{config_from_json, model_from_safetensors, read_tensor};
use llmlab_core::train::optim::AdamWConfig;
use llmlab_core::train::trainer::{TrainConfig, Trainer};
use llmlab_core::train::{Model, Precision};
use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/training").join(name)
}

struct Case {
    model: Model,
    batch: Value,
    expected: Value,
    grads: Vec<u8>,
    after: Vec<u8>,
}

fn load(name: &str) -> Case {
    let dir = fixture(name);
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let config = config_from_json(&String::from_utf8(read("config.json")).unwrap()).unwrap();
    Case {
        model: model_from_safetensors(config, &read("model.safetensors")).unwrap(),
        batch: serde_json::from_slice(&read("batch.json")).unwrap(),
        expected: serde_json::from_slice(&read("expected.json")).unwrap(),
        grads: read("grads.safetensors"),
        after: read("after_step.safetensors"),
    }
}

fn ids(v: &Value, key: &str) -> Vec<u32> {
    v[key].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// Largest |ours − theirs| over every tensor of `ours` (under HF names),
/// checking each is present in `reference`.
fn max_diff(ours: &[NamedTensor], reference: &[u8]) -> (f32, String, usize) {
    let st = safetensors::SafeTensors::deserialize(reference).unwrap();
    let (mut worst, mut worst_name) = (0.0f32, String::new());
    for t in ours {
        let theirs = read_tensor(&st, &t.name, &t.shape).unwrap();
        assert_eq!(t.data.len(), theirs.len());
        for (a, b) in t.data.iter().zip(&theirs) {
            let d = (a - b).abs();
            if d > worst || d.is_nan() {
                worst = d;
                worst_name = t.name.clone();
            }
        }
    }
    (worst, worst_name, ours.len())
}

fn check(name: &str) {
    let Case { mut model, batch, expected, grads, after } = load(name);
    let (b, t) = (batch["batch"].as_u64().unwrap() as usize, batch["seq"].as_u64().unwrap() as usize);
    let (tokens, targets) = (ids(&batch, "tokens"), ids(&batch, "targets"));

    model.zero_grad();
    let loss = model.forward(&tokens, Some(&targets), b, t, Precision::Fp32).unwrap().unwrap() / (b * t) as f64;
    model.backward(1.0 / (b * t) as f32).unwrap();
    let ref_loss = expected["loss"].as_f64().unwrap();
    println!("{name}: loss {loss} vs torch {ref_loss}");
    assert!((loss - ref_loss).abs() < 1e-4, "{name} loss {loss} vs {ref_loss}");
    let (gd, gname, count) = max_diff(&model.named_gradients(), &grads);
    println!("{name}: {count} gradient tensors, max |diff| {gd:e} (at {gname})");
    assert!(gd < 1e-4, "{name} gradient of {gname} differs by {gd}");
    assert_eq!(count, expected["parameters"].as_u64().unwrap() as usize);

    // One optimiser step: clip to max_norm, AdamW at lr(step 1).
    let f = |k: &str| batch[k].as_f64().unwrap();
    let config = TrainConfig {
        batch: b,
        seq: t,
        grad_accum: 1,
        steps: f("total_steps") as u64,
        lr: f("lr_max"),
        warmup: f("warmup") as u64,
        grad_clip: f("max_norm"),
        adamw: AdamWConfig { beta1: f("beta1"), beta2: f("beta2"), eps: f("eps"), weight_decay: f("weight_decay") },
        precision: Precision::Fp32,
        seed: 0,
    };
    let mut trainer = Trainer::new(model, config).unwrap();
    let stats = trainer.step_on(&[(tokens, targets)], b, t).unwrap();
    assert!((stats.lr - expected["lr"].as_f64().unwrap()).abs() < 1e-12);
    assert!((stats.grad_norm - expected["grad_norm"].as_f64().unwrap()).abs() < 1e-4, "grad norm {}", stats.grad_norm);
    let (pd, pname, _) = max_diff(&trainer.model.named_parameters(), &after);
    println!("{name}: parameters after one clipped AdamW step, max |diff| {pd:e} (at {pname})");
    assert!(pd < 1e-4, "{name} parameter {pname} after the step differs by {pd}");
}

#[test]
fn gpt2_training_step_matches_pytorch() {
    check("gpt2");
}

#[test]
fn llama_gqa_training_step_matches_pytorch() {
    check("llama");
}
