//! Runs the built `llmlab` binary: `tokenize`, `decode` and `train-tokenizer`
//! on committed fixture tokenizers, checked against HF's outputs recorded in
//! the fixtures (see scripts/fixtures/tokenizers.py).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokenizers")
}

fn llmlab(args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_llmlab"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A command that fails before reading stdin closes the pipe: the write
    // may then fail (EPIPE), which is not what these tests check.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn tokenize_prints_ids_tokens_and_char_offsets() {
    let tok = fixtures().join("bert_uncased.tokenizer.json");
    let tok = tok.to_str().unwrap();
    // HF: Tokenizer.from_file(..).encode("Héllo world!\n") gives
    // ['[CLS]', 'hel', '##lo', 'world', '!', '[SEP]'] [(0, 0), (0, 3), (3, 5), (6, 11), (11, 12), (0, 0)]
    let (ok, out, err) = llmlab(&["tokenize", "--tokenizer", tok], "Héllo world!\n");
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert!(keys.contains(&"ids") && keys.contains(&"tokens") && keys.contains(&"offsets"));
    assert!(out.starts_with("{\"ids\":"), "{out}");
    assert_eq!(v["tokens"], serde_json::json!(["[CLS]", "hel", "##lo", "world", "!", "[SEP]"]));
    assert_eq!(v["offsets"], serde_json::json!([[0, 0], [0, 3], [3, 5], [6, 11], [11, 12], [0, 0]]));

    let (ok, out, _) = llmlab(&["tokenize", "--tokenizer", tok, "--no-special-tokens"], "Héllo world!\n");
    assert!(ok);
    let v2: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v2["ids"].as_array().unwrap().len() + 2, v["ids"].as_array().unwrap().len());

    let (ok, out, _) = llmlab(&["tokenize", "--tokenizer", tok, "--pair", "thou art"], "hello");
    assert!(ok);
    let v3: serde_json::Value = serde_json::from_str(&out).unwrap();
    // HF: encode("hello", "thou art").type_ids
    assert_eq!(v3["type_ids"], serde_json::json!([0, 0, 0, 0, 1, 1, 1]));
    assert_eq!(v3["tokens"], serde_json::json!(["[CLS]", "hel", "##lo", "[SEP]", "thou", "art", "[SEP]"]));
}

#[test]
fn tokenize_matches_recorded_hf_output() {
    // The first fixture strings and HF's ids/offsets for them (gpt2-like byte-level BPE).
    let strings = std::fs::read_to_string(fixtures().join("strings.jsonl")).unwrap();
    let expected = std::fs::read_to_string(fixtures().join("bpe_bytelevel.expected.txt")).unwrap();
    let tok = fixtures().join("bpe_bytelevel.tokenizer.json");
    for (s, line) in strings.lines().zip(expected.lines()).take(12) {
        let s: String = serde_json::from_str(s).unwrap();
        let want_ids: Vec<u64> =
            line.split('|').next().unwrap().split_whitespace().map(|x| x.parse().unwrap()).collect();
        let (ok, out, err) = llmlab(&["tokenize", "--tokenizer", tok.to_str().unwrap()], &s);
        assert!(ok, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let got: Vec<u64> = v["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap()).collect();
        assert_eq!(got, want_ids, "{s:?}");
    }
}

#[test]
fn decode_skips_special_tokens_by_default() {
    let tok = fixtures().join("bert_uncased.tokenizer.json");
    let tok = tok.to_str().unwrap();
    let (_, out, _) = llmlab(&["tokenize", "--tokenizer", tok], "hello world");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids: Vec<String> = v["ids"].as_array().unwrap().iter().map(|x| x.to_string()).collect();
    let (ok, out, err) = llmlab(&["decode", "--tokenizer", tok, "--ids", &ids.join(",")], "");
    assert!(ok, "{err}");
    assert_eq!(out.trim(), r#"{"text":"hello world"}"#);
    let (_, out, _) = llmlab(&["decode", "--tokenizer", tok, "--ids", &ids.join(","), "--keep-special-tokens"], "");
    assert_eq!(out.trim(), r#"{"text":"[CLS] hello world [SEP]"}"#);
}

#[test]
fn bad_tokenizer_is_a_clean_error() {
    let dir = std::env::temp_dir().join(format!("llmlab-tok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.json");
    std::fs::write(&bad, r#"{"model":{"type":"BPE","vocab":{"a":0},"merges":["a q"]}}"#).unwrap();
    let (ok, out, err) = llmlab(&["tokenize", "--tokenizer", bad.to_str().unwrap()], "a");
    assert!(!ok && out.is_empty());
    assert!(err.contains("not in the vocabulary"), "{err}");
}

#[test]
fn train_tokenizer_writes_a_loadable_file() {
    let dir = std::env::temp_dir().join(format!("llmlab-train-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let corpus = dir.join("corpus.txt");
    std::fs::write(&corpus, "the cat sat on the mat\nthe dog sat on the log\n".repeat(20)).unwrap();
    for model in ["bpe", "wordpiece", "unigram"] {
        let out_path = dir.join(format!("{model}.json"));
        let (ok, _, err) = llmlab(
            &[
                "train-tokenizer", "--model", model, "--vocab-size", "60", "--special-tokens", "<unk>,[UNK]",
                "--output", out_path.to_str().unwrap(), corpus.to_str().unwrap(),
            ],
            "",
        );
        assert!(ok, "{model}: {err}");
        let (ok, out, err) = llmlab(&["tokenize", "--tokenizer", out_path.to_str().unwrap()], "the cat sat");
        assert!(ok, "{model}: {err}");
        assert!(out.contains("\"ids\":["), "{out}");
    }
}
