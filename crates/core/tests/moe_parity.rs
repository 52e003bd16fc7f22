//! Mixture-of-experts parity with transformers (PyTorch, f32) on fresh tiny
//! random Mixtral and Qwen2-MoE checkpoints made by `scripts/fixtures/moe.py`:
//! logits and every sparse layer's router logits (`output_router_logits`),
//! KV-cache decoding equal to the full pass, the load-balancing loss, and the
//! loss `lm + router_aux_loss_coef · aux` with every gradient (under the
//! checkpoint's key names) within 1e-4 of the tensor's largest magnitude.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::gradients::{GradInput, Trainable};
use llmlab_core::models::{self, AnyModel, CausalLm};
use llmlab_core::nn::moe::load_balancing_loss;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

const TOLERANCE: f32 = 1e-4;

const CASES: [&str; 4] = ["mixtral_top2_gqa_padded", "mixtral_top1_tied", "qwen2_moe_shared_raw_probs", "qwen2_moe_norm_topk_sparse_step2"];

fn fixture(case: &str) -> (String, WeightStore, Value) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/moe").join(case);
    let expected: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("expected.json")).unwrap()).unwrap();
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(&dir).unwrap() else {
        panic!("{case}: not a Hugging Face checkpoint");
    };
    (config_json, store, expected)
}

fn rows<T>(v: &Value, f: impl Fn(i64) -> T) -> Option<Vec<Vec<T>>> {
    let rows = v.as_array()?;
    Some(rows.iter().map(|r| r.as_array().unwrap().iter().map(|x| f(x.as_i64().unwrap())).collect()).collect())
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        other => vec![other.as_f64().unwrap() as f32],
    }
}

