//! `llmlab mlm-mask` and `llmlab span-corrupt` end to end: the collator's
//! batch from injected draws equals the transformers fixture, span
//! corruption follows the script's layout, and bad input is a clear error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn llmlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmlab")).args(args).output().unwrap()
}

/// A model folder holding the BERT fixture tokenizer and a config.json.
fn model_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-objectives-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(root().join("tests/fixtures/tokenizers/bert_uncased.tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"eos_token_id": 3}"#).unwrap();
    dir
}

fn rows(v: &Value) -> String {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join(";")
}

fn ok_json(args: &[&str]) -> Value {
    let out = llmlab(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn mlm_mask_with_injected_draws_equals_the_transformers_collator() {
    let dir = model_dir("mlm");
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(root().join("tests/fixtures/objectives/mlm.json")).unwrap()).unwrap();
    for (i, case) in fx["cases"].as_array().unwrap().iter().enumerate().step_by(3) {
        let decisions = dir.join(format!("decisions-{i}.json"));
        std::fs::write(&decisions, case["decisions"].to_string()).unwrap();
        let got = ok_json(&[
            "mlm-mask",
            "--model",
            dir.to_str().unwrap(),
            "--ids",
            &rows(&case["ids"]),
            "--decisions",
            decisions.to_str().unwrap(),
            "--mlm-probability",
            &case["mlm_probability"].to_string(),
            "--mask-replace-prob",
            &case["mask_replace_prob"].to_string(),
            "--random-replace-prob",
            &case["random_replace_prob"].to_string(),
        ]);
        assert_eq!(got["input_ids"], case["input_ids"], "case {i}");
        assert_eq!(got["labels"], case["labels"], "case {i}");
    }
    // A seed gives the same batch twice, another seed another one.
    let args = |seed: &str| ok_json(&["mlm-mask", "--model", dir.to_str().unwrap(), "--ids", "2,10,11,12,13,14,15,16,17,18,19,20,3", "--seed", seed]);
    assert_eq!(args("1"), args("1"));
    assert!((2..40).any(|s| args(&s.to_string()) != args("1")));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn span_corrupt_puts_one_sentinel_per_span_counting_down_from_the_last_id() {
    let dir = model_dir("span");
    let d = dir.to_str().unwrap();
    let got = ok_json(&["span-corrupt", "--model", d, "--ids", "10,11,12,13,14,15,16,17", "--noise-mask", "0,0,1,1,0,0,1,0"]);
    assert_eq!(got["input_ids"], serde_json::json!([[10, 11, 1199, 14, 15, 1198, 17, 3]]));
    assert_eq!(got["labels"], serde_json::json!([[1199, 12, 13, 1198, 16, 1197, 3]]));
    // Drawn masks: 15% of 40 tokens = 6 hidden, in 2 spans (2 sentinels in the input).
    let ids: Vec<String> = (100..140).map(|i: u32| i.to_string()).collect();
    let got = ok_json(&["span-corrupt", "--model", d, "--ids", &ids.join(","), "--seed", "4"]);
    let input = got["input_ids"][0].as_array().unwrap();
    assert_eq!(input.len(), 40 - 6 + 2 + 1, "{got}");
    assert_eq!(input.iter().filter(|v| v.as_u64().unwrap() >= 1198).count(), 2, "{got}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = model_dir("bad");
    let d = dir.to_str().unwrap();
    let err = |args: &[&str]| {
        let out = llmlab(args);
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(err(&["mlm-mask", "--model", d, "--ids", "1,2;3"]).contains("equal length"));
    assert!(err(&["mlm-mask", "--model", d, "--ids", "1,99999"]).contains("99999"));
    assert!(err(&["span-corrupt", "--model", d, "--ids", "5,6,7", "--noise-mask", "0,1"]).contains("shape"));
    assert!(err(&["span-corrupt", "--model", d, "--ids", "5", "--seed", "1"]).contains("too short"));
    assert!(err(&["mlm-mask", "--model", Path::new(d).join("missing").to_str().unwrap(), "--ids", "1"]).contains("tokenizer.json"));
    std::fs::remove_dir_all(dir).unwrap();
}
