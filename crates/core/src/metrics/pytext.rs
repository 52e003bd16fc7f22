//! Python `str` semantics the reference metrics rely on.
//!
//! sacrebleu and rouge-score are Python: they split on `str.split()`'s notion
//! of whitespace, strip with `str.strip()` and lowercase with `str.lower()`,
//! all under Python 3.11's Unicode 14 tables. Rust's `char::is_whitespace`
//! and `str::to_lowercase` differ in small ways (U+001C..U+001F are Python
//! whitespace; newer Unicode versions added case pairs), so these helpers use
//! tables measured from Python itself (see `unicode_tables.rs`).

use alloc::string::String;
use alloc::vec::Vec;

use super::unicode_tables::{
    PY_CASED, PY_CASE_IGNORABLE, PY_LOWER, PY_LOWER_MULTI, PY_WHITESPACE,
};

/// Whether `c` falls in one of the sorted inclusive `ranges`.
pub(crate) fn in_ranges(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    // First range whose end is >= cp; it contains cp iff its start <= cp.
    let idx = ranges.partition_point(|&(_, end)| end < cp);
    match ranges.get(idx) {
        Some(&(start, _)) => start <= cp,
        None => false,
    }
}

/// Python's `str.isspace()` for one character.
#[inline]
pub fn is_py_whitespace(c: char) -> bool {
    if c.is_ascii() {
        // '\t' '\n' '\x0b' '\x0c' '\r', the four separators 0x1C..0x1F, ' '.
        matches!(c as u32, 0x09..=0x0D | 0x1C..=0x20)
    } else {
        in_ranges(PY_WHITESPACE, c)
    }
}

/// The byte length of the Python whitespace character starting at `bytes[i]`,
/// or 0 if there is none. Works on UTF-8 without decoding: the non-ASCII
/// whitespace characters are U+0085, U+00A0, U+1680, U+2000..U+200A, U+2028,
/// U+2029, U+202F, U+205F and U+3000 (checked against `PY_WHITESPACE` in the
/// tests).
#[inline]
pub fn py_whitespace_len(bytes: &[u8], i: usize) -> usize {
    match bytes.get(i..).unwrap_or(&[]) {
        [0x09..=0x0D | 0x1C..=0x20, ..] => 1,
        [0xC2, 0x85 | 0xA0, ..] => 2,
        [0xE1, 0x9A, 0x80, ..] => 3,
        [0xE2, 0x80, 0x80..=0x8A | 0xA8 | 0xA9 | 0xAF, ..] => 3,
        [0xE2, 0x81, 0x9F, ..] => 3,
        [0xE3, 0x80, 0x80, ..] => 3,
        _ => 0,
    }
}

/// Calls `f` for each word of `' '.join(text.split())` given as UTF-8 bytes.
pub fn for_each_py_word(bytes: &[u8], mut f: impl FnMut(&[u8])) {
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        let ws = if bytes[i] < 0x80 && bytes[i] > 0x20 { 0 } else { py_whitespace_len(bytes, i) };
        if ws == 0 {
            i += 1;
        } else {
            if start < i {
                f(&bytes[start..i]);
            }
            i += ws;
            start = i;
        }
    }
    if start < bytes.len() {
        f(&bytes[start..]);
    }
}

/// Python's `s.split()` (no argument): runs of whitespace separate words,
/// and leading/trailing whitespace yields no empty word.
pub fn py_split(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_py_whitespace).filter(|w| !w.is_empty())
}

/// Python's `s.rstrip()`.
pub fn py_rstrip(s: &str) -> &str {
    s.trim_end_matches(is_py_whitespace)
}

/// Python's `s.strip()`.
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(is_py_whitespace)
}

/// Python's `' '.join(s.split())`.
pub fn py_normalize_spaces(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in py_split(s) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// Python's `str.lower()`, including the context-dependent final sigma.
pub fn py_lower(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '\u{3A3}' {
            out.push(if is_final_sigma(&chars, i) { '\u{3C2}' } else { '\u{3C3}' });
        } else {
            push_lower_char(&mut out, c);
        }
    }
    out
}

/// Appends Python's lowercase of the single character `c`.
fn push_lower_char(out: &mut String, c: char) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let cp = c as u32;
    if let Ok(idx) = PY_LOWER.binary_search_by_key(&cp, |&(from, _)| from) {
        if let Some(lower) = PY_LOWER.get(idx).and_then(|&(_, to)| char::from_u32(to)) {
            out.push(lower);
            return;
        }
    }
    if let Some(&(_, lower)) = PY_LOWER_MULTI.iter().find(|&&(from, _)| from == cp) {
        out.push_str(lower);
        return;
    }
    out.push(c);
}

/// CPython's `handle_capital_sigma`: a capital sigma lowercases to the final
/// form when a cased letter precedes it and none follows it (skipping
/// case-ignorable characters on both sides).
fn is_final_sigma(chars: &[char], i: usize) -> bool {
    let before = chars[..i].iter().rev().find(|&&c| !in_ranges(PY_CASE_IGNORABLE, c));
    let cased_before = matches!(before, Some(&c) if in_ranges(PY_CASED, c));
    if !cased_before {
        return false;
    }
    let after = chars[i + 1..].iter().find(|&&c| !in_ranges(PY_CASE_IGNORABLE, c));
    match after {
        None => true,
        Some(&c) => !in_ranges(PY_CASED, c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_uses_python_whitespace() {
        let words: Vec<&str> = py_split("\u{1c}a\u{a0}b  c\u{3000}").collect();
        assert_eq!(words, ["a", "b", "c"]);
        // U+200B ZERO WIDTH SPACE is not whitespace for Python.
        assert_eq!(py_split("a\u{200b}b").count(), 1);
    }

    #[test]
    fn byte_level_whitespace_matches_the_table() {
        for cp in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(cp) else { continue };
            let mut buf = [0u8; 4];
            let encoded = c.encode_utf8(&mut buf).as_bytes();
            let expected = if is_py_whitespace(c) { encoded.len() } else { 0 };
            assert_eq!(py_whitespace_len(encoded, 0), expected, "U+{cp:04X}");
        }
        let mut words = Vec::new();
        for_each_py_word("\u{3000}ab\u{a0}c  d\u{85}".as_bytes(), |w| words.push(w.to_vec()));
        assert_eq!(words, [b"ab".to_vec(), b"c".to_vec(), b"d".to_vec()]);
    }

    #[test]
    fn lower_matches_python() {
        // Values printed by Python 3.11's str.lower().
        assert_eq!(py_lower("ΟΔΟΣ ΣΑ"), "οδος σα");
        assert_eq!(py_lower("İ"), "i\u{307}");
        assert_eq!(py_lower("ΑΣ'Α"), "ασ'α");
        assert_eq!(py_lower("Σ"), "σ");
        assert_eq!(py_lower("ÀB\u{212A}"), "àbk");
    }
}
