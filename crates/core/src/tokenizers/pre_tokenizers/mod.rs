//! Pre-tokenizers: the second stage, which cuts the normalized text into
//! "words" (each keeps its offsets) that the model then tokenizes one by one.

pub mod byte_level;
pub mod metaspace;
pub mod split;

use super::error::TokenizerError;
use super::json::{self, Obj};
use super::normalized::{char_matches, cover_matches, NormalizedString, SplitBehavior};
use super::patterns::KnownPattern;
use super::unicode::is_bert_punctuation;
use super::PreTokenizedString;
use alloc::format;
use alloc::string::ToString;
use alloc::vec::Vec;
use serde_json::{json, Value};

pub use byte_level::ByteLevel;
pub use metaspace::{Metaspace, PrependScheme};
pub use split::SplitPattern;

/// A pre-tokenizer, as named in tokenizer.json.
#[derive(Debug, Clone)]
pub enum PreTokenizer {
    /// GPT-2's byte-level pre-tokenizer (regex split + byte-to-char mapping).
    ByteLevel(ByteLevel),
    /// `\w+|[^\w\s]+`, dropping whitespace.
    Whitespace,
    /// Split on whitespace, dropping it.
    WhitespaceSplit,
    /// Split on whitespace (dropped) and punctuation (isolated).
    Bert,
    /// SentencePiece's `▁` space marker.
    Metaspace(Metaspace),
    /// Split on a pattern.
    Split {
        /// The pattern.
        pattern: SplitPattern,
        /// What to do with the matches.
        behavior: SplitBehavior,
        /// Split on the non-matches instead.
        invert: bool,
    },
    /// Split digits from the rest (one by one when `individual_digits`).
    Digits {
        /// Each digit is its own word.
        individual_digits: bool,
    },
    /// Split on punctuation.
    Punctuation(SplitBehavior),
    /// Several pre-tokenizers in order.
    Sequence(Vec<PreTokenizer>),
}

/// Applies `split_fn` to every split that has no tokens yet, dropping empty results.
pub(crate) fn split_each<F>(pre: &mut PreTokenizedString, mut split_fn: F)
where
    F: FnMut(NormalizedString) -> Vec<NormalizedString>,
{
    // Infallible splitters cannot hit the error branch.
    let _ = try_split_each(pre, |n| Ok(split_fn(n)));
}

/// [`split_each`] for a splitter that can fail (a regex engine at run time);
/// on error `pre` keeps the splits made so far and the error is returned.
pub(crate) fn try_split_each<F>(pre: &mut PreTokenizedString, mut split_fn: F) -> Result<(), TokenizerError>
where
    F: FnMut(NormalizedString) -> Result<Vec<NormalizedString>, TokenizerError>,
{
    let old = core::mem::take(&mut pre.splits);
    let mut new_splits = Vec::with_capacity(old.len());
    for split in old {
        if split.tokens.is_some() {
            new_splits.push(split);
            continue;
        }
        for n in split_fn(split.normalized)? {
            if !n.is_empty() {
                new_splits.push(super::Split { normalized: n, tokens: None });
            }
        }
    }
    pre.splits = new_splits;
    Ok(())
}

impl PreTokenizer {
    /// Cuts every untokenized split of `pre`. Only a `Split` run by the regex
    /// engine can fail (see [`SplitPattern::find_all`]).
    pub fn pre_tokenize(&self, pre: &mut PreTokenizedString) -> Result<(), TokenizerError> {
        match self {
            Self::ByteLevel(b) => b.pre_tokenize(pre),
            Self::Whitespace => split_each(pre, |n| {
                let found = KnownPattern::Whitespace.find_all(n.get());
                // Invert + Removed: keep the matches, drop what is between.
                let cover: Vec<_> = cover_matches(n.get(), &found).into_iter().map(|(o, m)| (o, !m)).collect();
                n.split_by(cover, SplitBehavior::Removed)
            }),
            Self::WhitespaceSplit => split_each(pre, |n| {
                let m = char_matches(n.get(), char::is_whitespace);
                n.split_by(m, SplitBehavior::Removed)
            }),
            Self::Bert => {
                split_each(pre, |n| {
                    let m = char_matches(n.get(), char::is_whitespace);
                    n.split_by(m, SplitBehavior::Removed)
                });
                split_each(pre, |n| {
                    let m = char_matches(n.get(), is_bert_punctuation);
                    n.split_by(m, SplitBehavior::Isolated)
                });
            }
            Self::Metaspace(m) => m.pre_tokenize(pre),
            Self::Split { pattern, behavior, invert } => {
                return try_split_each(pre, |n| {
                    let found = pattern.find_all(n.get())?;
                    let mut cover = cover_matches(n.get(), &found);
                    if *invert {
                        cover.iter_mut().for_each(|(_, m)| *m = !*m);
                    }
                    Ok(n.split_by(cover, *behavior))
                })
            }
            Self::Digits { individual_digits } => split_each(pre, |n| {
                let m = char_matches(n.get(), char::is_numeric);
                let behavior = if *individual_digits { SplitBehavior::Isolated } else { SplitBehavior::Contiguous };
                n.split_by(m, behavior)
            }),
            Self::Punctuation(behavior) => split_each(pre, |n| {
                let m = char_matches(n.get(), is_bert_punctuation);
                n.split_by(m, *behavior)
            }),
            Self::Sequence(list) => {
                for p in list {
                    p.pre_tokenize(pre)?;
                }
            }
        }
        Ok(())
    }

