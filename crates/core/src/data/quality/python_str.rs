//! The Python `str` operations the quality filters are written with, so that
//! lines, whitespace and lengths are cut exactly where datatrove cuts them.
//! Lengths are in characters (code points), as Python's `len`.

use alloc::vec::Vec;

use super::english_words::is_python_space;

/// `s.strip()`.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_python_space)
}

/// `s.lstrip()`.
pub fn lstrip(s: &str) -> &str {
    s.trim_start_matches(is_python_space)
}

/// `s.rstrip()`.
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_python_space)
}

/// `len(s)`.
pub fn char_len(s: &str) -> usize {
    s.chars().count()
}

/// `s.split()`: the runs of non-whitespace.
pub fn split_whitespace(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_python_space).filter(|w| !w.is_empty())
}

fn is_line_boundary(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{0b}' | '\u{0c}' | '\u{1c}' | '\u{1d}' | '\u{1e}' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// `s.splitlines()`: lines cut at every Unicode line boundary (`\r\n` is one),
/// without a last empty line.
pub fn splitlines(s: &str) -> Vec<&str> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_line_boundary(c) {
            lines.push(&s[start..i]);
            let mut end = i + c.len_utf8();
            if c == '\r' {
                if let Some(&(j, '\n')) = chars.peek() {
                    chars.next();
                    end = j + 1;
                }
            }
            start = end;
        }
    }
    if start < s.len() {
        lines.push(&s[start..]);
    }
    lines
}

/// `re.split(pattern, s)` for a pattern that matches runs of at least `min_run` `\n`.
pub fn split_newline_runs(s: &str, min_run: usize) -> Vec<&str> {
    let bytes = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\n' {
            let run_end = i + bytes[i..].iter().take_while(|&&b| b == b'\n').count();
            if run_end - i >= min_run {
                parts.push(&s[start..i]);
                start = run_end;
            }
            i = run_end;
        } else {
            i += 1;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `s.count(needle)`: non-overlapping occurrences.
pub fn count(s: &str, needle: &str) -> usize {
    s.matches(needle).count()
}

/// datatrove's `find_duplicates`: how many elements repeat an earlier one, and their total length in characters.
pub fn find_duplicates(items: &[&str]) -> (usize, usize) {
    let mut seen = hashbrown::HashSet::with_capacity(items.len());
    let mut duplicate_elements = 0;
    let mut duplicate_chars = 0;
    for item in items {
        if !seen.insert(*item) {
            duplicate_elements += 1;
            duplicate_chars += char_len(item);
        }
    }
    (duplicate_elements, duplicate_chars)
}
