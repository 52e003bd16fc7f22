//! WordPiece (BERT): greedy longest-match-first. A word is cut into the
//! longest vocabulary prefix, then the longest `##`-prefixed continuation,
//! and so on; if any part cannot be matched the whole word is `[UNK]`.

use super::super::error::TokenizerError;
use super::super::json::{self, Obj};
use super::Token;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hashbrown::HashMap;
use serde_json::{json, Value};

/// A WordPiece model.
#[derive(Debug, Clone)]
pub struct WordPiece {
    /// token -> id
    pub vocab: HashMap<String, u32>,
    /// id -> token
    pub vocab_r: HashMap<u32, String>,
    /// The unknown token (`[UNK]`).
    pub unk_token: String,
    /// Prefix of continuation pieces (`##`).
    pub continuing_subword_prefix: String,
    /// Longer words become `[UNK]` directly.
    pub max_input_chars_per_word: usize,
}

impl WordPiece {
    /// Builds the model from a vocabulary.
    pub fn new(vocab: HashMap<String, u32>, unk_token: String, prefix: String, max_chars: usize) -> Self {
        let mut vocab_r = HashMap::with_capacity(vocab.len());
        for (t, &id) in &vocab {
            vocab_r.entry(id).or_insert_with(|| t.clone());
        }
        Self { vocab, vocab_r, unk_token, continuing_subword_prefix: prefix, max_input_chars_per_word: max_chars }
    }

    /// Reads `{"type": "WordPiece", ..}`.
    pub fn from_json(o: &Obj, path: &str) -> Result<Self, TokenizerError> {
        Ok(Self::new(
            super::read_vocab_map(o, path)?,
            json::opt_str(o, "unk_token", path)?.unwrap_or("[UNK]").to_string(),
            json::opt_str(o, "continuing_subword_prefix", path)?.unwrap_or("##").to_string(),
            json::usize_or(o, "max_input_chars_per_word", path, 100)?,
        ))
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        json!({
            "type": "WordPiece",
            "unk_token": self.unk_token,
            "continuing_subword_prefix": self.continuing_subword_prefix,
            "max_input_chars_per_word": self.max_input_chars_per_word,
            "vocab": super::vocab_to_json(&self.vocab),
        })
    }

    fn unk(&self, len: usize) -> Result<Vec<Token>, TokenizerError> {
        let id = *self
            .vocab
            .get(&self.unk_token)
            .ok_or_else(|| TokenizerError::UnknownToken { context: "model.unk_token", token: self.unk_token.clone() })?;
        Ok(alloc::vec![Token { id, value: self.unk_token.clone(), offsets: (0, len) }])
    }

    /// Tokenizes one word.
    pub fn tokenize(&self, word: &str) -> Result<Vec<Token>, TokenizerError> {
        if word.chars().count() > self.max_input_chars_per_word {
            return self.unk(word.len());
        }
        let mut out = Vec::new();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.continuing_subword_prefix);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(Token { id, value: candidate.clone(), offsets: (start, end) });
                    break;
                }
                end -= word[start..end].chars().last().map_or(1, char::len_utf8);
            }
            match found {
                Some(t) => {
                    out.push(t);
                    start = end;
                }
                None => return self.unk(word.len()),
            }
        }
        Ok(out)
    }
}
