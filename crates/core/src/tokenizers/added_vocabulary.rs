//! Added tokens: special tokens (`[CLS]`, `<|endoftext|>`) and user-added
//! words that are cut out of the text BEFORE the model sees it.
//!
//! Tokens with `normalized: false` are matched in the raw input; the others
//! in the normalized text (using their normalized form). Matching is
//! leftmost-longest; `single_word` only matches outside words, `lstrip` /
//! `rstrip` swallow the whitespace on their left / right (HF semantics).

use super::error::TokenizerError;
use super::json::{self, Obj};
use super::models::{Model, Token};
use super::normalized::{NormalizedString, Offsets};
use super::normalizers::Normalizer;
use super::unicode::is_word_char;
use super::{PreTokenizedString, Split};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hashbrown::{HashMap, HashSet};
use serde_json::{json, Value};

/// An added token and its matching options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedToken {
    /// The text.
    pub content: String,
    /// Only match when not inside a word.
    pub single_word: bool,
    /// Swallow the whitespace on the left.
    pub lstrip: bool,
    /// Swallow the whitespace on the right.
    pub rstrip: bool,
    /// Match against the normalized text (else the raw input).
    pub normalized: bool,
    /// A special token (skipped by `decode(skip_special_tokens)`).
    pub special: bool,
}

impl AddedToken {
    /// A special token as trainers add them.
    pub fn special(content: &str) -> Self {
        Self { content: content.to_string(), single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }
    }
}

/// A set of literal patterns matched leftmost-longest.
#[derive(Debug, Clone, Default)]
struct Matcher {
    /// (pattern, id), grouped by first byte.
    by_first_byte: HashMap<u8, Vec<(String, u32)>>,
}

impl Matcher {
    fn new(patterns: Vec<(String, u32)>) -> Self {
        let mut by_first_byte: HashMap<u8, Vec<(String, u32)>> = HashMap::new();
        for (p, id) in patterns {
            if let Some(&b) = p.as_bytes().first() {
                by_first_byte.entry(b).or_default().push((p, id));
            }
        }
        Self { by_first_byte }
    }

    fn is_empty(&self) -> bool {
        self.by_first_byte.is_empty()
    }

    /// Leftmost-longest non-overlapping matches: (start, end, id).
    fn find_iter(&self, text: &str) -> Vec<(usize, usize, u32)> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            let mut best: Option<(usize, u32)> = None;
            if let Some(cands) = self.by_first_byte.get(&bytes[i]) {
                for (p, id) in cands {
                    if bytes[i..].starts_with(p.as_bytes()) && best.is_none_or(|(len, _)| p.len() > len) {
                        best = Some((p.len(), *id));
                    }
                }
            }
            match best {
                Some((len, id)) => {
                    out.push((i, i + len, id));
                    i += len;
                }
                None => i += 1,
            }
        }
        out
    }
}

/// The added tokens of a tokenizer.
#[derive(Debug, Clone, Default)]
pub struct AddedVocabulary {
    /// content -> id
    map: HashMap<String, u32>,
    /// id -> token
    map_r: HashMap<u32, AddedToken>,
    /// In the order they were added (for saving).
    order: Vec<u32>,
    /// Contents of the special tokens.
    special: HashSet<String>,
    /// Normalized form of `normalized` tokens, when it differs.
    normalized_cache: HashMap<u32, String>,
    /// Matcher over the raw input (`normalized: false` tokens).
    raw_matcher: Matcher,
    /// Matcher over the normalized text.
    normalized_matcher: Matcher,
}

impl AddedVocabulary {
    /// Adds tokens the way HF's `add_tokens` does (ids from the model when the
    /// content is already in its vocabulary, else after it).
    pub fn add_tokens(&mut self, tokens: Vec<AddedToken>, model: &Model, normalizer: Option<&Normalizer>) {
        let vocab_size = model.vocab_size() as u32;
        let mut next_id = match self.map_r.keys().max() {
            None => vocab_size,
            Some(&max) if max >= vocab_size || vocab_size == 0 => max + 1,
            Some(_) => vocab_size,
        };
        for token in tokens {
            if token.content.is_empty() {
                continue;
            }
            if let Some(id) = self.map.get(&token.content) {
                if self.map_r.get(id) == Some(&token) {
                    continue;
                }
            }
            let id = match self.map.get(&token.content).copied().or_else(|| model.token_to_id(&token.content)) {
                Some(id) => id,
                None => {
                    let id = next_id;
                    next_id += 1;
                    id
                }
            };
            if token.normalized {
                if let Some(n) = normalizer {
                    let normed = n.normalize_str(&token.content);
                    if normed != token.content {
                        self.normalized_cache.insert(id, normed);
                    }
                }
            }
            self.map.insert(token.content.clone(), id);
            if token.special {
                self.special.insert(token.content.clone());
            }
            if !self.order.contains(&id) {
                self.order.push(id);
            }
            self.map_r.insert(id, token);
        }
        self.refresh();
    }

    fn refresh(&mut self) {
        let mut raw = Vec::new();
        let mut normalized = Vec::new();
        for (&id, token) in &self.map_r {
            if token.normalized {
                let p = self.normalized_cache.get(&id).cloned().unwrap_or_else(|| token.content.clone());
                normalized.push((p, id));
            } else {
                raw.push((token.content.clone(), id));
            }
        }
        self.raw_matcher = Matcher::new(raw);
        self.normalized_matcher = Matcher::new(normalized);
    }

    /// Id of an added token.
    pub fn token_to_id(&self, content: &str) -> Option<u32> {
        self.map.get(content).copied()
    }

