//! Bottleneck adapters against the PyTorch reference module of
//! scripts/fixtures/bottleneck.py (Houlsby: one adapter on each attention
//! output and each MLP output, before the residual add) attached to
//! transformers' GPT-2 and Llama: logits, loss and every adapter tensor's
//! gradient. Prints the worst `maxdiff` of each.

use std::path::PathBuf;

use llmlab_core::adapters::bottleneck::BottleneckAdapter;
use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::gradients::{CausalLm, GradInput};
use serde_json::Value;

const CASES: [&str; 3] = ["gpt2_relu_r4", "llama_gelu_r3", "llama_gqa_silu_r5"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn base(family: &str) -> (String, WeightStore) {
    match load_checkpoint(&fixtures().join("prefix_tuning/bases").join(family)).unwrap() {
        Checkpoint::HuggingFace { config_json, store } => (config_json, store),
        Checkpoint::Llama2c(_) => unreachable!("bases are HF directories"),
    }
}

fn adapter(case: &str) -> BottleneckAdapter {
    let dir = fixtures().join("bottleneck").join(case).join("adapter");
    let config = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
    BottleneckAdapter::from_files(&config, std::fs::read(dir.join("adapter_model.safetensors")).unwrap()).unwrap()
}

fn expected(case: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join("bottleneck").join(case).join("expected.json")).unwrap()).unwrap()
}

fn rows<T: serde::de::DeserializeOwned>(v: &Value) -> Vec<Vec<T>> {
    serde_json::from_value(v.clone()).unwrap()
}

/// Largest |a - b| divided by the largest |b| (at least `floor`).
fn rel_maxdiff(ours: &[f32], theirs: &[f32], floor: f32) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(floor, |m, x| m.max(x.abs()));
    ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale
}

#[test]
fn adapted_logits_equal_the_pytorch_reference() {
    for case in CASES {
        let want = expected(case);
        let (config_json, store) = base(want["base"].as_str().unwrap());
        let ids: Vec<Vec<u32>> = rows(&want["ids"]);
        let mask: Vec<Vec<u8>> = rows(&want["attention_mask"]);
        let theirs: Vec<f32> = rows::<Vec<f32>>(&want["logits"]).into_iter().flatten().flatten().collect();
        let logits = adapter(case).logits(&config_json, &store, &ids, Some(&mask)).unwrap();
        let worst = rel_maxdiff(logits.as_slice().unwrap(), &theirs, 1.0);
        let plain = CausalLm::load(&config_json, &store).unwrap();
        let (plain_logits, _) = plain.stack().forward_train(&ids, Some(&mask)).unwrap();
        let moved = rel_maxdiff(plain_logits.as_slice().unwrap(), &theirs, 1.0);
        println!("{case}: logits maxdiff {worst:.2e} (the adapters move them by {moved:.2e})");
        assert!(worst < 1e-4, "{case}: logits maxdiff {worst}");
        assert!(moved > 1e-3, "{case}: the adapters must change the logits for the test to mean anything");
    }
}

#[test]
fn adapter_gradients_equal_the_pytorch_reference() {
    for case in CASES {
        let want = expected(case);
        let (config_json, store) = base(want["base"].as_str().unwrap());
        let input = GradInput {
            input_ids: rows(&want["ids"]),
            labels: Some(rows(&want["labels"])),
            attention_mask: Some(rows(&want["attention_mask"])),
        };
        let out = adapter(case).loss_and_gradients(&config_json, &store, &input).unwrap();
        let torch_loss = want["loss"].as_f64().unwrap();
        assert!((out.loss - torch_loss).abs() < 1e-4, "{case}: loss {} vs torch {torch_loss}", out.loss);
        let dir = fixtures().join("bottleneck").join(case);
        let theirs = WeightStore::from_safetensors(std::fs::read(dir.join("adapter_grads.safetensors")).unwrap()).unwrap();
        let mut names: Vec<String> = out.gradients.iter().map(|t| t.name.clone()).collect();
        names.sort();
        assert_eq!(names, theirs.names(), "{case}: one gradient per adapter tensor, under the saved names");
        let mut worst = 0f32;
        for g in &out.gradients {
            assert_eq!(Some(&g.shape[..]), theirs.shape(&g.name), "{case}: {}", g.name);
            worst = worst.max(rel_maxdiff(&g.data, &theirs.to_f32(&g.name).unwrap(), f32::MIN_POSITIVE));
        }
        println!(
            "{case}: loss {:.7} vs torch {torch_loss:.7}, gradient maxdiff {worst:.2e} (relative) over {} tensors",
            out.loss,
            names.len()
        );
        assert!(worst < 1e-4, "{case}: gradient maxdiff {worst}");
    }
}

#[test]
fn files_round_trip() {
    for case in CASES {
        let a = adapter(case);
        let path = if case.starts_with("gpt2") { "transformer.h" } else { "model.layers" };
        let (config, bytes) = a.to_files(path).unwrap();
        let back = BottleneckAdapter::from_files(&config, bytes).unwrap();
        assert_eq!(back.config, a.config, "{case}");
        assert_eq!(back.named_tensors(path), a.named_tensors(path), "{case}");
    }
}
