//! T5 (`T5ForConditionalGeneration`): an encoder-decoder with RMS-style
//! `T5LayerNorm`, no biases, and relative position biases instead of
//! position embeddings.
//!
//! T5 specifics, each easy to get wrong:
//! - Attention scores are NOT divided by `√D` (the scale lives in the init).
//! - Only the first layer of each stack owns a `relative_attention_bias`
//!   table `(num_buckets, H)`; the bias it produces is shared by all layers
//!   of that stack. The encoder's buckets are bidirectional, the decoder's
//!   causal. Cross-attention has no position bias.
//! - FFN: ReLU (original T5) or gated GELU-tanh (v1.1, `gated-gelu`).
//! - When the output layer is tied to the embeddings (original T5), the
//!   decoder output is scaled by `d_model^-0.5` before it
//!   (`scale_decoder_outputs` in transformers ≥ 5).
//! - Decoding starts from `decoder_start_token_id` (the pad id, 0).

use super::{
    batch_shape, flatten_ids, make_trace, row_norms, special_tokens_from_json, to_batched, EncoderOutput, KvCache,
    ModelError, Seq2SeqLm, SpecialTokens, Trace,
};
use crate::loading::config::{check_positive_float, check_size, parse_json, MAX_HEADS, MAX_LAYERS, MAX_VOCAB, MAX_WIDTH};
use crate::loading::{LoadError, WeightStore, Weights};
use crate::nn::activation::Activation;
use crate::nn::attention::{AttentionMask, AttentionRecord, MultiHeadAttention};
use crate::nn::blocks::{DecoderBlock, DecoderLayerState, Memory, PreNormBlock, StepContext};
use crate::nn::embedding::Embedding;
use crate::nn::ffn::FeedForward;
use crate::nn::kv_cache::{CacheError, LayerKv};
use crate::nn::linear::{matmul_weight, Linear};
use crate::nn::norm::{Norm, RmsNorm};
use crate::nn::positional::t5_relative_position_bucket;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ndarray::{Array2, Array3};
use serde::Deserialize;

fn default_buckets() -> usize {
    32
}
fn default_max_distance() -> usize {
    128
}
fn default_eps() -> f64 {
    1e-6
}
fn default_ffn() -> String {
    "relu".into()
}
fn default_true() -> bool {
    true
}

/// `config.json` of a T5 checkpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// vocab_size.
    pub vocab_size: usize,
    /// d_model aka hidden_size `C`.
    pub d_model: usize,
    /// d_kv: width of each head `D` (`H·D` need not equal `C`).
    pub d_kv: usize,
    /// d_ff: FFN width.
    pub d_ff: usize,
    /// num_layers: encoder layers.
    pub num_layers: usize,
    /// num_decoder_layers (defaults to num_layers).
    #[serde(default)]
    pub num_decoder_layers: Option<usize>,
    /// num_heads `H`.
    pub num_heads: usize,
    /// relative_attention_num_buckets.
    #[serde(default = "default_buckets")]
    pub relative_attention_num_buckets: usize,
    /// relative_attention_max_distance: distances beyond share the last bucket.
    #[serde(default = "default_max_distance")]
    pub relative_attention_max_distance: usize,
    /// layer_norm_epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// feed_forward_proj: `relu`, `gated-gelu`, `gated-silu`, ...
    #[serde(default = "default_ffn")]
    pub feed_forward_proj: String,
    /// tie_word_embeddings (before transformers 5 this also meant "scale").
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// scale_decoder_outputs (transformers ≥ 5): multiply by `d_model^-0.5` before the LM head.
    #[serde(default)]
    pub scale_decoder_outputs: Option<bool>,
    /// decoder_start_token_id.
    #[serde(default)]
    pub decoder_start_token_id: Option<u32>,
    /// pad_token_id (the usual decoder start).
    #[serde(default)]
    pub pad_token_id: Option<u32>,
}

