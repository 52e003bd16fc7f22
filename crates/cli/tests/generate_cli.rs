//! `llmlab generate` end to end on the committed tiny checkpoints: HF parity
//! through the CLI (generation_config.json defaults, padding, scores) and the
//! edge cases of issue 5.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/decoding")
}

fn model(name: &str) -> String {
    fixtures().join("models").join(name).to_string_lossy().into_owned()
}

fn llmlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmlab")).arg("generate").args(args).output().unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let out = llmlab(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn ids_of(v: &Value) -> Vec<Vec<i64>> {
    v["sequences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ids"].as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
        .collect()
}

fn join(v: &Value) -> String {
    v.as_array().unwrap().iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")
}

/// The command line for a fixture case's generation parameters.
fn case_args(name: &str, p: &Value, prompt_ids: String) -> Vec<String> {
    let beams = p["num_beams"].as_u64().unwrap();
    let mut args: Vec<String> = vec![
        "--model".into(),
        model(name),
        "--prompt-ids".into(),
        prompt_ids,
        "--strategy".into(),
        if beams > 1 { "beam".into() } else { "greedy".into() },
        "--max-new-tokens".into(),
        p["max_new_tokens"].to_string(),
    ];
    for (key, flag) in [
        ("num_beams", "--num-beams"),
        ("length_penalty", "--length-penalty"),
        ("num_return_sequences", "--num-return-sequences"),
        ("no_repeat_ngram_size", "--no-repeat-ngram-size"),
        ("min_new_tokens", "--min-new-tokens"),
        ("repetition_penalty", "--repetition-penalty"),
    ] {
        if !p[key].is_null() && (beams > 1 || key != "num_beams" && key != "length_penalty") {
            args.push(flag.into());
            args.push(p[key].to_string());
        }
    }
    if beams > 1 {
        args.push("--early-stopping".into());
        args.push(p["early_stopping"].as_str().map_or_else(|| p["early_stopping"].to_string(), String::from));
    }
    args
}