fn max_abs_diff(a: impl IntoIterator<Item = f32>, b: &[f32]) -> f32 {
    a.into_iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

fn causal(config_json: &str, store: &WeightStore) -> Box<dyn CausalLm> {
    match models::load(config_json, store).unwrap() {
        AnyModel::Causal(m) => m,
        _ => panic!("not a causal LM"),
    }
}

fn check_logits(case: &str) {
    let (config_json, store, expected) = fixture(case);
    let model = causal(&config_json, &store);
    let ids = rows(&expected["logits_ids"], |x| x as u32).unwrap();
    let logits = model.forward_batch(&ids, None, None).unwrap();
    let want = floats(&expected["logits"]);
    assert_eq!(logits.len(), want.len(), "{case}: logits shape");
    let diff = max_abs_diff(logits.iter().copied(), &want);
    println!("{case}: logits maxdiff {diff:.2e}");
    assert!(diff <= TOLERANCE, "{case}: logits maxdiff {diff}");

    // Router logits: transformers returns (B*T, E) per sparse layer; ours are per sequence.
    let per_row: Vec<Vec<ndarray::Array2<f32>>> = ids.iter().map(|row| model.router_logits(row).unwrap()).collect();
    let want_layers = expected["router_logits"].as_array().unwrap();
    assert_eq!(per_row[0].len(), want_layers.len(), "{case}: number of sparse layers");
    for (layer, want) in want_layers.iter().enumerate() {
        let ours: Vec<f32> = per_row.iter().flat_map(|r| r[layer].iter().copied().collect::<Vec<_>>()).collect();
        let want = floats(want);
        assert_eq!(ours.len(), want.len(), "{case}: router logits shape of layer {layer}");
        let diff = max_abs_diff(ours, &want);
        println!("{case}: router logits of sparse layer {layer} maxdiff {diff:.2e}");
        assert!(diff <= TOLERANCE, "{case}: router logits maxdiff {diff}");
    }

    // The Inside tab's routing (the trace): softmax of transformers' router
    // logits for the first sequence, and its top-k experts.
    let top_k = serde_json::from_str::<Value>(&config_json).unwrap()["num_experts_per_tok"].as_u64().unwrap() as usize;
    let trace = model.trace(&ids[0]).unwrap();
    assert_eq!(trace.routing.len(), want_layers.len(), "{case}: routed layers in the trace");
    let t = ids[0].len();
    for (routed, want) in trace.routing.iter().zip(want_layers) {
        let want = floats(want);
        let e = want.len() / (t * ids.len());
        let mut diff = 0.0f32;
        for (pos, logits) in want.chunks(e).take(t).enumerate() {
            let max = logits.iter().fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
            let sum: f64 = logits.iter().map(|&v| (f64::from(v) - max).exp()).sum();
            let probs: Vec<f32> = logits.iter().map(|&v| ((f64::from(v) - max).exp() / sum) as f32).collect();
            diff = diff.max(max_abs_diff(routed.routing.probs.row(pos).iter().copied(), &probs));
            let mut order: Vec<usize> = (0..e).collect();
            order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
            let chosen: Vec<usize> = routed.routing.selected.row(pos).to_vec();
            assert_eq!(chosen, order[..top_k].to_vec(), "{case}: layer {} position {pos} experts", routed.layer);
        }
        println!("{case}: trace routing of layer {} probabilities maxdiff {diff:.2e}", routed.layer);
        assert!(diff <= 1e-5, "{case}: routing probabilities differ by {diff}");
    }

    // Token-by-token decoding with the KV cache gives the full pass's logits.
    let mut cache = model.new_cache();
    let full = model.forward(&ids[0], None).unwrap();
    let mut diff = 0.0f32;
    for (t, &id) in ids[0].iter().enumerate() {
        let step = model.forward(&[id], Some(&mut cache)).unwrap();
        diff = diff.max(max_abs_diff(step.row(0).iter().copied(), &full.row(t).to_vec()));
    }
    println!("{case}: KV-cache decoding vs full pass maxdiff {diff:.2e}");
    assert!(diff <= 1e-5, "{case}: cached decoding differs by {diff}");
}

fn check_grads(case: &str) {
    let (config_json, store, expected) = fixture(case);
    let model = Trainable::load(&config_json, &store).unwrap();
    let (_, breakdown) = llmlab_core::models::params::from_config_json(&config_json).unwrap();
    let loaded: usize = model.named_parameters().iter().map(|t| t.data.len()).sum();
    assert_eq!(breakdown.total(), loaded as u64, "{case}: parameter count from the config vs the checkpoint");
    let input = GradInput {
        input_ids: rows(&expected["input_ids"], |x| x as u32).unwrap(),
        labels: rows(&expected["labels"], |x| x),
        attention_mask: rows(&expected["attention_mask"], |x| x as u8),
    };

    // The load-balancing loss alone, from our router logits.
    let stack = match &model {
        Trainable::Mixtral(m) => &m.stack,
        Trainable::Qwen2Moe(m) => &m.stack,
        _ => panic!("{case}: not a mixture of experts"),
    };
    let top_k = match &model {
        Trainable::Mixtral(m) => m.config.num_experts_per_tok,
        Trainable::Qwen2Moe(m) => m.config.num_experts_per_tok,
        _ => unreachable!(),
    };
    let (_, acts) = stack.forward_train(&input.input_ids, input.attention_mask.as_deref()).unwrap();
    let mask: Option<Vec<f32>> = input.attention_mask.as_ref().map(|m| m.iter().flatten().map(|&v| f32::from(v)).collect());
    let (aux, _) = load_balancing_loss(&acts.router_logits(), top_k, mask.as_deref());
    let want_aux = expected["aux_loss"].as_f64().unwrap();
    println!("{case}: aux loss {aux:.7} vs torch {want_aux:.7}");
    assert!((aux - want_aux).abs() <= 1e-5 * want_aux.abs().max(1.0), "{case}: aux {aux} vs {want_aux}");

    let out = model.gradients(&input).unwrap();
    let want_loss = expected["loss"].as_f64().unwrap();
    println!("{case}: loss {:.7} vs torch {want_loss:.7}", out.loss);
    assert!((out.loss - want_loss).abs() <= 1e-4 * want_loss.abs().max(1.0), "{case}: loss {} vs {want_loss}", out.loss);

    let names: BTreeSet<String> = out.gradients.iter().map(|t| t.name.clone()).collect();
    let want_names: BTreeSet<String> =
        expected["param_names"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect();
    assert_eq!(names, want_names, "{case}: gradient names differ from the checkpoint's");
    assert_eq!(names.len(), out.gradients.len(), "{case}: a gradient is reported twice");

    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/moe").join(case);
    let torch = WeightStore::from_safetensors(std::fs::read(dir.join("grads.safetensors")).unwrap()).unwrap();
    let mut worst = 0.0f32;
    for g in &out.gradients {
        assert_eq!(torch.shape(&g.name).unwrap(), &g.shape[..], "{case}: shape of {}", g.name);
        let want = torch.to_f32(&g.name).unwrap();
        let scale = want.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let diff = max_abs_diff(g.data.iter().copied(), &want);
        let relative = diff / scale.max(1e-6);
        worst = worst.max(relative);
        assert!(diff <= TOLERANCE * scale.max(1e-6), "{case}: {} maxdiff {diff} vs largest {scale}", g.name);
    }
    println!("{case}: {} gradients, worst maxdiff / largest {worst:.2e}", out.gradients.len());
}

#[test]
fn moe_logits_router_logits_and_cache_match_transformers() {
    for case in CASES {
        check_logits(case);
    }
}

#[test]
fn moe_loss_with_aux_and_every_gradient_match_pytorch() {
    for case in CASES {
        check_grads(case);
    }
}
