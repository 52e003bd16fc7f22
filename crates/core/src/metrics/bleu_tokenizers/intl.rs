//! sacrebleu's `intl` tokenizer (mteval-v14.pl international).
//!
//! ```text
//! (\P{N})(\p{P})  ->  '\1 \2 '   punctuation after a non-digit
//! (\p{P})(\P{N})  ->  ' \1 \2'   punctuation before a non-digit
//! (\p{S})         ->  ' \1 '     every symbol
//! ' '.join(line.split())
//! ```
//! The categories are those of the `regex` module sacrebleu uses.

use alloc::string::String;
use alloc::vec::Vec;

use super::join_words;
use super::regexp::{pad_each, sub_pairs};
use crate::metrics::pytext::in_ranges;
use crate::metrics::unicode_tables::{REGEX_NUMBER, REGEX_PUNCTUATION, REGEX_SYMBOL};

fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_ranges(REGEX_NUMBER, c)
}

fn is_punctuation(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '!'..='#' | '%'..='*' | ','..='/' | ':' | ';' | '?' | '@' | '['..=']' | '_' | '{' | '}');
    }
    in_ranges(REGEX_PUNCTUATION, c)
}

fn is_symbol(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, '$' | '+' | '<'..='>' | '^' | '`' | '|' | '~');
    }
    in_ranges(REGEX_SYMBOL, c)
}

/// `TokenizerV14International.__call__`.
pub(super) fn tokenize_intl(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    sub_pairs(&chars, &mut a, |c| !is_number(c), is_punctuation, |out, x, y| out.extend_from_slice(&[x, ' ', y, ' ']));
    sub_pairs(&a, &mut b, is_punctuation, |c| !is_number(c), |out, x, y| out.extend_from_slice(&[' ', x, ' ', y]));
    pad_each(&b, &mut a, is_symbol, ' ');
    let text: String = a.into_iter().collect();
    join_words(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The ASCII fast paths must agree with the generated tables.
    #[test]
    fn ascii_fast_paths_match_tables() {
        for b in 0u8..128 {
            let c = b as char;
            assert_eq!(is_number(c), in_ranges(REGEX_NUMBER, c), "{c:?}");
            assert_eq!(is_punctuation(c), in_ranges(REGEX_PUNCTUATION, c), "{c:?}");
            assert_eq!(is_symbol(c), in_ranges(REGEX_SYMBOL, c), "{c:?}");
        }
    }
}
