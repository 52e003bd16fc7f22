//! Greedy and beam search must be token-for-token identical to HF
//! `generate` on tiny random GPT-2, Llama and T5 checkpoints.
//!
//! Fixtures: `tests/fixtures/decoding/generate.json` and the checkpoints in
//! `tests/fixtures/decoding/models/`, made by `scripts/fixtures/decoding.py`.

use std::path::PathBuf;

use llmlab_core::decoding::adapters::{CausalStepper, Seq2SeqStepper};
use llmlab_core::decoding::beam_search::EarlyStopping;
use llmlab_core::decoding::{generate, GenerateConfig, Generation, StepModel, Strategy};
use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::models::{self, AnyModel};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/decoding")
}

fn load(name: &str) -> (AnyModel, Value) {
    let dir = root().join("models").join(name);
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(&dir).unwrap() else { panic!("not HF") };
    let model = models::load(&config_json, &store).unwrap();
    let gen: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("generation_config.json")).unwrap()).unwrap();
    (model, gen)
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn config(case: &Value, gen: &Value) -> GenerateConfig {
    let p = &case["params"];
    let num_beams = p["num_beams"].as_u64().unwrap() as usize;
    let mut cfg = GenerateConfig::greedy(p["max_new_tokens"].as_u64().unwrap() as usize, vec![gen["eos_token_id"].as_u64().unwrap() as u32]);
    cfg.pad_token_id = gen["pad_token_id"].as_u64().map(|v| v as u32);
    cfg.num_return_sequences = p["num_return_sequences"].as_u64().unwrap() as usize;
    cfg.no_repeat_ngram_size = p["no_repeat_ngram_size"].as_u64().unwrap_or(0) as usize;
    cfg.min_new_tokens = p["min_new_tokens"].as_u64().unwrap_or(0) as usize;
    cfg.repetition_penalty = p["repetition_penalty"].as_f64().unwrap_or(1.0) as f32;
    if num_beams > 1 {
        let early_stopping = match &p["early_stopping"] {
            Value::Bool(true) => EarlyStopping::True,
            Value::String(s) if s == "never" => EarlyStopping::Never,
            _ => EarlyStopping::False,
        };
        cfg.strategy = Strategy::Beam {
            num_beams,
            length_penalty: p["length_penalty"].as_f64().unwrap_or(1.0) as f32,
            early_stopping,
        };
    }
    cfg
}

fn run(model: &AnyModel, case: &Value, cfg: &GenerateConfig, use_cache: bool) -> (Generation, usize) {
    let input = ids(&case["input_ids"]);
    let mut calls = 0usize;
    let mut count = |_: &_| {
        calls += 1;
        true
    };
    let out = match model {
        AnyModel::Causal(m) => {
            let mut stepper = CausalStepper::new(m.as_ref(), use_cache);
            generate(&mut stepper as &mut dyn StepModel, &input, cfg, None, &mut count)
        }
        AnyModel::Seq2Seq(m) => {
            let start = if case["decoder_input_ids"].is_null() { vec![m.decoder_start_token_id()] } else { ids(&case["decoder_input_ids"]) };
            let mut stepper = Seq2SeqStepper::new(m.as_ref(), &input, use_cache).unwrap();
            generate(&mut stepper as &mut dyn StepModel, &start, cfg, None, &mut count)
        }
        AnyModel::Masked(_) => panic!("masked LM cannot generate"),
    }
    .unwrap();
    (out, calls)
}

#[test]
fn greedy_and_beam_search_match_transformers_generate() {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(root().join("generate.json")).unwrap()).unwrap();
    let cases = fx["cases"].as_array().unwrap();
    let names = ["gpt2", "llama", "t5"];
    let mut summary = Vec::new();
    let mut failures = Vec::new();
    for name in names {
        let (model, gen) = load(name);
        let (mut identical, mut total, mut max_score_diff) = (0, 0, 0.0f32);
        for (i, case) in cases.iter().enumerate().filter(|(_, c)| c["model"] == name) {
            total += 1;
            let cfg = config(case, &gen);
            let (out, _) = run(&model, case, &cfg, true);
            let expected: Vec<Vec<i64>> = case["sequences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
                .collect();
            let got: Vec<Vec<i64>> = out.sequences.iter().map(|s| s.ids.clone()).collect();
            let expected_scores: Vec<f32> = match case.get("sequences_scores") {
                Some(s) => s.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
                None => vec![case["logprob_sum"].as_f64().unwrap() as f32],
            };
            let score_diff = out
                .sequences
                .iter()
                .zip(&expected_scores)
                .map(|(s, e)| (s.score - e).abs())
                .fold(0.0f32, f32::max);
            // 1e-4 absolute, or 1e-5 relative for large scores: both sides sum
            // float32 log-probs from float32 forward passes (HF's own float32
            // logits differ from float64 by ~1e-5), and a negative length
            // penalty multiplies the sum by the length.
            let scores_ok = out.sequences.iter().zip(&expected_scores).all(|(s, e)| (s.score - e).abs() <= 1e-4f32.max(1e-5 * e.abs()));
            if got == expected && scores_ok {
                identical += 1;
                max_score_diff = max_score_diff.max(score_diff);
            } else {
                failures.push(format!("{name} case {i} {}: got {got:?} ({:?}) expected {expected:?} ({expected_scores:?})", case["params"], out.sequences.iter().map(|s| s.score).collect::<Vec<_>>()));
            }
        }
        summary.push(format!("{name}: {identical}/{total} identical (max score diff {max_score_diff:.1e})"));
    }
    println!("generate parity: {}", summary.join(", "));
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// The KV cache is an optimisation only: the same tokens come out without it,
/// and with it the model is called once per generated token.
#[test]
fn kv_cache_changes_speed_not_tokens() {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(root().join("generate.json")).unwrap()).unwrap();
    for name in ["gpt2", "t5"] {
        let (model, gen) = load(name);
        for case in fx["cases"].as_array().unwrap().iter().filter(|c| c["model"] == name).take(6) {
            let cfg = config(case, &gen);
            let (with, steps) = run(&model, case, &cfg, true);
            let (without, _) = run(&model, case, &cfg, false);
            assert_eq!(with.sequences.iter().map(|s| &s.ids).collect::<Vec<_>>(), without.sequences.iter().map(|s| &s.ids).collect::<Vec<_>>());
            assert_eq!(with.forward_calls, steps);
        }
    }
}

