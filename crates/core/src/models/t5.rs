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
use super::gradients::NamedTensor;
use crate::nn::attention::{AttentionGrad, AttentionMask, AttentionRecord, MultiHeadAttention};
use crate::nn::blocks::{
    DecoderActivations, DecoderBlock, DecoderGrad, DecoderLayerState, Memory, PreNormActivations, PreNormBlock, PreNormGrad,
    StepContext,
};
use crate::nn::embedding::Embedding;
use crate::nn::ffn::{FeedForward, FeedForwardGrad};
use crate::nn::kv_cache::{CacheError, LayerKv};
use crate::nn::linear::{matmul_weight, Linear, LinearGrad};
use crate::nn::norm::{Norm, NormGrad, RmsNorm};
use crate::nn::positional::t5_relative_position_bucket;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use crate::nn::gemm::{gemm, matmul};
use ndarray::{Array2, Array3, ArrayView2};
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
        Self::load_with(config_json, store, false)
    }

    /// [`load`](Self::load) that also refuses a checkpoint tensor the model
    /// does not read (naming it), as the gradient path must report exactly
    /// the parameters it trains. Accepted and skipped, as transformers does:
    /// the stacks' `embed_tokens` (copies of `shared`) and a decoder
    /// cross-attention bias table older checkpoints carry.
    pub fn load_checked(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        Self::load_with(config_json, store, true)
    }

    fn load_with(config_json: &str, store: &WeightStore, check_all_used: bool) -> Result<Self, ModelError> {
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
                    ffn: feed_forward(&b.pp(1).pp("DenseReluDense"), &cfg)?.into(),
                    adapters: None,
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
        let model = Self {
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
        };
        if check_all_used {
            root.check_all_used(|name| {
                name == "encoder.embed_tokens.weight"
                    || name == "decoder.embed_tokens.weight"
                    || name == "decoder.block.0.layer.1.EncDecAttention.relative_attention_bias.weight"
            })?;
        }
        Ok(model)
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

/// Backward of [`position_bias`]: adds each entry of `d_bias: (H, T, S)` to
/// the table row of its bucket, `d_table: (num_buckets, H)` (a lookup's
/// gradient is a scatter-add; distances sharing a bucket sum).
pub fn position_bias_backward(
    d_bias: &Array3<f32>,
    offset: usize,
    bidirectional: bool,
    max_distance: usize,
    d_table: &mut Array2<f32>,
) {
    let (buckets, heads) = d_table.dim();
    let (h_count, t, s) = d_bias.dim();
    if buckets == 0 || h_count != heads {
        return;
    }
    for i in 0..t {
        for j in 0..s {
            let relative = j as i64 - (offset + i) as i64;
            let bucket = t5_relative_position_bucket(relative, bidirectional, buckets, max_distance).min(buckets - 1);
            for h in 0..heads {
                d_table[[bucket, h]] += d_bias[[h, i, j]];
            }
        }
    }
}

/// What [`T5::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct T5Activations {
    /// Encoder token ids, `(B*S)`.
    pub encoder_ids: Vec<usize>,
    /// Decoder input ids (labels shifted right), `(B*T)`.
    pub decoder_ids: Vec<usize>,
    /// Per encoder layer.
    pub encoder: Vec<PreNormActivations>,
    /// Input of the encoder's final norm, `(B*S, C)`.
    pub encoder_final_in: Array2<f32>,
    /// The encoder output the decoder attends to, `(B*S, C)`.
    pub memory: Array2<f32>,
    /// Per decoder layer.
    pub decoder: Vec<DecoderActivations>,
    /// Input of the decoder's final norm, `(B*T, C)`.
    pub decoder_final_in: Array2<f32>,
    /// Input of the LM head (after the norm and the tied head's rescale), `(B*T, C)`.
    pub head_in: Array2<f32>,
}

/// Gradients of every parameter of a [`T5`], in its structure.
#[derive(Clone, Debug, PartialEq)]
pub struct T5Grad {
    /// `shared` `(V, C)`: both stacks' embeddings and a tied LM head.
    pub shared: Array2<f32>,
    /// Per encoder layer.
    pub encoder: Vec<PreNormGrad>,
    /// Encoder relative position bias table `(num_buckets, H)`.
    pub encoder_bias: Array2<f32>,
    /// Encoder final norm.
    pub encoder_norm: NormGrad,
    /// Per decoder layer.
    pub decoder: Vec<DecoderGrad>,
    /// Decoder relative position bias table `(num_buckets, H)`.
    pub decoder_bias: Array2<f32>,
    /// Decoder final norm.
    pub decoder_norm: NormGrad,
    /// Untied LM head `(V, C)`.
    pub lm_head: Option<LinearGrad>,
}