impl Config {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        let cfg: Config = parse_json(text)?;
        check_size("vocab_size", cfg.vocab_size, MAX_VOCAB)?;
        check_size("d_model", cfg.d_model, MAX_WIDTH)?;
        check_size("d_kv", cfg.d_kv, MAX_WIDTH)?;
        check_size("d_ff", cfg.d_ff, MAX_WIDTH)?;
        check_size("num_layers", cfg.num_layers, MAX_LAYERS)?;
        check_size("num_decoder_layers", cfg.decoder_layers(), MAX_LAYERS)?;
        check_size("num_heads", cfg.num_heads, MAX_HEADS)?;
        check_size("num_heads * d_kv", cfg.num_heads * cfg.d_kv, MAX_WIDTH)?;
        check_size("relative_attention_num_buckets", cfg.relative_attention_num_buckets, 4096)?;
        check_size("relative_attention_max_distance", cfg.relative_attention_max_distance, 1 << 20)?;
        check_positive_float("layer_norm_epsilon", cfg.layer_norm_epsilon)?;
        cfg.ffn_kind()?;
        Ok(cfg)
    }

    /// Decoder depth.
    pub fn decoder_layers(&self) -> usize {
        self.num_decoder_layers.unwrap_or(self.num_layers)
    }

    /// `(gated, activation)` from `feed_forward_proj`.
    pub fn ffn_kind(&self) -> Result<(bool, Activation), LoadError> {
        let (gated, name) = match self.feed_forward_proj.split_once('-') {
            Some(("gated", act)) => (true, act),
            None => (false, self.feed_forward_proj.as_str()),
            Some(_) => return Err(LoadError::Config(format!("feed_forward_proj '{}'", self.feed_forward_proj))),
        };
        // transformers maps `gated-gelu` to the tanh approximation.
        let name = if gated && name == "gelu" { "gelu_new" } else { name };
        let act = Activation::from_hf_name(name).map_err(|e| LoadError::Config(format!("{e}")))?;
        Ok((gated, act))
    }

    /// Whether the decoder output is scaled by `d_model^-0.5`.
    pub fn scales_decoder_output(&self) -> bool {
        self.scale_decoder_outputs.unwrap_or(self.tie_word_embeddings)
    }
}

/// A T5 encoder-decoder.
#[derive(Clone, Debug)]
pub struct T5 {
    /// The parsed config.
    pub config: Config,
    /// `shared`: token embeddings of both stacks `(V, C)`.
    pub shared: Embedding,
    /// Encoder layers.
    pub encoder: Vec<PreNormBlock>,
    /// Encoder relative position bias table `(num_buckets, H)`.
    pub encoder_bias: Array2<f32>,
    /// Encoder final norm.
    pub encoder_norm: Norm,
    /// Decoder layers.
    pub decoder: Vec<DecoderBlock>,
    /// Decoder relative position bias table `(num_buckets, H)`.
    pub decoder_bias: Array2<f32>,
    /// Decoder final norm.
    pub decoder_norm: Norm,
    /// LM head `(V, C)`; `None` when tied to `shared`.
    pub lm_head: Option<Linear>,
    special: SpecialTokens,
}

fn linear(w: &Weights, in_f: usize, out_f: usize) -> Result<Linear, LoadError> {
    Ok(Linear::from_matrix(w.matrix("weight", (out_f, in_f))?, None))
}

fn norm(w: &Weights, c: usize, eps: f64) -> Result<Norm, LoadError> {
    Ok(Norm::Rms(RmsNorm { weight: w.get1("weight", c)?, eps: eps as f32 }))
}

fn attention(w: &Weights, cfg: &Config) -> Result<MultiHeadAttention, LoadError> {
    let (c, inner) = (cfg.d_model, cfg.num_heads * cfg.d_kv);
    Ok(MultiHeadAttention {
        q_proj: linear(&w.pp("q"), c, inner)?,
        k_proj: linear(&w.pp("k"), c, inner)?,
        v_proj: linear(&w.pp("v"), c, inner)?,
        o_proj: linear(&w.pp("o"), inner, c)?,
        num_heads: cfg.num_heads,
        num_kv_heads: cfg.num_heads,
        head_dim: cfg.d_kv,
        scale: 1.0,
        rope: None,
    })
}

fn feed_forward(w: &Weights, cfg: &Config) -> Result<FeedForward, LoadError> {
    let (c, f) = (cfg.d_model, cfg.d_ff);
    let (gated, act) = cfg.ffn_kind()?;
    Ok(if gated {
        FeedForward::Gated { gate: linear(&w.pp("wi_0"), c, f)?, up: linear(&w.pp("wi_1"), c, f)?, down: linear(&w.pp("wo"), f, c)?, act }
    } else {
        FeedForward::Plain { up: linear(&w.pp("wi"), c, f)?, down: linear(&w.pp("wo"), f, c)?, act }
    })
}