/// With no user setting at all, a checkpoint's `generation_config.json`
/// (strategy, lengths counted from the prompt, list EOS, processors) and
/// transformers' defaults decide the decoding exactly as
/// `model.generate(input_ids)` does with no arguments.
#[test]
fn generation_config_alone_decodes_like_generate_without_arguments() {
    use llmlab_core::decoding::settings::{resolve, CheckpointDefaults, UserSettings};
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(root().join("generate_defaults.json")).unwrap()).unwrap();
    let (mut identical, mut total, mut failures) = (0, 0, Vec::new());
    for (i, case) in fx["cases"].as_array().unwrap().iter().enumerate() {
        let name = case["model"].as_str().unwrap();
        let (model, _) = load(name);
        let config_json = std::fs::read_to_string(root().join("models").join(name).join("config.json")).unwrap();
        let generation = case["generation_config"].to_string();
        let defaults = CheckpointDefaults::from_json(Some(&generation), &config_json).unwrap();
        let prompt = ids(&case["input_ids"]);
        let decoder_prompt_len = if name == "t5" { 1 } else { prompt.len() };
        let cfg = resolve(&UserSettings::default(), &defaults, decoder_prompt_len).unwrap();
        let mut fixture_case = case.clone();
        fixture_case["decoder_input_ids"] = match (name, defaults.decoder_start()) {
            ("t5", Some(start)) => serde_json::json!([start]),
            _ => Value::Null,
        };
        let (out, _) = run(&model, &fixture_case, &cfg, true);
        let got: Vec<Vec<i64>> = out.sequences.iter().map(|s| s.ids.clone()).collect();
        let expected: Vec<Vec<i64>> = serde_json::from_value(case["sequences"].clone()).unwrap();
        total += 1;
        if got == expected {
            identical += 1;
        } else {
            failures.push(format!("case {i} ({name}, {generation}): got {got:?}, expected {expected:?} with {cfg:?}"));
        }
    }
    println!("generation_config.json parity: {identical}/{total} identical to generate(input_ids)");
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}

/// Several prompts of different lengths in one call, left-padded and masked:
/// every returned row equals HF `generate` on the padded batch, with and
/// without the KV cache. Fixture: `generate_batched.json`.
#[test]
fn batched_prompts_match_transformers_generate_on_the_padded_batch() {
    use llmlab_core::decoding::generate::Generator;
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(root().join("generate_batched.json")).unwrap()).unwrap();
    let mut failures = Vec::new();
    let mut summary = Vec::new();
    for name in ["gpt2", "llama"] {
        let (model, gen) = load(name);
        let AnyModel::Causal(m) = &model else { panic!("{name} is decoder-only") };
        let (mut identical, mut total, mut max_score_diff) = (0, 0, 0.0f32);
        for (i, case) in fx["cases"].as_array().unwrap().iter().enumerate().filter(|(_, c)| c["model"] == name) {
            total += 1;
            let mut cfg = config(case, &gen);
            cfg.pad_token_id = Some(case["pad_token_id"].as_u64().unwrap() as u32);
            let prompts: Vec<Vec<u32>> = case["prompts"].as_array().unwrap().iter().map(ids).collect();
            let expected: Vec<Vec<i64>> = case["sequences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
                .collect();
            let expected_scores: Option<Vec<f32>> =
                case.get("sequences_scores").map(|s| s.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect());
            for use_cache in [true, false] {
                let mut stepper = CausalStepper::new(m.as_ref(), use_cache);
                let mut generator = Generator::new_batch(&prompts, &cfg).unwrap();
                while generator.step(&mut stepper as &mut dyn StepModel, None).unwrap().is_some() {}
                let out = generator.finish();
                let got: Vec<Vec<i64>> = out.sequences.iter().map(|s| s.ids.clone()).collect();
                let score_diff = expected_scores.as_ref().map_or(0.0, |e| {
                    out.sequences.iter().zip(e).map(|(s, e)| (s.score - e).abs() / 1f32.max(1e-1 * e.abs())).fold(0.0f32, f32::max)
                });
                if got == expected && score_diff <= 1e-4 {
                    if use_cache {
                        identical += 1;
                        max_score_diff = max_score_diff.max(score_diff);
                    }
                } else {
                    failures.push(format!("{name} case {i} (cache {use_cache}) {}: got {got:?} expected {expected:?}", case["params"]));
                }
            }
        }
        summary.push(format!("{name}: {identical}/{total} identical (max score diff {max_score_diff:.1e})"));
    }
    println!("batched generate parity: {}", summary.join(", "));
    assert!(failures.is_empty(), "{} mismatches:\n{}", failures.len(), failures.join("\n"));
}
