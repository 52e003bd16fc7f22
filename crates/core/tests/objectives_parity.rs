//! The objectives' batches against their references, from
//! `tests/fixtures/objectives/` (made by `scripts/fixtures/objectives.py`):
//! BERT masking equals transformers' `DataCollatorForLanguageModeling` on the
//! same injected random draws, and T5 span corruption equals
//! `run_t5_mlm_flax.py`'s NumPy functions on the same noise masks.

use std::path::PathBuf;

use llmlab_core::objectives::mlm_masking::{mask_tokens, MaskDecisions, MlmConfig};
use llmlab_core::objectives::span_corruption::{input_and_target_lengths, random_spans_noise_mask, span_corrupt};
use llmlab_core::rng::Rng;
use llmlab_core::tokenizers::Tokenizer;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/objectives").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn rows<T: serde::de::DeserializeOwned>(v: &Value) -> Vec<Vec<T>> {
    serde_json::from_value(v.clone()).unwrap()
}

#[test]
fn mlm_masking_equals_the_transformers_collator_on_the_same_draws() {
    let fx = fixture("mlm.json");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tokenizer = Tokenizer::from_json(&std::fs::read_to_string(root.join(fx["tokenizer"].as_str().unwrap())).unwrap()).unwrap();
    // Special ids as our tokenizer knows them must be HF's all_special_ids.
    let special_ids = llmlab_core::objectives::special_ids(&tokenizer);
    assert_eq!(special_ids, rows::<u32>(&Value::Array(vec![fx["special_ids"].clone()]))[0]);
    assert_eq!(tokenizer.vocab_size() as u64, fx["vocab_size"].as_u64().unwrap());
    let mask_id = llmlab_core::objectives::mask_token_id(&tokenizer).unwrap();
    let (mut identical, mut positions, mut selected) = (0, 0, 0);
    let cases = fx["cases"].as_array().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let ids: Vec<Vec<u32>> = rows(&case["ids"]);
        let special: Vec<Vec<bool>> = ids.iter().map(|r| r.iter().map(|id| special_ids.contains(id)).collect()).collect();
        let decisions: MaskDecisions = serde_json::from_value(case["decisions"].clone()).unwrap();
        let config = MlmConfig {
            mlm_probability: case["mlm_probability"].as_f64().unwrap(),
            mask_replace_prob: case["mask_replace_prob"].as_f64().unwrap(),
            random_replace_prob: case["random_replace_prob"].as_f64().unwrap(),
        };
        let out = mask_tokens(&ids, &special, &decisions, mask_id, &config).unwrap();
        assert_eq!(out.input_ids, rows::<i64>(&case["input_ids"]), "case {i} input_ids");
        assert_eq!(out.labels, rows::<i64>(&case["labels"]), "case {i} labels");
        identical += 1;
        positions += ids.iter().map(Vec::len).sum::<usize>();
        selected += out.labels.iter().flatten().filter(|&&l| l != -100).count();
    }
    println!("mlm masking: {identical}/{} batches identical ({positions} positions, {selected} selected)", cases.len());
}

#[test]
fn span_corruption_equals_the_t5_script_on_the_same_masks() {
    let fx = fixture("span.json");
    let cases = fx["cases"].as_array().unwrap();
    for (i, case) in cases.iter().enumerate() {
        let ids: Vec<Vec<u32>> = rows(&case["ids"]);
        let mask: Vec<Vec<bool>> = rows::<u8>(&case["noise_mask"]).into_iter().map(|r| r.into_iter().map(|m| m == 1).collect()).collect();
        let out = span_corrupt(&ids, &mask, case["vocab_len"].as_u64().unwrap() as usize, case["eos_token_id"].as_u64().unwrap() as u32)
            .unwrap();
        assert_eq!(out.input_ids, rows::<i64>(&case["input_ids"]), "case {i} input_ids");
        assert_eq!(out.labels, rows::<i64>(&case["labels"]), "case {i} labels");
    }
    let lengths = fx["lengths"].as_array().unwrap();
    for l in lengths {
        let got = input_and_target_lengths(
            l["inputs_length"].as_u64().unwrap() as usize,
            l["noise_density"].as_f64().unwrap(),
            l["mean_noise_span_length"].as_f64().unwrap(),
        );
        assert_eq!(got, (l["tokens_length"].as_u64().unwrap() as usize, l["targets_length"].as_u64().unwrap() as usize), "{l}");
    }
    // Our seeded masks have the reference's counts for every length.
    let counts = fx["mask_counts"].as_array().unwrap();
    let mut rng = Rng::new(0);
    for c in counts {
        let (length, density, mean) =
            (c["length"].as_u64().unwrap() as usize, c["noise_density"].as_f64().unwrap(), c["mean_noise_span_length"].as_f64().unwrap());
        let m = random_spans_noise_mask(length, density, mean, &mut rng).unwrap();
        let noise = m.iter().filter(|&&x| x).count();
        let spans = (0..length).filter(|&t| m[t] && (t == 0 || !m[t - 1])).count();
        assert_eq!((noise, spans, m[0]), (c["noise_tokens"].as_u64().unwrap() as usize, c["noise_spans"].as_u64().unwrap() as usize,
            c["first_is_noise"].as_bool().unwrap()), "{c}");
    }
    println!("span corruption: {} batches identical, {} length cases, {} mask-count cases", cases.len(), lengths.len(), counts.len());
}
