//! datatrove's `GopherQualityFilter` (Rae et al. 2021, Gopher's MassiveText
//! rules): a page must have 50 to 100 000 words, a mean word length of 3 to 10
//! characters, at most 0.1 `#` and 0.1 ellipses per word, at most 90 % of lines
//! starting with a bullet and 30 % ending with an ellipsis, at least 80 % of
//! words containing a letter, and at least two English stop words.
//!
//! The checks run in datatrove's order and the first that fails names the drop.
//! Word counts and mean length count only words with a character outside
//! datatrove's punctuation set; the ratios divide by all words.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::english_words::{is_python_alpha, EnglishTokenizer};
use super::python_str::{char_len, count, lstrip, rstrip, splitlines};
use super::spacy_english_tables::DATATROVE_PUNCTUATION;
use super::{check_threshold, ratio, DropReason};
use crate::data::DataError;

/// datatrove's default stop words for the Gopher filter.
pub const GOPHER_STOP_WORDS: [&str; 8] = ["the", "be", "to", "of", "and", "that", "have", "with"];

/// Thresholds of the Gopher quality filter; `None` (or 0, as in Python) switches a rule off.
#[derive(Clone, Debug, PartialEq)]
pub struct GopherQualityConfig {
    /// Fewest words (without pure-punctuation words): `gopher_short_doc`.
    pub min_doc_words: Option<usize>,
    /// Most words: `gopher_long_doc`.
    pub max_doc_words: Option<usize>,
    /// Smallest mean word length: `gopher_below_avg_threshold`.
    pub min_avg_word_length: Option<f64>,
    /// Largest mean word length: `gopher_above_avg_threshold`.
    pub max_avg_word_length: Option<f64>,
    /// Most `#` per word (`gopher_too_many_hashes`) and `...`/`…` per word (`gopher_too_many_ellipsis`).
    pub max_symbol_word_ratio: Option<f64>,
    /// Largest share of lines starting with `•` or `-`: `gopher_too_many_bullets`.
    pub max_bullet_lines_ratio: Option<f64>,
    /// Largest share of lines ending with `...` or `…`: `gopher_too_many_end_ellipsis`.
    pub max_ellipsis_lines_ratio: Option<f64>,
    /// Smallest share of words with a letter (named as in datatrove): `gopher_below_alpha_threshold`.
    pub max_non_alpha_words_ratio: Option<f64>,
    /// Fewest distinct stop words present: `gopher_enough_stop_words`.
    pub min_stop_words: Option<usize>,
    /// The stop words.
    pub stop_words: Vec<String>,
}

impl Default for GopherQualityConfig {
    fn default() -> Self {
        Self {
            min_doc_words: Some(50),
            max_doc_words: Some(100_000),
            min_avg_word_length: Some(3.0),
            max_avg_word_length: Some(10.0),
            max_symbol_word_ratio: Some(0.1),
            max_bullet_lines_ratio: Some(0.9),
            max_ellipsis_lines_ratio: Some(0.3),
            max_non_alpha_words_ratio: Some(0.8),
            min_stop_words: Some(2),
            stop_words: GOPHER_STOP_WORDS.iter().map(|w| w.to_string()).collect(),
        }
    }
}

/// Python truthiness of an optional threshold: `None` and zero are off.
fn on_f64(value: Option<f64>) -> Option<f64> {
    value.filter(|v| *v != 0.0)
}

fn on_usize(value: Option<usize>) -> Option<usize> {
    value.filter(|v| *v != 0)
}

/// The Gopher quality filter.
pub struct GopherQualityFilter {
    config: GopherQualityConfig,
    tokenizer: EnglishTokenizer,
}

