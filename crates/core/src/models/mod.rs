//! Model families loaded from Hugging Face checkpoints, and the traits that
//! decoding code (greedy, beam search, sampling) is written against.
//!
//! Three traits, one per kind of model, all object-safe so a caller can hold
//! a `Box<dyn CausalLm>` chosen at run time from `config.json` ([`load`]):
//!
//! - [`CausalLm`] (GPT-2, Llama, llama2.c): `forward_batch` runs `B` sequences
//!   of `T` new tokens each, appending to an optional [`KvCache`], and returns
//!   logits `(B, T, vocab)`. Beam search calls [`KvCache::reorder`] (or
//!   [`CausalLm::reorder_cache`]) with the beam index each survivor came from.
//! - [`Seq2SeqLm`] (T5): `encode` once, then `decode` step by step; the cache
//!   also keeps the cross-attention keys/values.
//! - [`MaskedLm`] (BERT): one bidirectional pass, logits for every position.
//!
//! Batches are `&[Vec<u32>]` with every row the same length `T`. Padding is
//! described by an attention mask with the same shape (1 = real token,
//! 0 = padding); for causal models pad on the LEFT. Masks only describe the
//! tokens passed in this call: the cache remembers earlier ones. Position
//! ids count real tokens only, like Hugging Face's `generate`
//! (`position_ids = cumsum(attention_mask) - 1`), so a left-padded row gets
//! the same logits as the same row unpadded.
//!
//! Example (greedy, one sequence):
//! ```ignore
//! let mut cache = model.new_cache();
//! let mut logits = model.forward(&prompt, Some(&mut cache))?;      // (T, V)
//! loop {
//!     let next = argmax(logits.row(logits.nrows() - 1));
//!     logits = model.forward(&[next], Some(&mut cache))?;         // (1, V)
//! }
//! ```

pub mod bert;
pub mod decoder_only;
pub mod gpt2;
pub mod gradients;
pub mod llama;
pub mod llama2c;
pub mod mixtral;
pub mod params;
pub mod qwen2_moe;
pub mod t5;

pub use crate::nn::kv_cache::KvCache;

use crate::loading::{LoadError, WeightStore};
use crate::nn::kv_cache::CacheError;
use crate::nn::NnError;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use ndarray::{Array2, Array3, Axis, Slice};

/// Why a model could not be built or run.
#[derive(Clone, Debug, PartialEq)]
pub enum ModelError {
    /// Loading the checkpoint or config failed.
    Load(LoadError),
    /// A layer rejected its input (e.g. token id out of range).
    Nn(NnError),
    /// The cache does not fit the call (batch size, row index).
    Cache(CacheError),
    /// The call's arguments are inconsistent (ragged batch, mask shape, ...).
    BadInput(String),
    /// The checkpoint's architecture or option is not implemented.
    Unsupported(String),
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelError::Load(e) => write!(f, "{e}"),
            ModelError::Nn(e) => write!(f, "{e}"),
            ModelError::Cache(e) => write!(f, "{e}"),
            ModelError::BadInput(msg) => write!(f, "bad input: {msg}"),
            ModelError::Unsupported(msg) => write!(f, "unsupported model: {msg}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for ModelError {}

impl From<LoadError> for ModelError {
    fn from(e: LoadError) -> Self {
        ModelError::Load(e)
    }
}
impl From<NnError> for ModelError {
    fn from(e: NnError) -> Self {
        ModelError::Nn(e)
    }
}
impl From<CacheError> for ModelError {
    fn from(e: CacheError) -> Self {
        ModelError::Cache(e)
    }
}

/// Token ids with special meaning, from `config.json`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SpecialTokens {
    /// Beginning of sequence.
    pub bos: Option<u32>,
    /// End of sequence (Llama 3 lists several).
    pub eos: Vec<u32>,
    /// Padding.
    pub pad: Option<u32>,
}

/// What the "Inside the model" view shows for one input sequence.
#[derive(Clone, Debug)]
pub struct Trace {
    /// Per layer, the self-attention weights `(H, T, T)` (row = query).
    pub attentions: Vec<Array3<f32>>,
    /// `(L + 1, T)`: L2 norm of the residual stream at each position, after
    /// the embeddings (row 0) and after each layer.
    pub hidden_norms: Array2<f32>,
    /// For a mixture of experts, each sparse layer's routing of the
    /// sequence; empty for a dense model.
    pub routing: Vec<LayerRouting>,
}

/// Where one mixture-of-experts layer sent each token.
#[derive(Clone, Debug)]
pub struct LayerRouting {
    /// Index of the layer (0-based) among all layers.
    pub layer: usize,
    /// Router probabilities, chosen experts and their weights.
    pub routing: crate::nn::moe::Routing,
}

/// A decoder-only language model.
pub trait CausalLm {
    /// Family name (`"gpt2"`, `"llama"`, ...).
    fn model_type(&self) -> &str;
    /// Size of the output distribution.
    fn vocab_size(&self) -> usize;
    /// Decoder layers (the length of a cache).
    fn num_layers(&self) -> usize;
    /// Values one layer caches per position for the keys (and again for the
    /// values): key/value heads × head dim.
    fn kv_width(&self) -> usize;
    /// Longest context the model supports, if it has a hard limit.
    fn max_positions(&self) -> Option<usize>;
    /// BOS/EOS/PAD ids from the config.
    fn special_tokens(&self) -> SpecialTokens;

