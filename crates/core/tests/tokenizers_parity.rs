//! Parity with HF `tokenizers` (PyPI 0.23.3): ids, char offsets, type ids
//! and decoded text must be identical to what the reference produced for
//! the same strings. Fixtures: `scripts/fixtures/tokenizers.py`.

use llmlab_core::tokenizers::Tokenizer;
use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokenizers")
}

fn shared_gpt2() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/gpt2/tokenizer.json")
}

fn parse_ids(s: &str) -> Vec<u32> {
    s.split_whitespace().map(|x| x.parse().unwrap()).collect()
}

/// Inverse of the fixture script's compact offsets (`L` or `S,E` per token).
fn parse_offsets(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut prev_end = 0;
    for item in s.split_whitespace() {
        let pair = match item.split_once(',') {
            Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
            None => (prev_end, prev_end + item.parse::<usize>().unwrap()),
        };
        prev_end = pair.1;
        out.push(pair);
    }
    out
}

fn load_strings() -> Vec<String> {
    let text = std::fs::read_to_string(fixtures().join("strings.jsonl")).unwrap();
    text.lines().map(|l| serde_json::from_str::<String>(l).unwrap()).collect()
}

struct Counts {
    strings: usize,
    decoded: usize,
    pairs: usize,
    mismatches: Vec<String>,
}

fn check(name: &str, tokenizer_path: PathBuf, strings: &[String]) -> Option<Counts> {
    let json = match std::fs::read_to_string(&tokenizer_path) {
        Ok(j) => j,
        Err(_) => {
            println!("SKIP {name}: {} not found", tokenizer_path.display());
            return None;
        }
    };
    let tok = Tokenizer::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
    let expected = std::fs::read_to_string(fixtures().join(format!("{name}.expected.txt"))).unwrap();
    let mut c = Counts { strings: 0, decoded: 0, pairs: 0, mismatches: Vec::new() };
    for (line, s) in expected.lines().zip(strings) {
        let mut parts = line.splitn(3, '|');
        let ids = parse_ids(parts.next().unwrap());
        let offsets = parse_offsets(parts.next().unwrap());
        let decoded = parts.next().unwrap();
        let enc = tok.encode(s, true).unwrap();
        if enc.ids != ids || enc.offsets != offsets {
            c.mismatches.push(format!(
                "{name} {s:?}\n   want ids {ids:?} offsets {offsets:?}\n   got  ids {:?} offsets {:?} tokens {:?}",
                enc.ids, enc.offsets, enc.tokens
            ));
        }
        c.strings += 1;
        if !decoded.is_empty() {
            let want: String = serde_json::from_str(decoded).unwrap();
            let got = tok.decode(&ids, true);
            if got != want {
                c.mismatches.push(format!("{name} decode {ids:?}: want {want:?} got {got:?}"));
            }
            c.decoded += 1;
        }
    }
    let pairs = std::fs::read_to_string(fixtures().join(format!("{name}.pairs.txt"))).unwrap();
    for line in pairs.lines() {
        let mut parts = line.splitn(4, '|');
        let head: Vec<usize> = parts.next().unwrap().split(' ').map(|x| x.parse().unwrap()).collect();
        let (a, b, add) = (&strings[head[0]], &strings[head[1]], head[2] == 1);
        let ids = parse_ids(parts.next().unwrap());
        let offsets = parse_offsets(parts.next().unwrap());
        let type_ids = parse_ids(parts.next().unwrap());
        let enc = tok.encode_pair(a, b, add).unwrap();
        if enc.ids != ids || enc.offsets != offsets || enc.type_ids != type_ids {
            c.mismatches.push(format!(
                "{name} pair {a:?} / {b:?} add={add}\n   want {ids:?} {offsets:?} {type_ids:?}\n   got  {:?} {:?} {:?}",
                enc.ids, enc.offsets, enc.type_ids
            ));
        }
        c.pairs += 1;
    }
    Some(c)
}

const TRAINED: &[&str] = &[
    "bpe_bytelevel",
    "roberta_like",
    "bpe_whitespace",
    "bpe_prefix",
    "bert_uncased",
    "bert_cased",
    "wordpiece_plain",
    "unigram_metaspace",
    "unigram_first",
    "t5_like",
    "t5_nmt",
    "llama_like",
    "llama3_like",
    "cl100k_like",
];

fn run(names: &[(&str, PathBuf)]) {
    let strings = load_strings();
    assert!(strings.len() >= 10_000, "need at least 10,000 strings");
    let mut all = Vec::new();
    for (name, path) in names {
        if let Some(c) = check(name, path.clone(), &strings) {
            println!(
                "{name}: {} strings, {} decodes, {} pairs, {} mismatches",
                c.strings,
                c.decoded,
                c.pairs,
                c.mismatches.len()
            );
            all.extend(c.mismatches);
        }
    }
    for m in all.iter().take(15) {
        println!("MISMATCH {m}");
    }
    assert!(all.is_empty(), "{} mismatches", all.len());
}

