//! # Tokenizers
//!
//! HF-compatible tokenizers: load a `tokenizer.json`, encode text into ids
//! with offsets into the original text, decode ids back, and train BPE,
//! WordPiece and Unigram vocabularies.
//!
//! The pipeline (one folder per stage, one component per variant):
//!
//! ```text
//! text ─ added tokens cut out ─ normalizer ─ pre_tokenizer ─ model ─ post_processor ─ Encoding
//!                                                                          decoder ─ text
//! ```
//!
//! Every stage works on a [`normalized::NormalizedString`], which remembers
//! for every byte where it came from in the input, so the final offsets are
//! exactly the ones Python `tokenizers` reports (in characters).

pub mod added_vocabulary;
pub mod decoders;
pub mod error;
mod json;
pub mod models;
pub mod normalized;
pub mod normalizers;
pub mod patterns;
pub mod pre_tokenizers;
pub mod processors;
pub mod trainers;
pub mod unicode;
mod unicode_tables;

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{json, Map, Value};

pub use added_vocabulary::{AddedToken, AddedVocabulary};
pub use decoders::Decoder;
pub use error::TokenizerError;
pub use models::{MergeStep, Model, Token};
pub use normalized::NormalizedString;
pub use normalizers::Normalizer;
pub use pre_tokenizers::PreTokenizer;
pub use processors::PostProcessor;

/// One piece of the text on its way through the pipeline: a slice of the
/// normalized text and, once the model (or the added vocabulary) has run,
/// its tokens.
#[derive(Debug, Clone)]
pub struct Split {
    /// The text of this piece, with its alignments.
    pub normalized: NormalizedString,
    /// Its tokens (offsets relative to `normalized`), once tokenized.
    pub tokens: Option<Vec<Token>>,
}

/// The input text cut into splits.
#[derive(Debug, Clone)]
pub struct PreTokenizedString {
    /// The input as given.
    pub original: String,
    /// The pieces, in order.
    pub splits: Vec<Split>,
}

/// The result of encoding: parallel arrays, one entry per token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Encoding {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Token strings.
    pub tokens: Vec<String>,
    /// `(start, end)` in characters (Unicode scalar values) of the input.
    pub offsets: Vec<(usize, usize)>,
    /// Segment of each token (0 for the first sentence, 1 for the pair).
    pub type_ids: Vec<u32>,
    /// 1 for tokens added by the post-processor.
    pub special_tokens_mask: Vec<u32>,
}

impl Encoding {
    /// Concatenates encodings.
    pub fn merge(list: Vec<Encoding>) -> Encoding {
        let mut out = Encoding::default();
        for e in list {
            out.ids.extend(e.ids);
            out.tokens.extend(e.tokens);
            out.offsets.extend(e.offsets);
            out.type_ids.extend(e.type_ids);
            out.special_tokens_mask.extend(e.special_tokens_mask);
        }
        out
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when there are no tokens.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// Converts byte offsets of `text` to char offsets exactly as Python
/// `tokenizers` does (offsets that do not start inside the text are left in bytes).
struct ByteToChar {
    /// char index of each byte
    map: Vec<u32>,
}

impl ByteToChar {
    fn new(text: &str) -> Self {
        let mut map = Vec::with_capacity(text.len());
        for (i, c) in text.chars().enumerate() {
            map.extend(core::iter::repeat_n(i as u32, c.len_utf8()));
        }
        Self { map }
    }

    fn convert(&self, (start, end): (usize, usize)) -> (usize, usize) {
        match (self.map.get(start), self.map.get(end)) {
            (Some(&s), Some(&e)) => (s as usize, e as usize),
            (Some(&s), None) => {
                let last = end.checked_sub(1).and_then(|i| self.map.get(i)).map_or(s as usize + 1, |&l| l as usize);
                (s as usize, last + 1)
            }
            _ => (start, end),
        }
    }
}

/// A full tokenizer: the five stages plus the added tokens.
#[derive(Debug, Clone)]
pub struct Tokenizer {
    /// Optional normalizer.
    pub normalizer: Option<Normalizer>,
    /// Optional pre-tokenizer.
    pub pre_tokenizer: Option<PreTokenizer>,
    /// The model.
    pub model: Model,
    /// Optional post-processor.
    pub post_processor: Option<PostProcessor>,
    /// Optional decoder.
    pub decoder: Option<Decoder>,
    /// Added / special tokens.
    pub added_vocabulary: AddedVocabulary,
}

fn optional<T>(
    root: &Map<String, Value>,
    key: &str,
    read: impl Fn(&Value, &str) -> Result<T, TokenizerError>,
) -> Result<Option<T>, TokenizerError> {
    match root.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => read(v, key).map(Some),
    }
}

impl Tokenizer {
    /// Builds a tokenizer from its parts (added tokens empty).
    pub fn new(model: Model) -> Self {
        Self {
            normalizer: None,
            pre_tokenizer: None,
            model,
            post_processor: None,
            decoder: None,
            added_vocabulary: AddedVocabulary::default(),
        }
    }

