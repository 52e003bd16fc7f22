//! BERT's normalizer: remove control chars, map whitespace to ` `, put spaces
//! around CJK ideographs, strip accents (NFD then drop `Mn`), lowercase.

use super::super::error::TokenizerError;
use super::super::json::{self, Obj};
use super::super::normalized::NormalizedString;
use super::super::unicode::{is_bert_control, is_chinese_char, is_mark_nonspacing};
use super::unicode_forms::UnicodeForm;
use alloc::vec::Vec;
use serde_json::{json, Value};

/// Settings of HF's `BertNormalizer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BertNormalizer {
    /// Remove control chars and turn every whitespace into a plain space.
    pub clean_text: bool,
    /// Surround CJK ideographs with spaces so they become their own words.
    pub handle_chinese_chars: bool,
    /// Strip accents; `None` means "same as `lowercase`".
    pub strip_accents: Option<bool>,
    /// Lowercase.
    pub lowercase: bool,
}

impl BertNormalizer {
    pub(crate) fn from_json(o: &Obj, path: &str) -> Result<Self, TokenizerError> {
        Ok(Self {
            clean_text: json::bool_or(o, "clean_text", path, true)?,
            handle_chinese_chars: json::bool_or(o, "handle_chinese_chars", path, true)?,
            strip_accents: json::opt_bool(o, "strip_accents", path)?,
            lowercase: json::bool_or(o, "lowercase", path, true)?,
        })
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "type": "BertNormalizer",
            "clean_text": self.clean_text,
            "handle_chinese_chars": self.handle_chinese_chars,
            "strip_accents": self.strip_accents,
            "lowercase": self.lowercase,
        })
    }

    /// Applies the enabled steps in HF's order.
    pub fn normalize(&self, n: &mut NormalizedString) {
        if self.clean_text {
            n.filter(|c| !(c == '\0' || c == '\u{fffd}' || is_bert_control(c)));
            n.map(|c| if matches!(c, '\t' | '\n' | '\r') || c.is_whitespace() { ' ' } else { c });
        }
        if self.handle_chinese_chars {
            let mut changes: Vec<(char, isize)> = Vec::with_capacity(n.len());
            for c in n.get().chars() {
                if is_chinese_char(c) {
                    changes.extend([(' ', 0), (c, 1), (' ', 1)]);
                } else {
                    changes.push((c, 0));
                }
            }
            n.transform(changes, 0);
        }
        if self.strip_accents.unwrap_or(self.lowercase) {
            UnicodeForm::Nfd.normalize(n);
            n.filter(|c| !is_mark_nonspacing(c));
        }
        if self.lowercase {
            n.lowercase();
        }
    }
}
