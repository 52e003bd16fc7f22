//! Quality filters, exact to datatrove 0.10.1: heuristics that drop pages
//! which are not running prose (menus, lists, boilerplate, spam, code).
//!
//! - [`gopher_quality`]: Gopher's document statistics (word count, mean word
//!   length, `#` and `...` per word, bullet and ellipsis lines, words with a
//!   letter, stop words).
//! - [`gopher_repetition`]: Gopher's repetition statistics (duplicate lines and
//!   paragraphs, the most frequent 2-4-grams, duplicated 5-10-grams).
//! - [`c4`]: C4's line rules (terminal punctuation, 3 words, no javascript or
//!   cookie policy) and page rules (5 sentences, no lorem ipsum, no `{`).
//! - [`fineweb`]: FineWeb's line statistics (lines ending in punctuation, short
//!   lines, duplicated line characters, newlines per word).
//!
//! Each filter's `check(text)` returns `Ok(())` to keep the document or the
//! [`DropReason`] datatrove gives (`gopher_short_doc`, `top_2_gram`,
//! `too_few_sentences`, `line_punct_ratio`, ...). Thresholds are in a config
//! struct per filter whose `Default` is datatrove's.
//!
//! Words and sentences are split as datatrove does for English, with spaCy's
//! blank English tokenizer and sentencizer, reproduced in [`english_words`];
//! lines and whitespace follow Python's `str` methods ([`python_str`]).

use alloc::string::String;
use core::fmt;

pub mod c4;
pub mod english_words;
pub mod fineweb;
pub mod gopher_quality;
pub mod gopher_repetition;
pub mod python_str;
#[rustfmt::skip]
mod spacy_english_tables;

pub use c4::{C4QualityConfig, C4QualityFilter};
pub use english_words::EnglishTokenizer;
pub use fineweb::{FineWebQualityConfig, FineWebQualityFilter};
pub use gopher_quality::{GopherQualityConfig, GopherQualityFilter};
pub use gopher_repetition::{GopherRepetitionConfig, GopherRepetitionFilter};

/// Why a filter dropped a document: the rule's name exactly as datatrove
/// reports it (its `filter_reason`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DropReason(pub String);

impl DropReason {
    pub(crate) fn new(rule: &str) -> Self {
        Self(String::from(rule))
    }

    /// The rule's name, e.g. `gopher_short_doc`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `a / b` as Python's true division of two integers (correctly rounded while both are below 2^53).
pub(crate) fn ratio(a: usize, b: usize) -> f64 {
    a as f64 / b as f64
}

/// Checks that an optional threshold is a finite number that is not negative.
pub(crate) fn check_threshold(name: &str, value: Option<f64>) -> Result<(), crate::data::DataError> {
    match value {
        Some(v) if !v.is_finite() || v < 0.0 => {
            Err(crate::data::DataError::Setting(alloc::format!("{name} must be a finite number >= 0, got {v}")))
        }
        _ => Ok(()),
    }
}

/// One of the quality filters at its settings, for running several in a row.
pub enum QualityFilter {
    /// [`GopherQualityFilter`].
    GopherQuality(GopherQualityFilter),
    /// [`GopherRepetitionFilter`].
    GopherRepetition(GopherRepetitionFilter),
    /// [`C4QualityFilter`].
    C4(C4QualityFilter),
    /// [`FineWebQualityFilter`].
    FineWeb(FineWebQualityFilter),
}

impl QualityFilter {
    /// The filters named in a comma-separated list, at datatrove's defaults:
    /// `gopher_quality`, `gopher_repetition`, `gopher` (both), `c4`, `fineweb`.
    pub fn from_names(list: &str) -> Result<alloc::vec::Vec<Self>, crate::data::DataError> {
        let mut filters = alloc::vec::Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "gopher" => {
                    filters.push(Self::GopherQuality(GopherQualityFilter::new(GopherQualityConfig::default())?));
                    filters.push(Self::GopherRepetition(GopherRepetitionFilter::new(GopherRepetitionConfig::default())?));
                }
                "gopher_quality" => filters.push(Self::GopherQuality(GopherQualityFilter::new(GopherQualityConfig::default())?)),
                "gopher_repetition" => {
                    filters.push(Self::GopherRepetition(GopherRepetitionFilter::new(GopherRepetitionConfig::default())?))
                }
                "c4" => filters.push(Self::C4(C4QualityFilter::new(C4QualityConfig::default())?)),
                "fineweb" => filters.push(Self::FineWeb(FineWebQualityFilter::new(FineWebQualityConfig::default())?)),
                other => {
                    return Err(crate::data::DataError::Setting(alloc::format!(
                        "unknown quality filter {other:?} (gopher, gopher_quality, gopher_repetition, c4, fineweb)"
                    )))
                }
            }
        }
        Ok(filters)
    }

    /// The filter's name, as [`QualityFilter::from_names`] takes it.
    pub fn name(&self) -> &'static str {
        match self {
            Self::GopherQuality(_) => "gopher_quality",
            Self::GopherRepetition(_) => "gopher_repetition",
            Self::C4(_) => "c4",
            Self::FineWeb(_) => "fineweb",
        }
    }

    /// Keep (`Ok`) or the rule that drops `text`.
    pub fn check(&self, text: &str) -> Result<(), DropReason> {
        match self {
            Self::GopherQuality(f) => f.check(text),
            Self::GopherRepetition(f) => f.check(text),
            Self::C4(f) => f.check(text),
            Self::FineWeb(f) => f.check(text),
        }
    }

    /// The text a datatrove pipeline passes on (C4 keeps only its kept lines;
    /// the others pass the text unchanged), or the rule that drops it.
    pub fn apply(&self, text: &str) -> Result<String, DropReason> {
        match self {
            Self::C4(f) => f.clean(text),
            other => other.check(text).map(|()| String::from(text)),
        }
    }
}