/// The bias `(H, T, S)` for queries at absolute positions `offset..offset+T`
/// and keys at `0..S`, looked up in `table: (num_buckets, H)`.
pub fn position_bias(table: &Array2<f32>, offset: usize, t: usize, s: usize, bidirectional: bool, max_distance: usize) -> Array3<f32> {
    let (buckets, heads) = table.dim();
    let mut bias = Array3::<f32>::zeros((heads, t, s));
    for i in 0..t {
        for j in 0..s {
            let relative = j as i64 - (offset + i) as i64;
            let bucket = t5_relative_position_bucket(relative, bidirectional, buckets, max_distance).min(buckets - 1);
            for h in 0..heads {
                bias[[h, i, j]] = table[[bucket, h]];
            }
        }
    }
    bias
}

impl T5 {
    /// Builds the model from `config.json` text and the checkpoint's tensors.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        let cfg = Config::from_json(config_json)?;
        let root = Weights::new(store);
        let (c, eps) = (cfg.d_model, cfg.layer_norm_epsilon);
        let shared = Embedding::from_matrix(root.matrix("shared.weight", (cfg.vocab_size, c))?);
        let bias_shape = (cfg.relative_attention_num_buckets, cfg.num_heads);
        let enc = root.pp("encoder");
        let encoder = (0..cfg.num_layers)
            .map(|i| -> Result<PreNormBlock, LoadError> {
                let b = enc.pp("block").pp(i).pp("layer");
                Ok(PreNormBlock {
                    norm1: norm(&b.pp(0).pp("layer_norm"), c, eps)?,
                    attn: attention(&b.pp(0).pp("SelfAttention"), &cfg)?,
                    norm2: norm(&b.pp(1).pp("layer_norm"), c, eps)?,
                    ffn: feed_forward(&b.pp(1).pp("DenseReluDense"), &cfg)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let encoder_bias = enc.get2("block.0.layer.0.SelfAttention.relative_attention_bias.weight", bias_shape)?;
        let dec = root.pp("decoder");
        let decoder = (0..cfg.decoder_layers())
            .map(|i| -> Result<DecoderBlock, LoadError> {
                let b = dec.pp("block").pp(i).pp("layer");
                Ok(DecoderBlock {
                    self_norm: norm(&b.pp(0).pp("layer_norm"), c, eps)?,
                    self_attn: attention(&b.pp(0).pp("SelfAttention"), &cfg)?,
                    cross_norm: norm(&b.pp(1).pp("layer_norm"), c, eps)?,
                    cross_attn: attention(&b.pp(1).pp("EncDecAttention"), &cfg)?,
                    ffn_norm: norm(&b.pp(2).pp("layer_norm"), c, eps)?,
                    ffn: feed_forward(&b.pp(2).pp("DenseReluDense"), &cfg)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let decoder_bias = dec.get2("block.0.layer.0.SelfAttention.relative_attention_bias.weight", bias_shape)?;
        // v1.1 checkpoints carry their own lm_head; tied ones omit it.
        let lm_head = if root.contains("lm_head.weight") {
            Some(Linear::from_matrix(root.matrix("lm_head.weight", (cfg.vocab_size, c))?, None))
        } else {
            None
        };
        Ok(Self {
            encoder_norm: norm(&enc.pp("final_layer_norm"), c, eps)?,
            decoder_norm: norm(&dec.pp("final_layer_norm"), c, eps)?,
            shared,
            encoder,
            encoder_bias,
            decoder,
            decoder_bias,
            lm_head,
            special: special_tokens_from_json(config_json),
            config: cfg,
        })
    }

    fn run_encoder(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        mut record: Option<&mut AttentionRecord>,
        mut norms: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<EncoderOutput, ModelError> {
        let (batch, s, mask) = batch_shape(input_ids, attention_mask)?;
        let mut h = self.shared.forward(&flatten_ids(input_ids))?; // (B*S, C)
        if let Some(n) = norms.as_deref_mut() {
            n.push(row_norms(&h, s));
        }
        let bias = position_bias(&self.encoder_bias, 0, s, s, true, self.config.relative_attention_max_distance); // (H, S, S)
        let positions = vec![vec![0usize; s]; batch];
        let ctx = StepContext { batch, positions: &positions, mask: AttentionMask { key_mask: &mask, causal: false } };
        for block in &self.encoder {
            let mut kv = LayerKv::default();
            h = block.forward(&h, &ctx, &mut kv, Some(&bias), record.as_deref_mut());
            if let Some(n) = norms.as_deref_mut() {
                n.push(row_norms(&h, s));
            }
        }
        self.encoder_norm.forward_inplace(&mut h);
        Ok(EncoderOutput { states: h, mask, batch })
    }
}

impl Seq2SeqLm for T5 {
    fn model_type(&self) -> &str {
        "t5"
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn num_decoder_layers(&self) -> usize {
        self.decoder.len()
    }
    fn kv_width(&self) -> usize {
        self.config.num_heads.saturating_mul(self.config.d_kv)
    }
    fn decoder_start_token_id(&self) -> u32 {
        self.config.decoder_start_token_id.or(self.config.pad_token_id).unwrap_or(0)
    }
    fn special_tokens(&self) -> SpecialTokens {
        self.special.clone()
    }

    fn encode(&self, input_ids: &[Vec<u32>], attention_mask: Option<&[Vec<u8>]>) -> Result<EncoderOutput, ModelError> {
        self.run_encoder(input_ids, attention_mask, None, None)
    }

    fn decode(
        &self,
        decoder_ids: &[Vec<u32>],
        encoder: &EncoderOutput,
        cache: Option<&mut KvCache>,
    ) -> Result<Array3<f32>, ModelError> {
        let (batch, t, mask) = batch_shape(decoder_ids, None)?;
        let rectangular = encoder.mask.len() == encoder.batch && encoder.mask.iter().all(|m| m.len() == encoder.seq_len());
        if !rectangular || encoder.states.ncols() != self.config.d_model {
            return Err(ModelError::BadInput("encoder output has an inconsistent shape".into()));
        }
        if encoder.batch != batch || encoder.states.nrows() != batch * encoder.seq_len() {
            return Err(ModelError::BadInput(format!(
                "decoder batch of {batch} does not match the encoder output's {}",
                encoder.batch
            )));
        }
        let mut local_cache;
        let cache = match cache {
            Some(c) => c,
            None => {
                local_cache = KvCache::new(self.decoder.len());
                &mut local_cache
            }
        };
        if cache.self_attn.len() != self.decoder.len() {
            return Err(CacheError::LayerCountMismatch { cache: cache.self_attn.len(), model: self.decoder.len() }.into());
        }
        let past = cache.seq_len();
        let positions = cache.begin_step(batch, &mask)?;
        let bias = position_bias(&self.decoder_bias, past, t, past + t, false, self.config.relative_attention_max_distance);
        let key_mask = cache.key_mask.clone();
        let ctx = StepContext { batch, positions: &positions, mask: AttentionMask { key_mask: &key_mask, causal: true } };
        let memory = Memory { states: encoder.states.view(), mask: &encoder.mask };
        let mut h = self.shared.forward(&flatten_ids(decoder_ids))?; // (B*T, C)
        for (block, (self_kv, cross_kv)) in
            self.decoder.iter().zip(cache.self_attn.iter_mut().zip(cache.cross_attn.iter_mut()))
        {
            h = block.forward(&h, &ctx, memory, DecoderLayerState { self_kv, cross_kv }, Some(&bias), None);
        }
        self.decoder_norm.forward_inplace(&mut h);
        if self.config.scales_decoder_output() {
            h *= 1.0 / libm::sqrtf(self.config.d_model as f32);
        }
        let logits = match &self.lm_head {
            Some(head) => head.forward(h.view()),
            None => matmul_weight(h.view(), &self.shared.weight),
        };
        to_batched(logits, batch, t)
    }

    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        let mut record = Vec::new();
        let mut norms = Vec::new();
        self.run_encoder(&[input_ids.to_vec()], None, Some(&mut record), Some(&mut norms))?;
        make_trace(record, norms)
    }
}
