//! `llmlab lora init|merge`, `logits --adapter` and `grad --adapter` end to
//! end on the peft fixtures (tests/fixtures/lora, from scripts/fixtures/lora.py):
//! the merged checkpoint is `merge_and_unload()`'s, the adapted logits are
//! the merged model's, the adapter gradients carry peft's names and torch's
//! loss, and an adapter asking for an unsupported option is refused by name.

use std::path::PathBuf;
mod common;
use common::{llmlab, ok_json, repo};

use llmlab_core::loading::WeightStore;
use serde_json::Value;

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-lora-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn rows(v: &Value) -> String {
    let rows: Vec<Vec<i64>> = serde_json::from_value(v.clone()).unwrap();
    rows.iter().map(|r| r.iter().map(i64::to_string).collect::<Vec<_>>().join(",")).collect::<Vec<_>>().join(";")
}

#[test]
fn merged_checkpoint_equals_merge_and_unload_and_gives_the_adapted_logits() {
    let case = repo("tests/fixtures/lora/llama_all_linear_rslora");
    let (base, adapter) = (repo("tests/fixtures/lora/bases/llama"), case.join("adapter"));
    let out = temp("merge");
    ok_json(&["lora", "merge", "--model", base.to_str().unwrap(), "--adapter", adapter.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let ours = WeightStore::from_safetensors(std::fs::read(out.join("model.safetensors")).unwrap()).unwrap();
    let theirs = WeightStore::from_safetensors(std::fs::read(case.join("merged.safetensors")).unwrap()).unwrap();
    for name in theirs.names() {
        let diff = ours.to_f32(&name).unwrap().iter().zip(&theirs.to_f32(&name).unwrap()).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-6, "{name}: {diff}");
    }
    assert!(out.join("config.json").exists(), "the model directory's other files come along");
    let ids = "3,1,4,1,5,9,2,6";
    let adapted = ok_json(&["logits", "--model", base.to_str().unwrap(), "--adapter", adapter.to_str().unwrap(), "--ids", ids]);
    let merged = ok_json(&["logits", "--model", out.to_str().unwrap(), "--ids", ids]);
    let plain = ok_json(&["logits", "--model", base.to_str().unwrap(), "--ids", ids]);
    assert_eq!(adapted, merged);
    assert_ne!(adapted, plain, "the adapter changes the logits");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn grad_with_adapter_writes_only_the_adapter_gradients_under_peft_names() {
    let case = repo("tests/fixtures/lora/gpt2_all_linear_rslora");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(case.join("expected.json")).unwrap()).unwrap();
    let out = temp("grad").with_extension("safetensors");
    let (ids, labels) = (rows(&expected["ids"]), rows(&expected["labels"]));
    let base = repo("tests/fixtures/lora/bases/gpt2");
    let adapter = case.join("adapter");
    let args = [
        "grad", "--model", base.to_str().unwrap(), "--adapter", adapter.to_str().unwrap(), "--ids", &ids, "--labels", &labels,
        "--out", out.to_str().unwrap(),
    ];
    let result = ok_json(&args);
    let (loss, want) = (result["loss"].as_f64().unwrap(), expected["loss"].as_f64().unwrap());
    assert!((loss - want).abs() < 1e-4, "loss {loss} vs torch {want}");
    let ours = WeightStore::from_safetensors(std::fs::read(&out).unwrap()).unwrap();
    let theirs = WeightStore::from_safetensors(std::fs::read(case.join("adapter_grads.safetensors")).unwrap()).unwrap();
    assert_eq!(ours.names(), theirs.names());
    let _ = std::fs::remove_file(out);
}

#[test]
fn init_writes_an_adapter_that_reads_back_and_starts_as_the_base_model() {
    let base = repo("tests/fixtures/lora/bases/gpt2");
    let out = temp("init");
    let report = ok_json(&["lora", "init", "--model", base.to_str().unwrap(), "--r", "4", "--targets", "c_attn", "--out", out.to_str().unwrap()]);
    assert_eq!(report["modules"].as_array().unwrap().len(), 2, "{report}");
    assert!(report["trainable_percent"].as_f64().unwrap() < 10.0);
    let ids = "1,2,3";
    let adapted = ok_json(&["logits", "--model", base.to_str().unwrap(), "--adapter", out.to_str().unwrap(), "--ids", ids]);
    let plain = ok_json(&["logits", "--model", base.to_str().unwrap(), "--ids", ids]);
    assert_eq!(adapted, plain, "B starts at zero, so a fresh adapter changes nothing");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn unsupported_adapter_options_are_refused_by_name() {
    let out = temp("dora");
    std::fs::create_dir_all(&out).unwrap();
    let case = repo("tests/fixtures/lora/gpt2_c_attn/adapter");
    let mut config: Value = serde_json::from_str(&std::fs::read_to_string(case.join("adapter_config.json")).unwrap()).unwrap();
    config["use_dora"] = Value::Bool(true);
    std::fs::write(out.join("adapter_config.json"), config.to_string()).unwrap();
    std::fs::copy(case.join("adapter_model.safetensors"), out.join("adapter_model.safetensors")).unwrap();
    let base = repo("tests/fixtures/lora/bases/gpt2");
    let result = llmlab(&["logits", "--model", base.to_str().unwrap(), "--adapter", out.to_str().unwrap(), "--ids", "1,2"]);
    assert!(!result.status.success());
    let err = String::from_utf8_lossy(&result.stderr);
    assert!(err.contains("use_dora"), "{err}");
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn train_learns_a_new_text_with_the_base_frozen_and_writes_a_loadable_adapter() {
    let base = repo("web/models/default");
    let corpus = temp("corpus").with_extension("txt");
    std::fs::write(&corpus, "the cat sat on the mat. ".repeat(200)).unwrap();
    let out = temp("train");
    let report = ok_json(&[
        "lora", "train", "--model", base.to_str().unwrap(), "--corpus", corpus.to_str().unwrap(), "--steps", "15", "--lr", "1e-2",
        "--context", "32", "--out", out.to_str().unwrap(),
    ]);
    let (before, after) = (report["val_loss_before"].as_f64().unwrap(), report["val_loss_after"].as_f64().unwrap());
    assert!(after < 0.5 * before, "validation loss {before} -> {after}");
    assert_eq!(report["trainable_parameters"], 36864, "r=8 on the six c_attn layers: 6 × 8 × (192 + 576)");
    let ids = "1,2,3";
    let adapted = ok_json(&["logits", "--model", base.to_str().unwrap(), "--adapter", out.to_str().unwrap(), "--ids", ids]);
    let plain = ok_json(&["logits", "--model", base.to_str().unwrap(), "--ids", ids]);
    assert_ne!(adapted, plain, "the trained adapter changes the model");
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_file(corpus);
}

#[test]
fn train_on_instruction_data_lowers_the_held_out_answer_loss_and_writes_a_loadable_adapter() {
    let base = repo("web/models/default");
    let data = temp("alpaca").with_extension("jsonl");
    let lines: Vec<String> = ["cat", "dog", "sun", "map", "hat", "pen", "cup", "box", "jam", "owl", "fig"]
        .iter()
        .map(|w| format!(r#"{{"instruction":"repeat: {w}","input":"","output":"{w}"}}"#))
        .collect();
    std::fs::write(&data, lines.join("\n")).unwrap();
    let out = temp("instruct");
    let report = ok_json(&[
        "lora", "train", "--model", base.to_str().unwrap(), "--data", data.to_str().unwrap(), "--steps", "12", "--batch", "4",
        "--out", out.to_str().unwrap(),
    ]);
    let (before, after) = (report["held_out_loss_before"].as_f64().unwrap(), report["held_out_loss_after"].as_f64().unwrap());
    assert!(after < before, "held-out answer loss {before} -> {after}");
    assert_eq!(report["held_out"].as_array().unwrap().len(), 1, "the last tenth of 11 examples");
    assert_eq!(report["held_out"][0]["expected"], "fig");
    let adapted = ok_json(&["logits", "--model", base.to_str().unwrap(), "--adapter", out.to_str().unwrap(), "--ids", "1,2,3"]);
    assert!(adapted.is_object() || adapted.is_array());
    let err = llmlab(&["lora", "train", "--model", base.to_str().unwrap(), "--builtin", "--data", data.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert!(!err.status.success(), "--builtin and --data conflict");
    let _ = std::fs::remove_dir_all(out);
    let _ = std::fs::remove_file(data);
}