    /// Parses an HF `tokenizer.json`.
    pub fn from_json(text: &str) -> Result<Tokenizer, TokenizerError> {
        if text.len() > json::MAX_JSON_BYTES {
            return Err(TokenizerError::TooLarge { what: "tokenizer.json (bytes)", size: text.len(), limit: json::MAX_JSON_BYTES });
        }
        let root: Value = serde_json::from_str(text).map_err(|e| TokenizerError::Json(e.to_string()))?;
        let root = json::as_obj(&root, "(root)")?;
        if let Some(v) = root.get("version") {
            if v.as_str() != Some("1.0") {
                return Err(TokenizerError::Invalid { path: "version".into(), reason: "unknown tokenizer version".into() });
            }
        }
        let model = Model::from_json(json::req(root, "model", "")?, "model")?;
        let normalizer = optional(root, "normalizer", Normalizer::from_json)?;
        let pre_tokenizer = optional(root, "pre_tokenizer", PreTokenizer::from_json)?;
        let post_processor = optional(root, "post_processor", PostProcessor::from_json)?;
        let decoder = optional(root, "decoder", Decoder::from_json)?;
        let added = match root.get("added_tokens") {
            None | Some(Value::Null) => Vec::new(),
            Some(v) => AddedVocabulary::tokens_from_json(v)?,
        };
        let mut tok = Tokenizer { normalizer, pre_tokenizer, model, post_processor, decoder, added_vocabulary: AddedVocabulary::default() };
        let mut vocab = AddedVocabulary::default();
        vocab.add_tokens(added, &tok.model, tok.normalizer.as_ref());
        tok.added_vocabulary = vocab;
        Ok(tok)
    }

