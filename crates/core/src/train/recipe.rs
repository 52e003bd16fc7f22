//! # The training recipe: from settings to tokenizer, model and optimiser
//!
//! `llmlab train` and the browser's Train tab run the same recipe, so a run
//! with the same settings builds the same tokenizer, the same model and the
//! same optimiser in both:
//!
//! 1. split the text as nanoGPT does: the first (1 − f) of the *characters*
//!    train, the rest validates ([`split_text`]);
//! 2. build the tokenizer named by a spec, `char` or `bpe:N`
//!    ([`TokenizerSpec`], [`build_tokenizer`]): a character vocabulary of the
//!    whole text, or a byte-level BPE with N tokens trained on the training
//!    split only (N within [`BPE_VOCAB_MIN`]`..=`[`BPE_VOCAB_MAX`]);
//! 3. shape the model for that vocabulary ([`model_config`]);
//! 4. AdamW with nanoGPT's small-model settings ([`adamw`]).
//!
//! Every check fails with a [`RecipeError`] that names the setting and its
//! limit.

use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use super::char_tokenizer::CharTokenizer;
use super::optim::AdamWConfig;
use super::{Arch, Config};
use crate::tokenizers::trainers::default_pipeline;
use crate::tokenizers::Tokenizer;

/// Smallest BPE vocabulary: the 256 bytes plus at least one merge.
pub const BPE_VOCAB_MIN: usize = 257;
/// Largest BPE vocabulary a run trains (the trainer's time grows with it;
/// small models on one text do not use more).
pub const BPE_VOCAB_MAX: usize = 32_768;
/// A pair must occur this often to become a BPE merge.
pub const BPE_MIN_FREQUENCY: u64 = 2;
/// AdamW β₁ (nanoGPT).
pub const ADAMW_BETA1: f64 = 0.9;
/// AdamW β₂ for small models (nanoGPT's shakespeare_char setting).
pub const ADAMW_BETA2: f64 = 0.99;
/// AdamW ε.
pub const ADAMW_EPS: f64 = 1e-8;
/// Decoupled weight decay (matrices and embeddings only).
pub const WEIGHT_DECAY: f64 = 0.1;
/// Global gradient-norm clip.
pub const GRAD_CLIP: f64 = 1.0;

/// Why a recipe step failed.
#[derive(Clone, Debug, PartialEq)]
pub enum RecipeError {
    /// The tokenizer spec is neither `char` nor `bpe:N`.
    TokenizerSpec(String),
    /// `bpe:N` with N outside [`BPE_VOCAB_MIN`]`..=`[`BPE_VOCAB_MAX`].
    BpeVocab(usize),
    /// The validation fraction is not in `[0, 1)`.
    ValFraction(f64),
    /// Training the tokenizer or encoding with it failed.
    Tokenizer(String),
    /// The model shape is not buildable (the message says which setting).
    Model(String),
}

impl fmt::Display for RecipeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TokenizerSpec(spec) => write!(f, "tokenizer {spec:?}: use char or bpe:N"),
            Self::BpeVocab(n) => write!(f, "tokenizer bpe:{n}: use bpe:N with N from {BPE_VOCAB_MIN} to {BPE_VOCAB_MAX}"),
            Self::ValFraction(v) => write!(f, "validation fraction {v}: must be at least 0 and below 1"),
            Self::Tokenizer(msg) => write!(f, "tokenizer: {msg}"),
            Self::Model(msg) => write!(f, "model size: {msg}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RecipeError {}

/// Which tokenizer a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenizerSpec {
    /// One token per character of the text.
    Char,
    /// A byte-level BPE with this many tokens.
    Bpe(usize),
}

impl TokenizerSpec {
    /// Parses `char` or `bpe:N`.
    pub fn parse(spec: &str) -> Result<Self, RecipeError> {
        if spec == "char" {
            return Ok(Self::Char);
        }
        let size: usize =
            spec.strip_prefix("bpe:").and_then(|n| n.parse().ok()).ok_or_else(|| RecipeError::TokenizerSpec(spec.to_string()))?;
        if (BPE_VOCAB_MIN..=BPE_VOCAB_MAX).contains(&size) {
            Ok(Self::Bpe(size))
        } else {
            Err(RecipeError::BpeVocab(size))
        }
    }
}

/// The tokenizer of a run.
#[derive(Clone, Debug)]
pub enum TextTokenizer {
    /// One token per character.
    Char(CharTokenizer),
    /// A trained (or loaded) HF tokenizer, e.g. byte-level BPE.
    Hf(Box<Tokenizer>),
}

