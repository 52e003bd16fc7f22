//! datatrove's `C4QualityFilter` (Raffel et al. 2020, the C4 rules as in
//! TensorFlow Datasets' `c4_utils`), line by line:
//!
//! 1. a line with a word longer than 1000 characters is dropped;
//! 2. Wikipedia citations (`[1]`, `[edit]`, `[citation needed]`) are removed;
//! 3. a line not ending in `.`, `?`, `!`, `"` or `'` (or ending in `...`) is dropped;
//! 4. a line of fewer than 3 words is dropped;
//! 5. `lorem ipsum` anywhere in a kept line drops the page (`lorem_ipsum`);
//! 6. a line mentioning `javascript` is dropped;
//! 7. `{` in a kept line drops the page (`curly_bracket`);
//! 8. a line with a cookie or terms-of-use phrase is dropped;
//! 9. the kept lines must hold at least 5 sentences (spaCy's sentencizer),
//!    else `too_few_sentences`.
//!
//! A kept page's text becomes its kept lines ([`C4QualityFilter::clean`]).

use alloc::string::String;
use alloc::vec::Vec;

use super::english_words::{is_python_digit, EnglishTokenizer};
use super::python_str::{char_len, split_whitespace, splitlines, strip};
use super::DropReason;
use crate::data::DataError;

/// datatrove's cookie and terms-of-use phrases.
pub const POLICY_SUBSTRINGS: [&str; 6] =
    ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"];

/// Settings of the C4 quality filter; the `i64` limits switch off at -1 as in datatrove.
#[derive(Clone, Debug, PartialEq)]
pub struct C4QualityConfig {
    /// Work on lines (`true`, C4's choice) or on spaCy sentences of the whole text.
    pub split_paragraph: bool,
    /// Remove `[1]`, `[edit]`, `[citation needed]`.
    pub remove_citations: bool,
    /// Drop lines without terminal punctuation.
    pub filter_no_terminal_punct: bool,
    /// Fewest sentences in the kept lines (-1: off): `too_few_sentences`.
    pub min_num_sentences: i64,
    /// Fewest words in a kept line (-1: off).
    pub min_words_per_line: i64,
    /// Longest word in a kept line, in characters (-1: off).
    pub max_word_length: i64,
    /// Drop pages containing `lorem ipsum`.
    pub filter_lorem_ipsum: bool,
    /// Drop lines mentioning `javascript`.
    pub filter_javascript: bool,
    /// Drop pages containing `{`.
    pub filter_curly_bracket: bool,
    /// Drop lines with a cookie or terms-of-use phrase.
    pub filter_policy: bool,
}

impl Default for C4QualityConfig {
    fn default() -> Self {
        Self {
            split_paragraph: true,
            remove_citations: true,
            filter_no_terminal_punct: true,
            min_num_sentences: 5,
            min_words_per_line: 3,
            max_word_length: 1000,
            filter_lorem_ipsum: true,
            filter_javascript: true,
            filter_curly_bracket: true,
            filter_policy: true,
        }
    }
}

/// The C4 quality filter.
pub struct C4QualityFilter {
    config: C4QualityConfig,
    tokenizer: EnglishTokenizer,
}

/// `re.sub(r"\[\d*]|\[edit]|\[citation needed]", "", line)`.
fn remove_citations(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let digits = after.char_indices().find(|&(_, c)| !is_python_digit(c)).map_or(after.len(), |(i, _)| i);
        let skip = if after[digits..].starts_with(']') {
            Some(digits + 1)
        } else if after.starts_with("edit]") {
            Some(5)
        } else if after.starts_with("citation needed]") {
            Some(16)
        } else {
            None
        };
        match skip {
            Some(len) => rest = &after[len..],
            None => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Python's `str.lower()` (full Unicode lowercase mapping).
fn lower(s: &str) -> String {
    s.to_lowercase()
}

impl C4QualityFilter {
    /// A filter with `config`; limits below -1 are refused.
    pub fn new(config: C4QualityConfig) -> Result<Self, DataError> {
        for (name, value) in [
            ("min_num_sentences", config.min_num_sentences),
            ("min_words_per_line", config.min_words_per_line),
            ("max_word_length", config.max_word_length),
        ] {
            if value < -1 {
                return Err(DataError::Setting(alloc::format!("{name} must be -1 (off) or at least 0, got {value}")));
            }
        }
        Ok(Self { config, tokenizer: EnglishTokenizer::new() })
    }

    /// Keep (`Ok`) or the rule that drops `text`.
    pub fn check(&self, text: &str) -> Result<(), DropReason> {
        self.clean(text).map(|_| ())
    }

    /// The text datatrove keeps (the kept lines joined), or the rule that drops it.
    pub fn clean(&self, text: &str) -> Result<String, DropReason> {
        let c = &self.config;
        let units: Vec<&str> = if c.split_paragraph { splitlines(text) } else { self.tokenizer.sentence_pieces(text) };
        let mut num_sentences: i64 = 0;
        let mut kept: Vec<String> = Vec::new();
        for unit in units {
            let stripped = strip(unit);
            let words: Vec<&str> = split_whitespace(stripped).collect();
            if c.max_word_length != -1 && words.iter().any(|w| char_len(w) as i64 > c.max_word_length) {
                continue;
            }
            let line = if c.remove_citations { remove_citations(stripped) } else { String::from(stripped) };
            if c.filter_no_terminal_punct && (!line.ends_with(['.', '?', '!', '"', '\'']) || line.ends_with("...")) {
                continue;
            }
            if (words.len() as i64) < c.min_words_per_line {
                continue;
            }
            let line_lower = lower(&line);
            if c.filter_lorem_ipsum && line_lower.contains("lorem ipsum") {
                return Err(DropReason::new("lorem_ipsum"));
            }
            if c.filter_javascript && line_lower.contains("javascript") {
                continue;
            }
            if c.filter_curly_bracket && line.contains('{') {
                return Err(DropReason::new("curly_bracket"));
            }
            if c.filter_policy && POLICY_SUBSTRINGS.iter().any(|p| line_lower.contains(p)) {
                continue;
            }
            if c.min_num_sentences != -1 {
                num_sentences += if c.split_paragraph { self.tokenizer.sentence_pieces(&line).len() as i64 } else { 1 };
            }
            kept.push(line);
        }
        if num_sentences < c.min_num_sentences {
            return Err(DropReason::new("too_few_sentences"));
        }
        let joined = kept.join(if c.split_paragraph { "\n" } else { " " });
        Ok(String::from(strip(&joined)))
    }
}
