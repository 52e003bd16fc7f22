//! `llmlab score bleu|chrf|rouge` end to end: files in, JSON out, compared
//! with values printed by sacrebleu 2.6.0 and rouge-score 0.1.2 for the same
//! inputs (sacrebleu's README example; rouge-score's README example).

use std::path::PathBuf;
use std::process::Command;

fn write(dir: &PathBuf, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-score-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// serde_json here parses floats to within an ulp (the exact values are
/// checked bit for bit by llmlab-core's parity tests), so compare closely.
fn close(actual: &serde_json::Value, expected: f64) {
    let actual = actual.as_f64().unwrap();
    assert!((actual - expected).abs() <= 1e-12 * expected.abs().max(1.0), "{actual} != {expected}");
}

fn score(args: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_llmlab")).arg("score").args(args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

const HYP: &str = "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n";
const REF1: &str = "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n";
const REF2: &str = "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.";

#[test]
fn bleu_corpus_and_sentence() {
    let dir = scratch("bleu");
    let (h, r1, r2) = (write(&dir, "h", HYP), write(&dir, "r1", REF1), write(&dir, "r2", REF2));
    let corpus = score(&["bleu", "--hyp", &h, "--ref", &r1, "--ref", &r2]);
    assert_eq!(corpus.len(), 1);
    let c = &corpus[0];
    close(&c["score"], 48.530827009929865);
    assert_eq!(c["counts"], serde_json::json!([14.0, 7.0, 5.0, 3.0]));
    assert_eq!(c["totals"], serde_json::json!([17.0, 14.0, 11.0, 8.0]));
    close(&c["bp"], 0.9428731438548749);
    assert_eq!((c["hyp_len"].as_u64(), c["ref_len"].as_u64()), (Some(17), Some(18)));

    // sacrebleu.sentence_bleu(h, [r1, r2]).score for each line.
    let sentences = score(&["bleu", "--hyp", &h, "--ref", &r1, "--ref", &r2, "--sentence"]);
    assert_eq!(sentences.len(), 3);
    for (s, expected) in sentences.iter().zip([100.00000000000004, 14.794015674776452, 29.071536848410968]) {
        close(&s["score"], expected);
    }
}

#[test]
fn chrf_and_chrf_plus_plus() {
    let dir = scratch("chrf");
    let (h, r1, r2) = (write(&dir, "h", HYP), write(&dir, "r1", REF1), write(&dir, "r2", REF2));
    let chrf = score(&["chrf", "--hyp", &h, "--ref", &r1, "--ref", &r2]);
    close(&chrf[0]["score"], 59.72751782684763);
    let chrf_pp = score(&["chrf", "--hyp", &h, "--ref", &r1, "--ref", &r2, "--word-order", "2"]);
    close(&chrf_pp[0]["score"], 59.15310444399262);
}

#[test]
fn rouge_per_line_and_mean() {
    let dir = scratch("rouge");
    let pairs = concat!(
        "{\"target\": \"The quick brown fox jumps over the lazy dog\", \"prediction\": \"The quick brown dog jumps on the log.\"}\n",
        "{\"target\": \"Running dogs.\\nThey ran.\", \"prediction\": \"the dog runs\\nthey run\"}\n",
    );
    let path = write(&dir, "pairs.jsonl", pairs);
    let out = score(&["rouge", "--jsonl", &path, "--types", "rouge1,rougeLsum", "--stem"]);
    let per_line = out[0]["per_line"].as_array().unwrap();
    assert_eq!(per_line.len(), 2);
    // RougeScorer(['rouge1', 'rougeLsum'], use_stemmer=True).score(target, prediction)
    close(&per_line[0]["rouge1"]["fmeasure"], 0.7058823529411765);
    close(&per_line[1]["rouge1"]["precision"], 0.6);
    close(&per_line[1]["rougeLsum"]["recall"], 0.5);
    close(&out[0]["mean"]["rouge1"]["fmeasure"], (0.7058823529411765 + 0.6666666666666665) / 2.0);
}

#[test]
fn mismatched_reference_length_is_an_error() {
    let dir = scratch("mismatch");
    let (h, r) = (write(&dir, "h", HYP), write(&dir, "r", "only one line\n"));
    let out = Command::new(env!("CARGO_BIN_EXE_llmlab")).args(["score", "bleu", "--hyp", &h, "--ref", &r]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("segments"));
}

/// `llmlab score ppl` on a tiny GPT-2 with a BPE tokenizer.json, against the
/// HF perplexity-guide loop (`scripts/fixtures/perplexity.py`, `cli.json`).
#[test]
fn ppl_matches_hf_sliding_window() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/perplexity");
    let expected: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(root.join("cli.json")).unwrap()).unwrap();
    let (model, text) = (root.join("gpt2"), root.join("text.txt"));
    for case in &expected {
        let (max_length, stride) = (case["max_length"].to_string(), case["stride"].to_string());
        let out = score(&[
            "ppl", "--model", model.to_str().unwrap(), "--text", text.to_str().unwrap(),
            "--max-length", &max_length, "--stride", &stride,
        ]);
        assert_eq!(out[0]["tokens"], case["tokens"]);
        for key in ["ppl", "nll", "bits_per_char"] {
            let (got, want) = (out[0][key].as_f64().unwrap(), case[key].as_f64().unwrap());
            assert!((got - want).abs() <= 1e-4 * want.abs(), "{max_length}/{stride} {key}: {got} vs {want}");
        }
    }
}
