//! Hand-written matchers for the split regexes that real tokenizers ship.
//!
//! There is no regex engine in the core: the few patterns that matter are
//! written out as small state machines that reproduce Oniguruma's
//! leftmost-first backtracking result. Each `find_*` returns the list of
//! non-overlapping matches `(start, end)` in bytes, like `Regex::find_iter`.

use super::normalized::Offsets;
use super::unicode::{is_letter, is_number, is_regex_space, is_white_space, is_word_char};
use alloc::vec::Vec;

/// GPT-2's pattern (also used by the ByteLevel pre-tokenizer):
/// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Llama 3's pattern.
pub const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// tiktoken's cl100k_base pattern.
pub const CL100K_PATTERN: &str = r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+";

/// `\w+|[^\w\s]+` of the `Whitespace` pre-tokenizer.
pub const WHITESPACE_PATTERN: &str = r"\w+|[^\w\s]+";

/// The regexes we can run, recognised by their exact source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownPattern {
    /// [`GPT2_PATTERN`]
    Gpt2,
    /// [`LLAMA3_PATTERN`] and [`CL100K_PATTERN`] (same matches).
    Llama3,
    /// [`WHITESPACE_PATTERN`]
    Whitespace,
}

impl KnownPattern {
    /// Recognises a regex source; `None` when we have no matcher for it.
    pub fn from_regex(source: &str) -> Option<Self> {
        match source {
            GPT2_PATTERN => Some(Self::Gpt2),
            LLAMA3_PATTERN | CL100K_PATTERN => Some(Self::Llama3),
            WHITESPACE_PATTERN => Some(Self::Whitespace),
            // The same GPT-2 pattern is often written with `\p{L}` spelled as `\\p{L}`
            // in JSON, which is the same string once parsed; nothing else is accepted.
            _ => None,
        }
    }

    /// The regex source text.
    pub fn source(self) -> &'static str {
        match self {
            Self::Gpt2 => GPT2_PATTERN,
            Self::Llama3 => LLAMA3_PATTERN,
            Self::Whitespace => WHITESPACE_PATTERN,
        }
    }

    /// All matches in `text`.
    pub fn find_all(self, text: &str) -> Vec<Offsets> {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let found = match self {
                Self::Gpt2 => gpt2_match_at(&chars, i),
                Self::Llama3 => llama3_match_at(&chars, i),
                Self::Whitespace => whitespace_match_at(&chars, i),
            };
            match found {
                Some(end) => {
                    let start_byte = chars[i].0;
                    let end_byte = chars.get(end).map_or(text.len(), |&(b, _)| b);
                    out.push((start_byte, end_byte));
                    i = end;
                }
                None => i += 1,
            }
        }
        out
    }
}

/// Index just past the run of chars from `i` satisfying `pred`.
fn run_end(chars: &[(usize, char)], mut i: usize, pred: impl Fn(char) -> bool) -> usize {
    while i < chars.len() && pred(chars[i].1) {
        i += 1;
    }
    i
}

fn char_at(chars: &[(usize, char)], i: usize) -> Option<char> {
    chars.get(i).map(|&(_, c)| c)
}

fn is_other(c: char) -> bool {
    !is_regex_space(c) && !is_letter(c) && !is_number(c)
}

/// English contractions `'s 't 're 've 'm 'll 'd`; `fold` makes them
/// case-insensitive (Unicode simple folding, so `ſ` counts as `s`).
fn contraction_end(chars: &[(usize, char)], i: usize, fold: bool) -> Option<usize> {
    if char_at(chars, i)? != '\'' {
        return None;
    }
    let eq = |k: usize, want: char| -> bool {
        match char_at(chars, k) {
            Some(c) if c == want => true,
            Some(c) if fold => {
                c.to_ascii_lowercase() == want || (want == 's' && c == '\u{17f}') || (want == 'k' && c == '\u{212a}')
            }
            _ => false,
        }
    };
    if eq(i + 1, 's') || eq(i + 1, 't') {
        return Some(i + 2);
    }
    if eq(i + 1, 'r') && eq(i + 2, 'e') || eq(i + 1, 'v') && eq(i + 2, 'e') {
        return Some(i + 3);
    }
    if eq(i + 1, 'm') {
        return Some(i + 2);
    }
    if eq(i + 1, 'l') && eq(i + 2, 'l') {
        return Some(i + 3);
    }
    if eq(i + 1, 'd') {
        return Some(i + 2);
    }
    None
}

