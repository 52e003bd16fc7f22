//! Gradient parity with PyTorch: for fresh tiny random GPT-2 and Llama
//! checkpoints made by `scripts/fixtures/grads.py`, the loss of
//! `model(input_ids, attention_mask, labels)` and the gradient of every
//! trainable parameter (under its Hugging Face name) must match what
//! `loss.backward()` gives, within 1e-4 of the tensor's largest magnitude.
//! The set of names must be exactly `named_parameters()` with `requires_grad`.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::gradients::{causal_lm_gradients, GradInput};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

const TOLERANCE: f32 = 1e-4;

fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/grads").join(case)
}

fn rows<T>(v: &Value, f: impl Fn(i64) -> T) -> Option<Vec<Vec<T>>> {
    let rows = v.as_array()?;
    Some(rows.iter().map(|r| r.as_array().unwrap().iter().map(|x| f(x.as_i64().unwrap())).collect()).collect())
}

fn check_case(case: &str) {
    let dir = fixture_dir(case);
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(&dir).unwrap() else {
        panic!("{case}: not a Hugging Face checkpoint");
    };
    let input = GradInput {
        input_ids: rows(&expected["input_ids"], |x| x as u32).unwrap(),
        labels: rows(&expected["labels"], |x| x),
        attention_mask: rows(&expected["attention_mask"], |x| x as u8),
    };
    let out = causal_lm_gradients(&config_json, &store, &input).unwrap();
    let want_loss = expected["loss"].as_f64().unwrap();
    println!("{case}: loss {:.7} vs torch {want_loss:.7}", out.loss);
    assert!(
        (out.loss - want_loss).abs() <= 1e-4 * want_loss.abs().max(1.0),
        "{case}: loss {} vs {want_loss}",
        out.loss
    );

    let names: BTreeSet<String> = out.gradients.iter().map(|t| t.name.clone()).collect();
    let want_names: BTreeSet<String> =
        expected["param_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    assert_eq!(names, want_names, "{case}: gradient names differ from named_parameters()");
    assert_eq!(names.len(), out.gradients.len(), "{case}: a gradient is reported twice");

    let torch = WeightStore::from_safetensors(std::fs::read(dir.join("grads.safetensors")).unwrap()).unwrap();
    for g in &out.gradients {
        assert_eq!(torch.shape(&g.name).unwrap(), &g.shape[..], "{case}: shape of {}", g.name);
        let want = torch.to_f32(&g.name).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let maxdiff = g.data.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        println!("{case}: {} maxdiff {maxdiff:.2e} (largest {scale:.2e})", g.name);
        assert!(maxdiff <= TOLERANCE * scale.max(1e-6), "{case}: {} maxdiff {maxdiff} vs largest {scale}", g.name);
    }
}

#[test]
fn gpt2_tied_gelu_new_with_padding_and_ignored_labels_matches_torch() {
    check_case("gpt2_tied_gelu_new_padded");
}

#[test]
fn gpt2_untied_relu_with_inverse_layer_scaling_matches_torch() {
    check_case("gpt2_untied_relu");
}

#[test]
fn gpt2_tied_exact_gelu_matches_torch() {
    check_case("gpt2_tied_gelu_exact");
}

#[test]
fn llama_gqa_untied_with_biases_matches_torch() {
    check_case("llama_gqa_untied_bias_silu");
}

#[test]
fn llama_tied_gelu_with_linear_rope_matches_torch() {
    check_case("llama_tied_gelu_linear_rope");
}

#[test]
fn llama_mqa_with_llama3_rope_matches_torch() {
    check_case("llama_mqa_llama3_rope");
}

/// A checkpoint tensor the model does not read is an error that names it;
/// the buffers transformers itself stores and ignores are accepted.
#[test]
fn an_unused_checkpoint_tensor_is_an_error_naming_it() {
    for (case, ignored_buffer) in [
        ("gpt2_tied_gelu_new_padded", "transformer.h.0.attn.bias"),
        ("llama_mqa_llama3_rope", "model.layers.0.self_attn.rotary_emb.inv_freq"),
    ] {
        let Checkpoint::HuggingFace { config_json, mut store } = load_checkpoint(&fixture_dir(case)).unwrap() else {
            panic!("{case}: not a Hugging Face checkpoint");
        };
        store.insert_f32(ignored_buffer, vec![2], vec![0.0; 2]);
        assert!(llmlab_core::models::load(&config_json, &store).is_ok(), "{case}: {ignored_buffer} must be accepted");
        store.insert_f32("model.layers.0.mlp.lora_A.weight", vec![2], vec![0.0; 2]);
        let err = llmlab_core::models::load(&config_json, &store).err().expect("an unused tensor must be an error");
        assert!(format!("{err}").contains("model.layers.0.mlp.lora_A.weight"), "{err}");
    }
}
