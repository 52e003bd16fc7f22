//! Character-level tokenizer: one token per Unicode scalar value, the
//! vocabulary being the sorted set of characters in the corpus (nanoGPT's
//! `shakespeare_char`).
//!
//! For export it is written as a Hugging Face `tokenizer.json` that the HF
//! `tokenizers` library reads and that encodes exactly one token per
//! character: a BPE model whose vocabulary is the characters and whose merge
//! list is empty (so nothing ever merges), with no normalizer and no
//! pre-tokenizer (so spaces and newlines are ordinary characters), and the
//! `Fuse` decoder (decoding concatenates the characters back).

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use serde_json::{json, Map, Value};

use super::TrainError;

/// Bidirectional char ↔ id map.
#[derive(Clone, Debug, PartialEq)]
pub struct CharTokenizer {
    /// id → character, sorted by code point.
    chars: Vec<char>,
    /// character → id.
    ids: BTreeMap<char, u32>,
}

impl CharTokenizer {
    /// The vocabulary of `text`: its distinct characters, sorted.
    pub fn from_corpus(text: &str) -> Self {
        let mut chars: Vec<char> = text.chars().collect::<alloc::collections::BTreeSet<_>>().into_iter().collect();
        chars.sort_unstable();
        Self::from_chars(chars)
    }

    fn from_chars(chars: Vec<char>) -> Self {
        let ids = chars.iter().enumerate().map(|(i, &c)| (c, i as u32)).collect();
        Self { chars, ids }
    }

    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        self.chars.len()
    }

    /// One id per character; a character outside the vocabulary is an error.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TrainError> {
        text.chars()
            .map(|c| self.ids.get(&c).copied().ok_or_else(|| TrainError::Format(format!("character {c:?} is not in the vocabulary"))))
            .collect()
    }

    /// Concatenates the characters of `ids` (unknown ids are skipped).
    pub fn decode(&self, ids: &[u32]) -> String {
        ids.iter().filter_map(|&i| self.chars.get(i as usize)).collect()
    }

    /// The HF `tokenizer.json` document.
    pub fn to_hf_json(&self) -> Value {
        let mut vocab = Map::new();
        for (i, c) in self.chars.iter().enumerate() {
            vocab.insert(String::from(*c), json!(i));
        }
        json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": [],
            "normalizer": null,
            "pre_tokenizer": null,
            "post_processor": null,
            "decoder": {"type": "Fuse"},
            "model": {
                "type": "BPE",
                "dropout": null,
                "unk_token": null,
                "continuing_subword_prefix": null,
                "end_of_word_suffix": null,
                "fuse_unk": false,
                "byte_fallback": false,
                "ignore_merges": false,
                "vocab": vocab,
                "merges": []
            }
        })
    }

    /// Reads back a `tokenizer.json` written by [`CharTokenizer::to_hf_json`]
    /// (any BPE whose tokens are single characters with ids 0..n and no merges).
    pub fn from_hf_json(text: &str) -> Result<Self, TrainError> {
        let v: Value = serde_json::from_str(text).map_err(|e| TrainError::Format(format!("tokenizer.json: {e}")))?;
        let model = v.get("model").ok_or_else(|| TrainError::Format("tokenizer.json has no model".into()))?;
        if model.get("merges").and_then(Value::as_array).is_some_and(|m| !m.is_empty()) {
            return Err(TrainError::Format("not a character tokenizer: it has merges".into()));
        }
        let vocab = model.get("vocab").and_then(Value::as_object).ok_or_else(|| TrainError::Format("tokenizer.json has no vocab".into()))?;
        let mut by_id: Vec<Option<char>> = alloc::vec![None; vocab.len()];
        for (token, id) in vocab {
            let mut it = token.chars();
            let (Some(c), None) = (it.next(), it.next()) else {
                return Err(TrainError::Format(format!("token {token:?} is not a single character")));
            };
            let slot = id.as_u64().and_then(|i| by_id.get_mut(i as usize)).ok_or_else(|| TrainError::Format(format!("token {token:?} has a bad id")))?;
            *slot = Some(c);
        }
        let chars: Option<Vec<char>> = by_id.into_iter().collect();
        let chars = chars.ok_or_else(|| TrainError::Format("vocabulary ids are not 0..n".into()))?;
        Ok(Self::from_chars(chars))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_text_and_json() {
        let t = CharTokenizer::from_corpus("hello world\n");
        assert_eq!(t.vocab_size(), 9);
        let ids = t.encode("hold\n").unwrap();
        assert_eq!(ids, [4, 6, 5, 2, 0]);
        assert_eq!(t.decode(&ids), "hold\n");
        assert!(t.encode("z").is_err());
        let back = CharTokenizer::from_hf_json(&t.to_hf_json().to_string()).unwrap();
        assert_eq!(back, t);
    }
}
