//! Normalizers: the first stage, which cleans the raw text (lowercase,
//! Unicode normal forms, BERT cleaning, SentencePiece's precompiled map...)
//! while the [`NormalizedString`] keeps every offset pointing at the input.

pub mod bert;
pub mod precompiled;
pub mod unicode_forms;

use super::error::TokenizerError;
use super::json::{self, Obj};
use super::normalized::{literal_matches, NormalizedString, Offsets};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{json, Value};

pub use bert::BertNormalizer;
pub use precompiled::Precompiled;
pub use unicode_forms::UnicodeForm;

/// What a `Replace` normalizer / decoder looks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplacePattern {
    /// A literal string.
    Literal(String),
    /// A regex `<c>{n,}`: `n` or more repetitions of one char (T5's ` {2,}`).
    RepeatedChar {
        /// The repeated char.
        c: char,
        /// Minimum repetitions.
        min: usize,
        /// The regex as written, to save it back.
        source: String,
    },
}

impl ReplacePattern {
    /// Reads `{"String": ..}` or `{"Regex": ..}`.
    pub fn from_json(v: &Value, path: &str) -> Result<Self, TokenizerError> {
        let o = json::as_obj(v, path)?;
        if let Some(s) = o.get("String") {
            let s = s.as_str().ok_or_else(|| json::field_err(path, "String", "a string"))?;
            return Ok(Self::Literal(s.to_string()));
        }
        if let Some(r) = o.get("Regex") {
            let r = r.as_str().ok_or_else(|| json::field_err(path, "Regex", "a string"))?;
            return parse_repeated_char(r).ok_or_else(|| json::unsupported("Replace regex", r));
        }
        Err(json::field_err(path, "String|Regex", "present"))
    }

    /// Serialized form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Literal(s) => json!({ "String": s }),
            Self::RepeatedChar { source, .. } => json!({ "Regex": source }),
        }
    }

    /// The byte ranges it matches in `text`.
    pub fn find(&self, text: &str) -> Vec<Offsets> {
        match self {
            Self::Literal(s) => literal_matches(text, s),
            Self::RepeatedChar { c, min, .. } => {
                let mut out = Vec::new();
                let mut run_start = None;
                let mut run_len = 0;
                for (b, ch) in text.char_indices() {
                    if ch == *c {
                        if run_start.is_none() {
                            run_start = Some(b);
                            run_len = 0;
                        }
                        run_len += 1;
                    } else if let Some(s) = run_start.take() {
                        if run_len >= *min {
                            out.push((s, b));
                        }
                    }
                }
                if let Some(s) = run_start {
                    if run_len >= *min {
                        out.push((s, text.len()));
                    }
                }
                out
            }
        }
    }
}

/// Parses `X{n,}` or `X+` where X is one literal char (possibly `\s`-free).
fn parse_repeated_char(r: &str) -> Option<ReplacePattern> {
    let mut chars = r.chars();
    let c = chars.next()?;
    if "\\[](){}.*+?^$|".contains(c) {
        return None;
    }
    let rest: String = chars.collect();
    let min = if rest == "+" {
        1
    } else {
        let inner = rest.strip_prefix('{')?.strip_suffix(",}")?;
        inner.parse::<usize>().ok().filter(|&n| n >= 1)?
    };
    Some(ReplacePattern::RepeatedChar { c, min, source: r.to_string() })
}

/// A normalizer, as named in tokenizer.json.
#[derive(Debug, Clone)]
pub enum Normalizer {
    /// BERT's cleaning / CJK spacing / accent stripping / lowercasing.
    Bert(BertNormalizer),
    /// Lowercase everything.
    Lowercase,
    /// Remove combining marks (to be used after NFD/NFKD).
    StripAccents,
    /// A Unicode normal form (NFC, NFD, NFKC, NFKD).
    Unicode(UnicodeForm),
    /// Strip whitespace on the left and/or right.
    Strip {
        /// Strip leading whitespace.
        left: bool,
        /// Strip trailing whitespace.
        right: bool,
    },
    /// Prepend a string to non-empty input (Llama: `▁`).
    Prepend(String),
    /// Replace every match of a pattern by `content`.
    Replace {
        /// What to find.
        pattern: ReplacePattern,
        /// What to put instead.
        content: String,
    },
    /// SentencePiece's precompiled normalization map (T5, ALBERT).
    Precompiled(Box<Precompiled>),
    /// SentencePiece's NMT cleanup: drop ASCII controls, map odd spaces to ` `.
    Nmt,
    /// Several normalizers in order.
    Sequence(Vec<Normalizer>),
}

