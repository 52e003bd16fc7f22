//! `llmlab data` end to end: MinHash signatures (drawn and injected
//! permutations) and LSH candidate pairs equal the datasketch fixtures of
//! `tests/fixtures/data/`, normalization folds spelling variants, and bad
//! input is a clear error.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/data").join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn llmlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmlab")).arg("data").args(args).output().unwrap()
}

fn ok_json(args: &[&str]) -> Value {
    let out = llmlab(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn temp_file(name: &str, contents: &str) -> String {
    let path = std::env::temp_dir().join(format!("llmlab-data-{name}-{}", std::process::id()));
    std::fs::write(&path, contents).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn minhash_signatures_equal_datasketch_for_drawn_and_injected_permutations() {
    let fx = fixture("minhash.json");
    let shingles = temp_file("shingles.json", &fx["shingles"].to_string());
    for config in fx["configs"].as_array().unwrap() {
        let (n, seed) = (config["num_perm"].to_string(), config["seed"].to_string());
        let out = ok_json(&[
            "minhash",
            "--num-perm",
            &n,
            "--seed",
            &seed,
            "--shingles",
            &shingles,
            "--scheme",
            config["scheme"].as_str().unwrap(),
        ]);
        assert_eq!(out["signatures"], config["signatures"], "{} {n} {seed}", config["scheme"]);
    }
    for case in fx["injected"].as_array().unwrap() {
        let perms = temp_file("perms.json", &serde_json::json!({"a": case["a"], "b": case["b"]}).to_string());
        let n = case["a"].as_array().unwrap().len().to_string();
        let out = ok_json(&[
            "minhash",
            "--num-perm",
            &n,
            "--shingles",
            &shingles,
            "--permutations",
            &perms,
            "--scheme",
            case["scheme"].as_str().unwrap(),
        ]);
        assert_eq!(out["signatures"], case["signatures"]);
    }
}

#[test]
fn lsh_pairs_equal_datasketch_and_each_cluster_keeps_its_first_document() {
    let shingles = temp_file("lsh-shingles.json", &fixture("minhash.json")["shingles"].to_string());
    for case in fixture("lsh.json")["pairs"].as_array().unwrap() {
        let (t, n, seed) = (case["threshold"].to_string(), case["num_perm"].to_string(), case["seed"].to_string());
        let out = ok_json(&[
            "lsh",
            "--threshold",
            &t,
            "--num-perm",
            &n,
            "--seed",
            &seed,
            "--shingles",
            &shingles,
            "--scheme",
            case["scheme"].as_str().unwrap(),
        ]);
        assert_eq!((&out["b"], &out["r"]), (&case["b"], &case["r"]));
        assert_eq!(out["pairs"], case["pairs"]);
        let cluster: Vec<usize> = serde_json::from_value(out["cluster"].clone()).unwrap();
        let kept: Vec<usize> = serde_json::from_value(out["kept"].clone()).unwrap();
        assert_eq!(kept, (0..cluster.len()).filter(|&i| cluster[i] == i).collect::<Vec<_>>());
        for pair in out["pairs"].as_array().unwrap() {
            let (i, j) = (pair[0].as_u64().unwrap() as usize, pair[1].as_u64().unwrap() as usize);
            assert_eq!(cluster[i], cluster[j]);
        }
    }
}

#[test]
fn normalize_folds_spelling_variants_to_one_text() {
    let run = |input: &str, extra: &[&str]| -> Value {
        let mut child = Command::new(env!("CARGO_BIN_EXE_llmlab"))
            .args(["data", "normalize"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
        serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap()
    };
    assert_eq!(run("Cafe\u{301}\r\n  au\u{200b} lait ", &[])["text"], "Caf\u{e9}\nau lait");
    assert_eq!(run("cafÃ©", &["--repair-mojibake"])["text"], "café");
    assert_eq!(run("\u{fb01}", &["--form", "nfkc"])["text"], "fi");
}

#[test]
fn bad_settings_are_clear_errors() {
    let shingles = temp_file("bad-shingles.json", r#"[["a b c"]]"#);
    for (args, needle) in [
        (vec!["minhash", "--num-perm", "0", "--shingles", shingles.as_str()], "num_perm"),
        (vec!["minhash", "--shingles", shingles.as_str(), "--scheme", "nope"], "scheme"),
        (vec!["lsh", "--threshold", "1.5", "--shingles", shingles.as_str()], "threshold"),
        (vec!["lsh", "--num-perm", "2", "--threshold", "0.5", "--shingles", shingles.as_str()], "band"),
        (vec!["minhash", "--shingles", "/nonexistent/shingles.json"], "nonexistent"),
    ] {
        let out = llmlab(&args);
        assert!(!out.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn dedup_and_pii_read_jsonl_and_report_what_they_removed() {
    let input = temp_file(
        "docs.jsonl",
        "{\"text\": \"Caf\u{e9}\\nmenu\"}\n\n{\"text\": \"Cafe\u{301}\\r\\nmenu \"}\n{\"text\": \"menu\\nnew line, mail a@b.org from 8.8.8.8\"}\n",
    );
    let docs = ok_json(&["dedup", "--in", &input]);
    assert_eq!(docs["kept"], serde_json::json!([0, 2]));
    assert_eq!(docs["duplicate_of"], serde_json::json!([null, 0, null]));
    assert_eq!(docs["removed"], 1);
    let lines = ok_json(&["dedup", "--in", &input, "--lines"]);
    assert_eq!(lines["documents"][1], Value::Null);
    assert_eq!(lines["documents"][2], "new line, mail a@b.org from 8.8.8.8");
    let pii = ok_json(&["pii", "--in", &input]);
    assert_eq!(pii["texts"][2], "menu\nnew line, mail email@example.com from 22.214.171.124");
    let bad = temp_file("bad.jsonl", "{\"txt\": 1}\n");
    let out = llmlab(&["dedup", "--in", &bad]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("bad.jsonl"));
}
