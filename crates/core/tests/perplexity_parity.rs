//! Perplexity parity with HF transformers 5.24.0: the perplexity guide's
//! sliding-window loop using the model's `labels` loss, run on the tiny
//! random GPT-2 and Llama checkpoints for several (max_length, stride)
//! (`scripts/fixtures/perplexity.py` -> `tests/fixtures/perplexity/cases.json`).

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::metrics::perplexity::perplexity;
use llmlab_core::models::{self, AnyModel, CausalLm};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn load(name: &str) -> Box<dyn CausalLm> {
    let dir = repo().join("tests/fixtures/decoding/models").join(name);
    let Checkpoint::HuggingFace { config_json, store } = load_checkpoint(&dir).unwrap() else {
        panic!("not HF")
    };
    match models::load(&config_json, &store).unwrap() {
        AnyModel::Causal(model) => model,
        _ => panic!("{name} is not causal"),
    }
}

fn relative(actual: f64, expected: f64) -> f64 {
    (actual - expected).abs() / expected.abs().max(1e-12)
}

#[test]
fn sliding_window_perplexity_matches_hf_loss() {
    let text =
        std::fs::read_to_string(repo().join("tests/fixtures/perplexity/cases.json")).unwrap();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(cases.len() >= 40, "fixture has only {} cases", cases.len());
    let models = [("gpt2", load("gpt2")), ("llama", load("llama"))];
    let (mut max_ppl, mut max_token) = (0.0f64, 0.0f64);
    for case in &cases {
        let name = case["model"].as_str().unwrap();
        let model = &models.iter().find(|(n, _)| *n == name).unwrap().1;
        let ids: Vec<u32> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        let max_length = case["max_length"].as_u64().unwrap() as usize;
        let stride = case["stride"].as_u64().unwrap() as usize;
        let got = perplexity(&ids, max_length, stride, |w| model.forward(w, None)).unwrap();
        assert_eq!(
            got.tokens as u64,
            case["tokens"].as_u64().unwrap(),
            "{name} {max_length}/{stride}"
        );
        for key in ["ppl", "nll", "total_nll"] {
            let value = match key {
                "ppl" => got.ppl,
                "nll" => got.nll,
                _ => got.total_nll,
            };
            let diff = relative(value, case[key].as_f64().unwrap());
            assert!(
                diff <= 1e-4,
                "{name} {max_length}/{stride} {key}: {value} vs {} ({diff})",
                case[key]
            );
            if key == "ppl" {
                max_ppl = max_ppl.max(diff);
            }
        }
        let expected = case["token_nll"].as_array().unwrap();
        assert_eq!(expected.len(), got.token_nll.len());
        for (position, (e, g)) in expected.iter().zip(&got.token_nll).enumerate() {
            match (e.as_f64(), g) {
                (None, None) => {}
                (Some(e), Some(g)) => {
                    let diff = relative(*g, e);
                    assert!(
                        diff <= 1e-4,
                        "{name} {max_length}/{stride} token {position}: {g} vs {e}"
                    );
                    max_token = max_token.max(diff);
                }
                _ => panic!("{name} {max_length}/{stride} token {position}: scored {e:?} vs {g:?}"),
            }
        }
    }
    println!("perplexity parity: {} cases, max relative diff ppl {max_ppl:.3e}, per-token NLL {max_token:.3e}", cases.len());
}
