//! Gradient parity with PyTorch for the encoder models: for fresh tiny
//! random BERT and T5 checkpoints made by `scripts/fixtures/grads_encoders.py`,
//! the loss of `BertForMaskedLM(input_ids, attention_mask, labels)` /
//! `T5ForConditionalGeneration(input_ids, attention_mask, labels)` and the
//! gradient of every parameter (under its Hugging Face name) must match what
//! `loss.backward()` gives, within 1e-4 of the tensor's largest magnitude.
//! The set of names must be exactly `named_parameters()`, each once.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::gradients::{model_gradients, GradInput};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

const TOLERANCE: f32 = 1e-4;

/// Floor of a tensor's "largest magnitude": a gradient that is zero in exact
/// arithmetic (an attention key's bias: softmax ignores a shift shared by a
/// whole row) is round-off on both sides, ~1e-8.
const ZERO_GRADIENT_SCALE: f32 = 1e-3;

fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/grads_encoders").join(case)
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
    let out = model_gradients(&config_json, &store, &input).unwrap();
    let want_loss = expected["loss"].as_f64().unwrap();
    let loss_diff = (out.loss - want_loss).abs();
    assert!(loss_diff <= 1e-4 * want_loss.abs().max(1.0), "{case}: loss {} vs {want_loss}", out.loss);

    let names: BTreeSet<String> = out.gradients.iter().map(|t| t.name.clone()).collect();
    let want_names: BTreeSet<String> =
        expected["param_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    assert_eq!(names, want_names, "{case}: gradient names differ from named_parameters()");
    assert_eq!(names.len(), out.gradients.len(), "{case}: a gradient is reported twice");

    let torch = WeightStore::from_safetensors(std::fs::read(dir.join("grads.safetensors")).unwrap()).unwrap();
    let mut worst = (0.0f32, String::new());
    for g in &out.gradients {
        assert_eq!(torch.shape(&g.name).unwrap(), &g.shape[..], "{case}: shape of {}", g.name);
        let want = torch.to_f32(&g.name).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let maxdiff = g.data.iter().zip(&want).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        let bound = TOLERANCE * scale.max(ZERO_GRADIENT_SCALE);
        assert!(maxdiff <= bound, "{case}: {} maxdiff {maxdiff} vs largest {scale}", g.name);
        if scale > ZERO_GRADIENT_SCALE && maxdiff / scale >= worst.0 {
            worst = (maxdiff / scale, g.name.clone());
        }
    }
    println!(
        "{case}: loss {:.7} vs torch {want_loss:.7} (diff {loss_diff:.1e}); {} gradients, max diff / largest {:.2e} ({})",
        out.loss,
        out.gradients.len(),
        worst.0,
        worst.1
    );
}

#[test]
fn bert_exact_gelu_with_padding_and_ignored_labels_matches_torch() {
    check_case("bert_gelu_padded");
}

#[test]
fn bert_tanh_gelu_matches_torch() {
    check_case("bert_gelu_new");
}

#[test]
fn bert_relu_with_padding_matches_torch() {
    check_case("bert_relu_padded");
}

/// A checkpoint tensor the model does not read is an error that names it;
/// the buffers and duplicates transformers itself stores and skips are accepted.
#[test]
fn an_unused_checkpoint_tensor_is_an_error_naming_it() {
    for (case, skipped, labels) in [
        ("bert_gelu_padded", "bert.embeddings.position_ids", None),
        ("t5_relu_tied", "encoder.embed_tokens.weight", Some(vec![vec![4, 5]])),
    ] {
        let Checkpoint::HuggingFace { config_json, mut store } = load_checkpoint(&fixture_dir(case)).unwrap() else {
            panic!("{case}: not a Hugging Face checkpoint");
        };
        let input = GradInput { input_ids: vec![vec![1, 2, 3]], labels, attention_mask: None };
        store.insert_f32(skipped, vec![2], vec![0.0; 2]);
        assert!(model_gradients(&config_json, &store, &input).is_ok(), "{case}: {skipped} must be accepted");
        store.insert_f32("encoder.layer.0.lora_A.weight", vec![2], vec![0.0; 2]);
        let err = model_gradients(&config_json, &store, &input).err().expect("an unused tensor must be an error");
        assert!(format!("{err}").contains("encoder.layer.0.lora_A.weight"), "{err}");
    }
}

#[test]
fn t5_relu_tied_with_rescale_and_ignored_targets_matches_torch() {
    check_case("t5_relu_tied");
}

#[test]
fn t5_gated_gelu_with_untied_lm_head_matches_torch() {
    check_case("t5_gated_gelu_untied");
}

#[test]
fn t5_with_padded_encoder_and_deeper_decoder_matches_torch() {
    check_case("t5_relu_encoder_padded");
}
