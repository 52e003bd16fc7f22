//! Pruning masks against `torch.nn.utils.prune` (fixtures from
//! `scripts/fixtures/pruning.py`): l1_unstructured, global_unstructured and
//! ln_structured on random and tie-heavy tensors, amounts as fractions and
//! counts. Every mask must be identical, so the difference is a count of
//! entries that differ (printed, and required to be 0).

use llmlab_core::loading::WeightStore;
use llmlab_core::pruning::{global_unstructured, l1_unstructured, ln_structured, Amount, NormOrder};
use serde_json::Value;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/pruning")
}

fn amount(v: &Value) -> Amount {
    match (v.get("fraction"), v.get("count")) {
        (Some(f), _) => Amount::Fraction(f.as_f64().unwrap()),
        (_, Some(c)) => Amount::Count(c.as_u64().unwrap() as usize),
        _ => panic!("bad amount {v}"),
    }
}

fn differing(mask: &[bool], torch: &[f32]) -> usize {
    assert_eq!(mask.len(), torch.len());
    mask.iter().zip(torch).filter(|(&keep, &t)| keep != (t == 1.0)).count()
}

#[test]
fn masks_equal_torch_nn_utils_prune() {
    let store = WeightStore::from_safetensors(std::fs::read(fixtures().join("masks.safetensors")).unwrap()).unwrap();
    let cases: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("masks.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    let cases = cases["cases"].as_array().unwrap();
    for case in cases {
        let method = case["method"].as_str().unwrap();
        let names: Vec<&str> = case["tensors"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        let keys: Vec<&str> = case["masks"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
        let tensors: Vec<Vec<f32>> = names.iter().map(|n| store.to_f32(n).unwrap()).collect();
        let amount = amount(&case["amount"]);
        let masks: Vec<Vec<bool>> = match method {
            "l1_unstructured" => vec![l1_unstructured(&tensors[0], amount).unwrap()],
            "global_unstructured" => {
                let views: Vec<&[f32]> = tensors.iter().map(Vec::as_slice).collect();
                global_unstructured(&views, amount).unwrap()
            }
            "ln_structured" => {
                let n = match &case["n"] {
                    Value::String(s) => NormOrder::parse(s).unwrap(),
                    other => NormOrder::parse(&other.to_string()).unwrap(),
                };
                let shape = store.shape(names[0]).unwrap().to_vec();
                vec![ln_structured(&tensors[0], &shape, amount, n, case["dim"].as_i64().unwrap()).unwrap().0]
            }
            other => panic!("unknown method {other}"),
        };
        for (mask, key) in masks.iter().zip(&keys) {
            let diff = differing(mask, &store.to_f32(key).unwrap());
            println!("{key}: {diff} of {} entries differ", mask.len());
            if diff != 0 {
                failures.push(key.to_string());
            }
        }
    }
    assert!(failures.is_empty(), "masks differ from torch: {failures:?}");
    println!("{} cases, every mask identical", cases.len());
}