impl T5 {
    /// `labels: (B, T)` -> the decoder input: `decoder_start_token_id`, then
    /// the labels shifted right by one with `-100` replaced by the pad id
    /// (transformers' `_shift_right`).
    pub fn shift_right(&self, labels: &[Vec<i64>]) -> Result<Vec<Vec<u32>>, ModelError> {
        let start = self.decoder_start_token_id();
        let pad = self.config.pad_token_id.unwrap_or(0);
        labels
            .iter()
            .map(|row| {
                let mut ids = Vec::with_capacity(row.len());
                ids.push(start);
                for &label in row.iter().take(row.len().saturating_sub(1)) {
                    ids.push(match label {
                        -100 => pad,
                        _ => u32::try_from(label)
                            .map_err(|_| ModelError::BadInput(format!("label {label} is not a token id (use -100 to ignore)")))?,
                    });
                }
                Ok(ids)
            })
            .collect()
    }

    /// Training forward of `T5ForConditionalGeneration(input_ids,
    /// attention_mask, labels=labels)` in eval mode: `input_ids,
    /// attention_mask: (B, S)`, `labels: (B, T)` -> logits `(B*T, V)` and
    /// the activations [`backward`](Self::backward) needs.
    pub fn forward_train(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        labels: &[Vec<i64>],
    ) -> Result<(Array2<f32>, T5Activations), ModelError> {
        let (batch, s, enc_mask) = batch_shape(input_ids, attention_mask)?;
        let decoder_input = self.shift_right(labels)?;
        let (dec_batch, t, dec_mask) = batch_shape(&decoder_input, None)?;
        if dec_batch != batch {
            return Err(ModelError::BadInput(format!("labels have {dec_batch} rows but input_ids {batch}")));
        }
        let max_distance = self.config.relative_attention_max_distance;
        let encoder_ids = flatten_ids(input_ids);
        let mut h = self.shared.forward(&encoder_ids)?; // (B*S, C)
        let bias = position_bias(&self.encoder_bias, 0, s, s, true, max_distance); // (H, S, S)
        let positions = vec![vec![0usize; s]; batch];
        let mask = AttentionMask { key_mask: &enc_mask, causal: false };
        let mut encoder = Vec::with_capacity(self.encoder.len());
        for block in &self.encoder {
            let (out, acts) = block.forward_train_masked(h, batch, &positions, &mask, Some(&bias));
            encoder.push(acts);
            h = out;
        }
        let memory = self.encoder_norm.forward(&h); // (B*S, C)
        let encoder_final_in = h;

        let decoder_ids = flatten_ids(&decoder_input);
        let mut h = self.shared.forward(&decoder_ids)?; // (B*T, C)
        let bias = position_bias(&self.decoder_bias, 0, t, t, false, max_distance); // (H, T, T)
        let mask = AttentionMask { key_mask: &dec_mask, causal: true };
        let mut decoder = Vec::with_capacity(self.decoder.len());
        for block in &self.decoder {
            let (out, acts) =
                block.forward_train(h, batch, &mask, Some(&bias), Memory { states: memory.view(), mask: &enc_mask });
            decoder.push(acts);
            h = out;
        }
        let mut head_in = self.decoder_norm.forward(&h);
        if self.config.scales_decoder_output() {
            head_in *= 1.0 / libm::sqrtf(self.config.d_model as f32);
        }
        let logits = match &self.lm_head {
            Some(head) => head.forward(head_in.view()),
            None => matmul_weight(head_in.view(), &self.shared.weight),
        }; // (B*T, V)
        let to_usize = |ids: Vec<u32>| ids.into_iter().map(|id| id as usize).collect();
        let acts = T5Activations {
            encoder_ids: to_usize(encoder_ids),
            decoder_ids: to_usize(decoder_ids),
            encoder,
            encoder_final_in,
            memory,
            decoder,
            decoder_final_in: h,
            head_in,
        };
        Ok((logits, acts))
    }