impl TextTokenizer {
    /// Ids of `text` (no special tokens).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, RecipeError> {
        match self {
            Self::Char(t) => t.encode(text).map_err(|e| RecipeError::Tokenizer(e.to_string())),
            Self::Hf(t) => t.encode(text, false).map(|e| e.ids).map_err(|e| RecipeError::Tokenizer(e.to_string())),
        }
    }
    /// Text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> String {
        match self {
            Self::Char(t) => t.decode(ids),
            Self::Hf(t) => t.decode(ids, false),
        }
    }
    /// Number of tokens.
    pub fn vocab_size(&self) -> usize {
        match self {
            Self::Char(t) => t.vocab_size(),
            Self::Hf(t) => t.vocab_size(),
        }
    }
    /// HF `tokenizer.json` text.
    pub fn to_json(&self) -> Result<String, RecipeError> {
        match self {
            Self::Char(t) => serde_json::to_string_pretty(&t.to_hf_json()).map_err(|e| RecipeError::Tokenizer(e.to_string())),
            Self::Hf(t) => Ok(t.to_json()),
        }
    }
    /// Reads a `tokenizer.json` written by [`Self::to_json`] (or any HF one).
    pub fn from_json(text: &str) -> Result<Self, RecipeError> {
        match CharTokenizer::from_hf_json(text) {
            Ok(t) => Ok(Self::Char(t)),
            Err(_) => Tokenizer::from_json(text).map(|t| Self::Hf(Box::new(t))).map_err(|e| RecipeError::Tokenizer(e.to_string())),
        }
    }
    /// Characters of text that `ids` stand for.
    pub fn chars_of(&self, ids: &[u32]) -> usize {
        match self {
            Self::Char(_) => ids.len(),
            Self::Hf(t) => t.decode(ids, false).chars().count(),
        }
    }
    /// The spec that rebuilds this kind of tokenizer (`char` or `bpe:N`).
    pub fn key(&self) -> String {
        match self {
            Self::Char(_) => "char".into(),
            Self::Hf(t) => format!("bpe:{}", t.vocab_size()),
        }
    }
}

/// nanoGPT's split: the first `(1 − val_fraction)` of the characters train,
/// the rest validates.
pub fn split_text(text: &str, val_fraction: f64) -> Result<(&str, &str), RecipeError> {
    if !(0.0..1.0).contains(&val_fraction) {
        return Err(RecipeError::ValFraction(val_fraction));
    }
    let chars = text.chars().count();
    let split_chars = ((chars as f64) * (1.0 - val_fraction)) as usize;
    let split = text.char_indices().nth(split_chars).map_or(text.len(), |(i, _)| i);
    Ok(text.split_at(split))
}

/// Builds the tokenizer of `spec`: `char` over every character of
/// `vocab_text`, or a BPE trained on `train_text` alone (the validation text
/// must not leak into the merges).
pub fn build_tokenizer(spec: TokenizerSpec, vocab_text: &str, train_text: &str) -> Result<TextTokenizer, RecipeError> {
    match spec {
        TokenizerSpec::Char => Ok(TextTokenizer::Char(CharTokenizer::from_corpus(vocab_text))),
        TokenizerSpec::Bpe(size) => {
            let tokenizer_err = |e: crate::tokenizers::TokenizerError| RecipeError::Tokenizer(e.to_string());
            let (mut tok, trainer) = default_pipeline("bpe", size, BPE_MIN_FREQUENCY, Vec::new()).map_err(tokenizer_err)?;
            tok.train([train_text], &trainer).map_err(tokenizer_err)?;
            Ok(TextTokenizer::Hf(Box::new(tok)))
        }
    }
}

/// The model shape for a vocabulary, checked.
pub fn model_config(
    arch: Arch,
    vocab_size: usize,
    context: usize,
    layers: usize,
    heads: usize,
    width: usize,
) -> Result<Config, RecipeError> {
    let config = match arch {
        Arch::Gpt2 => Config::gpt2(vocab_size, context, layers, heads, width),
        Arch::Llama => Config::llama(vocab_size, context, layers, heads, width),
    };
    config.validate().map_err(RecipeError::Model)?;
    Ok(config)
}

/// AdamW with nanoGPT's small-model settings and this β₂ / weight decay.
pub fn adamw(beta2: f64, weight_decay: f64) -> AdamWConfig {
    AdamWConfig { beta1: ADAMW_BETA1, beta2, eps: ADAMW_EPS, weight_decay }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenizer_spec_bounds_are_one_range_with_named_errors() {
        assert_eq!(TokenizerSpec::parse("char"), Ok(TokenizerSpec::Char));
        assert_eq!(TokenizerSpec::parse("bpe:257"), Ok(TokenizerSpec::Bpe(257)));
        assert_eq!(TokenizerSpec::parse("bpe:256"), Err(RecipeError::BpeVocab(256)));
        assert_eq!(TokenizerSpec::parse(&format!("bpe:{}", BPE_VOCAB_MAX + 1)), Err(RecipeError::BpeVocab(BPE_VOCAB_MAX + 1)));
        assert!(matches!(TokenizerSpec::parse("wordpiece"), Err(RecipeError::TokenizerSpec(_))));
    }

    #[test]
    fn split_is_by_characters_and_rejects_bad_fractions() {
        assert_eq!(split_text("ééééé", 0.4), Ok(("ééé", "éé")));
        assert_eq!(split_text("abc", 0.0), Ok(("abc", "")));
        assert_eq!(split_text("abc", 1.0), Err(RecipeError::ValFraction(1.0)));
        assert!(split_text("abc", f64::NAN).is_err());
    }

    #[test]
    fn bpe_is_trained_on_the_training_split_and_round_trips_through_json() {
        let train = "low lower lowest ".repeat(20);
        let tok = build_tokenizer(TokenizerSpec::Bpe(270), "unused", &train).unwrap();
        assert!(tok.vocab_size() > 256 && tok.vocab_size() <= 270);
        let ids = tok.encode("lowest").unwrap();
        assert!(ids.len() < "lowest".len(), "merges learned from the training split shorten the text");
        let again = TextTokenizer::from_json(&tok.to_json().unwrap()).unwrap();
        assert_eq!(again.encode("lowest").unwrap(), ids);
        assert!(matches!(model_config(Arch::Gpt2, 300, 16, 1, 3, 32), Err(RecipeError::Model(_))));
    }
}