/// HF fixture cases replayed through the command line, for every family.
#[test]
fn cli_matches_hf_generate_fixtures() {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("generate.json")).unwrap()).unwrap();
    let mut checked = 0;
    for name in ["gpt2", "llama", "t5"] {
        for case in fx["cases"].as_array().unwrap().iter().filter(|c| c["model"] == name).step_by(6) {
            let mut args = case_args(name, &case["params"], join(&case["input_ids"]));
            let p = &case["params"];
            if !case["decoder_input_ids"].is_null() {
                args.push("--decoder-start-ids".into());
                args.push(join(&case["decoder_input_ids"]));
            }
            let argv: Vec<&str> = args.iter().map(String::as_str).collect();
            let got = ok_json(&argv);
            let want: Vec<Vec<i64>> = case["sequences"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
                .collect();
            assert_eq!(ids_of(&got), want, "{name} {p}");
            let want_scores: Vec<f64> = match case.get("sequences_scores") {
                Some(s) => s.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect(),
                None => vec![case["logprob_sum"].as_f64().unwrap()],
            };
            for (s, w) in got["sequences"].as_array().unwrap().iter().zip(&want_scores) {
                assert!((s["score"].as_f64().unwrap() - w).abs() <= 1e-4f64.max(1e-5 * w.abs()), "{name} {p}: score {s} vs {w}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 45, "only {checked} cases");
}

#[test]
fn temperature_zero_is_greedy_and_off_values_are_accepted() {
    let base = ["--model", &model("gpt2"), "--prompt-ids", "5,6,7", "--max-new-tokens", "8"];
    let greedy = ok_json(&[&base[..], &["--strategy", "greedy"]].concat());
    let t0 = llmlab(&[&base[..], &["--strategy", "sample", "--temperature", "0"]].concat());
    assert!(t0.status.success());
    assert!(String::from_utf8_lossy(&t0.stderr).contains("temperature 0 means greedy"));
    assert_eq!(ids_of(&serde_json::from_slice(&t0.stdout).unwrap()), ids_of(&greedy));
    // one beam is greedy search, as in HF
    let one_beam = ok_json(&[&base[..], &["--strategy", "beam", "--num-beams", "1"]].concat());
    assert_eq!(ids_of(&one_beam), ids_of(&greedy));
    // top_k = 0 and top_p = 1 switch those warpers off; a seed reproduces the draw
    let sample = [&base[..], &["--strategy", "sample", "--top-k", "0", "--top-p", "1", "--seed", "11"]].concat();
    let a = ok_json(&sample);
    let b = ok_json(&sample);
    assert_eq!(a, b);
    let len = ids_of(&a)[0].len();
    assert!(len > 3 && len <= 3 + 8, "{len}");
}

#[test]
fn long_prompt_is_truncated_with_a_visible_message() {
    // the GPT-2 fixture has 64 positions
    let prompt: Vec<String> = (0..80).map(|i| (4 + i % 80).to_string()).collect();
    let out = llmlab(&["--model", &model("gpt2"), "--prompt-ids", &prompt.join(","), "--strategy", "greedy", "--max-new-tokens", "4"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("truncating it to its last 60 tokens"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = &ids_of(&v)[0];
    assert!(ids.len() <= 64);
    assert_eq!(ids[0], 24); // the first 20 of the 80 prompt tokens (4..=23) were dropped
}

#[test]
fn every_token_filtered_is_a_clear_error() {
    // no_repeat_ngram_size=1 bans every token already present; with 90 of the
    // 96 ids in the prompt, the vocabulary runs out within a few steps.
    let prompt: Vec<String> = (6..96).map(|i| i.to_string()).collect();
    let out = llmlab(&[
        "--model", &model("llama"), "--prompt-ids", &prompt.join(","), "--strategy", "greedy",
        "--no-repeat-ngram-size", "1", "--max-new-tokens", "20",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("every token was filtered out"));
}

#[test]
fn bad_arguments_are_rejected() {
    let base = ["--model", &model("gpt2"), "--prompt-ids", "5,6", "--max-new-tokens", "3"];
    for extra in [
        &["--strategy", "nucleus"][..],
        &["--strategy", "greedy", "--num-return-sequences", "2"],
        &["--strategy", "beam", "--num-beams", "2", "--num-return-sequences", "3"],
        &["--strategy", "beam", "--num-beams", "2", "--early-stopping", "maybe"],
        &["--strategy", "sample", "--top-k", "-1"],
        &["--strategy", "sample", "--top-p", "-0.5"],
        &["--strategy", "sample", "--repetition-penalty", "0"],
        &["--strategy", "sample", "--num-beams", "3"],
        &["--strategy", "greedy", "--num-beams", "2"],
    ] {
        let out = llmlab(&[&base[..], extra].concat());
        assert!(!out.status.success(), "{extra:?} should fail");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "), "{extra:?}");
    }
}

/// Several prompts in one call (`;` between them) give HF's rows for the
/// left-padded batch, each tagged with its prompt.
#[test]
fn cli_batches_prompts_like_hf_generate_on_a_padded_batch() {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(fixtures().join("generate_batched.json")).unwrap()).unwrap();
    let mut checked = 0;
    for case in fx["cases"].as_array().unwrap().iter().step_by(4) {
        let name = case["model"].as_str().unwrap();
        let prompts: Vec<String> = case["prompts"].as_array().unwrap().iter().map(join).collect();
        let args = case_args(name, &case["params"], prompts.join(";"));
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let got = ok_json(&argv);
        let want: Vec<Vec<i64>> = case["sequences"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_array().unwrap().iter().map(|x| x.as_i64().unwrap()).collect())
            .collect();
        assert_eq!(ids_of(&got), want, "{name} {}", case["params"]);
        let per_prompt = want.len() / prompts.len();
        let tags: Vec<u64> = got["sequences"].as_array().unwrap().iter().map(|s| s["prompt"].as_u64().unwrap()).collect();
        assert_eq!(tags, (0..want.len() as u64).map(|i| i / per_prompt as u64).collect::<Vec<_>>());
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} cases");
    let out = llmlab(&["--model", &model("t5"), "--prompt-ids", "4,5;6"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("decoder-only"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = llmlab(&["--model", &model("gpt2"), "--prompt-ids", "4,5;;6"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("prompt 2 has no tokens"), "{}", String::from_utf8_lossy(&out.stderr));
}