    /// Runs `input_ids: (B, T)` (new tokens, after whatever `cache` holds)
    /// with `attention_mask: (B, T)` (default all ones) and returns logits
    /// `(B, T, vocab)`. With a cache, the new keys/values are appended to it;
    /// the first call fixes the cache's batch size.
    fn forward_batch(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        cache: Option<&mut KvCache>,
    ) -> Result<Array3<f32>, ModelError>;

    /// Runs the model once and records attention weights and hidden-state
    /// norms for one sequence (no cache).
    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError>;

    /// The positional encoding of the first `positions` positions as a
    /// matrix for the teaching heatmap: GPT-2's learned table `(P, C)`, or
    /// Llama's RoPE `cos` of each feature's angle `(P, D)`; empty for a
    /// model without one.
    fn positional_encoding(&self, positions: usize) -> Array2<f32> {
        let _ = positions;
        Array2::zeros((0, 0))
    }

    /// Every trainable parameter under its HF state-dict name, for models
    /// the trainer can fine-tune (GPT-2 and Llama); `None` for the others.
    fn named_parameters(&self) -> Option<Vec<gradients::NamedTensor>> {
        None
    }

    /// An empty cache sized for this model.
    fn new_cache(&self) -> KvCache {
        KvCache::new(self.num_layers())
    }

    /// For a mixture-of-experts model, the router logits `(T, E)` of each
    /// sparse layer for one sequence (transformers' `output_router_logits`);
    /// empty for a dense model.
    fn router_logits(&self, input_ids: &[u32]) -> Result<Vec<Array2<f32>>, ModelError> {
        let _ = input_ids;
        Ok(Vec::new())
    }

    /// One sequence: `input_ids: (T)` -> logits `(T, vocab)`.
    fn forward(&self, input_ids: &[u32], cache: Option<&mut KvCache>) -> Result<Array2<f32>, ModelError> {
        let logits = self.forward_batch(&[input_ids.to_vec()], None, cache)?;
        Ok(logits.index_axis_move(Axis(0), 0))
    }

    /// Beam search: new row `i` continues old row `beam_idx[i]`.
    fn reorder_cache(&self, cache: &mut KvCache, beam_idx: &[usize]) -> Result<(), ModelError> {
        cache.reorder(beam_idx).map_err(ModelError::from)
    }
}

/// The encoder's output, kept for every decoder step.
#[derive(Clone, Debug)]
pub struct EncoderOutput {
    /// `(B*S, C)`, rows batch-major.
    pub states: Array2<f32>,
    /// `(B, S)`: 1 for real source tokens.
    pub mask: Vec<Vec<u8>>,
    /// `B`.
    pub batch: usize,
}

impl EncoderOutput {
    /// Source length `S`.
    pub fn seq_len(&self) -> usize {
        self.mask.first().map_or(0, |m| m.len())
    }

    /// Row `rows[i]` becomes row `i` (e.g. repeat each source `num_beams`
    /// times before beam search). Keep it in step with the cache's rows.
    pub fn select(&self, rows: &[usize]) -> Result<EncoderOutput, ModelError> {
        let s = self.seq_len();
        let mut states = Array2::<f32>::zeros((rows.len() * s, self.states.ncols()));
        let mut mask = Vec::with_capacity(rows.len());
        for (i, &r) in rows.iter().enumerate() {
            if r >= self.batch {
                return Err(ModelError::Cache(CacheError::RowOutOfRange { row: r, batch: self.batch }));
            }
            states
                .slice_axis_mut(Axis(0), Slice::from(i * s..(i + 1) * s))
                .assign(&self.states.slice_axis(Axis(0), Slice::from(r * s..(r + 1) * s)));
            mask.push(self.mask[r].clone());
        }
        Ok(EncoderOutput { states, mask, batch: rows.len() })
    }
}

/// An encoder-decoder model (T5).
pub trait Seq2SeqLm {
    /// Family name (`"t5"`).
    fn model_type(&self) -> &str;
    /// Size of the output distribution.
    fn vocab_size(&self) -> usize;
    /// Decoder layers (the length of a cache).
    fn num_decoder_layers(&self) -> usize;
    /// Values one decoder layer caches per position for the keys (and again
    /// for the values), in self- and in cross-attention: heads × head dim.
    fn kv_width(&self) -> usize;
    /// The token every decoder sequence starts with (T5: the pad id, 0).
    fn decoder_start_token_id(&self) -> u32;
    /// BOS/EOS/PAD ids from the config.
    fn special_tokens(&self) -> SpecialTokens;

