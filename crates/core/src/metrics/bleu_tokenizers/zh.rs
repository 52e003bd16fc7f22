//! sacrebleu's `zh` tokenizer: every "Chinese" character becomes its own
//! token, the rest goes through the 13a regexp tokenizer (without 13a's HTML
//! unescaping and space padding).

use alloc::string::String;

use super::regexp::{regexp_passes, tokenize_regexp};
use crate::metrics::pytext::{in_ranges, py_strip};
use crate::metrics::unicode_tables::ZH_CHINESE;

/// `TokenizerZh.__call__`. The character ranges are sacrebleu's as Python
/// actually evaluates them (see `ZH_CHINESE`).
pub(super) fn tokenize_zh(line: &str) -> String {
    tokenize_regexp(prepare_zh(line).as_bytes())
}

/// `TokenizerZh.__call__` as bytes, before the whitespace normalisation.
pub(super) fn tokenize_zh_bytes(line: &str) -> alloc::vec::Vec<u8> {
    regexp_passes(prepare_zh(line).as_bytes())
}

/// The Chinese characters of the stripped line, spaced out.
fn prepare_zh(line: &str) -> String {
    let stripped = py_strip(line);
    let mut spaced = String::with_capacity(stripped.len() + 8);
    for c in stripped.chars() {
        if !c.is_ascii() && in_ranges(ZH_CHINESE, c) {
            spaced.push(' ');
            spaced.push(c);
            spaced.push(' ');
        } else {
            spaced.push(c);
        }
    }
    spaced
}
