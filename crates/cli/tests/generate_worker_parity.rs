//! The CLI and the browser worker decode the same tokens for the same model,
//! prompt and settings, including what the checkpoint's
//! `generation_config.json` decides when a setting is left unset.
//!
//! The worker's jobs run natively here (the wasm crate's runtime has a
//! native host): the model is loaded through the worker's own `LoadFiles`
//! job, from the same files the CLI reads.

use std::path::{Path, PathBuf};
use std::process::Command;

use llmlab_core::decoding::beam_search::EarlyStopping;
use llmlab_core::decoding::settings::{StrategyChoice, UserSettings};
use llmlab_wasm::jobs;
use llmlab_wasm::protocol::generate::{GenerateRequest, GenerateResponse, GenerateSettings};
use llmlab_wasm::protocol::model::{ModelRequest, NamedFile};
use llmlab_wasm::protocol::Response;
use llmlab_wasm::runtime::{block_on, take_posted};
use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/decoding")
}

/// A checkpoint folder: a committed tiny model plus `generation`.
fn checkpoint(name: &str, generation: &Value, tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-worker-parity-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in ["config.json", "model.safetensors"] {
        std::fs::copy(fixtures().join("models").join(name).join(file), dir.join(file)).unwrap();
    }
    std::fs::write(dir.join("generation_config.json"), generation.to_string()).unwrap();
    dir
}

/// The flags that say what `user` says.
fn flags(user: &UserSettings) -> Vec<String> {
    let mut f = Vec::new();
    let mut add = |name: &str, value: Option<String>| {
        if let Some(v) = value {
            f.push(format!("--{name}"));
            f.push(v);
        }
    };
    add("strategy", user.strategy.map(|s| format!("{s:?}").to_lowercase()));
    add("num-beams", user.num_beams.map(|v| v.to_string()));
    add("length-penalty", user.length_penalty.map(|v| v.to_string()));
    add("early-stopping", user.early_stopping.map(|v| format!("{v:?}").to_lowercase()));
    add("num-return-sequences", user.num_return_sequences.map(|v| v.to_string()));
    add("no-repeat-ngram-size", user.no_repeat_ngram_size.map(|v| v.to_string()));
    add("temperature", user.temperature.map(|v| v.to_string()));
    add("top-k", user.top_k.map(|v| v.to_string()));
    add("top-p", user.top_p.map(|v| v.to_string()));
    add("min-p", user.min_p.map(|v| v.to_string()));
    add("typical-p", user.typical_p.map(|v| v.to_string()));
    add("repetition-penalty", user.repetition_penalty.map(|v| v.to_string()));
    add("max-new-tokens", user.max_new_tokens.map(|v| v.to_string()));
    add("min-new-tokens", user.min_new_tokens.map(|v| v.to_string()));
    add("seed", user.seed.map(|v| v.to_string()));
    f
}

fn cli_ids(dir: &Path, prompt: &[u32], user: &UserSettings) -> Vec<Vec<i64>> {
    let prompt = prompt.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
    let out = Command::new(env!("CARGO_BIN_EXE_llmlab"))
        .args(["generate", "--model", &dir.to_string_lossy(), "--prompt-ids", &prompt])
        .args(flags(user))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["sequences"].as_array().unwrap().iter().map(|s| serde_json::from_value(s["ids"].clone()).unwrap()).collect()
}

fn worker_ids(dir: &Path, prompt: &[u32], user: &UserSettings) -> Vec<Vec<i64>> {
    let files = ["config.json", "model.safetensors", "generation_config.json"]
        .map(|name| NamedFile { name: name.into(), bytes: std::fs::read(dir.join(name)).unwrap() })
        .to_vec();
    let loaded = block_on(jobs::model::run(1, ModelRequest::LoadFiles { files })).ok().unwrap();
    assert!(matches!(loaded, Response::Model(_)), "the worker could not load {}: {loaded:?}", dir.display());
    let prompt = prompt.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
    let settings = GenerateSettings { decoding: user.clone(), kv_cache: true };
    let answer = block_on(jobs::generate::run(2, GenerateRequest::Run { prompt, settings })).ok().unwrap();
    take_posted();
    match answer {
        Response::Generate(GenerateResponse::Finished { sequences, .. }) => sequences.into_iter().map(|s| s.ids).collect(),
        other => panic!("the worker's generate job answered {other:?}"),
    }
}

#[test]
fn cli_and_worker_decode_the_same_tokens() {
    let beam_config = serde_json::json!({"num_beams": 3, "length_penalty": 0.6, "no_repeat_ngram_size": 2,
        "repetition_penalty": 1.3, "max_new_tokens": 9, "eos_token_id": [89, 7]});
    let sample_config = serde_json::json!({"do_sample": true, "temperature": 0.8, "top_p": 0.9, "max_new_tokens": 12,
        "eos_token_id": 13});
    let t5_config = serde_json::json!({"num_beams": 4, "early_stopping": true, "max_new_tokens": 6,
        "decoder_start_token_id": 0, "eos_token_id": 46, "pad_token_id": 0});
    let explicit_beam = UserSettings {
        strategy: Some(StrategyChoice::Beam),
        num_beams: Some(2),
        length_penalty: Some(-0.5),
        early_stopping: Some(EarlyStopping::Never),
        num_return_sequences: Some(2),
        max_new_tokens: Some(7),
        min_new_tokens: Some(3),
        ..Default::default()
    };
    let explicit_sample = UserSettings {
        strategy: Some(StrategyChoice::Sample),
        temperature: Some(1.3),
        top_k: Some(20),
        min_p: Some(0.05),
        num_return_sequences: Some(3),
        seed: Some(5),
        max_new_tokens: Some(10),
        ..Default::default()
    };
    let cases = [
        ("gpt2", &beam_config, UserSettings::default(), vec![16u32, 40, 22]),
        ("gpt2", &beam_config, explicit_beam.clone(), vec![5, 6, 7, 8]),
        ("llama", &sample_config, UserSettings::default(), vec![3, 9]),
        ("llama", &sample_config, UserSettings { seed: Some(42), typical_p: Some(0.9), ..Default::default() }, vec![3, 9]),
        ("llama", &sample_config, explicit_sample, vec![10, 20, 30]),
        ("t5", &t5_config, UserSettings::default(), vec![8, 9, 10, 46]),
        ("t5", &t5_config, explicit_beam, vec![8, 9, 10, 46]),
    ];
    for (i, (name, generation, user, prompt)) in cases.iter().enumerate() {
        let dir = checkpoint(name, generation, &i.to_string());
        let cli = cli_ids(&dir, prompt, user);
        let worker = worker_ids(&dir, prompt, user);
        std::fs::remove_dir_all(&dir).ok();
        println!("case {i} ({name}): CLI {cli:?}, worker {worker:?}");
        assert!(!cli.is_empty() && cli[0].len() > prompt.len().min(1));
        assert_eq!(cli, worker, "case {i} ({name}, {generation}, {user:?}): the CLI and the worker disagree");
    }
}
