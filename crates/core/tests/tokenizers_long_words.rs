//! Long words (no spaces) and linear time.
//!
//! BPE words of 1,024+ symbols take the per-rank bucket queue instead of the
//! heap; their ids and offsets must still be exactly HF `tokenizers`' (fixtures
//! `long.jsonl` + `<name>.long.txt` from `scripts/fixtures/tokenizers.py`). And
//! encoding must grow about linearly: 1 MB of adversarial input may not take
//! more than 40× the time of 100 KB. Linear is 10×, a quadratic step would
//! be 100×; the slack is for the memory hierarchy on a busy machine (the
//! 100 KB word's symbols fit in cache, the 1 MB word's do not: measured
//! ratios run from 10× to ~30× on the 2-core test machine under load).

use llmlab_core::tokenizers::Tokenizer;
use std::path::PathBuf;
use std::time::Instant;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/tokenizers")
}

fn tokenizer_path(name: &str) -> PathBuf {
    if name == "gpt2" {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/gpt2/tokenizer.json")
    } else {
        fixtures().join(format!("{name}.tokenizer.json"))
    }
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

#[test]
fn long_words_match_hf() {
    let text = std::fs::read_to_string(fixtures().join("long.jsonl")).unwrap();
    let strings: Vec<String> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(strings.iter().all(|s| s.chars().count() >= 2_000), "long words take the bucket queue");
    for name in ["gpt2", "bpe_bytelevel", "llama_like", "bpe_prefix"] {
        let Ok(json) = std::fs::read_to_string(tokenizer_path(name)) else {
            println!("SKIP {name}: {} not found", tokenizer_path(name).display());
            continue;
        };
        let tok = Tokenizer::from_json(&json).unwrap();
        let expected = std::fs::read_to_string(fixtures().join(format!("{name}.long.txt"))).unwrap();
        let mut checked = 0;
        for (line, s) in expected.lines().zip(&strings) {
            let (ids, offsets) = line.split_once('|').unwrap();
            let ids: Vec<u32> = ids.split_whitespace().map(|x| x.parse().unwrap()).collect();
            let enc = tok.encode(s, true).unwrap();
            assert_eq!(enc.ids, ids, "{name}: ids of a {}-char word", s.chars().count());
            assert_eq!(enc.offsets, parse_offsets(offsets), "{name}: offsets of a {}-char word", s.chars().count());
            checked += 1;
        }
        assert_eq!(checked, strings.len());
        println!("{name}: {checked} long words, 0 mismatches");
    }
}

/// Best of five timings of one encode (the machine may be busy).
fn seconds(tok: &Tokenizer, text: &str) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            let n = tok.encode(text, false).unwrap().len();
            assert!(n > 0);
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn one_megabyte_without_spaces_grows_linearly() {
    let json = std::fs::read_to_string(fixtures().join("bpe_bytelevel.tokenizer.json")).unwrap();
    let tok = Tokenizer::from_json(&json).unwrap();
    let mut rng = llmlab_core::rng::Rng::new(1);
    let letters: String = (0..1_000_000).map(|_| (b'a' + rng.below(26) as u8) as char).collect();
    let repeated = "a".repeat(1_000_000);
    for (kind, big) in [("random letters", &letters), ("one repeated char", &repeated)] {
        let small = &big[..100_000];
        let (t_small, t_big) = (seconds(&tok, small), seconds(&tok, big));
        let ratio = t_big / t_small;
        println!(
            "{kind}: 100 KB {:.3} µs/byte, 1 MB {:.3} µs/byte, time ratio {ratio:.1} (linear = 10)",
            t_small * 1e6 / 1e5,
            t_big * 1e6 / 1e6
        );
        assert!(ratio < 40.0, "{kind}: 1 MB took {ratio:.1}× the time of 100 KB");
    }
}

/// The browser benchmark's text and tokenizer (tests/browser/tokenize_bench.rs)
/// encode natively exactly as HF did, one encode per line.
#[test]
fn browser_bench_text_matches_hf_natively() {
    let tok = Tokenizer::from_json(&std::fs::read_to_string(fixtures().join("bench_bpe8k.tokenizer.json")).unwrap())
        .unwrap();
    let text = std::fs::read_to_string(fixtures().join("bench_text.txt")).unwrap();
    let want = std::fs::read_to_string(fixtures().join("bench_text.bpe8k.ids")).unwrap();
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let want: Vec<&str> = want.lines().collect();
    assert_eq!(lines.len(), want.len());
    assert!(text.len() > 190_000);
    for (line, ids) in lines.iter().zip(want) {
        let ids: Vec<u32> = ids.split_whitespace().map(|x| x.parse().unwrap()).collect();
        assert_eq!(tok.encode(line, false).unwrap().ids, ids, "{line:?}");
    }
}
