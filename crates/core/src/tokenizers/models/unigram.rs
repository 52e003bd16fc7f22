//! Unigram language model (SentencePiece, T5, ALBERT).
//!
//! Every piece has a log-probability score; a word is cut into the sequence
//! of pieces with the highest total score, found by Viterbi over the byte
//! positions of the word: `best[end] = max(best[start] + score(piece))` for
//! every vocabulary piece `word[start..end]`. A char with no single-char
//! piece gets the unknown token with a penalty (min score - 10), and
//! consecutive unknown chars are fused into one unknown token.

use super::super::error::TokenizerError;
use super::super::json::{self, Obj};
use super::Token;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hashbrown::HashMap;
use serde_json::{json, Value};

/// Score penalty of the unknown token below the worst piece (as SentencePiece).
const UNK_PENALTY: f64 = 10.0;

/// A Unigram model.
#[derive(Debug, Clone)]
pub struct Unigram {
    /// (piece, log-probability), indexed by id.
    pub vocab: Vec<(String, f64)>,
    /// piece -> id (the last id wins for duplicate pieces, as HF).
    pub token_to_id: HashMap<String, u32>,
    /// The unknown token's id.
    pub unk_id: Option<usize>,
    /// Unknown pieces become `<0xXX>` byte tokens when those exist.
    pub byte_fallback: bool,
    /// Lowest score in the vocabulary.
    min_score: f64,
    /// Longest piece, in bytes (bounds the Viterbi inner loop).
    max_piece_bytes: usize,
}

impl Unigram {
    /// Builds the model.
    pub fn new(vocab: Vec<(String, f64)>, unk_id: Option<usize>, byte_fallback: bool) -> Result<Self, TokenizerError> {
        if let Some(unk) = unk_id {
            if vocab.is_empty() || unk >= vocab.len() {
                return Err(TokenizerError::BadId { context: "model.unk_id", id: unk as u64 });
            }
        }
        let mut token_to_id = HashMap::with_capacity(vocab.len());
        let mut min_score = f64::INFINITY;
        let mut max_piece_bytes = 0;
        for (id, (piece, score)) in vocab.iter().enumerate() {
            token_to_id.insert(piece.clone(), id as u32);
            if *score < min_score {
                min_score = *score;
            }
            max_piece_bytes = max_piece_bytes.max(piece.len());
        }
        Ok(Self { vocab, token_to_id, unk_id, byte_fallback, min_score, max_piece_bytes })
    }

    /// Reads `{"type": "Unigram", "vocab": [[piece, score], ..], "unk_id": .., ..}`.
    pub fn from_json(o: &Obj, path: &str) -> Result<Self, TokenizerError> {
        let list = json::req_array(o, "vocab", path)?;
        let mut vocab = Vec::with_capacity(list.len());
        for (i, item) in list.iter().enumerate() {
            let pair = item.as_array().filter(|a| a.len() == 2);
            let entry = pair.and_then(|a| Some((a[0].as_str()?.to_string(), a[1].as_f64()?)));
            match entry {
                Some(e) => vocab.push(e),
                None => return Err(json::field_err(path, &format!("vocab[{i}]"), "a [piece, score] pair")),
            }
        }
        let unk_id = match o.get("unk_id") {
            None | Some(Value::Null) => None,
            Some(v) => Some(json::as_id(v, &json::join(path, "unk_id"))? as usize),
        };
        Self::new(vocab, unk_id, json::bool_or(o, "byte_fallback", path, false)?)
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        json!({
            "type": "Unigram",
            "unk_id": self.unk_id,
            "vocab": self.vocab.iter().map(|(p, s)| json!([p, s])).collect::<Vec<_>>(),
            "byte_fallback": self.byte_fallback,
        })
    }