#[test]
fn trained_tokenizers_match_hf() {
    let names: Vec<(&str, PathBuf)> =
        TRAINED.iter().map(|n| (*n, fixtures().join(format!("{n}.tokenizer.json")))).collect();
    run(&names);
}

/// `Split` pre-tokenizers whose regexes have no hand-written matcher: they
/// run through fancy-regex (feature `regex-split`), one fixture per delimiter
/// behavior, with lookarounds, empty matches, `invert` and line anchors.
#[cfg(feature = "regex-split")]
const SPLIT_REGEXES: &[&str] = &[
    "split_digits",
    "split_punct_prev",
    "split_lookaround_next",
    "split_words_invert",
    "split_vowels_contiguous",
    "split_line_anchors",
    "split_word_boundary",
];

#[cfg(feature = "regex-split")]
#[test]
fn split_regex_tokenizers_match_hf() {
    let names: Vec<(&str, PathBuf)> =
        SPLIT_REGEXES.iter().map(|n| (*n, fixtures().join(format!("{n}.tokenizer.json")))).collect();
    run(&names);
}

/// Without the regex engine, a tokenizer.json with such a regex is refused
/// with an error that names the regex (never encoded with a wrong split).
#[cfg(not(feature = "regex-split"))]
#[test]
fn split_regex_without_engine_is_refused_by_name() {
    let json = std::fs::read_to_string(fixtures().join("split_digits.tokenizer.json")).unwrap();
    let err = Tokenizer::from_json(&json).unwrap_err().to_string();
    assert!(err.contains(r"\d{1,3}"), "{err}");
}

#[test]
fn gpt2_matches_hf() {
    run(&[("gpt2", shared_gpt2())]);
}

/// Our BPE trainer must learn exactly HF's vocabulary and merges, given the
/// same pipeline, settings and corpus (the fixture tokenizers were trained by
/// HF on tinyshakespeare, one sequence per line).
#[test]
fn bpe_trainer_matches_hf_bpe_trainer() {
    use llmlab_core::tokenizers::models::Model;
    use llmlab_core::tokenizers::pre_tokenizers::byte_level::BYTE_TO_CHAR;
    use llmlab_core::tokenizers::trainers::{BpeTrainerConfig, TrainerSpec};

    let corpus_path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/tinyshakespeare.txt");
    let Ok(corpus) = std::fs::read_to_string(&corpus_path) else {
        println!("SKIP trainer parity: {} not found", corpus_path.display());
        return;
    };
    let cases: &[(&str, BpeTrainerConfig)] = &[
        (
            "bpe_bytelevel",
            BpeTrainerConfig {
                vocab_size: 1000,
                min_frequency: 2,
                special_tokens: vec!["<|endoftext|>".into()],
                initial_alphabet: BYTE_TO_CHAR.to_vec(),
                ..Default::default()
            },
        ),
        (
            "bpe_whitespace",
            BpeTrainerConfig {
                vocab_size: 800,
                min_frequency: 3,
                special_tokens: vec!["[UNK]".into(), "[PAD]".into()],
                end_of_word_suffix: Some("</w>".into()),
                ..Default::default()
            },
        ),
    ];
    for (name, cfg) in cases {
        let json = std::fs::read_to_string(fixtures().join(format!("{name}.tokenizer.json"))).unwrap();
        let reference = Tokenizer::from_json(&json).unwrap();
        let mut ours = reference.clone();
        ours.added_vocabulary = Default::default();
        ours.train(corpus.lines(), &TrainerSpec::Bpe(cfg.clone())).unwrap();
        let (Model::Bpe(r), Model::Bpe(o)) = (&reference.model, &ours.model) else { panic!("not BPE") };
        assert_eq!(o.vocab.len(), r.vocab.len(), "{name}: vocab size");
        let mut rk: Vec<&String> = r.vocab.keys().collect();
        let mut ok: Vec<&String> = o.vocab.keys().collect();
        rk.sort();
        ok.sort();
        assert_eq!(ok, rk, "{name}: token sets differ");
        if *name == "bpe_bytelevel" {
            assert!(o.vocab == r.vocab, "{name}: ids differ");
        }
        let same = o.merge_list.iter().zip(&r.merge_list).filter(|(a, b)| a == b).count();
        println!("{name}: {same}/{} merges identical in order", r.merge_list.len());
        assert_eq!(o.merge_list, r.merge_list, "{name}: merges differ");
        println!("{name}: trained {} tokens, {} merges, identical to HF", o.vocab.len(), o.merge_list.len());
    }
}
