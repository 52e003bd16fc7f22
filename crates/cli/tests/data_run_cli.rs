//! `llmlab data run` end to end: a directory with a JSONL file and a text
//! file holding a planted exact duplicate, a near duplicate and PII; the
//! report names each removal and its rule, the JSONL written holds the kept
//! documents with the PII replaced, and a bad config is a clear error.

mod common;

use common::{llmlab, ok_json};
use serde_json::Value;
use std::path::PathBuf;

const STORY: &str = "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden porch \
    and drinks his morning coffee slowly before the long day of work in the fields begins again";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("llmlab-data-run-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn corpus_dir() -> PathBuf {
    let dir = temp_dir("corpus");
    let jsonl = [STORY, "Tokenizers split text into pieces that a model can count."]
        .iter()
        .map(|t| serde_json::json!({ "text": t }).to_string() + "\n")
        .collect::<String>();
    std::fs::write(dir.join("a.jsonl"), jsonl).unwrap();
    let near = STORY.replace("morning", "evening");
    let text = format!("{STORY}\n\n{near}\n\nMail jane.doe@example.com or call +44 20 7946 0958 today.\n");
    std::fs::write(dir.join("b.txt"), text).unwrap();
    dir
}

#[test]
fn run_reports_each_removal_with_its_rule_and_writes_the_kept_jsonl() {
    let corpus = corpus_dir();
    let dir = temp_dir("settings");
    let out = dir.join("clean.jsonl");
    let config = dir.join("pipeline.json");
    std::fs::write(&config, r#"{"pii": {"replacement": "tag"}, "near_dedup": {"threshold": 0.7}}"#).unwrap();
    let out_s = out.to_string_lossy().into_owned();
    let report = ok_json(&[
        "data",
        "run",
        "--config",
        &config.to_string_lossy(),
        "--in",
        &corpus.join("a.jsonl").to_string_lossy(),
        "--out",
        &out_s,
    ]);
    assert_eq!(report["kept"], 2);

    // The whole directory: a.jsonl (documents 0, 1), then b.txt (2, 3, 4).
    let report = ok_json(&["data", "run", "--config", &config.to_string_lossy(), "--in", &corpus.to_string_lossy(), "--out", &out_s]);
    let removed = report["removed"].as_array().unwrap();
    let rule_of =
        |doc: u64| removed.iter().find(|r| r["document"] == doc).map(|r| (r["rule"].as_str().unwrap().to_string(), r["kept"].clone()));
    assert_eq!(rule_of(2), Some(("exact_duplicate".into(), Value::from(0))));
    assert_eq!(rule_of(3), Some(("near_duplicate".into(), Value::from(0))));
    let funnel: Vec<(String, u64)> = report["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["stage"].as_str().unwrap().to_string(), s["documents"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        funnel,
        [("input".into(), 5), ("normalize".into(), 5), ("exact_documents".into(), 4), ("near_duplicates".into(), 3), ("pii".into(), 3)]
    );
    let cluster = &report["clusters"][0];
    assert_eq!((cluster["kept"].as_u64(), cluster["members"][0]["document"].as_u64()), (Some(0), Some(3)));
    let (est, truth) =
        (cluster["members"][0]["estimated_jaccard"].as_f64().unwrap(), cluster["members"][0]["true_jaccard"].as_f64().unwrap());
    assert!((est - truth).abs() < 0.15, "{est} vs {truth}");
    let pii = &report["pii"][0];
    let kinds: Vec<&str> = pii["spans"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!((pii["document"].as_u64(), kinds), (Some(4), vec!["email", "phone"]));

    let written = std::fs::read_to_string(&out).unwrap();
    let docs: Vec<Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<u64> = docs.iter().map(|d| d["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, [0, 1, 4]);
    assert_eq!(docs[2]["text"], "Mail <EMAIL> or call <PHONE> today.");
}

#[test]
fn progress_goes_to_stderr_and_bad_input_is_a_clear_error() {
    let corpus = corpus_dir();
    let ok = llmlab(&["data", "run", "--in", &corpus.join("b.txt").to_string_lossy()]);
    assert!(ok.status.success());
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(stderr.contains("MB/s") && stderr.contains("documents kept"), "{stderr}");

    let dir = temp_dir("bad");
    std::fs::write(dir.join("bad.jsonl"), "{\"text\": \"fine\"}\n{\"body\": \"no text\"}\n").unwrap();
    let bad = llmlab(&["data", "run", "--in", &dir.join("bad.jsonl").to_string_lossy()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("bad.jsonl:2: no \"text\" string"));

    std::fs::write(dir.join("config.json"), r#"{"near_dedup": {"threshold": 1.5}}"#).unwrap();
    let bad = llmlab(&["data", "run", "--config", &dir.join("config.json").to_string_lossy(), "--in", &corpus.to_string_lossy()]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("threshold"));
}
