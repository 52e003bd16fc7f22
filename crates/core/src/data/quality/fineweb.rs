//! datatrove's `FineWebQualityFilter`: the line-level heuristics FineWeb
//! added on top of Gopher and C4.
//!
//! Over the non-blank lines (split at `\n` only): at least 12 % must end in a
//! terminal punctuation mark (`line_punct_ratio`), at most 67 % may be 30
//! characters or shorter (`short_line_ratio`), the duplicate lines may hold at
//! most 1 % of the characters (`char_dup_ratio`), and there may be at most 0.3
//! newlines per word (`list_ratio`). A text without a non-blank line is `empty`.

use alloc::vec::Vec;

use super::english_words::EnglishTokenizer;
use super::python_str::{char_len, count, find_duplicates, strip};
use super::spacy_english_tables::DATATROVE_TERMINAL_PUNCTUATION;
use super::{check_threshold, ratio, DropReason};
use crate::data::DataError;

/// Thresholds of the FineWeb quality filter.
#[derive(Clone, Debug, PartialEq)]
pub struct FineWebQualityConfig {
    /// Smallest share of lines ending in a stop character: `line_punct_ratio`.
    pub line_punct_thr: f64,
    /// Keep documents where no line ends in a stop character.
    pub line_punct_exclude_zero: bool,
    /// The stop characters; `None` is datatrove's terminal punctuation.
    pub stop_chars: Option<Vec<char>>,
    /// Largest share of short lines: `short_line_ratio`.
    pub short_line_thr: f64,
    /// A line of at most this many characters is short.
    pub short_line_length: usize,
    /// Largest share of characters (newlines excluded) in duplicate lines: `char_dup_ratio`.
    pub char_duplicates_ratio: f64,
    /// Largest number of newlines per word: `list_ratio`.
    pub new_line_ratio: f64,
}

impl Default for FineWebQualityConfig {
    fn default() -> Self {
        Self {
            line_punct_thr: 0.12,
            line_punct_exclude_zero: false,
            stop_chars: None,
            short_line_thr: 0.67,
            short_line_length: 30,
            char_duplicates_ratio: 0.01,
            new_line_ratio: 0.3,
        }
    }
}

/// The FineWeb quality filter.
pub struct FineWebQualityFilter {
    config: FineWebQualityConfig,
    tokenizer: EnglishTokenizer,
}

impl FineWebQualityFilter {
    /// A filter with `config`, refusing negative or non-finite thresholds.
    pub fn new(config: FineWebQualityConfig) -> Result<Self, DataError> {
        check_threshold("line_punct_thr", Some(config.line_punct_thr))?;
        check_threshold("short_line_thr", Some(config.short_line_thr))?;
        check_threshold("char_duplicates_ratio", Some(config.char_duplicates_ratio))?;
        check_threshold("new_line_ratio", Some(config.new_line_ratio))?;
        Ok(Self { config, tokenizer: EnglishTokenizer::new() })
    }

    fn ends_with_stop_char(&self, line: &str) -> bool {
        let Some(last) = line.chars().next_back() else { return false };
        match &self.config.stop_chars {
            Some(chars) => chars.contains(&last),
            None => DATATROVE_TERMINAL_PUNCTUATION.binary_search(&last).is_ok(),
        }
    }

    /// Keep (`Ok`) or the rule that drops `text`.
    pub fn check(&self, text: &str) -> Result<(), DropReason> {
        let c = &self.config;
        let lines: Vec<&str> = text.split('\n').filter(|l| !strip(l).is_empty()).collect();
        if lines.is_empty() {
            return Err(DropReason::new("empty"));
        }
        let punct = ratio(lines.iter().filter(|l| self.ends_with_stop_char(l)).count(), lines.len());
        if punct < c.line_punct_thr && !(punct == 0.0 && c.line_punct_exclude_zero) {
            return Err(DropReason::new("line_punct_ratio"));
        }
        let short = ratio(lines.iter().filter(|l| char_len(l) <= c.short_line_length).count(), lines.len());
        if short > c.short_line_thr {
            return Err(DropReason::new("short_line_ratio"));
        }
        let newlines = count(text, "\n");
        let (_, dup_chars) = find_duplicates(&lines);
        if ratio(dup_chars, char_len(text) - newlines) > c.char_duplicates_ratio {
            return Err(DropReason::new("char_dup_ratio"));
        }
        if ratio(newlines, self.tokenizer.word_count(text)) > c.new_line_ratio {
            return Err(DropReason::new("list_ratio"));
        }
        Ok(())
    }
}
