//! Browser tier for the Evaluate area: scores a 10k-pair corpus with the
//! worker's scorer in headless Chromium (wasm-bindgen-test), checks the
//! scores against sacrebleu 2.6.0 / rouge-score 0.1.2 and prints the time.
//!
//! The corpus is generated here and by `scripts/fixtures/metrics_browser_corpus.py`
//! with the same integer recipe; the constants below are what that script
//! printed. Counts and lengths must be equal; BLEU and chrF are compared
//! within the 1e-9 because wasm has no system libm: `exp`/`log`
//! come from the musl port, which can differ from glibc in the last bit
//! (see `metrics/math.rs`; natively the scores are bit-identical).
#![cfg(target_arch = "wasm32")]

use llmlab_wasm::jobs::evaluate::score_corpus;
use llmlab_wasm::runtime::now_millis;
use llmlab_wasm::protocol::evaluate::{EvaluateResponse, ScoreSettings};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

// Printed by `metrics_browser_corpus.py --pairs 10000`.
const PAIRS: usize = 10_000;
const BLEU: f64 = 47.79694980033357;
const BLEU_COUNTS: [f64; 4] = [167654.0, 106133.0, 74413.0, 53318.0];
const BLEU_BP: f64 = 1.0;
const HYP_LEN: u64 = 207103;
const REF_LEN: u64 = 189191;
const CHRF: f64 = 68.3590249180701;
const CHRF_PLUS_PLUS: f64 = 69.1469915068835;
const ROUGE_MEAN_F: [f64; 4] = [0.8386832438252423, 0.5508472496933772, 0.7734656186077496, 0.7734656186077496];

const WORDS: [&str; 52] = [
    "the", "a", "cat", "dog", "sat", "on", "mat", "and", "ran", "away", "quickly", "from", "Running", "runs",
    "studies", "studying", "model", "models", "language", "tokens", "is", "was", "it", "not", "very", "good",
    "bad", "3", "42", "2026", "1.5", "don't", "it's", "(see", "below)", "e.g.", "U.S.", "—", "«quote»", "café",
    "naïve", "Zürich", "日本", "语言", "🚀", "&amp;", "<b>", "x,", "y.", "z!", "well-known", "co-operate",
];

/// Knuth's MMIX LCG; `next` is the high 32 bits of the new state.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 32
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// (hypotheses, references), one segment per line; see the Python script.
fn corpus(pairs: usize) -> (String, String) {
    let mut rng = Lcg(2026);
    let (mut hyps, mut refs) = (Vec::new(), Vec::new());
    for _ in 0..pairs {
        let length = 3 + rng.below(28);
        let hyp: Vec<&str> = (0..length).map(|_| WORDS[rng.below(WORDS.len())]).collect();
        let mut reference: Vec<&str> = Vec::new();
        for &word in &hyp {
            match rng.below(10) {
                0 => {}
                1 => reference.push(WORDS[rng.below(WORDS.len())]),
                2 if !reference.is_empty() => reference.insert(reference.len() - 1, word),
                _ => reference.push(word),
            }
        }
        if rng.below(4) == 0 {
            reference.push(WORDS[rng.below(WORDS.len())]);
        }
        hyps.push(hyp.join(" "));
        refs.push(reference.join(" "));
    }
    (hyps.join("\n"), refs.join("\n"))
}

#[wasm_bindgen_test]
fn ten_thousand_pairs_score_like_sacrebleu_and_rouge_score() {
    let (hyps, refs) = corpus(PAIRS);
    assert!(hyps.starts_with("z! language <b> (see very studies (see 🚀 very co-operate 3 on below) 3\n"));
    let settings = ScoreSettings {
        tokenize: "13a".into(),
        smooth_method: "exp".into(),
        smooth_value: None,
        lowercase: false,
        rouge_types: ["rouge1", "rouge2", "rougeL", "rougeLsum"].map(String::from).to_vec(),
        stem: false,
    };
    let started = now_millis();
    let result = score_corpus(&hyps, &[refs], &settings).unwrap();
    let elapsed = now_millis() - started;
    let EvaluateResponse::Scored { lines, bleu, chrf, chrf_plus_plus, rouge_mean, .. } = result else {
        panic!("expected scores, got {result:?}");
    };
    assert_eq!(lines, PAIRS);
    assert_eq!(bleu.counts, BLEU_COUNTS);
    assert_eq!((bleu.hyp_len, bleu.ref_len), (HYP_LEN, REF_LEN));
    let diffs = [(bleu.score - BLEU).abs(), (bleu.bp - BLEU_BP).abs(), (chrf - CHRF).abs(), (chrf_plus_plus - CHRF_PLUS_PLUS).abs()];
    for (diff, name) in diffs.iter().zip(["BLEU", "BP", "chrF", "chrF++"]) {
        assert!(*diff <= 1e-9, "{name} differs from sacrebleu by {diff:e}");
    }
    // ROUGE uses no transcendental functions: equal to the last bit.
    for (got, want) in rouge_mean.iter().zip(ROUGE_MEAN_F) {
        assert_eq!(got.fmeasure, want);
    }
    let max_diff = diffs.iter().fold(0.0f64, |m, &d| m.max(d));
    wasm_bindgen_test::console_log!(
        "evaluate: BLEU + chrF + chrF++ + ROUGE 1/2/L/Lsum of {PAIRS} pairs in {elapsed:.0} ms (headless Chromium, wasm); max |diff| vs sacrebleu {max_diff:e}"
    );
}
