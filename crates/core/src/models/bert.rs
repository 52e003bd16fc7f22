//! BERT (`BertForMaskedLM`): token + learned position + segment embeddings,
//! LayerNorm, post-LN encoder layers (the curriculum's `EncoderLayer`), and
//! the MLM head `decoder(LayerNorm(act(dense(h))))` whose decoder is tied to
//! the word embeddings. Attention is bidirectional; padding keys are masked.

use super::{batch_shape, flatten_ids, make_trace, row_norms, special_tokens_from_json, to_batched, MaskedLm, ModelError, SpecialTokens, Trace};
use crate::loading::config::{check_divides, check_positive_float, check_size, parse_json, MAX_HEADS, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};
use crate::loading::{LoadError, WeightStore, Weights};
use crate::nn::activation::Activation;
use crate::nn::attention::{AttentionMask, AttentionRecord, MultiHeadAttention};
use crate::nn::blocks::{PostNormBlock, StepContext};
use crate::nn::embedding::Embedding;
use crate::nn::ffn::FeedForward;
use crate::nn::kv_cache::LayerKv;
use crate::nn::linear::{matmul_weight, Linear};
use crate::nn::norm::{LayerNorm, Norm};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ndarray::{Array1, Array2, Array3};
use serde::Deserialize;

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-12
}
fn default_positions() -> usize {
    512
}
fn default_types() -> usize {
    2
}
fn default_true() -> bool {
    true
}
fn default_position_type() -> String {
    "absolute".into()
}

/// `config.json` of a BERT checkpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// vocab_size.
    pub vocab_size: usize,
    /// hidden_size `C`.
    pub hidden_size: usize,
    /// num_hidden_layers.
    pub num_hidden_layers: usize,
    /// num_attention_heads `H`.
    pub num_attention_heads: usize,
    /// intermediate_size: FFN width.
    pub intermediate_size: usize,
    /// hidden_act of the FFN and of the MLM transform (`gelu` = exact).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// max_position_embeddings: rows of the learned position table.
    #[serde(default = "default_positions")]
    pub max_position_embeddings: usize,
    /// type_vocab_size: number of segments (token_type_ids).
    #[serde(default = "default_types")]
    pub type_vocab_size: usize,
    /// layer_norm_eps.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// position_embedding_type: only `absolute` is implemented.
    #[serde(default = "default_position_type")]
    pub position_embedding_type: String,
    /// tie_word_embeddings: the MLM decoder reuses the word embeddings.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
}

impl Config {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        let cfg: Config = parse_json(text)?;
        check_size("vocab_size", cfg.vocab_size, MAX_VOCAB)?;
        check_size("hidden_size", cfg.hidden_size, MAX_WIDTH)?;
        check_size("num_hidden_layers", cfg.num_hidden_layers, MAX_LAYERS)?;
        check_size("num_attention_heads", cfg.num_attention_heads, MAX_HEADS)?;
        check_size("intermediate_size", cfg.intermediate_size, MAX_WIDTH)?;
        check_size("max_position_embeddings", cfg.max_position_embeddings, MAX_POSITIONS)?;
        check_size("type_vocab_size", cfg.type_vocab_size, MAX_VOCAB)?;
        check_divides("hidden_size", cfg.hidden_size, "num_attention_heads", cfg.num_attention_heads)?;
        check_positive_float("layer_norm_eps", cfg.layer_norm_eps)?;
        if cfg.position_embedding_type != "absolute" {
            return Err(LoadError::Config(format!(
                "position_embedding_type '{}' is not supported (only 'absolute')",
                cfg.position_embedding_type
            )));
        }
        Ok(cfg)
    }
}

/// A BERT masked language model.
#[derive(Clone, Debug)]
pub struct Bert {
    /// The parsed config.
    pub config: Config,
    /// Token embeddings `(V, C)`.
    pub word_embeddings: Embedding,
    /// Learned positions `(P, C)`.
    pub position_embeddings: Embedding,
    /// Segment embeddings `(types, C)`.
    pub token_type_embeddings: Embedding,
    /// LayerNorm after summing the three embeddings.
    pub embeddings_norm: Norm,
    /// The encoder layers.
    pub layers: Vec<PostNormBlock>,
    /// MLM head transform `(C) -> (C)`, followed by the activation.
    pub transform: Linear,
    /// LayerNorm after the transform.
    pub transform_norm: Norm,
    /// MLM decoder `(V, C)` if not tied to the word embeddings.
    pub decoder: Option<Linear>,
    /// MLM output bias `(V)`.
    pub decoder_bias: Array1<f32>,
    act: Activation,
    special: SpecialTokens,
}

fn linear(w: &Weights, in_f: usize, out_f: usize) -> Result<Linear, LoadError> {
    Ok(Linear::from_matrix(w.matrix("weight", (out_f, in_f))?, Some(w.get1("bias", out_f)?)))
}

/// LayerNorm; checkpoints converted from the original TensorFlow BERT name
/// its parameters `gamma`/`beta` instead of `weight`/`bias`.
fn layer_norm(w: &Weights, c: usize, eps: f64) -> Result<Norm, LoadError> {
    let (weight, bias) = if !w.contains("weight") && w.contains("gamma") { ("gamma", "beta") } else { ("weight", "bias") };
    Ok(Norm::Layer(LayerNorm { weight: w.get1(weight, c)?, bias: w.get1(bias, c)?, eps: eps as f32 }))
}