    /// Backward from `d_logits: (B*T, V)`: the decoder, whose
    /// cross-attentions hand the encoder output its gradient, then the
    /// encoder. Each stack's bias table collects the gradient of the bias
    /// all its layers share.
    pub fn backward(&self, acts: &T5Activations, d_logits: ArrayView2<f32>) -> Result<T5Grad, ModelError> {
        let mut grad = self.zero_grad();
        let max_distance = self.config.relative_attention_max_distance;
        let mut d_head_in = match (&self.lm_head, grad.lm_head.as_mut()) {
            (Some(head), Some(g)) => head.backward(acts.head_in.view(), d_logits, g),
            _ => {
                // Tied: logits = x·Eᵀ, so dE += dlogitsᵀ·x and dx = dlogits·E.
                gemm(1.0, d_logits.t(), acts.head_in.view(), 1.0, grad.shared.view_mut());
                matmul(d_logits, self.shared.weight.view())
            }
        };
        if self.config.scales_decoder_output() {
            d_head_in *= 1.0 / libm::sqrtf(self.config.d_model as f32);
        }
        let mut dh = self.decoder_norm.backward(acts.decoder_final_in.view(), d_head_in.view(), &mut grad.decoder_norm);
        let mut d_memory = Array2::<f32>::zeros(acts.memory.raw_dim()); // (B*S, C)
        let heads = self.config.num_heads;
        let dec_t = acts.decoder.first().map_or(0, |a| a.self_attn.probs.dim().2);
        let mut d_bias = Array3::<f32>::zeros((heads, dec_t, dec_t));
        for ((block, block_acts), block_grad) in self.decoder.iter().zip(&acts.decoder).zip(grad.decoder.iter_mut()).rev() {
            let (dx, dm) = block.backward(block_acts, dh.view(), block_grad, Some(&mut d_bias));
            if dm.dim() == d_memory.dim() {
                d_memory += &dm;
            }
            dh = dx;
        }
        self.shared.backward(&acts.decoder_ids, dh.view(), &mut grad.shared)?;
        position_bias_backward(&d_bias, 0, false, max_distance, &mut grad.decoder_bias);

        let mut dh = self.encoder_norm.backward(acts.encoder_final_in.view(), d_memory.view(), &mut grad.encoder_norm);
        let enc_s = acts.encoder.first().map_or(0, |a| a.attn.probs.dim().2);
        let mut d_bias = Array3::<f32>::zeros((heads, enc_s, enc_s));
        for ((block, block_acts), block_grad) in self.encoder.iter().zip(&acts.encoder).zip(grad.encoder.iter_mut()).rev() {
            dh = block.backward_with(block_acts, dh.view(), block_grad, Some(&mut d_bias));
        }
        self.shared.backward(&acts.encoder_ids, dh.view(), &mut grad.shared)?;
        position_bias_backward(&d_bias, 0, true, max_distance, &mut grad.encoder_bias);
        Ok(grad)
    }

    /// Zero gradients shaped like the model.
    pub fn zero_grad(&self) -> T5Grad {
        T5Grad {
            shared: Array2::zeros(self.shared.weight.dim()),
            encoder: self.encoder.iter().map(PreNormBlock::zero_grad).collect(),
            encoder_bias: Array2::zeros(self.encoder_bias.dim()),
            encoder_norm: self.encoder_norm.zero_grad(),
            decoder: self.decoder.iter().map(DecoderBlock::zero_grad).collect(),
            decoder_bias: Array2::zeros(self.decoder_bias.dim()),
            decoder_norm: self.decoder_norm.zero_grad(),
            lm_head: self.lm_head.as_ref().map(LinearGrad::zeros),
        }
    }

    /// A copy of every parameter, laid out like the gradients, so that
    /// [`named_tensors`](Self::named_tensors) names weights and gradients alike.
    pub fn parameters(&self) -> T5Grad {
        T5Grad {
            shared: self.shared.weight.view().to_owned(),
            encoder: self
                .encoder
                .iter()
                .map(|b| PreNormGrad {
                    norm1: b.norm1.parameters(),
                    attn: AttentionGrad::of(&b.attn),
                    norm2: b.norm2.parameters(),
                    ffn: b.ffn.parameters(),
                    adapters: None,
                })
                .collect(),
            encoder_bias: self.encoder_bias.clone(),
            encoder_norm: self.encoder_norm.parameters(),
            decoder: self
                .decoder
                .iter()
                .map(|b| DecoderGrad {
                    self_norm: b.self_norm.parameters(),
                    self_attn: AttentionGrad::of(&b.self_attn),
                    cross_norm: b.cross_norm.parameters(),
                    cross_attn: AttentionGrad::of(&b.cross_attn),
                    ffn_norm: b.ffn_norm.parameters(),
                    ffn: b.ffn.parameters(),
                })
                .collect(),
            decoder_bias: self.decoder_bias.clone(),
            decoder_norm: self.decoder_norm.parameters(),
            lm_head: self.lm_head.as_ref().map(LinearGrad::of),
        }
    }

