//! Trainers: learn a vocabulary from the user's text.
//!
//! The text goes through the tokenizer's normalizer and pre-tokenizer (as
//! in HF, the trainer sees the pre-tokenized words), the words are counted,
//! and the model-specific trainer builds the vocabulary. Special tokens come
//! first in the vocabulary and are registered as added tokens.

pub mod bpe;
pub mod unigram;

use super::added_vocabulary::{AddedToken, AddedVocabulary};
use super::decoders::Decoder;
use super::error::TokenizerError;
use super::models::{Bpe, Model, Unigram, WordPiece};
use super::normalizers::{BertNormalizer, Normalizer};
use super::pre_tokenizers::byte_level::BYTE_TO_CHAR;
use super::pre_tokenizers::{ByteLevel, Metaspace, PreTokenizer, PrependScheme};
use super::processors::PostProcessor;
use super::Tokenizer;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

pub use bpe::{train_bpe, BpeTrainerConfig, BpeTrained};
pub use unigram::{train_unigram, UnigramTrainerConfig};

/// Which model to train, with its settings.
#[derive(Debug, Clone)]
pub enum TrainerSpec {
    /// BPE (HF `BpeTrainer`).
    Bpe(BpeTrainerConfig),
    /// WordPiece (HF `WordPieceTrainer`: BPE with the `##` prefix).
    WordPiece(BpeTrainerConfig),
    /// Unigram (HF `UnigramTrainer`).
    Unigram(UnigramTrainerConfig),
}

impl Tokenizer {
    /// The pre-tokenized words of `text`, as trainers count them.
    pub fn training_words(&self, text: &str) -> Result<Vec<String>, TokenizerError> {
        let mut pre = self.added_vocabulary.extract_and_normalize(self.normalizer.as_ref(), text);
        if let Some(p) = &self.pre_tokenizer {
            p.pre_tokenize(&mut pre)?;
        }
        Ok(pre.splits.into_iter().map(|s| s.normalized.get().to_string()).collect())
    }

    /// Trains a new model on `sequences` with this tokenizer's normalizer and
    /// pre-tokenizer, replacing the model and adding the special tokens.
    pub fn train<'a, I: IntoIterator<Item = &'a str>>(
        &mut self,
        sequences: I,
        spec: &TrainerSpec,
    ) -> Result<(), TokenizerError> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for seq in sequences {
            for w in self.training_words(seq)? {
                *counts.entry(w).or_default() += 1;
            }
        }
        let specials: &[String] = match spec {
            TrainerSpec::Bpe(c) | TrainerSpec::WordPiece(c) => &c.special_tokens,
            TrainerSpec::Unigram(c) => &c.special_tokens,
        };
        let specials: Vec<String> = specials.to_vec();
        self.model = match spec {
            TrainerSpec::Bpe(cfg) => {
                let t = train_bpe(&counts, cfg)?;
                Model::Bpe(Bpe::new(
                    t.vocab,
                    t.merges,
                    None,
                    cfg.continuing_subword_prefix.clone(),
                    cfg.end_of_word_suffix.clone(),
                    false,
                    false,
                    false,
                )?)
            }
            TrainerSpec::WordPiece(cfg) => {
                let mut cfg = cfg.clone();
                let prefix = cfg.continuing_subword_prefix.get_or_insert_with(|| "##".to_string()).clone();
                let t = train_bpe(&counts, &cfg)?;
                Model::WordPiece(WordPiece::new(t.vocab, "[UNK]".to_string(), prefix, 100))
            }
            TrainerSpec::Unigram(cfg) => {
                let (pieces, unk_id) = train_unigram(&counts, cfg)?;
                Model::Unigram(Unigram::new(pieces, unk_id, false)?)
            }
        };
        let mut added = AddedVocabulary::default();
        let tokens: Vec<AddedToken> = specials.iter().map(|s| AddedToken::special(s)).collect();
        added.add_tokens(tokens, &self.model, self.normalizer.as_ref());
        self.added_vocabulary = added;
        Ok(())
    }
}

/// The pipeline HF's ready-made tokenizers use for each model family:
/// `bpe` = GPT-2 byte-level, `wordpiece` = BERT (uncased), `unigram` =
/// SentencePiece (`▁` Metaspace). Returns the untrained tokenizer and the
/// trainer spec (vocabulary size, minimum frequency, special tokens set).
pub fn default_pipeline(
    kind: &str,
    vocab_size: usize,
    min_frequency: u64,
    special_tokens: Vec<String>,
) -> Result<(Tokenizer, TrainerSpec), TokenizerError> {
    let placeholder = Model::Unigram(Unigram::new(Vec::new(), None, false)?);
    let mut tok = Tokenizer::new(placeholder);
    let spec = match kind {
        "bpe" => {
            let bl = ByteLevel { add_prefix_space: false, trim_offsets: true, use_regex: true };
            tok.pre_tokenizer = Some(PreTokenizer::ByteLevel(bl));
            tok.decoder = Some(Decoder::ByteLevel);
            tok.post_processor = Some(PostProcessor::ByteLevel { trim_offsets: false, add_prefix_space: false });
            TrainerSpec::Bpe(BpeTrainerConfig {
                vocab_size,
                min_frequency,
                special_tokens,
                initial_alphabet: BYTE_TO_CHAR.to_vec(),
                ..Default::default()
            })
        }
        "wordpiece" => {
            tok.normalizer = Some(Normalizer::Bert(BertNormalizer {
                clean_text: true,
                handle_chinese_chars: true,
                strip_accents: None,
                lowercase: true,
            }));
            tok.pre_tokenizer = Some(PreTokenizer::Bert);
            tok.decoder = Some(Decoder::WordPiece { prefix: "##".into(), cleanup: true });
            TrainerSpec::WordPiece(BpeTrainerConfig {
                vocab_size,
                min_frequency,
                special_tokens,
                continuing_subword_prefix: Some("##".into()),
                ..Default::default()
            })
        }
        "unigram" => {
            let ms = Metaspace { replacement: '▁', prepend_scheme: PrependScheme::Always, split: true };
            tok.pre_tokenizer = Some(PreTokenizer::Metaspace(ms.clone()));
            tok.decoder = Some(Decoder::Metaspace(ms));
            let unk_token = special_tokens.iter().find(|s| s.to_lowercase().contains("unk")).cloned();
            TrainerSpec::Unigram(UnigramTrainerConfig { vocab_size, special_tokens, unk_token, ..Default::default() })
        }
        other => return Err(TokenizerError::Unsupported { stage: "trainer model", name: other.to_string() }),
    };
    Ok((tok, spec))
}

/// After training a `wordpiece` pipeline: add BERT's `[CLS] A [SEP]` processor
/// when both tokens exist.
pub fn add_bert_processor(tok: &mut Tokenizer) {
    if let (Some(cls), Some(sep)) = (tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")) {
        tok.post_processor = Some(PostProcessor::Bert { sep: ("[SEP]".into(), sep), cls: ("[CLS]".into(), cls) });
    }
}
