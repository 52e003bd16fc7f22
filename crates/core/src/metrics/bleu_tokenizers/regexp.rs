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
//!
//! The passes run on UTF-8 bytes, which gives exactly the character-level
//! result: every class that must match a specific character is ASCII, and a
//! multi-byte character is "not a digit" in each of its bytes. Where `re`
//! pairs a non-ASCII character X with a following '.', the byte scan pairs
//! X's last byte with it; where `re` pairs '.' with a following X, the byte
//! scan pairs it with X's first byte and copies the rest (continuation bytes
//! never start a match). Spaces are only ever inserted at character
//! boundaries, so the output stays valid UTF-8.

use alloc::string::String;
use alloc::vec::Vec;

use super::join_words;

/// The single-character class of the first rule.
fn is_split_punct(b: u8) -> bool {
    matches!(b, b'{'..=b'~' | b'['..=b'`' | b' '..=b'&' | b'('..=b'+' | b':'..=b'@' | b'/')
}

/// Replays `re.sub` of a two-character pattern `(A)(B)`: scanning left to
/// right, a match consumes both characters; otherwise one character is
/// copied and the scan moves on by one.
pub(super) fn sub_pairs<T: Copy>(
    input: &[T],
    out: &mut Vec<T>,
    first: impl Fn(T) -> bool,
    second: impl Fn(T) -> bool,
    emit: impl Fn(&mut Vec<T>, T, T),
) {
    out.clear();
    out.reserve(input.len() + input.len() / 4 + 4);
    let mut i = 0;
    while i < input.len() {
        let c = input[i];
        match input.get(i + 1) {
            Some(&next) if first(c) && second(next) => {
                emit(out, c, next);
                i += 2;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// Replays `re.sub` of a one-character pattern `(A)` -> `' \1 '`.
pub(super) fn pad_each<T: Copy>(input: &[T], out: &mut Vec<T>, class: impl Fn(T) -> bool, space: T) {
    out.clear();
    out.reserve(input.len() + input.len() / 2 + 4);
    for &c in input {
        if class(c) {
            out.extend_from_slice(&[space, c, space]);
        } else {
            out.push(c);
        }
    }
}

/// `TokenizerRegexp.__call__` on the UTF-8 bytes of a line, before the
/// final whitespace normalisation (the caller splits the result into words).
/// A pass whose pattern cannot match is skipped.
pub(super) fn regexp_passes(line: &[u8]) -> Vec<u8> {
    let is_digit = |b: u8| b.is_ascii_digit();
    let is_period_comma = |b: u8| b == b'.' || b == b',';
    let (mut a, mut b) = (Vec::new(), Vec::new());
    pad_each(line, &mut a, is_split_punct, b' ');
    if a.iter().any(|&c| is_period_comma(c)) {
        sub_pairs(&a, &mut b, |c| !is_digit(c), is_period_comma, |out, x, y| out.extend_from_slice(&[x, b' ', y, b' ']));
        sub_pairs(&b, &mut a, is_period_comma, |c| !is_digit(c), |out, x, y| out.extend_from_slice(&[b' ', x, b' ', y]));
    }
    if a.contains(&b'-') {
        sub_pairs(&a, &mut b, is_digit, |c| c == b'-', |out, x, y| out.extend_from_slice(&[x, b' ', y, b' ']));
        return b;
    }
    a
}

/// `TokenizerRegexp.__call__`: the tokenized line as a string.
pub(super) fn tokenize_regexp(line: &[u8]) -> String {
    let bytes = regexp_passes(line);
    match String::from_utf8(bytes) {
        Ok(text) => join_words(&text),
        // Unreachable (see the module docs), but never panic on it.
        Err(e) => join_words(&String::from_utf8_lossy(e.as_bytes())),
    }
}
