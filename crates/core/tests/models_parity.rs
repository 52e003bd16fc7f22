//! Logits parity with Hugging Face transformers (PyTorch, f32) on tiny
//! random-initialised checkpoints made by `scripts/fixtures/models.py`, and
//! KV-cache consistency: decoding token by token must give the logits of
//! the full forward pass (which are themselves checked against PyTorch).

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::models::{self, AnyModel, CausalLm};
use ndarray::{Array2, Array3};
use serde_json::Value;
use std::path::PathBuf;

const TOLERANCE: f32 = 1e-4;

fn fixture_dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models").join(case)
}

fn expected(case: &str) -> Value {
    let text = std::fs::read_to_string(fixture_dir(case).join("expected.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn load(case: &str) -> AnyModel {
    let dir = fixture_dir(case);
    let path = if dir.join("model.bin").is_file() { dir.join("model.bin") } else { dir };
    match load_checkpoint(&path).unwrap() {
        Checkpoint::HuggingFace { config_json, store } => models::load(&config_json, &store).unwrap(),
        Checkpoint::Llama2c(bytes) => AnyModel::Causal(Box::new(models::llama2c::load(&bytes).unwrap())),
    }
}

fn ids(v: &Value) -> Vec<Vec<u32>> {
    v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()).collect()
}

fn flat_ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn mask(v: &Value) -> Vec<Vec<u8>> {
    ids(v).into_iter().map(|r| r.into_iter().map(|x| x as u8).collect()).collect()
}

fn array3(v: &Value) -> Array3<f32> {
    let rows = v.as_array().unwrap();
    let (b, t) = (rows.len(), rows[0].as_array().unwrap().len());
    let vocab = rows[0][0].as_array().unwrap().len();
    let flat: Vec<f32> = rows
        .iter()
        .flat_map(|r| r.as_array().unwrap().iter().flat_map(|p| p.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32)))
        .collect();
    Array3::from_shape_vec((b, t, vocab), flat).unwrap()
}

fn array2(v: &Value) -> Array2<f32> {
    let rows = v.as_array().unwrap();
    let vocab = rows[0].as_array().unwrap().len();
    let flat: Vec<f32> = rows.iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32)).collect();
    Array2::from_shape_vec((rows.len(), vocab), flat).unwrap()
}

/// Max |a - b| over the positions where `mask` is 1.
fn masked_max_diff(got: &Array3<f32>, want: &Array3<f32>, mask: &[Vec<u8>]) -> f32 {
    assert_eq!(got.shape(), want.shape());
    let mut max = 0.0f32;
    for (b, row) in mask.iter().enumerate() {
        for (t, &m) in row.iter().enumerate() {
            if m == 0 {
                continue;
            }
            for v in 0..got.shape()[2] {
                max = max.max((got[[b, t, v]] - want[[b, t, v]]).abs());
            }
        }
    }
    max
}

fn max_diff2(got: &Array2<f32>, want: &Array2<f32>) -> f32 {
    assert_eq!(got.shape(), want.shape());
    got.iter().zip(want.iter()).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
}

fn causal(case: &str) -> Box<dyn CausalLm> {
    match load(case) {
        AnyModel::Causal(m) => m,
        _ => panic!("{case} is not a causal LM"),
    }
}