impl Bert {
    /// Builds the model from `config.json` text and the checkpoint's tensors.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        let cfg = Config::from_json(config_json)?;
        let act = Activation::from_hf_name(&cfg.hidden_act)?;
        let root = Weights::new(store);
        let (c, h, f) = (cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size);
        let e = root.pp("bert").pp("embeddings");
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| -> Result<PostNormBlock, ModelError> {
                let l = root.pp("bert.encoder.layer").pp(i);
                let a = l.pp("attention");
                Ok(PostNormBlock {
                    attn: MultiHeadAttention {
                        q_proj: linear(&a.pp("self.query"), c, c)?,
                        k_proj: linear(&a.pp("self.key"), c, c)?,
                        v_proj: linear(&a.pp("self.value"), c, c)?,
                        o_proj: linear(&a.pp("output.dense"), c, c)?,
                        num_heads: h,
                        num_kv_heads: h,
                        head_dim: c / h,
                        scale: 1.0 / libm::sqrtf((c / h) as f32),
                        rope: None,
                    },
                    norm1: layer_norm(&a.pp("output.LayerNorm"), c, cfg.layer_norm_eps)?,
                    ffn: FeedForward::Plain {
                        up: linear(&l.pp("intermediate.dense"), c, f)?,
                        down: linear(&l.pp("output.dense"), f, c)?,
                        act,
                    },
                    norm2: layer_norm(&l.pp("output.LayerNorm"), c, cfg.layer_norm_eps)?,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let p = root.pp("cls.predictions");
        let decoder = if p.contains("decoder.weight") {
            Some(Linear::from_matrix(p.matrix("decoder.weight", (cfg.vocab_size, c))?, None))
        } else {
            None
        };
        let decoder_bias = match p.get1_opt("bias", cfg.vocab_size)? {
            Some(b) => b,
            None => p.get1("decoder.bias", cfg.vocab_size)?,
        };
        Ok(Self {
            word_embeddings: Embedding::from_matrix(e.matrix("word_embeddings.weight", (cfg.vocab_size, c))?),
            position_embeddings: Embedding::from_matrix(e.matrix("position_embeddings.weight", (cfg.max_position_embeddings, c))?),
            token_type_embeddings: Embedding::from_matrix(e.matrix("token_type_embeddings.weight", (cfg.type_vocab_size, c))?),
            embeddings_norm: layer_norm(&e.pp("LayerNorm"), c, cfg.layer_norm_eps)?,
            layers,
            transform: linear(&p.pp("transform.dense"), c, c)?,
            transform_norm: layer_norm(&p.pp("transform.LayerNorm"), c, cfg.layer_norm_eps)?,
            decoder,
            decoder_bias,
            act,
            special: special_tokens_from_json(config_json),
            config: cfg,
        })
    }

    fn run(
        &self,
        input_ids: &[Vec<u32>],
        token_type_ids: Option<&[Vec<u32>]>,
        attention_mask: Option<&[Vec<u8>]>,
        mut record: Option<&mut AttentionRecord>,
        mut norms: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<Array3<f32>, ModelError> {
        let (batch, t, mask) = batch_shape(input_ids, attention_mask)?;
        let types = match token_type_ids {
            Some(tt) => {
                if tt.len() != batch || tt.iter().any(|r| r.len() != t) {
                    return Err(ModelError::BadInput("token_type_ids must have the shape of input_ids".into()));
                }
                flatten_ids(tt)
            }
            None => vec![0u32; batch * t],
        };
        // BERT's positions are 0..T whatever the padding (right padding).
        let positions: Vec<usize> = (0..batch).flat_map(|_| 0..t).collect();
        let mut h = self.word_embeddings.forward(&flatten_ids(input_ids))?; // (B*T, C)
        h += &self.position_embeddings.forward_positions(&positions)?;
        h += &self.token_type_embeddings.forward(&types)?;
        self.embeddings_norm.forward_inplace(&mut h);
        if let Some(n) = norms.as_deref_mut() {
            n.push(row_norms(&h, t));
        }
        let position_rows = vec![vec![0usize; t]; batch];
        let ctx = StepContext { batch, positions: &position_rows, mask: AttentionMask { key_mask: &mask, causal: false } };
        for layer in &self.layers {
            let mut kv = LayerKv::default();
            h = layer.forward(&h, &ctx, &mut kv, record.as_deref_mut());
            if let Some(n) = norms.as_deref_mut() {
                n.push(row_norms(&h, t));
            }
        }
        // MLM head: (B*T, C) -> (B*T, V).
        let mut x = self.transform.forward(h.view());
        self.act.apply_inplace(&mut x);
        self.transform_norm.forward_inplace(&mut x);
        let mut logits: Array2<f32> = match &self.decoder {
            Some(d) => d.forward(x.view()),
            None => matmul_weight(x.view(), &self.word_embeddings.weight),
        };
        logits += &self.decoder_bias;
        to_batched(logits, batch, t)
    }
}

impl MaskedLm for Bert {
    fn model_type(&self) -> &str {
        "bert"
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn special_tokens(&self) -> SpecialTokens {
        self.special.clone()
    }
    fn forward_batch(
        &self,
        input_ids: &[Vec<u32>],
        token_type_ids: Option<&[Vec<u32>]>,
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<Array3<f32>, ModelError> {
        self.run(input_ids, token_type_ids, attention_mask, None, None)
    }
    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        let mut record = Vec::new();
        let mut norms = Vec::new();
        self.run(&[input_ids.to_vec()], None, None, Some(&mut record), Some(&mut norms))?;
        make_trace(record, norms)
    }
}
