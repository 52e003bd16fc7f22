//! Browser tokenizer throughput (issue #3): encode ~1 MB of text with a
//! GPT-2-style byte-level BPE in headless Chromium, check the ids against
//! HF `tokenizers`, and print MB/s.
//!
//! The tokenizer is GPT-2's pipeline (ByteLevel pre-tokenizer with GPT-2's
//! regex, byte-level BPE) with an 8,000-token vocabulary that HF trained on
//! tinyshakespeare, committed under tests/fixtures/tokenizers: GPT-2's own
//! 50k vocabulary lives outside the repository (../shared/data), which a
//! browser test cannot read and CI does not have. The text is 200 KB of
//! synthetic prose made from that vocabulary's words by the fixture script
//! (the shared corpus is not copied into the repository), five times (1 MB),
//! one `encode` per line as
//! `llmlab bench-tokenize` does; the native figure for the same tokenizer and
//! text is `llmlab bench-tokenize --tokenizer tests/fixtures/tokenizers/bench_bpe8k.tokenizer.json --text <the 1 MB>`.
//!
//! Run alone (the numbers are printed to the console log):
//! `wasm-pack test --headless --chrome crates/wasm --test tokenize_bench`
//! (add `--release` for optimised code; `scripts/test.sh` runs the dev profile).
#![cfg(target_arch = "wasm32")]

use llmlab_core::tokenizers::Tokenizer;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const TOKENIZER: &str = include_str!("../fixtures/tokenizers/bench_bpe8k.tokenizer.json");
const TEXT: &str = include_str!("../fixtures/tokenizers/bench_text.txt");
/// HF `tokenizers` 0.23.3 ids of each line of TEXT (scripts/fixtures/tokenizers.py).
const HF_IDS: &str = include_str!("../fixtures/tokenizers/bench_text.bpe8k.ids");
const COPIES: usize = 5;

fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
fn encodes_a_megabyte_like_hf_and_prints_mb_per_s() {
    let tokenizer = Tokenizer::from_json(TOKENIZER).unwrap();
    let want: Vec<Vec<u32>> =
        HF_IDS.lines().map(|l| l.split_whitespace().map(|x| x.parse().unwrap()).collect()).collect();
    let text = TEXT.repeat(COPIES);
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(lines.len(), want.len() * COPIES);

    // Best of three passes over the whole megabyte.
    let mut best_ms = f64::INFINITY;
    for _ in 0..3 {
        let start = now_ms();
        let mut got: Vec<Vec<u32>> = Vec::with_capacity(lines.len());
        for line in &lines {
            got.push(tokenizer.encode(line, false).unwrap().ids);
        }
        best_ms = best_ms.min(now_ms() - start);
        // Every copy of the text encodes exactly as HF encoded it.
        for (i, ids) in got.iter().enumerate() {
            assert_eq!(ids, &want[i % want.len()], "line {i}: {:?}", lines[i]);
        }
    }
    let mb = text.len() as f64 / 1e6;
    let tokens: usize = want.iter().map(Vec::len).sum::<usize>() * COPIES;
    console_log!(
        "tokenize_bench: {:.2} MB, {tokens} tokens, best {best_ms:.0} ms, {:.2} MB/s in the browser",
        mb,
        mb / (best_ms / 1e3)
    );
    assert!(best_ms > 0.0);
}