    /// The string used when decoding an added token's id.
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        let token = self.map_r.get(&id)?;
        Some(self.normalized_cache.get(&id).map_or(token.content.as_str(), String::as_str))
    }

    /// Whether `token` is the content of a special token.
    pub fn is_special(&self, token: &str) -> bool {
        self.special.contains(token)
    }

    /// Number of added tokens.
    pub fn len(&self) -> usize {
        self.map_r.len()
    }

    /// True when there are no added tokens.
    pub fn is_empty(&self) -> bool {
        self.map_r.is_empty()
    }

    /// All added tokens with their ids, in insertion order.
    pub fn tokens(&self) -> Vec<(u32, &AddedToken)> {
        self.order.iter().filter_map(|id| self.map_r.get(id).map(|t| (*id, t))).collect()
    }

    /// HF's `find_matches`: the cover of `sentence` by added-token matches
    /// (with their id) and the gaps between them.
    fn find_matches(&self, sentence: &str, matcher: &Matcher) -> Vec<(Option<u32>, Offsets)> {
        if sentence.is_empty() {
            return alloc::vec![(None, (0, 0))];
        }
        if matcher.is_empty() {
            return alloc::vec![(None, (0, sentence.len()))];
        }
        let mut start_offset = 0;
        let mut splits = Vec::new();
        for (mut start, mut stop, id) in matcher.find_iter(sentence) {
            let Some(token) = self.map_r.get(&id) else { continue };
            if token.single_word {
                let start_space = start == 0 || !sentence[..start].chars().next_back().is_some_and(is_word_char);
                let stop_space = stop == sentence.len() || !sentence[stop..].chars().next().is_some_and(is_word_char);
                if !start_space || !stop_space {
                    continue;
                }
            }
            if token.lstrip {
                let before = &sentence[..start];
                let trimmed = before.trim_end_matches(char::is_whitespace);
                start = trimmed.len().max(start_offset);
            }
            if token.rstrip {
                let after = &sentence[stop..];
                stop += after.len() - after.trim_start_matches(char::is_whitespace).len();
            }
            if start_offset < start {
                splits.push((None, (start_offset, start)));
            }
            splits.push((Some(id), (start, stop)));
            start_offset = stop;
        }
        if start_offset != sentence.len() {
            splits.push((None, (start_offset, sentence.len())));
        }
        splits
    }

    /// True when every added token is matched in the raw input (none is `normalized`).
    pub fn only_raw_tokens(&self) -> bool {
        self.normalized_matcher.is_empty()
    }

    /// The raw input cut at added tokens: `(Some(id), range)` for a token,
    /// `(None, range)` for the text between (byte ranges).
    pub fn raw_splits(&self, text: &str) -> Vec<(Option<u32>, Offsets)> {
        self.find_matches(text, &self.raw_matcher)
    }

    fn split_with(&self, n: NormalizedString, raw: bool) -> Vec<Split> {
        let matcher = if raw { &self.raw_matcher } else { &self.normalized_matcher };
        let mut out = Vec::new();
        for (id, (start, end)) in self.find_matches(n.get(), matcher) {
            let Some(slice) = n.slice(start, end) else { continue };
            let tokens = id.map(|id| {
                let value = slice.get().to_string();
                let len = value.len();
                alloc::vec![Token { id, value, offsets: (0, len) }]
            });
            out.push(Split { normalized: slice, tokens });
        }
        out
    }

    /// Cuts out the added tokens and normalizes the rest (HF's `extract_and_normalize`).
    pub fn extract_and_normalize(&self, normalizer: Option<&Normalizer>, text: &str) -> PreTokenizedString {
        let whole = NormalizedString::from_original(text);
        let mut splits = Vec::new();
        for split in self.split_with(whole, true) {
            if split.tokens.is_some() {
                splits.push(split);
            } else {
                let mut n = split.normalized;
                if let Some(norm) = normalizer {
                    norm.normalize(&mut n);
                }
                splits.extend(self.split_with(n, false));
            }
        }
        splits.retain(|s| !s.normalized.is_empty());
        PreTokenizedString { original: String::from(text), splits }
    }

    /// Reads `added_tokens` (ids in the file are only hints, as in HF).
    pub fn tokens_from_json(v: &Value) -> Result<Vec<AddedToken>, TokenizerError> {
        let arr = v.as_array().ok_or(TokenizerError::Field { path: "added_tokens".into(), expected: "an array" })?;
        json::check_len(arr.len(), "added_tokens")?;
        let mut out = Vec::with_capacity(arr.len());
        for (i, item) in arr.iter().enumerate() {
            let path = format!("added_tokens[{i}]");
            let o: &Obj = json::as_obj(item, &path)?;
            if let Some(id) = o.get("id") {
                json::as_id(id, &json::join(&path, "id"))?;
            }
            let special = json::bool_or(o, "special", &path, false)?;
            out.push(AddedToken {
                content: json::req_str(o, "content", &path)?.to_string(),
                single_word: json::bool_or(o, "single_word", &path, false)?,
                lstrip: json::bool_or(o, "lstrip", &path, false)?,
                rstrip: json::bool_or(o, "rstrip", &path, false)?,
                normalized: json::bool_or(o, "normalized", &path, !special)?,
                special,
            });
        }
        Ok(out)
    }

    /// The `added_tokens` JSON list, sorted by id.
    pub fn to_json(&self) -> Value {
        let mut items: Vec<(u32, &AddedToken)> = self.tokens();
        items.sort_by_key(|(id, _)| *id);
        Value::Array(
            items
                .into_iter()
                .map(|(id, t)| {
                    json!({
                        "id": id, "content": t.content, "single_word": t.single_word, "lstrip": t.lstrip,
                        "rstrip": t.rstrip, "normalized": t.normalized, "special": t.special
                    })
                })
                .collect(),
        )
    }
}
