//! sacrebleu's BLEU tokenizers (`--tokenize`), one file per tokenizer.
//!
//! Each turns a (lowercased, right-stripped) segment into sacrebleu's
//! tokenized string: tokens separated by single spaces, which BLEU then splits
//! into words. The regular expressions of the Python originals are replayed
//! as explicit left-to-right scans with the same leftmost, non-overlapping
//! match semantics as `re.sub`, so the output is identical character for
//! character.

mod char_level;
mod intl;
mod regexp;
mod thirteen_a;
mod zh;

use alloc::string::String;
use core::fmt;
use core::str::FromStr;

use super::pytext::{for_each_py_word, py_normalize_spaces};

/// The tokenizers sacrebleu offers for BLEU (`tokenize=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BleuTokenizer {
    /// `none`: whitespace split only.
    None,
    /// `13a`: mteval-v13a.pl, sacrebleu's default.
    #[default]
    Thirteen13a,
    /// `intl`: mteval-v14.pl international (Unicode punctuation and symbols).
    Intl,
    /// `char`: every non-space character is a token.
    Char,
    /// `zh`: Chinese characters split apart, the rest as 13a.
    Zh,
}

/// A tokenizer name sacrebleu does not know (or that needs an external model).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownTokenizer(pub String);

impl fmt::Display for UnknownTokenizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown BLEU tokenizer {:?} (expected 13a, none, intl, char or zh)", self.0)
    }
}

impl FromStr for BleuTokenizer {
    type Err = UnknownTokenizer;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "none" => Ok(Self::None),
            "13a" => Ok(Self::Thirteen13a),
            "intl" => Ok(Self::Intl),
            "char" => Ok(Self::Char),
            "zh" => Ok(Self::Zh),
            other => Err(UnknownTokenizer(other.into())),
        }
    }
}

impl BleuTokenizer {
    /// sacrebleu's name for the tokenizer (as in its signature).
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Thirteen13a => "13a",
            Self::Intl => "intl",
            Self::Char => "char",
            Self::Zh => "zh",
        }
    }

    /// Tokenizes one segment. The result has its tokens separated by single
    /// spaces (for `none` that is `' '.join(line.split())`, which BLEU's word
    /// split makes equivalent to sacrebleu's untouched line).
    pub fn tokenize(self, line: &str) -> String {
        match self {
            Self::None => py_normalize_spaces(line),
            Self::Thirteen13a => thirteen_a::tokenize_13a(line),
            Self::Intl => intl::tokenize_intl(line),
            Self::Char => char_level::tokenize_char(line),
            Self::Zh => zh::tokenize_zh(line),
        }
    }

    /// Calls `f` with each token of [`BleuTokenizer::tokenize`]'s result, as
    /// UTF-8 bytes, without building the joined string (the BLEU hot path).
    pub fn for_each_token(self, line: &str, mut f: impl FnMut(&[u8])) {
        match self {
            Self::Thirteen13a => for_each_py_word(&thirteen_a::tokenize_13a_bytes(line), f),
            Self::Zh => for_each_py_word(&zh::tokenize_zh_bytes(line), f),
            Self::None => for_each_py_word(line.as_bytes(), f),
            Self::Intl | Self::Char => self.tokenize(line).split(' ').filter(|t| !t.is_empty()).for_each(|t| f(t.as_bytes())),
        }
    }
}

/// `' '.join(text.split())`.
fn join_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in super::pytext::py_split(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected strings printed by sacrebleu 2.6.0's tokenizers.
    #[test]
    fn thirteen_a_matches_sacrebleu() {
        let t = BleuTokenizer::Thirteen13a;
        assert_eq!(t.tokenize("Hello, world! It costs $1,000.50 (approx.)."), "Hello , world ! It costs $ 1,000.50 ( approx . ) .");
        assert_eq!(t.tokenize("a&amp;b &quot;q&quot; 3-4 x-y"), "a & b \" q \" 3 - 4 x-y");
        assert_eq!(t.tokenize("a.,b"), "a . , b");
    }

    #[test]
    fn intl_matches_sacrebleu() {
        let t = BleuTokenizer::Intl;
        assert_eq!(t.tokenize("Hello, world! 1,000.5 €5 «oui»."), "Hello , world ! 1,000.5 € 5 « oui » .");
    }

    #[test]
    fn token_callback_agrees_with_tokenize() {
        let line = " Hello,\u{3000}world!&amp; 1,000.5 我爱\u{a0}NLP-3 x.y ";
        for tokenizer in [BleuTokenizer::None, BleuTokenizer::Thirteen13a, BleuTokenizer::Intl, BleuTokenizer::Char, BleuTokenizer::Zh] {
            let mut tokens = alloc::vec::Vec::new();
            tokenizer.for_each_token(line, |t| tokens.push(String::from_utf8(t.to_vec()).unwrap()));
            assert_eq!(tokens.join(" "), tokenizer.tokenize(line), "{tokenizer:?}");
        }
    }

    #[test]
    fn char_and_zh_match_sacrebleu() {
        assert_eq!(BleuTokenizer::Char.tokenize("ab c"), "a b c");
        assert_eq!(BleuTokenizer::Zh.tokenize("我爱 NLP, ok."), "我 爱 NLP , ok .");
    }
}
