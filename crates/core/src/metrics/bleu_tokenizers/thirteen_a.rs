//! sacrebleu's `13a` tokenizer (mteval-v13a.pl), the BLEU default.

use alloc::string::String;
use alloc::vec::Vec;

use super::regexp::{regexp_passes, tokenize_regexp};

/// `Tokenizer13a.__call__`: drop `<skipped>`, join hyphenated line breaks,
/// unescape four HTML entities (in this order, like chained `str.replace`),
/// pad with spaces and run the shared regexp tokenizer.
pub(super) fn tokenize_13a(line: &str) -> String {
    tokenize_regexp(&prepare_13a(line))
}

/// `Tokenizer13a.__call__` as bytes, before the whitespace normalisation.
pub(super) fn tokenize_13a_bytes(line: &str) -> alloc::vec::Vec<u8> {
    regexp_passes(&prepare_13a(line))
}

/// The language-independent part of 13a, padded with spaces.
fn prepare_13a(line: &str) -> Vec<u8> {
    let mut text: String = if line.contains("<skipped>") { line.replace("<skipped>", "") } else { String::from(line) };
    if text.contains('\n') {
        text = text.replace("-\n", "").replace('\n', " ");
    }
    if text.contains('&') {
        text = text
            .replace("&quot;", "\"")
            .replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">");
    }
    let mut padded: Vec<u8> = Vec::with_capacity(text.len() + 2);
    padded.push(b' ');
    padded.extend_from_slice(text.as_bytes());
    padded.push(b' ');
    padded
}
