//! Parity of the metrics with their Python references.
//!
//! The fixtures in `tests/fixtures/metrics/` were written by
//! `scripts/fixtures/metrics.py` from sacrebleu 2.6.0, rouge-score 0.1.2 and
//! NLTK 3.10.4 on randomized multilingual inputs. Every unrounded value must
//! agree within 1e-9; the tests print how many values were compared, how many
//! were bit-identical and the largest difference.

use std::path::PathBuf;

use llmlab_core::metrics::bleu::{corpus_bleu, sentence_bleus, BleuConfig, BleuScore};
use llmlab_core::metrics::bleu_tokenizers::BleuTokenizer;
use llmlab_core::metrics::chrf::{corpus_chrf, sentence_chrfs, ChrfConfig};
use llmlab_core::metrics::porter;
use llmlab_core::metrics::pytext::{is_py_whitespace, py_lower};
use llmlab_core::metrics::rouge::{RougeScorer, RougeType};
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/metrics").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// Counts compared values, bit-identical ones and the worst difference.
#[derive(Default)]
struct Tally {
    values: usize,
    identical: usize,
    max_diff: f64,
    failures: Vec<String>,
}

impl Tally {
    fn check(&mut self, expected: f64, actual: f64, context: impl FnOnce() -> String) {
        self.values += 1;
        if expected.to_bits() == actual.to_bits() {
            self.identical += 1;
            return;
        }
        let diff = (expected - actual).abs();
        self.max_diff = self.max_diff.max(diff);
        if (diff.is_nan() || diff > TOLERANCE) && self.failures.len() < 10 {
            self.failures.push(format!("{}: expected {expected:?}, got {actual:?}", context()));
        }
    }

    fn finish(self, what: &str) {
        println!(
            "{what}: {} values, {} bit-identical, max |diff| = {:e}",
            self.values, self.identical, self.max_diff
        );
        assert!(self.failures.is_empty(), "{what} mismatches:\n{}", self.failures.join("\n"));
        assert!(self.values > 0, "{what}: nothing compared");
    }
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

fn corpora() -> Vec<(Vec<String>, Vec<Vec<String>>)> {
    fixture("corpora.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (strings(&c["hyps"]), c["refs"].as_array().unwrap().iter().map(strings).collect()))
        .collect()
}

fn bleu_values(s: &BleuScore) -> Vec<f64> {
    let mut v = vec![s.score];
    v.extend(s.counts);
    v.extend(s.totals);
    v.extend(s.precisions);
    v.extend([s.bp, s.ratio, s.hyp_len as f64, s.ref_len as f64]);
    v
}

#[test]
fn bleu_matches_sacrebleu() {
    let corpora = corpora();
    let mut tally = Tally::default();
    let cases = fixture("bleu.json");
    for (k, case) in cases.as_array().unwrap().iter().enumerate() {
        let (hyps, refs) = &corpora[case["corpus"].as_u64().unwrap() as usize];
        let sentence = case["sentence"].as_bool().unwrap();
        let config = BleuConfig {
            tokenizer: case["tokenize"].as_str().unwrap().parse().unwrap(),
            lowercase: case["lowercase"].as_bool().unwrap(),
            smooth_method: case["smooth_method"].as_str().unwrap().parse().unwrap(),
            smooth_value: case["smooth_value"].as_f64(),
            effective_order: sentence,
        };
        let scores = if sentence {
            sentence_bleus(hyps, refs, &config).unwrap()
        } else {
            vec![corpus_bleu(hyps, refs, &config).unwrap()]
        };
        let expected = case["expected"].as_array().unwrap();
        assert_eq!(scores.len(), expected.len());
        for (seg, (score, exp)) in scores.iter().zip(expected).enumerate() {
            for (field, (a, e)) in bleu_values(score).into_iter().zip(exp.as_array().unwrap()).enumerate() {
                tally.check(e.as_f64().unwrap(), a, || format!("case {k} segment {seg} field {field} {config:?}"));
            }
        }
    }
    tally.finish("BLEU");
}

#[test]
fn chrf_matches_sacrebleu() {
    let corpora = corpora();
    let mut tally = Tally::default();
    for (k, case) in fixture("chrf.json").as_array().unwrap().iter().enumerate() {
        let (hyps, refs) = &corpora[case["corpus"].as_u64().unwrap() as usize];
        let config = ChrfConfig {
            word_order: case["word_order"].as_u64().unwrap() as usize,
            lowercase: case["lowercase"].as_bool().unwrap(),
        };
        let scores = if case["sentence"].as_bool().unwrap() {
            sentence_chrfs(hyps, refs, &config).unwrap()
        } else {
            vec![corpus_chrf(hyps, refs, &config).unwrap()]
        };
        let expected = case["expected"].as_array().unwrap();
        assert_eq!(scores.len(), expected.len());
        for (seg, (a, e)) in scores.iter().zip(expected).enumerate() {
            tally.check(e.as_f64().unwrap(), *a, || format!("case {k} segment {seg} {config:?}"));
        }
    }
    tally.finish("chrF");
}

#[test]
fn tokenizers_and_lowercase_match_python() {
    let mut lines = 0;
    for case in fixture("tokenizers.json").as_array().unwrap() {
        let line = case["line"].as_str().unwrap();
        assert_eq!(py_lower(line), case["lower"].as_str().unwrap(), "lower({line:?})");
        for name in ["13a", "none", "intl", "char", "zh"] {
            let tokenizer: BleuTokenizer = name.parse().unwrap();
            let stripped = line.trim_end_matches(is_py_whitespace);
            let expected = case[name].as_str().unwrap();
            // sacrebleu's `none` and `char` keep whitespace runs that BLEU's
            // word split then drops; ours are already split and re-joined.
            let expected: Vec<&str> = expected.split(is_py_whitespace).filter(|w| !w.is_empty()).collect();
            assert_eq!(tokenizer.tokenize(stripped), expected.join(" "), "{name}({line:?})");
        }
        lines += 1;
    }
    println!("tokenizers: {lines} lines x 5 tokenizers + lowercase identical");
}

#[test]
fn porter_matches_nltk() {
    let cases = fixture("porter.json");
    let cases = cases.as_array().unwrap();
    for case in cases {
        let word = case[0].as_str().unwrap();
        assert_eq!(porter::stem(word), case[1].as_str().unwrap(), "stem({word:?})");
    }
    println!("porter: {} words identical", cases.len());
}

#[test]
fn rouge_matches_rouge_score() {
    let data = fixture("rouge.json");
    let types: Vec<RougeType> = strings(&data["types"]).iter().map(|t| t.parse().unwrap()).collect();
    let pairs = data["pairs"].as_array().unwrap();
    let mut tally = Tally::default();
    for (stem, key) in [(false, "plain"), (true, "stemmed")] {
        let mut scorer = RougeScorer::new(types.clone(), stem);
        for (k, (pair, expected)) in pairs.iter().zip(data[key].as_array().unwrap()).enumerate() {
            let scores = scorer.score(pair[0].as_str().unwrap(), pair[1].as_str().unwrap());
            for ((t, score), exp) in types.iter().zip(&scores).zip(expected.as_array().unwrap()) {
                let exp: Vec<f64> = exp.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
                for (field, (a, e)) in [score.precision, score.recall, score.fmeasure].into_iter().zip(exp).enumerate() {
                    tally.check(e, a, || format!("pair {k} stem={stem} {t} field {field}"));
                }
            }
        }
    }
    tally.finish("ROUGE");
}
