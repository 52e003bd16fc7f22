//! WordLevel: every pre-tokenized word is looked up whole.

use super::super::error::TokenizerError;
use super::super::json::{self, Obj};
use super::Token;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hashbrown::HashMap;
use serde_json::{json, Value};

/// A WordLevel model.
#[derive(Debug, Clone)]
pub struct WordLevel {
    /// token -> id
    pub vocab: HashMap<String, u32>,
    /// id -> token
    pub vocab_r: HashMap<u32, String>,
    /// Token for unknown words.
    pub unk_token: String,
}

impl WordLevel {
    /// Reads `{"type": "WordLevel", ..}`.
    pub fn from_json(o: &Obj, path: &str) -> Result<Self, TokenizerError> {
        let vocab = super::read_vocab_map(o, path)?;
        let mut vocab_r = HashMap::with_capacity(vocab.len());
        for (t, &id) in &vocab {
            vocab_r.entry(id).or_insert_with(|| t.clone());
        }
        let unk_token = json::opt_str(o, "unk_token", path)?.unwrap_or("<unk>").to_string();
        Ok(Self { vocab, vocab_r, unk_token })
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        json!({"type": "WordLevel", "vocab": super::vocab_to_json(&self.vocab), "unk_token": self.unk_token})
    }

    /// Tokenizes one word.
    pub fn tokenize(&self, word: &str) -> Result<Vec<Token>, TokenizerError> {
        if let Some(&id) = self.vocab.get(word) {
            return Ok(alloc::vec![Token { id, value: word.to_string(), offsets: (0, word.len()) }]);
        }
        match self.vocab.get(&self.unk_token) {
            Some(&id) => Ok(alloc::vec![Token { id, value: self.unk_token.clone(), offsets: (0, word.len()) }]),
            None => Err(TokenizerError::UnknownToken { context: "model.unk_token", token: self.unk_token.clone() }),
        }
    }
}
