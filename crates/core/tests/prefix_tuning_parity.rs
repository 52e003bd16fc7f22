//! Prefix tuning against peft 0.21.2: for every case under
//! tests/fixtures/prefix_tuning/ (written by scripts/fixtures/prefix_tuning.py
//! from fresh random GPT-2, Llama and Llama-GQA checkpoints, with and
//! without `prefix_projection`, some with left padding), the adapted
//! model's logits equal `PeftModel`'s, and the loss and the gradient of
//! every trainable tensor (`prompt_embeddings`, or the `PrefixEncoder`'s)
//! equal PyTorch's. Prints the worst `maxdiff` of each.

use std::path::PathBuf;

use llmlab_core::adapters::prefix_tuning::{PrefixTuningAdapter, ENCODER_FILE};
use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::gradients::GradInput;
use serde_json::Value;

const CASES: [&str; 5] = ["gpt2_p4", "gpt2_p3_projection", "llama_p5", "llama_gqa_p2", "llama_gqa_p6_projection"];

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/prefix_tuning")
}

fn base(family: &str) -> (String, WeightStore) {
    match load_checkpoint(&fixtures().join("bases").join(family)).unwrap() {
        Checkpoint::HuggingFace { config_json, store } => (config_json, store),
        Checkpoint::Llama2c(_) => unreachable!("bases are HF directories"),
    }
}

/// The case's adapter; with `with_encoder` also its `PrefixEncoder` (projection cases).
fn adapter(case: &str, with_encoder: bool) -> PrefixTuningAdapter {
    let dir = fixtures().join(case);
    let config = std::fs::read_to_string(dir.join("adapter/adapter_config.json")).unwrap();
    let weights = std::fs::read(dir.join("adapter/adapter_model.safetensors")).unwrap();
    let encoder = if with_encoder { std::fs::read(dir.join("adapter").join(ENCODER_FILE)).ok() } else { None };
    PrefixTuningAdapter::from_files(&config, weights, encoder).unwrap()
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
fn prefixed_logits_equal_peft_model() {
    for case in CASES {
        let want = expected(case);
        let (config_json, store) = base(want["base"].as_str().unwrap());
        let ids: Vec<Vec<u32>> = rows(&want["ids"]);
        let mask: Vec<Vec<u8>> = rows(&want["attention_mask"]);
        let theirs: Vec<f32> = rows::<Vec<f32>>(&want["logits"]).into_iter().flatten().flatten().collect();
        // The saved prefix (what PeftModel.from_pretrained reads), and for projection cases the encoder's output.
        for with_encoder in [false, true] {
            let prefix = adapter(case, with_encoder);
            if with_encoder && prefix.encoder.is_none() {
                continue; // no projection: the saved prefix is the parameter
            }
            let logits = prefix.logits(&config_json, &store, &ids, Some(&mask)).unwrap();
            let worst = rel_maxdiff(logits.as_slice().unwrap(), &theirs);
            let source = if prefix.encoder.is_some() { "encoder" } else { "saved prompt_embeddings" };
            println!("{case} ({source}): logits maxdiff {worst:.2e}");
            assert!(worst < 1e-4, "{case}: logits maxdiff {worst}");
        }
        let plain = llmlab_core::models::gradients::CausalLm::load(&config_json, &store).unwrap();
        let (plain_logits, _) = plain.stack().forward_train(&ids, Some(&mask)).unwrap();
        let moved = rel_maxdiff(plain_logits.as_slice().unwrap(), &theirs);
        assert!(moved > 1e-3, "{case}: the prefix must change the logits for the test to mean anything ({moved})");
    }
}

#[test]
fn prefix_gradients_equal_pytorch() {
    for case in CASES {
        let want = expected(case);
        let (config_json, store) = base(want["base"].as_str().unwrap());
        let prefix = adapter(case, true);
        let input = GradInput {
            input_ids: rows(&want["ids"]),
            labels: Some(rows(&want["labels"])),
            attention_mask: Some(rows(&want["attention_mask"])),
        };
        let out = prefix.loss_and_gradients(&config_json, &store, &input).unwrap();
        let torch_loss = want["loss"].as_f64().unwrap();
        assert!((out.loss - torch_loss).abs() < 1e-4, "{case}: loss {} vs torch {torch_loss}", out.loss);
        let theirs =
            WeightStore::from_safetensors(std::fs::read(fixtures().join(case).join("adapter_grads.safetensors")).unwrap()).unwrap();
        let mut names: Vec<String> = out.gradients.iter().map(|t| t.name.clone()).collect();
        names.sort();
        assert_eq!(names, theirs.names(), "{case}: one gradient per trainable tensor, under peft's names");
        let mut worst = 0f32;
        for g in &out.gradients {
            assert_eq!(Some(&g.shape[..]), theirs.shape(&g.name), "{case}: {}", g.name);
            let t = theirs.to_f32(&g.name).unwrap();
            // Relative to the largest magnitude of the tensor.
            let scale = t.iter().fold(f32::MIN_POSITIVE, |m, x| m.max(x.abs()));
            let diff = g.data.iter().zip(&t).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / scale;
            worst = worst.max(diff);
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
        let prefix = adapter(case, true);
        let (config, weights, encoder) = prefix.to_files("LlamaForCausalLM").unwrap();
        let back = PrefixTuningAdapter::from_files(&config, weights, encoder).unwrap();
        assert_eq!(back.config, prefix.config, "{case}");
        let (a, b) = (back.named_parameters(), prefix.named_parameters());
        assert_eq!(a, b, "{case}: write then read gives the same tensors");
    }
}