    /// Reads a pre-tokenizer from its JSON object.
    pub fn from_json(v: &Value, path: &str) -> Result<Self, TokenizerError> {
        let o: &Obj = json::as_obj(v, path)?;
        let ty = json::get_type(o, path)?;
        let behavior = |key: &str, default: SplitBehavior| -> Result<SplitBehavior, TokenizerError> {
            match json::opt_str(o, key, path)? {
                None => Ok(default),
                Some(name) => SplitBehavior::from_name(name)
                    .ok_or_else(|| TokenizerError::Invalid { path: json::join(path, key), reason: format!("unknown split behavior `{name}`") }),
            }
        };
        Ok(match ty {
            "ByteLevel" => Self::ByteLevel(ByteLevel::from_json(o, path)?),
            "Whitespace" => Self::Whitespace,
            "WhitespaceSplit" => Self::WhitespaceSplit,
            "BertPreTokenizer" => Self::Bert,
            "Metaspace" => Self::Metaspace(Metaspace::from_json(o, path)?),
            "Split" => {
                let pat = json::as_obj(json::req(o, "pattern", path)?, &json::join(path, "pattern"))?;
                let pattern = if let Some(s) = pat.get("String").and_then(Value::as_str) {
                    SplitPattern::Literal(s.to_string())
                } else if let Some(r) = pat.get("Regex").and_then(Value::as_str) {
                    SplitPattern::from_regex(r)?
                } else {
                    return Err(json::field_err(path, "pattern", "{\"String\": ..} or {\"Regex\": ..}"));
                };
                Self::Split {
                    pattern,
                    behavior: behavior("behavior", SplitBehavior::Isolated)?,
                    invert: json::bool_or(o, "invert", path, false)?,
                }
            }
            "Digits" => Self::Digits { individual_digits: json::bool_or(o, "individual_digits", path, false)? },
            "Punctuation" => Self::Punctuation(behavior("behavior", SplitBehavior::Isolated)?),
            "Sequence" => {
                let list = json::req_array(o, "pretokenizers", path)?;
                let mut out = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    out.push(Self::from_json(item, &format!("{path}.pretokenizers[{i}]"))?);
                }
                Self::Sequence(out)
            }
            other => return Err(json::unsupported("pre_tokenizer", other)),
        })
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::ByteLevel(b) => b.to_json(),
            Self::Whitespace => json!({"type": "Whitespace"}),
            Self::WhitespaceSplit => json!({"type": "WhitespaceSplit"}),
            Self::Bert => json!({"type": "BertPreTokenizer"}),
            Self::Metaspace(m) => m.to_json(),
            Self::Split { pattern, behavior, invert } => {
                let pattern = match (pattern, pattern.regex_source()) {
                    (SplitPattern::Literal(s), _) => json!({"String": s}),
                    (_, source) => json!({"Regex": source}),
                };
                json!({"type": "Split", "pattern": pattern, "behavior": behavior.name(), "invert": invert})
            }
            Self::Digits { individual_digits } => json!({"type": "Digits", "individual_digits": individual_digits}),
            Self::Punctuation(b) => json!({"type": "Punctuation", "behavior": b.name()}),
            Self::Sequence(list) => {
                json!({"type": "Sequence", "pretokenizers": list.iter().map(Self::to_json).collect::<Vec<_>>()})
            }
        }
    }
}
