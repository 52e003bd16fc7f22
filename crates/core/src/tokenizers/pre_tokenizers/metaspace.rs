//! SentencePiece's space marker: spaces become `▁`, a `▁` is prepended to
//! the text (always, only at the very start, or never), and words are cut
//! before each `▁`.

use super::super::error::TokenizerError;
use super::super::json::{self, Obj};
use super::super::normalized::{char_matches, SplitBehavior};
use super::super::PreTokenizedString;
use super::split_each;
use alloc::format;
use alloc::string::String;
use serde_json::{json, Value};

/// When to prepend the replacement char.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrependScheme {
    /// Every split gets one.
    Always,
    /// Only the split that starts the input.
    First,
    /// Never.
    Never,
}

/// Settings of HF's `Metaspace` (pre-tokenizer and decoder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metaspace {
    /// The space marker, `▁` by default.
    pub replacement: char,
    /// When to prepend it.
    pub prepend_scheme: PrependScheme,
    /// Cut words before each marker.
    pub split: bool,
}

impl Metaspace {
    pub(crate) fn from_json(o: &Obj, path: &str) -> Result<Self, TokenizerError> {
        let mut prepend_scheme = match json::opt_str(o, "prepend_scheme", path)? {
            None | Some("always") => PrependScheme::Always,
            Some("first") => PrependScheme::First,
            Some("never") => PrependScheme::Never,
            Some(other) => {
                return Err(TokenizerError::Invalid {
                    path: json::join(path, "prepend_scheme"),
                    reason: format!("unknown prepend scheme `{other}`"),
                })
            }
        };
        if json::opt_bool(o, "add_prefix_space", path)? == Some(false) {
            if prepend_scheme != PrependScheme::Never && o.contains_key("prepend_scheme") {
                return Err(TokenizerError::Invalid {
                    path: json::join(path, "add_prefix_space"),
                    reason: "add_prefix_space does not match declared prepend_scheme".into(),
                });
            }
            prepend_scheme = PrependScheme::Never;
        }
        Ok(Self {
            replacement: json::req_char(o, "replacement", path)?,
            prepend_scheme,
            split: json::bool_or(o, "split", path, true)?,
        })
    }

    pub(crate) fn scheme_name(&self) -> &'static str {
        match self.prepend_scheme {
            PrependScheme::Always => "always",
            PrependScheme::First => "first",
            PrependScheme::Never => "never",
        }
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "type": "Metaspace",
            "replacement": String::from(self.replacement),
            "prepend_scheme": self.scheme_name(),
            "split": self.split,
        })
    }

    /// Replaces spaces, prepends the marker and splits.
    pub fn pre_tokenize(&self, pre: &mut PreTokenizedString) {
        let mut rep_buf = [0u8; 4];
        let rep: &str = self.replacement.encode_utf8(&mut rep_buf);
        split_each(pre, |mut n| {
            let spaces = char_matches(n.get(), |c| c == ' ');
            let found: alloc::vec::Vec<_> = spaces.into_iter().filter(|(_, m)| *m).map(|(o, _)| o).collect();
            if !found.is_empty() {
                n.replace_matches(&found, rep);
            }
            let starts = n.get().starts_with(self.replacement);
            match self.prepend_scheme {
                PrependScheme::Always if !starts => n.prepend(rep),
                PrependScheme::First if !starts && n.offsets_original().0 == 0 => n.prepend(rep),
                _ => {}
            }
            if self.split {
                let m = char_matches(n.get(), |c| c == self.replacement);
                n.split_by(m, SplitBehavior::MergedWithNext)
            } else {
                alloc::vec![n]
            }
        });
    }
}
