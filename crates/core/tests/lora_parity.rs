//! LoRA against peft 0.21.2: for every case under tests/fixtures/lora/
//! (written by scripts/fixtures/lora.py from fresh random GPT-2 and Llama
//! checkpoints), the adapted model's logits equal `PeftModel`'s, the loss and
//! every `lora_A` / `lora_B` gradient equal PyTorch's, and the merged weights
//! equal `merge_and_unload()`'s. Prints the worst `maxdiff` of each.

use std::path::{Path, PathBuf};

use llmlab_core::adapters::lora::{LoraAdapter, CONFIG_FILE, WEIGHTS_FILE};
use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::gradients::GradInput;
use llmlab_core::models::{self, AnyModel};
use serde_json::Value;

const CASES: [&str; 5] = ["gpt2_c_attn", "gpt2_all_linear_rslora", "gpt2_mlp_r8", "llama_q_v", "llama_all_linear_rslora"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/lora")
}

fn base(family: &str) -> (String, WeightStore) {
    match load_checkpoint(&fixtures().join("bases").join(family)).unwrap() {
        Checkpoint::HuggingFace { config_json, store } => (config_json, store),
        Checkpoint::Llama2c(_) => unreachable!("bases are HF directories"),
    }
}

fn adapter(dir: &Path) -> LoraAdapter {
    let config = std::fs::read_to_string(dir.join(CONFIG_FILE)).unwrap();
    LoraAdapter::from_files(&config, std::fs::read(dir.join(WEIGHTS_FILE)).unwrap()).unwrap()
}

fn expected(case: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixtures().join(case).join("expected.json")).unwrap()).unwrap()
}

fn rows<T: serde::de::DeserializeOwned>(v: &Value) -> Vec<Vec<T>> {
    serde_json::from_value(v.clone()).unwrap()
}

/// Largest |a - b| divided by the largest |b| (at least 1).
fn rel_maxdiff(ours: &[f32], theirs: &[f32]) -> f32 {
    assert_eq!(ours.len(), theirs.len());
    let scale = theirs.iter().fold(1f32, |m, x| m.max(x.abs()));
    ours.iter().zip(theirs).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale
}

#[test]
fn adapted_logits_equal_peft_model() {
    for case in CASES {
        let want = expected(case);
        let (config_json, mut store) = base(want["base"].as_str().unwrap());
        let lora = adapter(&fixtures().join(case).join("adapter"));
        let ids: Vec<Vec<u32>> = rows(&want["ids"]);
        let theirs: Vec<Vec<Vec<f32>>> = serde_json::from_value(want["logits"].clone()).unwrap();
        let plain = match models::load(&config_json, &store).unwrap() {
            AnyModel::Causal(m) => m.forward(&ids[0], None).unwrap(),
            _ => unreachable!(),
        };
        lora.apply_to_store(&mut store, 1.0).unwrap();
        let AnyModel::Causal(model) = models::load(&config_json, &store).unwrap() else { unreachable!() };
        let mut worst = 0f32;
        for (row, want_row) in ids.iter().zip(&theirs) {
            let logits = model.forward(row, None).unwrap();
            let flat: Vec<f32> = want_row.iter().flatten().copied().collect();
            worst = worst.max(rel_maxdiff(logits.as_slice().unwrap(), &flat));
        }
        let moved = rel_maxdiff(plain.as_slice().unwrap(), &theirs[0].iter().flatten().copied().collect::<Vec<_>>());
        println!("{case}: logits maxdiff {worst:.2e} (the adapter moves them by {moved:.2e})");
        assert!(worst < 1e-4, "{case}: logits maxdiff {worst}");
        assert!(moved > 1e-3, "{case}: the adapter must change the logits for the test to mean anything");
    }
}

#[test]
fn adapter_gradients_equal_pytorch() {
    for case in CASES {
        let want = expected(case);
        let (config_json, store) = base(want["base"].as_str().unwrap());
        let lora = adapter(&fixtures().join(case).join("adapter"));
        let input = GradInput { input_ids: rows(&want["ids"]), labels: Some(rows(&want["labels"])), attention_mask: None };
        let out = lora.loss_and_gradients(&config_json, store, &input).unwrap();
        let torch_loss = want["loss"].as_f64().unwrap();
        assert!((out.loss - torch_loss).abs() < 1e-4, "{case}: loss {} vs torch {torch_loss}", out.loss);
        let theirs = WeightStore::from_safetensors(std::fs::read(fixtures().join(case).join("adapter_grads.safetensors")).unwrap()).unwrap();
        let mut names: Vec<String> = out.gradients.iter().map(|t| t.name.clone()).collect();
        names.sort();
        assert_eq!(names, theirs.names(), "{case}: one gradient per lora_A / lora_B, under peft's names");
        let mut worst = 0f32;
        for g in &out.gradients {
            assert_eq!(Some(&g.shape[..]), theirs.shape(&g.name), "{case}: {}", g.name);
            worst = worst.max(rel_maxdiff(&g.data, &theirs.to_f32(&g.name).unwrap()));
        }
        println!("{case}: loss {:.7} vs torch {torch_loss:.7}, gradient maxdiff {worst:.2e} over {} tensors", out.loss, names.len());
        assert!(worst < 1e-4, "{case}: gradient maxdiff {worst}");
    }
}

#[test]
fn merged_weights_equal_merge_and_unload() {
    for case in CASES {
        let want = expected(case);
        let (_, mut store) = base(want["base"].as_str().unwrap());
        let lora = adapter(&fixtures().join(case).join("adapter"));
        lora.apply_to_store(&mut store, 1.0).unwrap();
        let theirs = WeightStore::from_safetensors(std::fs::read(fixtures().join(case).join("merged.safetensors")).unwrap()).unwrap();
        let mut worst = 0f32;
        for name in theirs.names() {
            let ours = store.to_f32(&name).or_else(|_| store.to_f32(name.trim_start_matches("transformer."))).unwrap();
            let diff = ours.iter().zip(&theirs.to_f32(&name).unwrap()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            worst = worst.max(diff);
        }
        println!("{case}: merged weights maxdiff {worst:.2e} over {} tensors", theirs.names().len());
        assert!(worst < 1e-6, "{case}: merged maxdiff {worst}");
    }
}

#[test]
fn unmerge_restores_the_base_and_files_round_trip() {
    for case in CASES {
        let want = expected(case);
        let (_, mut store) = base(want["base"].as_str().unwrap());
        let original = store.clone();
        let lora = adapter(&fixtures().join(case).join("adapter"));
        lora.apply_to_store(&mut store, 1.0).unwrap();
        lora.apply_to_store(&mut store, -1.0).unwrap();
        for name in original.names() {
            let diff = store.to_f32(&name).unwrap().iter().zip(&original.to_f32(&name).unwrap()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            assert!(diff < 1e-6, "{case}: {name} after unmerge differs by {diff}");
        }
        let (config, bytes) = lora.to_files("GPT2LMHeadModel").unwrap();
        assert_eq!(LoraAdapter::from_files(&config, bytes).unwrap(), lora, "{case}: write then read gives the same adapter");
    }
}