impl GopherQualityFilter {
    /// A filter with `config`, refusing negative or non-finite thresholds.
    pub fn new(config: GopherQualityConfig) -> Result<Self, DataError> {
        check_threshold("min_avg_word_length", config.min_avg_word_length)?;
        check_threshold("max_avg_word_length", config.max_avg_word_length)?;
        check_threshold("max_symbol_word_ratio", config.max_symbol_word_ratio)?;
        check_threshold("max_bullet_lines_ratio", config.max_bullet_lines_ratio)?;
        check_threshold("max_ellipsis_lines_ratio", config.max_ellipsis_lines_ratio)?;
        check_threshold("max_non_alpha_words_ratio", config.max_non_alpha_words_ratio)?;
        Ok(Self { config, tokenizer: EnglishTokenizer::new() })
    }

    /// Keep (`Ok`) or the rule that drops `text`.
    ///
    /// Where datatrove would divide by zero (no words at all while the word
    /// count rule is off) the ratio rules are skipped.
    pub fn check(&self, text: &str) -> Result<(), DropReason> {
        self.tokenizer.with_words(text, |words| self.check_words(text, words))
    }

    fn check_words(&self, text: &str, words: &[&str]) -> Result<(), DropReason> {
        let c = &self.config;
        let n_words = words.len();
        let non_symbol_lengths: Vec<usize> =
            words.iter().filter(|w| w.chars().any(|ch| DATATROVE_PUNCTUATION.binary_search(&ch).is_err())).map(|w| char_len(w)).collect();
        let n_non_symbol = non_symbol_lengths.len();
        if on_usize(c.min_doc_words).is_some_and(|min| n_non_symbol < min) {
            return Err(DropReason::new("gopher_short_doc"));
        }
        if on_usize(c.max_doc_words).is_some_and(|max| n_non_symbol > max) {
            return Err(DropReason::new("gopher_long_doc"));
        }
        if n_non_symbol > 0 {
            let mean = ratio(non_symbol_lengths.iter().sum(), n_non_symbol);
            if on_f64(c.min_avg_word_length).is_some_and(|min| mean < min) {
                return Err(DropReason::new("gopher_below_avg_threshold"));
            }
            if on_f64(c.max_avg_word_length).is_some_and(|max| mean > max) {
                return Err(DropReason::new("gopher_above_avg_threshold"));
            }
        }
        if n_words == 0 {
            return self.check_stop_words(words);
        }
        if let Some(max) = on_f64(c.max_symbol_word_ratio) {
            if ratio(count(text, "#"), n_words) > max {
                return Err(DropReason::new("gopher_too_many_hashes"));
            }
            if ratio(count(text, "...") + count(text, "…"), n_words) > max {
                return Err(DropReason::new("gopher_too_many_ellipsis"));
            }
        }
        let lines = splitlines(text);
        if !lines.is_empty() {
            if let Some(max) = on_f64(c.max_bullet_lines_ratio) {
                let bullets = lines.iter().filter(|l| lstrip(l).starts_with('•') || lstrip(l).starts_with('-')).count();
                if ratio(bullets, lines.len()) > max {
                    return Err(DropReason::new("gopher_too_many_bullets"));
                }
            }
            if let Some(max) = on_f64(c.max_ellipsis_lines_ratio) {
                let ellipsis = lines.iter().filter(|l| rstrip(l).ends_with("...") || rstrip(l).ends_with('…')).count();
                if ratio(ellipsis, lines.len()) > max {
                    return Err(DropReason::new("gopher_too_many_end_ellipsis"));
                }
            }
        }
        if let Some(min) = on_f64(c.max_non_alpha_words_ratio) {
            let with_letter = words.iter().filter(|w| w.chars().any(is_python_alpha)).count();
            if ratio(with_letter, n_words) < min {
                return Err(DropReason::new("gopher_below_alpha_threshold"));
            }
        }
        self.check_stop_words(words)
    }

    fn check_stop_words(&self, words: &[&str]) -> Result<(), DropReason> {
        if let Some(min) = on_usize(self.config.min_stop_words) {
            let mut present = 0;
            for (i, stop) in self.config.stop_words.iter().enumerate() {
                let duplicate = self.config.stop_words[..i].contains(stop);
                if !duplicate && words.contains(&stop.as_str()) {
                    present += 1;
                }
            }
            if present < min {
                return Err(DropReason::new("gopher_enough_stop_words"));
            }
        }
        Ok(())
    }
}