    /// Lays out `t` under `T5ForConditionalGeneration`'s `named_parameters()`
    /// names: the embeddings of both stacks (and a tied LM head) are the one
    /// parameter `shared.weight`; each stack's bias table belongs to its block 0.
    pub fn named_tensors(&self, t: &T5Grad) -> Vec<NamedTensor> {
        let mut out = vec![NamedTensor::new("shared.weight", &t.shared)];
        let attn = |out: &mut Vec<NamedTensor>, prefix: &str, g: &AttentionGrad| {
            for (name, l) in [("q", &g.q_proj), ("k", &g.k_proj), ("v", &g.v_proj), ("o", &g.o_proj)] {
                out.push(NamedTensor::new(format!("{prefix}.{name}.weight"), &l.weight));
            }
        };
        let ffn = |out: &mut Vec<NamedTensor>, prefix: &str, g: &FeedForwardGrad| match &g.gate {
            Some(gate) => {
                out.push(NamedTensor::new(format!("{prefix}.wi_0.weight"), &gate.weight));
                out.push(NamedTensor::new(format!("{prefix}.wi_1.weight"), &g.up.weight));
                out.push(NamedTensor::new(format!("{prefix}.wo.weight"), &g.down.weight));
            }
            None => {
                out.push(NamedTensor::new(format!("{prefix}.wi.weight"), &g.up.weight));
                out.push(NamedTensor::new(format!("{prefix}.wo.weight"), &g.down.weight));
            }
        };
        for (i, b) in t.encoder.iter().enumerate() {
            let p = format!("encoder.block.{i}.layer");
            attn(&mut out, &format!("{p}.0.SelfAttention"), &b.attn);
            out.push(NamedTensor::new(format!("{p}.0.layer_norm.weight"), &b.norm1.weight));
            if let Some(dense) = b.ffn.dense() {
                ffn(&mut out, &format!("{p}.1.DenseReluDense"), dense);
            }
            out.push(NamedTensor::new(format!("{p}.1.layer_norm.weight"), &b.norm2.weight));
        }
        out.push(NamedTensor::new("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", &t.encoder_bias));
        out.push(NamedTensor::new("encoder.final_layer_norm.weight", &t.encoder_norm.weight));
        for (i, b) in t.decoder.iter().enumerate() {
            let p = format!("decoder.block.{i}.layer");
            attn(&mut out, &format!("{p}.0.SelfAttention"), &b.self_attn);
            out.push(NamedTensor::new(format!("{p}.0.layer_norm.weight"), &b.self_norm.weight));
            attn(&mut out, &format!("{p}.1.EncDecAttention"), &b.cross_attn);
            out.push(NamedTensor::new(format!("{p}.1.layer_norm.weight"), &b.cross_norm.weight));
            ffn(&mut out, &format!("{p}.2.DenseReluDense"), &b.ffn);
            out.push(NamedTensor::new(format!("{p}.2.layer_norm.weight"), &b.ffn_norm.weight));
        }
        out.push(NamedTensor::new("decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", &t.decoder_bias));
        out.push(NamedTensor::new("decoder.final_layer_norm.weight", &t.decoder_norm.weight));
        if let Some(head) = &t.lm_head {
            out.push(NamedTensor::new("lm_head.weight", &head.weight));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::{check_gradient, random_vec};

    /// Bidirectional and causal lookups, with distances far enough apart to
    /// share logarithmic buckets (their gradients add up).
    #[test]
    fn position_bias_backward_matches_finite_differences() {
        let (buckets, heads, t, s, max_distance) = (6, 2, 5, 9, 12);
        for (bidirectional, offset) in [(true, 0), (false, 3)] {
            let table = Array2::from_shape_vec((buckets, heads), random_vec(buckets * heads, 80)).unwrap();
            let r = Array3::from_shape_vec((heads, t, s), random_vec(heads * t * s, 81)).unwrap();
            let loss = |table: &Array2<f32>| {
                let bias = position_bias(table, offset, t, s, bidirectional, max_distance);
                bias.iter().zip(&r).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum::<f64>()
            };
            let mut d_table = Array2::zeros(table.raw_dim());
            position_bias_backward(&r, offset, bidirectional, max_distance, &mut d_table);
            check_gradient(table.as_slice().unwrap(), d_table.as_slice().unwrap(), |p| {
                loss(&Array2::from_shape_vec(table.raw_dim(), p.to_vec()).unwrap())
            });
        }
    }
}
