//! Models: the third stage, which turns each pre-tokenized word into tokens.

pub mod bpe;
pub mod unigram;
pub mod wordlevel;
pub mod wordpiece;

use super::error::TokenizerError;
use super::json::{self, Obj};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hashbrown::HashMap;
use serde_json::{Map, Value};

pub use bpe::{Bpe, MergeStep};
pub use unigram::Unigram;
pub use wordlevel::WordLevel;
pub use wordpiece::WordPiece;

/// A token produced by a model, with byte offsets inside its word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// Vocabulary id.
    pub id: u32,
    /// Its text (the vocabulary entry, or the raw text for unknown pieces).
    pub value: String,
    /// Byte range inside the word.
    pub offsets: (usize, usize),
}

/// A model, as named in tokenizer.json.
#[derive(Debug, Clone)]
pub enum Model {
    /// Byte-Pair Encoding.
    Bpe(Bpe),
    /// WordPiece.
    WordPiece(WordPiece),
    /// Unigram.
    Unigram(Unigram),
    /// WordLevel.
    WordLevel(WordLevel),
}

impl Model {
    /// Tokenizes one word.
    pub fn tokenize(&self, word: &str) -> Result<Vec<Token>, TokenizerError> {
        match self {
            Self::Bpe(m) => m.tokenize(word),
            Self::WordPiece(m) => m.tokenize(word),
            Self::Unigram(m) => m.tokenize(word),
            Self::WordLevel(m) => m.tokenize(word),
        }
    }

    /// Id of a token, if in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        match self {
            Self::Bpe(m) => m.vocab.get(token).copied(),
            Self::WordPiece(m) => m.vocab.get(token).copied(),
            Self::Unigram(m) => m.token_to_id.get(token).copied(),
            Self::WordLevel(m) => m.vocab.get(token).copied(),
        }
    }

    /// Token of an id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        match self {
            Self::Bpe(m) => m.vocab_r.get(&id).map(String::as_str),
            Self::WordPiece(m) => m.vocab_r.get(&id).map(String::as_str),
            Self::Unigram(m) => m.id_to_token(id),
            Self::WordLevel(m) => m.vocab_r.get(&id).map(String::as_str),
        }
    }

    /// Number of entries (HF's `get_vocab_size`).
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Bpe(m) => m.vocab.len(),
            Self::WordPiece(m) => m.vocab.len(),
            Self::Unigram(m) => m.vocab.len(),
            Self::WordLevel(m) => m.vocab.len(),
        }
    }

    /// Reads a model from its JSON object.
    pub fn from_json(v: &Value, path: &str) -> Result<Self, TokenizerError> {
        let o: &Obj = json::as_obj(v, path)?;
        // HF infers the type from the fields when `type` is missing.
        let ty = match o.get("type").and_then(Value::as_str) {
            Some(t) => t,
            None if o.contains_key("merges") => "BPE",
            None if o.get("vocab").is_some_and(Value::is_array) => "Unigram",
            None if o.contains_key("continuing_subword_prefix") => "WordPiece",
            None => return Err(json::field_err(path, "type", "a string")),
        };
        Ok(match ty {
            "BPE" => Self::Bpe(Bpe::from_json(o, path)?),
            "WordPiece" => Self::WordPiece(WordPiece::from_json(o, path)?),
            "Unigram" => Self::Unigram(Unigram::from_json(o, path)?),
            "WordLevel" => Self::WordLevel(WordLevel::from_json(o, path)?),
            other => return Err(json::unsupported("model", other)),
        })
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Bpe(m) => m.to_json(),
            Self::WordPiece(m) => m.to_json(),
            Self::Unigram(m) => m.to_json(),
            Self::WordLevel(m) => m.to_json(),
        }
    }
}

/// Reads `"vocab": {"token": id, ..}` with size and id checks.
pub(crate) fn read_vocab_map(o: &Obj, path: &str) -> Result<HashMap<String, u32>, TokenizerError> {
    let map = o.get("vocab").and_then(Value::as_object).ok_or_else(|| json::field_err(path, "vocab", "an object"))?;
    json::check_len(map.len(), "model.vocab")?;
    let mut vocab = HashMap::with_capacity(map.len());
    for (token, id) in map {
        let id = json::as_id(id, &alloc::format!("{path}.vocab[{token:?}]"))?;
        vocab.insert(token.clone(), id);
    }
    Ok(vocab)
}

/// Writes a vocabulary as a JSON object ordered by id.
pub(crate) fn vocab_to_json(vocab: &HashMap<String, u32>) -> Value {
    let mut entries: Vec<(&String, &u32)> = vocab.iter().collect();
    entries.sort_by_key(|(t, id)| (**id, (*t).clone()));
    let mut map = Map::new();
    for (t, id) in entries {
        map.insert(t.to_string(), Value::from(*id));
    }
    Value::Object(map)
}
