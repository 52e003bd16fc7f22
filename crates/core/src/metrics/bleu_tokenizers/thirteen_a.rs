//! sacrebleu's `13a` tokenizer (mteval-v13a.pl), the BLEU default.

use alloc::string::String;
use alloc::vec::Vec;

use super::regexp::tokenize_regexp;

/// `Tokenizer13a.__call__`: drop `<skipped>`, join hyphenated line breaks,
/// unescape four HTML entities (in this order, like chained `str.replace`),
/// pad with spaces and run the shared regexp tokenizer.
pub(super) fn tokenize_13a(line: &str) -> String {
    let mut text: String = line.replace("<skipped>", "");
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
    tokenize_regexp(&padded)
}
