//! `llmlab data filter` end to end: for each quality filter alone, every
//! document's decision and reason equal datatrove 0.10.1's in
//! `tests/fixtures/data/quality.json`; an unknown filter name is a clear error.

mod common;

use common::{llmlab, repo};
use serde_json::Value;

/// Every third fixture document, and a JSONL file of their texts named after `test` (tests run in parallel).
fn documents_jsonl(test: &str) -> (Vec<Value>, String) {
    let fx: Value = serde_json::from_str(&std::fs::read_to_string(repo("tests/fixtures/data/quality.json")).unwrap()).unwrap();
    let docs: Vec<Value> = fx["documents"].as_array().unwrap().iter().step_by(3).cloned().collect();
    let jsonl: String = docs.iter().map(|d| format!("{}\n", serde_json::json!({"text": d["text"]}))).collect();
    let path = std::env::temp_dir().join(format!("llmlab-quality-{test}-{}.jsonl", std::process::id()));
    std::fs::write(&path, jsonl).unwrap();
    (docs, path.to_string_lossy().into_owned())
}

#[test]
fn each_filter_alone_gives_datatrove_decision_and_reason_per_document() {
    let (docs, path) = documents_jsonl("alone");
    for name in ["gopher_quality", "gopher_repetition", "c4", "fineweb"] {
        let out = llmlab(&["data", "filter", "--filters", name, "--in", &path]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let lines: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), docs.len());
        for (i, (line, doc)) in lines.iter().zip(&docs).enumerate() {
            assert_eq!(line["index"], i);
            let expected = doc[name].as_str().unwrap();
            if expected == "keep" {
                assert_eq!((line["keep"].as_bool(), line["reason"].is_null()), (Some(true), true), "{name} doc {i}");
            } else {
                assert_eq!(line["keep"], false, "{name} doc {i}");
                assert_eq!(line["filter"], name);
                assert_eq!(line["reason"], expected, "{name} doc {i}");
            }
        }
    }
}

#[test]
fn a_chain_drops_a_document_at_the_first_filter_that_drops_it() {
    let (docs, path) = documents_jsonl("chain");
    let out = llmlab(&["data", "filter", "--filters", "gopher,fineweb", "--in", &path]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    for (line, doc) in lines.iter().zip(&docs) {
        let first_drop = ["gopher_quality", "gopher_repetition", "fineweb"].into_iter().find(|f| doc[*f] != "keep");
        match first_drop {
            Some(f) => assert_eq!((line["filter"].as_str(), &line["reason"]), (Some(f), &doc[f])),
            None => assert_eq!(line["keep"], true),
        }
    }
}

#[test]
fn an_unknown_filter_name_is_an_error() {
    let (_, path) = documents_jsonl("unknown");
    let out = llmlab(&["data", "filter", "--filters", "gopher,perplexity", "--in", &path]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("perplexity"));
}
