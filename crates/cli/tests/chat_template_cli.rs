//! `llmlab chat-template` prints the text, ids and assistant mask that
//! transformers' `apply_chat_template` gives for a fixture case (a training
//! template with `{% generation %}` markers), reading the template from
//! tokenizer_config.json; a template that raises is a clear error.

use std::path::PathBuf;
use std::process::Command;

use serde_json::{json, Value};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn model_dir(name: &str, template: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-chat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixtures().join("tokenizers/bpe_bytelevel.tokenizer.json"), dir.join("tokenizer.json")).unwrap();
    let config = json!({"chat_template": template, "bos_token": "<s>", "eos_token": {"content": "</s>"}, "unk_token": "<unk>", "pad_token": "<pad>"});
    std::fs::write(dir.join("tokenizer_config.json"), config.to_string()).unwrap();
    dir
}

#[test]
fn prints_transformers_text_ids_and_assistant_mask() {
    let data: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("chat_templates/cases.json")).unwrap()).unwrap();
    let case = data["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["template"] == "qwen2_5_training" && c.get("assistant_masks").is_some())
        .unwrap();
    let template = std::fs::read_to_string(fixtures().join("chat_templates/templates/qwen2_5_training.jinja")).unwrap();
    let dir = model_dir("qwen", &template);
    let messages = dir.join("messages.json");
    std::fs::write(&messages, case["messages"].to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_llmlab"))
        .args(["chat-template", "--model", dir.to_str().unwrap(), "--messages", messages.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["text"], case["text"]);
    assert_eq!(got["input_ids"], case["input_ids"]);
    assert_eq!(got["assistant_masks"], case["assistant_masks"]);
    assert!(got["assistant_masks"].as_array().unwrap().iter().any(|m| m == 1));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_template_that_raises_is_a_clear_error() {
    let dir = model_dir("raise", "{{ raise_exception('Conversation roles must alternate user/assistant') }}");
    let messages = dir.join("messages.json");
    std::fs::write(&messages, r#"[{"role":"user","content":"hi"}]"#).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_llmlab"))
        .args(["chat-template", "--model", dir.to_str().unwrap(), "--messages", messages.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("roles must alternate"));
    let _ = std::fs::remove_dir_all(dir);
}