/// Full forward on a left-padded batch and on a single sequence, then the
/// same logits token by token through the KV cache, and a beam reorder.
fn check_causal(case: &str) {
    let exp = expected(case);
    let model = causal(case);
    let input = ids(&exp["input_ids"]);
    let attn = mask(&exp["attention_mask"]);
    let want = array3(&exp["logits"]);

    let got = model.forward_batch(&input, Some(&attn), None).unwrap();
    let batch_diff = masked_max_diff(&got, &want, &attn);

    let single = flat_ids(&exp["single_ids"]);
    let want_single = array2(&exp["single_logits"]);
    let single_diff = max_diff2(&model.forward(&single, None).unwrap(), &want_single);

    // Incremental: a 4-token prompt, then one token at a time.
    let mut cache = model.new_cache();
    let mut rows = vec![model.forward(&single[..4], Some(&mut cache)).unwrap()];
    for &token in &single[4..] {
        rows.push(model.forward(&[token], Some(&mut cache)).unwrap());
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    let incremental = ndarray::concatenate(ndarray::Axis(0), &views).unwrap();
    let cache_diff = max_diff2(&incremental, &want_single);

    // Batched incremental with left padding, with a beam-style reorder that
    // swaps the rows half-way (the cache must follow the rows).
    let t = input[0].len();
    let split = t - 3;
    let prefix: Vec<Vec<u32>> = input.iter().map(|r| r[..split].to_vec()).collect();
    let prefix_mask: Vec<Vec<u8>> = attn.iter().map(|r| r[..split].to_vec()).collect();
    let mut cache = model.new_cache();
    let first = model.forward_batch(&prefix, Some(&prefix_mask), Some(&mut cache)).unwrap();
    let mut step_diff = masked_max_diff(
        &first,
        &want.slice_axis(ndarray::Axis(1), ndarray::Slice::from(..split)).to_owned(),
        &prefix_mask,
    );
    let order: Vec<usize> = (0..input.len()).rev().collect();
    model.reorder_cache(&mut cache, &order).unwrap();
    for step in split..t {
        let column: Vec<Vec<u32>> = order.iter().map(|&r| vec![input[r][step]]).collect();
        let column_mask: Vec<Vec<u8>> = order.iter().map(|&r| vec![attn[r][step]]).collect();
        let logits = model.forward_batch(&column, Some(&column_mask), Some(&mut cache)).unwrap();
        for (new_row, &old_row) in order.iter().enumerate() {
            for v in 0..logits.shape()[2] {
                step_diff = step_diff.max((logits[[new_row, 0, v]] - want[[old_row, step, v]]).abs());
            }
        }
    }
    // Introspection: attention weights per layer and head match HF's
    // `output_attentions`; hidden-state norms cover embeddings + each layer.
    let trace = model.trace(&single).unwrap();
    let want_attn = exp["single_attentions"].as_array().unwrap();
    assert_eq!(trace.attentions.len(), want_attn.len());
    let mut attn_diff = 0.0f32;
    for (got, want) in trace.attentions.iter().zip(want_attn) {
        let want = array3(want);
        attn_diff = attn_diff.max(masked_max_diff(got, &want, &vec![vec![1u8; got.shape()[1]]; got.shape()[0]]));
    }
    assert_eq!(trace.hidden_norms.dim(), (want_attn.len() + 1, single.len()));
    assert!(trace.hidden_norms.iter().all(|n| n.is_finite() && *n > 0.0));
    println!("{case}: maxdiff batch {batch_diff:.2e} single {single_diff:.2e} kv-cache {cache_diff:.2e} batched-cache+reorder {step_diff:.2e} attention-weights {attn_diff:.2e}");
    for (what, diff) in [("batch", batch_diff), ("single", single_diff), ("cache", cache_diff), ("batched cache", step_diff), ("attention weights", attn_diff)] {
        assert!(diff <= TOLERANCE, "{case}: {what} maxdiff {diff}");
    }
}

#[test]
fn gpt2_tied_odd_heads() {
    check_causal("gpt2_tied_odd_heads");
}

#[test]
fn gpt2_untied_relu_inner() {
    check_causal("gpt2_untied_relu_inner");
}

#[test]
fn gpt2_f16_weights() {
    check_causal("gpt2_f16");
}

#[test]
fn llama_gqa_untied() {
    check_causal("llama_gqa_untied");
}

#[test]
fn llama_odd_heads_tied_bias() {
    check_causal("llama_odd_heads_tied_bias");
}

#[test]
fn llama_mqa_llama3_rope_bf16_weights() {
    check_causal("llama_mqa_llama3_rope_bf16");
}

#[test]
fn llama2c_bin_matches_hf_llama() {
    check_causal("llama2c");
}

fn check_bert(case: &str) {
    let exp = expected(case);
    let AnyModel::Masked(model) = load(case) else { panic!("{case} is not a masked LM") };
    let input = ids(&exp["input_ids"]);
    let types = ids(&exp["token_type_ids"]);
    let attn = mask(&exp["attention_mask"]);
    let got = model.forward_batch(&input, Some(&types), Some(&attn)).unwrap();
    let diff = masked_max_diff(&got, &array3(&exp["logits"]), &attn);
    println!("{case}: maxdiff {diff:.2e}");
    assert!(diff <= TOLERANCE, "{case}: maxdiff {diff}");
}

#[test]
fn bert_mlm_with_padding_and_segments() {
    check_bert("bert_mlm_padding");
}

#[test]
fn bert_gelu_tanh_f16_weights() {
    check_bert("bert_gelu_tanh_f16");
}

/// Full decoder pass, then step by step through the cache (self-attention
/// and cached cross-attention), with a beam-style row swap half-way.
fn check_t5(case: &str) {
    let exp = expected(case);
    let AnyModel::Seq2Seq(model) = load(case) else { panic!("{case} is not a seq2seq LM") };
    let input = ids(&exp["input_ids"]);
    let attn = mask(&exp["attention_mask"]);
    let dec = ids(&exp["decoder_input_ids"]);
    let want = array3(&exp["logits"]);
    let all = vec![vec![1u8; dec[0].len()]; dec.len()];

    let encoded = model.encode(&input, Some(&attn)).unwrap();
    let full_diff = masked_max_diff(&model.decode(&dec, &encoded, None).unwrap(), &want, &all);

    let mut cache = model.new_cache();
    let mut rows_encoded = encoded.clone();
    let mut order: Vec<usize> = (0..dec.len()).collect();
    let mut step_diff = 0.0f32;
    for step in 0..dec[0].len() {
        if step == 3 {
            // Beam search moved the hypotheses: row i now continues row order[i].
            let swap: Vec<usize> = (0..dec.len()).rev().collect();
            model.reorder_cache(&mut cache, &swap).unwrap();
            rows_encoded = rows_encoded.select(&swap).unwrap();
            order = swap.iter().map(|&i| order[i]).collect();
        }
        let column: Vec<Vec<u32>> = order.iter().map(|&r| vec![dec[r][step]]).collect();
        let logits = model.decode(&column, &rows_encoded, Some(&mut cache)).unwrap();
        for (row, &source) in order.iter().enumerate() {
            for v in 0..logits.shape()[2] {
                step_diff = step_diff.max((logits[[row, 0, v]] - want[[source, step, v]]).abs());
            }
        }
    }
    println!("{case}: maxdiff full {full_diff:.2e} kv-cache(self+cross)+reorder {step_diff:.2e}");
    assert!(full_diff <= TOLERANCE, "{case}: full maxdiff {full_diff}");
    assert!(step_diff <= TOLERANCE, "{case}: cached maxdiff {step_diff}");
}

#[test]
fn t5_v11_gated_gelu_untied() {
    check_t5("t5_v11_gated_gelu_untied");
}

#[test]
fn t5_original_relu_tied_scaled() {
    check_t5("t5_original_relu_tied");
}
