//! datatrove's `GopherRepetitionFilter` (Gopher's Table A1): pages that
//! repeat themselves are dropped.
//!
//! In datatrove's order: the share of duplicate paragraphs (split at blank
//! lines) and of their characters, the same for lines, then for n = 2, 3, 4 the
//! characters covered by the most frequent n-gram (words joined by a space), then
//! for n = 5 to 10 the characters of n-grams that repeat an earlier one, scanning
//! left to right and jumping over each repeat. Every character share is over
//! the whole text's length. The duplicated n-grams are compared as their words
//! joined without a space, as datatrove does.

use alloc::format;
use alloc::vec::Vec;

use hashbrown::HashMap;

use super::english_words::EnglishTokenizer;
use super::python_str::{char_len, find_duplicates, split_newline_runs, strip};
use super::{check_threshold, ratio, DropReason};
use crate::data::DataError;

/// Thresholds of the Gopher repetition filter; `None` (or 0) switches a rule off.
#[derive(Clone, Debug, PartialEq)]
pub struct GopherRepetitionConfig {
    /// Largest share of duplicate lines: `dup_line_frac`.
    pub dup_line_frac: Option<f64>,
    /// Largest share of duplicate paragraphs: `dup_para_frac`.
    pub dup_para_frac: Option<f64>,
    /// Largest share of characters in duplicate lines: `dup_line_char_frac`.
    pub dup_line_char_frac: Option<f64>,
    /// Largest share of characters in duplicate paragraphs: `dup_para_char_frac`.
    pub dup_para_char_frac: Option<f64>,
    /// (n, largest share of characters in the most frequent n-gram): `top_{n}_gram`.
    pub top_n_grams: Vec<(usize, f64)>,
    /// (n, largest share of characters in repeated n-grams): `duplicated_{n}_n_grams`.
    pub dup_n_grams: Vec<(usize, f64)>,
}

impl Default for GopherRepetitionConfig {
    fn default() -> Self {
        Self {
            dup_line_frac: Some(0.3),
            dup_para_frac: Some(0.3),
            dup_line_char_frac: Some(0.2),
            dup_para_char_frac: Some(0.2),
            top_n_grams: alloc::vec![(2, 0.2), (3, 0.18), (4, 0.16)],
            dup_n_grams: alloc::vec![(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)],
        }
    }
}

/// The Gopher repetition filter.
pub struct GopherRepetitionFilter {
    config: GopherRepetitionConfig,
    tokenizer: EnglishTokenizer,
}

fn on(value: Option<f64>) -> Option<f64> {
    value.filter(|v| *v != 0.0)
}

/// Characters of the most frequent n-gram times its count; ties go to the n-gram seen first.
fn top_duplicate_chars(words: &[&str], lengths: &[usize], n: usize) -> Option<usize> {
    if words.len() < n {
        return None;
    }
    let mut counts: HashMap<&[&str], (usize, usize)> = HashMap::with_capacity(words.len());
    for i in 0..=words.len() - n {
        counts.entry(&words[i..i + n]).or_insert((0, i)).0 += 1;
    }
    let (first, count) = counts.values().map(|&(count, first)| (first, count)).min_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)))?;
    let chars: usize = lengths[first..first + n].iter().sum::<usize>() + (n - 1);
    Some(chars * count)
}

/// FNV-1a over the bytes of the words, concatenated.
fn concatenated_hash(words: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for word in words {
        for &b in word.as_bytes() {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn same_concatenation(a: &[&str], b: &[&str]) -> bool {
    a.iter().flat_map(|w| w.bytes()).eq(b.iter().flat_map(|w| w.bytes()))
}

/// datatrove's `find_all_duplicate`: characters of n-grams (joined without a space) already seen.
fn all_duplicate_chars(words: &[&str], lengths: &[usize], n: usize) -> usize {
    if words.len() < n {
        return 0;
    }
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::with_capacity(words.len());
    let mut repeated = 0;
    let mut idx = 0;
    while idx < words.len() - n + 1 {
        let gram = &words[idx..idx + n];
        let starts = seen.entry(concatenated_hash(gram)).or_default();
        if starts.iter().any(|&s| same_concatenation(&words[s..s + n], gram)) {
            repeated += lengths[idx..idx + n].iter().sum::<usize>();
            idx += n;
        } else {
            starts.push(idx);
            idx += 1;
        }
    }
    repeated
}

impl GopherRepetitionFilter {
    /// A filter with `config`, refusing negative thresholds and n = 0.
    pub fn new(config: GopherRepetitionConfig) -> Result<Self, DataError> {
        check_threshold("dup_line_frac", config.dup_line_frac)?;
        check_threshold("dup_para_frac", config.dup_para_frac)?;
        check_threshold("dup_line_char_frac", config.dup_line_char_frac)?;
        check_threshold("dup_para_char_frac", config.dup_para_char_frac)?;
        for &(n, frac) in config.top_n_grams.iter().chain(&config.dup_n_grams) {
            if n == 0 {
                return Err(DataError::Setting(format!("n-gram size must be at least 1, got {n}")));
            }
            check_threshold("n-gram fraction", Some(frac))?;
        }
        Ok(Self { config, tokenizer: EnglishTokenizer::new() })
    }

    /// Keep (`Ok`) or the rule that drops `text`.
    pub fn check(&self, text: &str) -> Result<(), DropReason> {
        let c = &self.config;
        if text.is_empty() {
            return Err(DropReason::new("empty"));
        }
        let text_len = char_len(text);
        let paragraphs = split_newline_runs(strip(text), 2);
        let (para_dups, para_dup_chars) = find_duplicates(&paragraphs);
        if on(c.dup_para_frac).is_some_and(|max| ratio(para_dups, paragraphs.len()) > max) {
            return Err(DropReason::new("dup_para_frac"));
        }
        if on(c.dup_para_char_frac).is_some_and(|max| ratio(para_dup_chars, text_len) > max) {
            return Err(DropReason::new("dup_para_char_frac"));
        }
        let lines = split_newline_runs(text, 1);
        let (line_dups, line_dup_chars) = find_duplicates(&lines);
        if on(c.dup_line_frac).is_some_and(|max| ratio(line_dups, lines.len()) > max) {
            return Err(DropReason::new("dup_line_frac"));
        }
        if on(c.dup_line_char_frac).is_some_and(|max| ratio(line_dup_chars, text_len) > max) {
            return Err(DropReason::new("dup_line_char_frac"));
        }
        self.tokenizer.with_words(text, |words| self.check_n_grams(words, text_len))
    }

    fn check_n_grams(&self, words: &[&str], text_len: usize) -> Result<(), DropReason> {
        let c = &self.config;
        let lengths: Vec<usize> = words.iter().map(|w| char_len(w)).collect();
        for &(n, frac) in &c.top_n_grams {
            if let Some(top) = top_duplicate_chars(words, &lengths, n) {
                if ratio(top, text_len) > frac {
                    return Err(DropReason(format!("top_{n}_gram")));
                }
            }
        }
        for &(n, frac) in &c.dup_n_grams {
            if ratio(all_duplicate_chars(words, &lengths, n), text_len) > frac {
                return Err(DropReason(format!("duplicated_{n}_n_grams")));
            }
        }
        Ok(())
    }
}
