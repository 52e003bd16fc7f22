//! sacrebleu's `char` tokenizer: `" ".join(line)`, so after BLEU's word split
//! every non-whitespace character is a token.

use alloc::string::String;

use crate::metrics::pytext::is_py_whitespace;

/// `TokenizerChar.__call__` followed by the word split's normalisation.
pub(super) fn tokenize_char(line: &str) -> String {
    let mut out = String::with_capacity(line.len() * 2);
    for c in line.chars().filter(|&c| !is_py_whitespace(c)) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push(c);
    }
    out
}