    /// Writes an HF-loadable `tokenizer.json`.
    pub fn to_json(&self) -> String {
        let value = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": self.added_vocabulary.to_json(),
            "normalizer": self.normalizer.as_ref().map(Normalizer::to_json),
            "pre_tokenizer": self.pre_tokenizer.as_ref().map(PreTokenizer::to_json),
            "post_processor": self.post_processor.as_ref().map(PostProcessor::to_json),
            "decoder": self.decoder.as_ref().map(Decoder::to_json),
            "model": self.model.to_json(),
        });
        serde_json::to_string_pretty(&value).unwrap_or_default()
    }

    /// The GPT-2 shape (no normalizer, ByteLevel with its regex, BPE, only
    /// raw added tokens) can skip the general offset machinery: every byte of
    /// a word maps straight back to the input char it came from.
    fn byte_level_fast_path(&self) -> Option<(&models::Bpe, pre_tokenizers::ByteLevel)> {
        match (&self.normalizer, &self.pre_tokenizer, &self.model) {
            (None, Some(PreTokenizer::ByteLevel(bl)), Model::Bpe(bpe))
                if bl.use_regex && !bpe.ignore_merges && self.added_vocabulary.only_raw_tokens() =>
            {
                Some((bpe, *bl))
            }
            _ => None,
        }
    }

    fn encode_byte_level(
        &self,
        text: &str,
        type_id: u32,
        bpe: &models::Bpe,
        bl: pre_tokenizers::ByteLevel,
    ) -> Result<Encoding, TokenizerError> {
        use pre_tokenizers::byte_level::BYTE_TO_CHAR;
        let converter = ByteToChar::new(text);
        let mut enc = Encoding::default();
        let push = |enc: &mut Encoding, id: u32, value: String, offsets: (usize, usize)| {
            enc.ids.push(id);
            enc.tokens.push(value);
            enc.offsets.push(converter.convert(offsets));
            enc.type_ids.push(type_id);
            enc.special_tokens_mask.push(0);
        };
        let mut virt = String::new();
        let mut word = String::new();
        for (id, (start, end)) in self.added_vocabulary.raw_splits(text) {
            if start >= end {
                continue;
            }
            let segment = &text[start..end];
            if let Some(id) = id {
                push(&mut enc, id, segment.to_string(), (start, end));
                continue;
            }
            // The pre-tokenizer may prepend a space: it maps to the first char.
            let prefix = bl.add_prefix_space && !segment.starts_with(' ');
            virt.clear();
            if prefix {
                virt.push(' ');
            }
            virt.push_str(segment);
            let shift = usize::from(prefix);
            let first_len = segment.chars().next().map_or(0, char::len_utf8);
            // Original byte range of the char holding virtual byte `v`.
            let char_range = |v: usize| -> (usize, usize) {
                if v < shift {
                    return (start, start + first_len);
                }
                let mut b = v - shift;
                while b > 0 && !segment.is_char_boundary(b) {
                    b -= 1;
                }
                let len = segment[b..].chars().next().map_or(0, char::len_utf8);
                (start + b, start + b + len)
            };
            for (ws, we) in patterns::KnownPattern::Gpt2.find_all(&virt) {
                word.clear();
                word.extend(virt.as_bytes()[ws..we].iter().map(|&b| BYTE_TO_CHAR[b as usize]));
                // Piece lengths are in bytes of the mapped word; each mapped
                // char stands for one input byte.
                let mut pos = ws;
                let mut mapped_pos = 0;
                for (id, len) in bpe.word_pieces(&word)? {
                    let mapped_end = mapped_pos + len as usize;
                    let n_bytes = word.get(mapped_pos..mapped_end).map_or(0, |p| p.chars().count());
                    if n_bytes == 0 {
                        continue;
                    }
                    let offsets = (char_range(pos).0, char_range(pos + n_bytes - 1).1);
                    let value = bpe.vocab_r.get(&id).cloned().unwrap_or_default();
                    push(&mut enc, id, value, offsets);
                    pos += n_bytes;
                    mapped_pos = mapped_end;
                }
            }
        }
        Ok(enc)
    }

    /// Encodes one sequence (no post-processing), with char offsets.
    fn encode_single(&self, text: &str, type_id: u32) -> Result<Encoding, TokenizerError> {
        if let Some((bpe, bl)) = self.byte_level_fast_path() {
            return self.encode_byte_level(text, type_id, bpe, bl);
        }
        let mut pre = self.added_vocabulary.extract_and_normalize(self.normalizer.as_ref(), text);
        if let Some(p) = &self.pre_tokenizer {
            p.pre_tokenize(&mut pre)?;
        }
        for split in pre.splits.iter_mut().filter(|s| s.tokens.is_none()) {
            split.tokens = Some(self.model.tokenize(split.normalized.get())?);
        }
        let converter = ByteToChar::new(&pre.original);
        let mut enc = Encoding::default();
        for split in &pre.splits {
            let shift = split.normalized.original_shift();
            for token in split.tokens.iter().flatten() {
                let (s, e) = token.offsets;
                let offsets = match split.normalized.normalized_to_original(s, e) {
                    Some((a, b)) => (shift + a, shift + b),
                    None => token.offsets,
                };
                enc.ids.push(token.id);
                enc.tokens.push(token.value.clone());
                enc.offsets.push(converter.convert(offsets));
                enc.type_ids.push(type_id);
                enc.special_tokens_mask.push(0);
            }
        }
        Ok(enc)
    }

    fn post_process(&self, encoding: Encoding, pair: Option<Encoding>, add_special_tokens: bool) -> Encoding {
        let mut list = alloc::vec![encoding];
        list.extend(pair);
        match &self.post_processor {
            Some(p) => {
                for (i, e) in list.iter_mut().enumerate() {
                    e.type_ids = alloc::vec![i as u32; e.ids.len()];
                }
                Encoding::merge(p.process_encodings(list, add_special_tokens))
            }
            None => Encoding::merge(list),
        }
    }

    /// Encodes `text` like Python's `Tokenizer.encode(text, add_special_tokens=...)`.
    pub fn encode(&self, text: &str, add_special_tokens: bool) -> Result<Encoding, TokenizerError> {
        let enc = self.encode_single(text, 0)?;
        Ok(self.post_process(enc, None, add_special_tokens))
    }

    /// Encodes a sentence pair (`type_ids` tell the two apart).
    pub fn encode_pair(&self, text: &str, pair: &str, add_special_tokens: bool) -> Result<Encoding, TokenizerError> {
        let a = self.encode_single(text, 0)?;
        let b = self.encode_single(pair, 1)?;
        Ok(self.post_process(a, Some(b), add_special_tokens))
    }

    /// Decodes ids like Python's `Tokenizer.decode(ids, skip_special_tokens=...)`.
    /// Unknown ids are skipped, as HF does.
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> String {
        let tokens: Vec<String> = ids
            .iter()
            .filter_map(|&id| self.added_vocabulary.id_to_token(id).or_else(|| self.model.id_to_token(id)))
            .filter(|t| !skip_special_tokens || !self.added_vocabulary.is_special(t))
            .map(str::to_string)
            .collect();
        match &self.decoder {
            Some(d) => d.decode(tokens),
            None => tokens.join(" "),
        }
    }

    /// Id of a token (added tokens first).
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.added_vocabulary.token_to_id(token).or_else(|| self.model.token_to_id(token))
    }

    /// Token of an id (added tokens first).
    pub fn id_to_token(&self, id: u32) -> Option<&str> {
        self.added_vocabulary.id_to_token(id).or_else(|| self.model.id_to_token(id))
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        let extra = self
            .added_vocabulary
            .tokens()
            .iter()
            .filter(|(_, t)| self.model.token_to_id(&t.content).is_none())
            .count();
        self.model.vocab_size() + extra
    }

    /// The BPE merges applied to one word, step by step (for teaching).
    /// The word goes through the normalizer and pre-tokenizer first; only
    /// its first pre-tokenized piece is replayed.
    pub fn bpe_replay(&self, word: &str) -> Result<Vec<MergeStep>, TokenizerError> {
        let Model::Bpe(bpe) = &self.model else {
            return Err(TokenizerError::Unsupported { stage: "merge replay for model", name: "non-BPE".into() });
        };
        let mut pre = self.added_vocabulary.extract_and_normalize(self.normalizer.as_ref(), word);
        if let Some(p) = &self.pre_tokenizer {
            p.pre_tokenize(&mut pre)?;
        }
        match pre.splits.iter().find(|s| s.tokens.is_none()) {
            Some(s) => bpe.replay(s.normalized.get()),
            None => Ok(Vec::new()),
        }
    }
}