/// The NMT normalizer's char filter and map (HF's `do_nmt`).
fn nmt(n: &mut NormalizedString) {
    n.filter(|c| !matches!(c as u32, 0x0001..=0x0008 | 0x000B | 0x000E..=0x001F | 0x007F | 0x008F | 0x009F));
    n.map(|c| match c as u32 {
        0x0009 | 0x000A | 0x000C | 0x000D | 0x1680 | 0x200B..=0x200F | 0x2028 | 0x2029 | 0x2581 | 0xFEFF
        | 0xFFFD => ' ',
        _ => c,
    });
}

impl Normalizer {
    /// Applies this normalizer in place.
    pub fn normalize(&self, n: &mut NormalizedString) {
        match self {
            Self::Bert(b) => b.normalize(n),
            Self::Lowercase => n.lowercase(),
            Self::StripAccents => n.filter(|c| !super::unicode::is_combining_mark(c)),
            Self::Unicode(form) => form.normalize(n),
            Self::Strip { left, right } => n.lrstrip(*left, *right),
            Self::Prepend(s) => {
                if !n.is_empty() {
                    n.prepend(s)
                }
            }
            Self::Replace { pattern, content } => {
                let matches = pattern.find(n.get());
                if !matches.is_empty() {
                    n.replace_matches(&matches, content);
                }
            }
            Self::Precompiled(p) => p.normalize(n),
            Self::Nmt => nmt(n),
            Self::Sequence(list) => list.iter().for_each(|x| x.normalize(n)),
        }
    }

    /// Normalizes a plain string (used for added tokens with `normalized: true`).
    pub fn normalize_str(&self, s: &str) -> String {
        let mut n = NormalizedString::from_original(s);
        self.normalize(&mut n);
        n.get().to_string()
    }

    /// Reads a normalizer from its JSON object.
    pub fn from_json(v: &Value, path: &str) -> Result<Self, TokenizerError> {
        let o: &Obj = json::as_obj(v, path)?;
        let ty = json::get_type(o, path)?;
        Ok(match ty {
            "BertNormalizer" => Self::Bert(BertNormalizer::from_json(o, path)?),
            "Lowercase" => Self::Lowercase,
            "StripAccents" => Self::StripAccents,
            "NFC" => Self::Unicode(UnicodeForm::Nfc),
            "NFD" => Self::Unicode(UnicodeForm::Nfd),
            "NFKC" => Self::Unicode(UnicodeForm::Nfkc),
            "NFKD" => Self::Unicode(UnicodeForm::Nfkd),
            "Strip" => Self::Strip {
                left: json::bool_or(o, "strip_left", path, true)?,
                right: json::bool_or(o, "strip_right", path, true)?,
            },
            "Prepend" => Self::Prepend(json::req_str(o, "prepend", path)?.to_string()),
            "Replace" => Self::Replace {
                pattern: ReplacePattern::from_json(json::req(o, "pattern", path)?, &json::join(path, "pattern"))?,
                content: json::req_str(o, "content", path)?.to_string(),
            },
            "Precompiled" => {
                let map = json::req_str(o, "precompiled_charsmap", path)?;
                Self::Precompiled(Box::new(Precompiled::from_base64(map).map_err(|reason| {
                    TokenizerError::Invalid { path: json::join(path, "precompiled_charsmap"), reason }
                })?))
            }
            "Nmt" => Self::Nmt,
            "Sequence" => {
                let list = json::req_array(o, "normalizers", path)?;
                let mut out = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    out.push(Self::from_json(item, &format!("{path}.normalizers[{i}]"))?);
                }
                Self::Sequence(out)
            }
            other => return Err(json::unsupported("normalizer", other)),
        })
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Bert(b) => b.to_json(),
            Self::Lowercase => json!({"type": "Lowercase"}),
            Self::StripAccents => json!({"type": "StripAccents"}),
            Self::Unicode(f) => json!({"type": f.name()}),
            Self::Strip { left, right } => json!({"type": "Strip", "strip_left": left, "strip_right": right}),
            Self::Prepend(s) => json!({"type": "Prepend", "prepend": s}),
            Self::Replace { pattern, content } => {
                json!({"type": "Replace", "pattern": pattern.to_json(), "content": content})
            }
            Self::Precompiled(p) => json!({"type": "Precompiled", "precompiled_charsmap": p.to_base64()}),
            Self::Nmt => json!({"type": "Nmt"}),
            Self::Sequence(list) => {
                json!({"type": "Sequence", "normalizers": list.iter().map(Self::to_json).collect::<Vec<_>>()})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_repeated_spaces() {
        let p = parse_repeated_char(" {2,}").unwrap();
        assert_eq!(p.find("a  b c   d"), [(1, 3), (6, 9)]);
    }
}