    /// Encodes `input_ids: (B, S)` with `attention_mask: (B, S)`.
    fn encode(&self, input_ids: &[Vec<u32>], attention_mask: Option<&[Vec<u8>]>) -> Result<EncoderOutput, ModelError>;

    /// Runs the decoder on `decoder_ids: (B, T)` new tokens attending to
    /// `encoder`; returns logits `(B, T, vocab)`. With a cache, self-attention
    /// keys/values are appended and cross-attention keys/values are computed
    /// on the first call and reused (so `encoder` must stay the same).
    fn decode(
        &self,
        decoder_ids: &[Vec<u32>],
        encoder: &EncoderOutput,
        cache: Option<&mut KvCache>,
    ) -> Result<Array3<f32>, ModelError>;

    /// Encoder self-attention weights and hidden-state norms for one input.
    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError>;

    /// An empty cache sized for this model's decoder.
    fn new_cache(&self) -> KvCache {
        KvCache::new(self.num_decoder_layers())
    }

    /// Beam search: new row `i` continues old row `beam_idx[i]` (also
    /// reorders the cached cross-attention keys/values).
    fn reorder_cache(&self, cache: &mut KvCache, beam_idx: &[usize]) -> Result<(), ModelError> {
        cache.reorder(beam_idx).map_err(ModelError::from)
    }
}

/// A bidirectional masked language model (BERT).
pub trait MaskedLm {
    /// Family name (`"bert"`).
    fn model_type(&self) -> &str;
    /// Size of the output distribution.
    fn vocab_size(&self) -> usize;
    /// BOS/EOS/PAD ids from the config.
    fn special_tokens(&self) -> SpecialTokens;
    /// `input_ids, token_type_ids, attention_mask: (B, T)` -> logits `(B, T, vocab)`.
    fn forward_batch(
        &self,
        input_ids: &[Vec<u32>],
        token_type_ids: Option<&[Vec<u32>]>,
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<Array3<f32>, ModelError>;
    /// Attention weights and hidden-state norms for one input.
    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError>;
}

/// Any supported model, as chosen from `config.json`.
pub enum AnyModel {
    /// GPT-2, Llama, llama2.c.
    Causal(Box<dyn CausalLm>),
    /// T5.
    Seq2Seq(Box<dyn Seq2SeqLm>),
    /// BERT.
    Masked(Box<dyn MaskedLm>),
}

impl AnyModel {
    /// Size of the output vocabulary.
    pub fn vocab_size(&self) -> usize {
        match self {
            AnyModel::Causal(m) => m.vocab_size(),
            AnyModel::Seq2Seq(m) => m.vocab_size(),
            AnyModel::Masked(m) => m.vocab_size(),
        }
    }

    /// Family name.
    pub fn model_type(&self) -> &str {
        match self {
            AnyModel::Causal(m) => m.model_type(),
            AnyModel::Seq2Seq(m) => m.model_type(),
            AnyModel::Masked(m) => m.model_type(),
        }
    }

