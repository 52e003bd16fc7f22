//! `llmlab logits --router-logits` and `llmlab grad` on mixture-of-experts
//! checkpoints (Mixtral, Qwen2-MoE) against the transformers fixtures of
//! `scripts/fixtures/moe.py`: logits and each sparse layer's router logits
//! for every position, and the loss including `router_aux_loss_coef · aux`.

mod common;
use common::{llmlab, ok_json, repo};

use serde_json::Value;

const CASES: [&str; 2] = ["mixtral_top2_gqa_padded", "qwen2_moe_shared_raw_probs"];

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        other => vec![other.as_f64().unwrap()],
    }
}

fn join(v: &Value, row_sep: &str) -> String {
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(","))
        .collect::<Vec<_>>()
        .join(row_sep)
}

fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn logits_with_router_logits_match_output_router_logits() {
    for case in CASES {
        let dir = repo(&format!("tests/fixtures/moe/{case}"));
        let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let row = &expected["logits_ids"][0];
        let t = row.as_array().unwrap().len();
        let ids = join(&Value::Array(vec![row.clone()]), ";");
        let out = ok_json(&["logits", "--model", dir.to_str().unwrap(), "--ids", &ids, "--all-positions", "--router-logits"]);
        let diff = max_abs_diff(&floats(&out["logits"]), &floats(&expected["logits"][0]));
        println!("{case}: logits maxdiff {diff:.2e}");
        assert!(diff <= 1e-4, "{case}: logits maxdiff {diff}");
        let layers = out["router_logits"].as_array().unwrap();
        let want_layers = expected["router_logits"].as_array().unwrap();
        assert_eq!(layers.len(), want_layers.len(), "{case}: one entry per sparse layer");
        for (layer, (ours, want)) in layers.iter().zip(want_layers).enumerate() {
            // transformers' rows are (B*T); the first T are this sequence.
            let want_row0: Vec<f64> = want.as_array().unwrap()[..t].iter().flat_map(floats).collect();
            let diff = max_abs_diff(&floats(ours), &want_row0);
            println!("{case}: router logits of sparse layer {layer} maxdiff {diff:.2e}");
            assert!(diff <= 1e-4, "{case}: router logits maxdiff {diff}");
        }
    }
}

#[test]
fn router_logits_of_a_dense_model_is_a_clear_error() {
    let dir = repo("tests/fixtures/grads/llama_gqa_untied_bias_silu");
    let out = llmlab(&["logits", "--model", dir.to_str().unwrap(), "--ids", "1,2,3", "--router-logits"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no mixture-of-experts layer"), "{err}");
}

#[test]
fn grad_loss_includes_the_router_aux_loss() {
    for case in CASES {
        let dir = repo(&format!("tests/fixtures/moe/{case}"));
        let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
        let out = std::env::temp_dir().join(format!("llmlab-grad-{case}-{}.safetensors", std::process::id()));
        let ids = join(&expected["input_ids"], ";");
        let labels = join(&expected["labels"], ";");
        let mut args = vec!["grad", "--model", dir.to_str().unwrap(), "--ids", &ids, "--labels", &labels];
        let mask = (!expected["attention_mask"].is_null()).then(|| join(&expected["attention_mask"], ";"));
        if let Some(mask) = &mask {
            args.extend(["--attention-mask", mask]);
        }
        args.extend(["--out", out.to_str().unwrap()]);
        let result = ok_json(&args);
        let (loss, want) = (result["loss"].as_f64().unwrap(), expected["loss"].as_f64().unwrap());
        println!("{case}: loss {loss:.7} vs torch {want:.7}");
        assert!((loss - want).abs() < 1e-4, "{case}: loss {loss} vs torch {want}");
        let store = llmlab_core::loading::WeightStore::from_safetensors(std::fs::read(&out).unwrap()).unwrap();
        assert_eq!(store.tensors.len(), expected["param_names"].as_array().unwrap().len());
        let _ = std::fs::remove_file(out);
    }
}