    /// The best segmentation of `sentence` into piece strings.
    pub fn encode<'s>(&self, sentence: &'s str) -> Result<Vec<&'s str>, TokenizerError> {
        #[derive(Clone, Copy)]
        struct Node {
            id: usize,
            score: f64,
            starts_at: Option<usize>,
        }
        let size = sentence.len();
        let unk_score = self.min_score - UNK_PENALTY;
        let mut best = alloc::vec![Node { id: 0, score: 0.0, starts_at: None }; size + 1];
        let mut start = 0;
        while start < size {
            let till_here = best[start].score;
            let Some(first) = sentence[start..].chars().next() else { break };
            let char_len = first.len_utf8();
            let mut has_single = false;
            let limit = (start + self.max_piece_bytes).min(size);
            let mut end = start + char_len;
            while end <= limit {
                if let Some(&id) = self.token_to_id.get(&sentence[start..end]) {
                    let id = id as usize;
                    let candidate = self.vocab[id].1 + till_here;
                    let node = &mut best[end];
                    if node.starts_at.is_none() || candidate > node.score {
                        *node = Node { id, score: candidate, starts_at: Some(start) };
                    }
                    if end - start == char_len {
                        has_single = true;
                    }
                }
                match sentence[end..].chars().next() {
                    Some(c) => end += c.len_utf8(),
                    None => break,
                }
            }
            if !has_single {
                let unk_id = self.unk_id.ok_or_else(|| TokenizerError::Invalid {
                    path: "model.unk_id".into(),
                    reason: format!("no piece covers {first:?} and the model has no unknown token"),
                })?;
                let candidate = unk_score + till_here;
                let node = &mut best[start + char_len];
                if node.starts_at.is_none() || candidate > node.score {
                    *node = Node { id: unk_id, score: candidate, starts_at: Some(start) };
                }
            }
            start += char_len;
        }
        // Walk back, fusing consecutive unknown pieces.
        let mut pieces: Vec<&str> = Vec::new();
        let mut end = size;
        let mut unk_end: Option<usize> = None;
        while end > 0 {
            let node = best[end];
            let Some(start) = node.starts_at else { break };
            if Some(node.id) == self.unk_id {
                if unk_end.is_none() {
                    unk_end = Some(end);
                }
            } else {
                if let Some(ue) = unk_end.take() {
                    pieces.push(&sentence[end..ue]);
                }
                pieces.push(&sentence[start..end]);
            }
            end = start;
        }
        if let Some(ue) = unk_end {
            pieces.push(&sentence[0..ue]);
        }
        pieces.reverse();
        Ok(pieces)
    }

    /// Tokenizes one word.
    pub fn tokenize(&self, word: &str) -> Result<Vec<Token>, TokenizerError> {
        if word.is_empty() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut offset = 0;
        for piece in self.encode(word)? {
            let len = piece.len();
            match self.token_to_id.get(piece) {
                Some(&id) => out.push(Token { id, value: piece.to_string(), offsets: (offset, offset + len) }),
                None => {
                    if self.byte_fallback {
                        let bytes: Option<Vec<Token>> = piece
                            .bytes()
                            .map(|b| {
                                let name = format!("<0x{b:02X}>");
                                self.token_to_id.get(&name).map(|&id| Token { id, value: name, offsets: (offset, offset + len) })
                            })
                            .collect();
                        if let Some(bytes) = bytes {
                            out.extend(bytes);
                            offset += len;
                            continue;
                        }
                    }
                    let unk = self.unk_id.ok_or_else(|| TokenizerError::Invalid {
                        path: "model.unk_id".into(),
                        reason: "unknown piece and no unknown token".into(),
                    })?;
                    out.push(Token { id: unk as u32, value: piece.to_string(), offsets: (offset, offset + len) });
                }
            }
            offset += len;
        }
        Ok(out)
    }

    /// The piece of an id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.vocab.get(id as usize).map(|(p, _)| p.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viterbi_prefers_high_scores() {
        let vocab = alloc::vec![
            ("<unk>".to_string(), 0.0),
            ("a".to_string(), -1.0),
            ("b".to_string(), -1.0),
            ("ab".to_string(), -1.5),
        ];
        let m = Unigram::new(vocab, Some(0), false).unwrap();
        assert_eq!(m.encode("abab").unwrap(), ["ab", "ab"]);
        assert_eq!(m.encode("xxa").unwrap(), ["xx", "a"]);
    }
}
