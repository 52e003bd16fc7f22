//! sacrebleu's `TokenizerRegexp`: the language-dependent part of mteval-v13a,
//! shared by the `13a` and `zh` tokenizers.
//!
//! ```text
//! ([\{-\~\[-\` -\&\(-\+\:-\@\/])  ->  ' \1 '    split ASCII punctuation/symbols
//! ([^0-9])([\.,])                 ->  '\1 \2 '  period/comma not after a digit
//! ([\.,])([^0-9])                 ->  ' \1 \2'  period/comma not before a digit
//! ([0-9])(-)                      ->  '\1 \2 '  dash after a digit
//! ' '.join(line.split())
//! ```

use alloc::string::String;
use alloc::vec::Vec;

use super::join_words;

/// The single-character class of the first rule.
fn is_split_punct(c: char) -> bool {
    matches!(c, '{'..='~' | '['..='`' | ' '..='&' | '('..='+' | ':'..='@' | '/')
}

/// Replays `re.sub` of a two-character pattern `(A)(B)`: scanning left to
/// right, a match consumes both characters; otherwise one character is
/// copied and the scan moves on by one.
pub(super) fn sub_pairs(
    input: &[char],
    first: impl Fn(char) -> bool,
    second: impl Fn(char) -> bool,
    emit: impl Fn(&mut Vec<char>, char, char),
) -> Vec<char> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 4 + 4);
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        match input.get(i + 1) {
            Some(&next) if first(c) && second(next) => {
                emit(&mut out, c, next);
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Replays `re.sub` of a one-character pattern `(A)` -> `' \1 '`.
pub(super) fn pad_chars(input: &[char], class: impl Fn(char) -> bool) -> Vec<char> {
    let mut out = Vec::with_capacity(input.len() + input.len() / 2 + 4);
    for &c in input {
        if class(c) {
            out.extend_from_slice(&[' ', c, ' ']);
        } else {
            out.push(c);
        }
    }
    out
}

/// `TokenizerRegexp.__call__`.
pub(super) fn tokenize_regexp(line: &[char]) -> String {
    let is_digit = |c: char| c.is_ascii_digit();
    let is_period_comma = |c: char| c == '.' || c == ',';
    let step1 = pad_chars(line, is_split_punct);
    let step2 = sub_pairs(&step1, |c| !is_digit(c), is_period_comma, |out, a, b| {
        out.extend_from_slice(&[a, ' ', b, ' '])
    });
    let step3 = sub_pairs(&step2, is_period_comma, |c| !is_digit(c), |out, a, b| {
        out.extend_from_slice(&[' ', a, ' ', b])
    });
    let step4 = sub_pairs(&step3, is_digit, |c| c == '-', |out, a, b| {
        out.extend_from_slice(&[a, ' ', b, ' '])
    });
    join_words(&step4)
}