    /// Attention weights and hidden-state norms for one input.
    pub fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        match self {
            AnyModel::Causal(m) => m.trace(input_ids),
            AnyModel::Seq2Seq(m) => m.trace(input_ids),
            AnyModel::Masked(m) => m.trace(input_ids),
        }
    }
}

/// The `model_type` of a `config.json` (falling back to its `architectures`).
pub fn detect_model_type(config_json: &str) -> Result<String, ModelError> {
    let value: serde_json::Value =
        serde_json::from_str(config_json).map_err(|e| LoadError::Config(format!("{e}")))?;
    if let Some(t) = value.get("model_type").and_then(|v| v.as_str()) {
        return Ok(t.into());
    }
    let arch = value
        .get("architectures")
        .and_then(|a| a.as_array())
        .and_then(|a| a.first())
        .and_then(|a| a.as_str())
        .unwrap_or("");
    let guess = if arch.starts_with("GPT2") {
        "gpt2"
    } else if arch.starts_with("Llama") {
        "llama"
    } else if arch.starts_with("Bert") {
        "bert"
    } else if arch.starts_with("T5") {
        "t5"
    } else {
        return Err(ModelError::Unsupported("config.json has neither model_type nor a known architecture".into()));
    };
    Ok(guess.into())
}

/// Builds the model described by `config_json` from the tensors in `store`.
pub fn load(config_json: &str, store: &WeightStore) -> Result<AnyModel, ModelError> {
    let model_type = detect_model_type(config_json)?;
    Ok(match model_type.as_str() {
        "gpt2" => AnyModel::Causal(Box::new(gpt2::Gpt2::load(config_json, store)?)),
        // SmolLM, TinyLlama and exported llama2.c models are all `llama`.
        "llama" | "mistral" => AnyModel::Causal(Box::new(llama::Llama::load(config_json, store)?)),
        "mixtral" => AnyModel::Causal(Box::new(mixtral::Mixtral::load(config_json, store)?)),
        "qwen2_moe" => AnyModel::Causal(Box::new(qwen2_moe::Qwen2Moe::load(config_json, store)?)),
        "bert" => AnyModel::Masked(Box::new(bert::Bert::load(config_json, store)?)),
        "t5" => AnyModel::Seq2Seq(Box::new(t5::T5::load(config_json, store)?)),
        other => return Err(ModelError::Unsupported(format!("model_type '{other}'"))),
    })
}

/// Checks that a batch is rectangular and builds its mask (default all ones).
pub(crate) fn batch_shape(
    input_ids: &[Vec<u32>],
    attention_mask: Option<&[Vec<u8>]>,
) -> Result<(usize, usize, Vec<Vec<u8>>), ModelError> {
    let batch = input_ids.len();
    let t = input_ids.first().map_or(0, |r| r.len());
    if batch == 0 || t == 0 {
        return Err(ModelError::BadInput("empty batch or empty sequence".into()));
    }
    if input_ids.iter().any(|r| r.len() != t) {
        return Err(ModelError::BadInput("all rows of a batch must have the same length (pad them)".into()));
    }
    let mask = match attention_mask {
        None => vec![vec![1u8; t]; batch],
        Some(m) => {
            if m.len() != batch || m.iter().any(|r| r.len() != t) {
                return Err(ModelError::BadInput("attention_mask must have the shape of input_ids".into()));
            }
            m.to_vec()
        }
    };
    Ok((batch, t, mask))
}

/// Flattens `(B, T)` ids batch-major.
pub(crate) fn flatten_ids(input_ids: &[Vec<u32>]) -> Vec<u32> {
    input_ids.iter().flatten().copied().collect()
}

/// Reshapes `(B*T, V)` logits to `(B, T, V)`.
pub(crate) fn to_batched(logits: Array2<f32>, batch: usize, t: usize) -> Result<Array3<f32>, ModelError> {
    let v = logits.ncols();
    logits.into_shape_with_order((batch, t, v)).map_err(|e| ModelError::BadInput(format!("{e}")))
}

/// Per-position L2 norms of `(T, C)` hidden states (batch row 0).
pub(crate) fn row_norms(h: &Array2<f32>, t: usize) -> Vec<f32> {
    h.axis_iter(Axis(0)).take(t).map(|r| libm::sqrtf(r.iter().map(|v| v * v).sum::<f32>())).collect()
}

/// Assembles a [`Trace`] from per-layer `(1, H, T, T)` records and norms.
pub(crate) fn make_trace(record: Vec<ndarray::Array4<f32>>, norms: Vec<Vec<f32>>) -> Result<Trace, ModelError> {
    let attentions = record.into_iter().map(|a| a.index_axis_move(Axis(0), 0)).collect();
    let rows = norms.len();
    let cols = norms.first().map_or(0, |n| n.len());
    let flat: Vec<f32> = norms.into_iter().flatten().collect();
    let hidden_norms = Array2::from_shape_vec((rows, cols), flat).map_err(|e| ModelError::BadInput(format!("{e}")))?;
    Ok(Trace { attentions, hidden_norms, routing: Vec::new() })
}

/// Reads the special token ids from a config (`eos_token_id` may be a list).
pub(crate) fn special_tokens_from_json(config_json: &str) -> SpecialTokens {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(config_json) else {
        return SpecialTokens::default();
    };
    use crate::decoding::settings::{token_id, token_ids};
    SpecialTokens {
        bos: token_id(&value, "bos_token_id"),
        eos: token_ids(&value, "eos_token_id"),
        pad: token_id(&value, "pad_token_id"),
    }
}
