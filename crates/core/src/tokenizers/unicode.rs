//! Character classes, exactly as HF `tokenizers` sees them.
//!
//! HF classifies characters with tables of several Unicode vintages
//! (Oniguruma for the GPT-2 regex, the `unicode_categories` crate for BERT,
//! Rust's `regex` for `Whitespace`). The tables in [`super::unicode_tables`]
//! were measured on the reference itself, so a character is a "letter" here
//! exactly when it is one for HF.

use super::unicode_tables as t;

/// True when `c` falls in one of the sorted inclusive `ranges`.
fn in_table(ranges: &[(u32, u32)], c: char) -> bool {
    let cp = c as u32;
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < cp {
                core::cmp::Ordering::Less
            } else if lo > cp {
                core::cmp::Ordering::Greater
            } else {
                core::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// `\p{L}` in the GPT-2 / cl100k / Llama-3 regexes.
#[inline]
pub fn is_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_table(t::ONIG_LETTER, c)
}

/// `\p{N}` in the GPT-2 / cl100k / Llama-3 regexes.
#[inline]
pub fn is_number(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_table(t::ONIG_NUMBER, c)
}

/// `\s` in the GPT-2 / cl100k / Llama-3 regexes.
#[inline]
pub fn is_regex_space(c: char) -> bool {
    if c.is_ascii() {
        return matches!(c, ' ' | '\t' | '\n' | '\u{b}' | '\u{c}' | '\r');
    }
    in_table(t::ONIG_SPACE, c)
}

/// BERT's punctuation: ASCII punctuation or a Unicode `P*` character.
pub fn is_bert_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || in_table(t::BERT_PUNCT, c)
}

/// BERT's "control" characters that `clean_text` removes.
pub fn is_bert_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && in_table(t::BERT_CONTROL, c)
}

/// Non-spacing marks (`Mn`), removed by `strip_accents`.
pub fn is_mark_nonspacing(c: char) -> bool {
    in_table(t::MARK_NONSPACING, c)
}

/// Combining marks (`Mn`, `Mc`, `Me`) as HF's `StripAccents` sees them.
pub fn is_combining_mark(c: char) -> bool {
    in_table(t::COMBINING_MARK, c)
}

/// Whether HF's (older) Unicode tables decompose `c` at all, canonically
/// (`compat == false`) or with compatibility mappings. Newer Unicode versions
/// added decompositions HF does not know; those chars stay as they are.
pub fn hf_decomposes(c: char, compat: bool) -> bool {
    if c.is_ascii() {
        return false;
    }
    in_table(if compat { t::HF_NFKD_CHANGES } else { t::HF_NFD_CHANGES }, c)
}

/// `\w` of Rust's `regex` (used by the `Whitespace` pre-tokenizer).
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    in_table(t::REGEX_WORD, c)
}

/// `\s` of Rust's `regex` (Unicode `White_Space`).
pub fn is_white_space(c: char) -> bool {
    in_table(t::REGEX_SPACE, c)
}

/// CJK ideographs that BERT surrounds with spaces.
pub fn is_chinese_char(c: char) -> bool {
    matches!(
        c as u32,
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert!(is_letter('é') && is_letter('中') && !is_letter('1'));
        assert!(is_number('٣') && !is_number('a'));
        assert!(is_regex_space('\u{3000}') && !is_regex_space('a'));
        assert!(is_bert_punctuation('¿') && is_bert_punctuation('$'));
        assert!(is_bert_control('\u{200b}') || is_bert_control('\u{7f}'));
        assert!(is_mark_nonspacing('\u{301}'));
    }
}
