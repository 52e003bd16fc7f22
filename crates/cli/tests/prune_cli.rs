//! `llmlab prune` end to end on the committed pruning fixtures: the written
//! checkpoint loads, runs with PyTorch's logits after head removal, keeps
//! the tokenizer files, reports the sparsity torch's masks give; and
//! `llmlab grad --teacher` prints PyTorch's distillation loss.

mod common;
use common::{llmlab, ok_json, repo};

use serde_json::Value;
use std::path::PathBuf;

/// A copy of a fixture model with a tokenizer file next to it, in a fresh temp dir.
fn model_with_tokenizer(family: &str, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-prune-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(repo(&format!("tests/fixtures/pruning/{family}/{file}")), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("tokenizer.json"), "{\"version\": \"1.0\"}").unwrap();
    dir
}

#[test]
fn prune_heads_writes_a_smaller_gpt2_with_torchs_logits() {
    let model = model_with_tokenizer("gpt2", "heads");
    let out = model.with_extension("out");
    let report =
        ok_json(&["prune", "--model", model.to_str().unwrap(), "--method", "heads", "--amount", "0.5", "--out", out.to_str().unwrap()]);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(repo("tests/fixtures/pruning/gpt2/expected_heads.json")).unwrap()).unwrap();
    assert_eq!(report["parameters_after"], expected["num_parameters"], "{report}");
    assert_eq!(report["kept_units"], expected["kept"]);
    assert!(out.join("tokenizer.json").is_file(), "tokenizer files are copied");
    let config: Value = serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap()).unwrap();
    assert!(config["pruned_heads"].is_object(), "{config}");
    let ids: Vec<String> = expected["ids"].as_array().unwrap().iter().map(|v| v.to_string()).collect();
    let logits = ok_json(&["logits", "--model", out.to_str().unwrap(), "--ids", &ids.join(","), "--all-positions"]);
    let mut maxdiff = 0.0f64;
    for (ours, want) in logits["logits"].as_array().unwrap().iter().zip(expected["logits"].as_array().unwrap()) {
        for (a, b) in ours.as_array().unwrap().iter().zip(want.as_array().unwrap()) {
            maxdiff = maxdiff.max((a.as_f64().unwrap() - b.as_f64().unwrap()).abs());
        }
    }
    println!("prune heads: parameters {} -> {}, logits maxdiff {maxdiff:.2e}", report["parameters_before"], report["parameters_after"]);
    assert!(maxdiff < 1e-4, "logits maxdiff {maxdiff}");
    let _ = std::fs::remove_dir_all(model);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn prune_l1_unstructured_zeroes_weights_and_keeps_shapes() {
    let model = model_with_tokenizer("llama", "l1");
    let out = model.with_extension("out");
    let report = ok_json(&[
        "prune",
        "--model",
        model.to_str().unwrap(),
        "--method",
        "l1-unstructured",
        "--amount",
        "0.3",
        "--out",
        out.to_str().unwrap(),
    ]);
    let sparsity = report["sparsity"].as_f64().unwrap();
    assert!((sparsity - 0.3).abs() < 0.01, "{report}");
    assert_eq!(report["parameters_before"], report["parameters_after"]);
    ok_json(&["logits", "--model", out.to_str().unwrap(), "--ids", "1,2,3"]);
    let _ = std::fs::remove_dir_all(model);
    let _ = std::fs::remove_dir_all(out);
}

#[test]
fn prune_rejects_bad_amounts_and_misplaced_options() {
    let model = repo("tests/fixtures/pruning/gpt2");
    let dir = model.to_str().unwrap();
    for (args, message) in [
        (vec!["--method", "l1-unstructured", "--amount", "1.5"], "between 0.0 and 1.0"),
        (vec!["--method", "heads", "--amount", "4"], "at least one must stay"),
        (vec!["--method", "heads", "--amount", "1", "--n", "2"], "only apply to --method ln-structured"),
        (vec!["--method", "magnitude", "--amount", "1"], "method 'magnitude'"),
    ] {
        let mut full = vec!["prune", "--model", dir, "--out", "/nonexistent/never"];
        full.extend(args);
        let out = llmlab(&full);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(message), "{full:?}: {err}");
    }
}

#[test]
fn grad_with_teacher_prints_torchs_distillation_loss() {
    let dir = repo("tests/fixtures/distillation/gpt2_from_gpt2_padded");
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let rows = |v: &Value| {
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
            .collect::<Vec<_>>()
            .join(";")
    };
    let out = std::env::temp_dir().join(format!("llmlab-distill-{}.safetensors", std::process::id()));
    let (t, a) = (expected["temperature"].to_string(), expected["alpha"].to_string());
    let result = ok_json(&[
        "grad",
        "--model",
        dir.join("student").to_str().unwrap(),
        "--teacher",
        dir.join("teacher").to_str().unwrap(),
        "--temperature",
        &t,
        "--alpha",
        &a,
        "--ids",
        &rows(&expected["input_ids"]),
        "--labels",
        &rows(&expected["labels"]),
        "--attention-mask",
        &rows(&expected["attention_mask"]),
        "--out",
        out.to_str().unwrap(),
    ]);
    for key in ["loss", "kl"] {
        let (ours, want) = (result[key].as_f64().unwrap(), expected[key].as_f64().unwrap());
        println!("grad --teacher: {key} {ours} vs torch {want}");
        assert!((ours - want).abs() < 1e-4, "{key} {ours} vs torch {want}");
    }
    let store = llmlab_core::loading::WeightStore::from_safetensors(std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(store.tensors.len(), expected["param_names"].as_array().unwrap().len());
    let _ = std::fs::remove_file(out);
}