/// `\s+(?!\S)|\s+` starting at a whitespace char `i`.
fn trailing_space_end(chars: &[(usize, char)], i: usize) -> usize {
    let end = run_end(chars, i, is_regex_space);
    if end == chars.len() || end - i == 1 {
        end
    } else {
        // Leave the last space to be the prefix of the next word.
        end - 1
    }
}

fn gpt2_match_at(chars: &[(usize, char)], i: usize) -> Option<usize> {
    if let Some(end) = contraction_end(chars, i, false) {
        return Some(end);
    }
    let c = char_at(chars, i)?;
    let (body, after_space) = if c == ' ' { (char_at(chars, i + 1), i + 1) } else { (Some(c), i) };
    if let Some(b) = body {
        if is_letter(b) {
            return Some(run_end(chars, after_space, is_letter));
        }
        if is_number(b) {
            return Some(run_end(chars, after_space, is_number));
        }
        if is_other(b) {
            return Some(run_end(chars, after_space, is_other));
        }
    }
    if is_regex_space(c) {
        return Some(trailing_space_end(chars, i));
    }
    None
}

fn llama3_match_at(chars: &[(usize, char)], i: usize) -> Option<usize> {
    if let Some(end) = contraction_end(chars, i, true) {
        return Some(end);
    }
    let c = char_at(chars, i)?;
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if is_letter(c) {
        return Some(run_end(chars, i, is_letter));
    }
    if c != '\r' && c != '\n' && !is_number(c) && char_at(chars, i + 1).is_some_and(is_letter) {
        return Some(run_end(chars, i + 1, is_letter));
    }
    // \p{N}{1,3}
    if is_number(c) {
        let end = run_end(chars, i, is_number);
        return Some(end.min(i + 3));
    }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    let body_start = if c == ' ' { i + 1 } else { i };
    if char_at(chars, body_start).is_some_and(is_other) {
        let end = run_end(chars, body_start, is_other);
        return Some(run_end(chars, end, |c| c == '\r' || c == '\n'));
    }
    if is_regex_space(c) {
        // \s*[\r\n]+ : up to the last newline of the whitespace run.
        let end = run_end(chars, i, is_regex_space);
        if let Some(last_newline) = (i..end).rev().find(|&k| matches!(chars[k].1, '\r' | '\n')) {
            return Some(last_newline + 1);
        }
        return Some(trailing_space_end(chars, i));
    }
    None
}

fn whitespace_match_at(chars: &[(usize, char)], i: usize) -> Option<usize> {
    let c = char_at(chars, i)?;
    if is_word_char(c) {
        return Some(run_end(chars, i, is_word_char));
    }
    if !is_white_space(c) {
        return Some(run_end(chars, i, |c| !is_word_char(c) && !is_white_space(c)));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::String;

    fn pieces(p: KnownPattern, s: &str) -> Vec<String> {
        p.find_all(s).into_iter().map(|(a, b)| String::from(&s[a..b])).collect()
    }

    #[test]
    fn gpt2_splits() {
        assert_eq!(
            pieces(KnownPattern::Gpt2, "Hello world's  big 123!!\n\n x"),
            ["Hello", " world", "'s", " ", " big", " 123", "!!", "\n\n", " x"]
        );
        assert_eq!(pieces(KnownPattern::Gpt2, "a   "), ["a", "   "]);
    }

    #[test]
    fn llama3_splits() {
        assert_eq!(
            pieces(KnownPattern::Llama3, "I'M 12345 ok?\n\n  x"),
            ["I", "'M", " ", "123", "45", " ok", "?\n\n", " ", " x"]
        );
    }
}
