//! Pruning whole checkpoints against PyTorch (fixtures from
//! `scripts/fixtures/pruning.py`), on fresh tiny random GPT-2 and Llama models:
//! - l1-unstructured, global-l1 and ln-structured zero exactly the entries
//!   that `torch.nn.utils.prune` masks on the blocks' linear weights;
//! - heads and neurons keep the units torch keeps, and the smaller model
//!   loads and gives the logits of transformers running the pruned model
//!   (GPT-2 heads: transformers 4.x's `prune_heads` replayed), within 1e-4.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::AnyModel;
use llmlab_core::pruning::{prune_checkpoint, Amount, Method};
use serde_json::Value;
use std::path::PathBuf;

fn fixture(family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pruning").join(family)
}

fn checkpoint(family: &str) -> (String, WeightStore) {
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(&fixture(family)).unwrap() else { panic!("not HF") };
    (config_json, store)
}

fn check_masks(family: &str) {
    let (config_json, store) = checkpoint(family);
    let methods: Value = serde_json::from_str(&std::fs::read_to_string(fixture(family).join("methods.json")).unwrap()).unwrap();
    for (name, settings) in methods.as_object().unwrap() {
        let method = Method::parse(
            name,
            settings.get("n").and_then(Value::as_str),
            settings.get("dim").and_then(Value::as_str).map(|d| d.parse().unwrap()),
        )
        .unwrap();
        let amount = Amount::parse(settings["amount"].as_str().unwrap()).unwrap();
        let pruned = prune_checkpoint(&config_json, &store, method, amount).unwrap();
        let torch =
            WeightStore::from_safetensors(std::fs::read(fixture(family).join(format!("expected_{name}.safetensors"))).unwrap()).unwrap();
        let mut differing = 0;
        let mut checked = 0;
        for tensor in &pruned.tensors {
            let original = store.to_f32(&tensor.name).unwrap();
            match torch.to_f32(&tensor.name) {
                Ok(mask) => {
                    for ((&ours, &orig), &m) in tensor.data.iter().zip(&original).zip(&mask) {
                        differing += usize::from(ours != orig * m);
                    }
                    checked += 1;
                }
                Err(_) => assert_eq!(tensor.data, original, "{family} {name}: {} must be untouched", tensor.name),
            }
        }
        assert_eq!(checked, torch.names().len(), "{family} {name}: every torch-pruned tensor is pruned");
        let report = pruned.report.to_json();
        println!("{family} {name}: {checked} tensors, {differing} entries differ from torch's mask, sparsity {}", report["sparsity"]);
        assert_eq!(differing, 0, "{family} {name}");
    }
}

fn check_structured(family: &str, method_name: &str) {
    let (config_json, store) = checkpoint(family);
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture(family).join(format!("expected_{method_name}.json"))).unwrap()).unwrap();
    let amount = Amount::parse(expected["amount"].as_str().unwrap()).unwrap();
    let pruned = prune_checkpoint(&config_json, &store, Method::parse(method_name, None, None).unwrap(), amount).unwrap();
    let kept: Vec<Vec<usize>> = serde_json::from_value(expected["kept"].clone()).unwrap();
    assert_eq!(pruned.report.kept_units.as_ref(), Some(&kept), "{family} {method_name}: kept units");
    let mut new_store = WeightStore::new();
    for t in &pruned.tensors {
        new_store.insert_f32(&t.name, t.shape.clone(), t.data.clone());
    }
    let AnyModel::Causal(model) = llmlab_core::models::load(&pruned.config_json, &new_store).unwrap() else { panic!("not causal") };
    let ids: Vec<u32> = serde_json::from_value(expected["ids"].clone()).unwrap();
    let logits = model.forward_batch(&[ids], None, None).unwrap(); // (1, T, V)
    let want: Vec<Vec<f32>> = serde_json::from_value(expected["logits"].clone()).unwrap();
    let mut maxdiff = 0.0f32;
    for (t, row) in want.iter().enumerate() {
        for (v, &w) in row.iter().enumerate() {
            maxdiff = maxdiff.max((logits[[0, t, v]] - w).abs());
        }
    }
    let report = pruned.report.to_json();
    println!(
        "{family} {method_name}: kept {kept:?}, parameters {} -> {} (torch {}), logits maxdiff {maxdiff:.2e}",
        report["parameters_before"], report["parameters_after"], expected["num_parameters"]
    );
    assert!(maxdiff < 1e-4, "{family} {method_name}: logits maxdiff {maxdiff}");
    assert_eq!(report["parameters_after"], expected["num_parameters"], "{family} {method_name}: parameter count");
}

#[test]
fn gpt2_unstructured_and_ln_structured_masks_equal_torch() {
    check_masks("gpt2");
}

#[test]
fn llama_unstructured_and_ln_structured_masks_equal_torch() {
    check_masks("llama");
}

#[test]
fn gpt2_head_removal_matches_transformers_prune_heads() {
    check_structured("gpt2", "heads");
}

#[test]
fn gpt2_neuron_removal_matches_torch() {
    check_structured("gpt2", "neurons");
}

#[test]
fn llama_gqa_group_removal_matches_torch() {
    check_structured("llama", "heads");
}

#[test]
fn llama_neuron_removal_matches_torch() {
    check_structured("llama", "neurons");
}

#[test]
fn a_checkpoint_with_a_wrong_shape_is_an_error_not_a_panic() {
    let (config_json, mut store) = checkpoint("gpt2");
    store.insert_f32("transformer.h.0.attn.c_proj.weight", vec![8, 16], vec![0.0; 128]);
    for method in ["heads", "neurons", "l1-unstructured"] {
        let err = prune_checkpoint(&config_json, &store, Method::parse(method, None, None).unwrap(), Amount::Count(1)).unwrap_err();
        assert!(format!("{err}").contains("c_proj"), "{method}: {err}");
    }
}
