//! Llama (`LlamaForCausalLM`), which also covers SmolLM, TinyLlama and
//! llama2.c models exported to Hugging Face: RMSNorm, rotary positions,
//! grouped-query attention, SwiGLU MLP, optionally tied embeddings.

use super::decoder_only::{DecoderOnly, DecoderOnlyGrad};
use super::gradients::NamedTensor;
use crate::nn::linear::LinearGrad;
use super::{special_tokens_from_json, CausalLm, KvCache, ModelError, SpecialTokens, Trace};
use crate::loading::config::{check_divides, check_positive_float, check_size, parse_json, MAX_HEADS, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};
use crate::loading::{LoadError, WeightStore, Weights};
use crate::nn::activation::Activation;
use crate::nn::attention::MultiHeadAttention;
use crate::nn::blocks::PreNormBlock;
use crate::nn::embedding::Embedding;
use crate::nn::ffn::{FeedForward, FeedForwardGrad};
use crate::nn::moe::{Mlp, MlpGrad};
use crate::nn::linear::Linear;
use crate::nn::norm::{Norm, RmsNorm};
use crate::nn::positional::{Rope, RopeScaling};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use ndarray::Array3;
use serde::Deserialize;

fn default_act() -> String {
    "silu".into()
}
fn default_eps() -> f64 {
    1e-6
}
fn default_max_positions() -> usize {
    2048
}

/// RoPE settings, as `rope_parameters` (transformers ≥ 5) or the older
/// top-level `rope_scaling` object.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct RopeParameters {
    /// rope_type (or `type` in old configs): `default`, `linear`, `llama3`.
    #[serde(default, alias = "type")]
    pub rope_type: Option<String>,
    /// rope_theta: the base of the frequencies.
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// factor: frequency divisor for `linear`/`llama3`.
    #[serde(default)]
    pub factor: Option<f64>,
    /// low_freq_factor (`llama3`).
    #[serde(default)]
    pub low_freq_factor: Option<f64>,
    /// high_freq_factor (`llama3`).
    #[serde(default)]
    pub high_freq_factor: Option<f64>,
    /// original_max_position_embeddings (`llama3`).
    #[serde(default)]
    pub original_max_position_embeddings: Option<f64>,
}

/// `config.json` of a Llama checkpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// vocab_size.
    pub vocab_size: usize,
    /// hidden_size aka dim, `C`.
    pub hidden_size: usize,
    /// intermediate_size aka hidden_dim: SwiGLU width.
    pub intermediate_size: usize,
    /// num_hidden_layers aka n_layers.
    pub num_hidden_layers: usize,
    /// num_attention_heads aka n_heads, `H`.
    pub num_attention_heads: usize,
    /// num_key_value_heads aka n_kv_heads, `Hkv` (GQA when < `H`).
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// head_dim, `D`; defaults to `hidden_size / num_attention_heads`.
    #[serde(default)]
    pub head_dim: Option<usize>,
    /// hidden_act of the MLP gate (`silu`).
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// max_position_embeddings aka seq_len.
    #[serde(default = "default_max_positions")]
    pub max_position_embeddings: usize,
    /// rms_norm_eps.
    #[serde(default = "default_eps")]
    pub rms_norm_eps: f64,
    /// rope_theta (pre-v5 configs; v5 puts it in `rope_parameters`).
    #[serde(default)]
    pub rope_theta: Option<f64>,
    /// rope_parameters (transformers ≥ 5).
    #[serde(default)]
    pub rope_parameters: Option<RopeParameters>,
    /// rope_scaling (pre-v5 configs).
    #[serde(default)]
    pub rope_scaling: Option<RopeParameters>,
    /// attention_bias: q/k/v/o projections have biases.
    #[serde(default)]
    pub attention_bias: bool,
    /// mlp_bias: gate/up/down projections have biases.
    #[serde(default)]
    pub mlp_bias: bool,
    /// tie_word_embeddings: the LM head reuses `embed_tokens`.
    #[serde(default)]
    pub tie_word_embeddings: bool,
}

impl Config {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        let cfg: Config = parse_json(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks sizes and divisibility.
    pub fn validate(&self) -> Result<(), LoadError> {
        check_size("vocab_size", self.vocab_size, MAX_VOCAB)?;
        check_size("hidden_size", self.hidden_size, MAX_WIDTH)?;
        check_size("intermediate_size", self.intermediate_size, MAX_WIDTH)?;
        check_size("num_hidden_layers", self.num_hidden_layers, MAX_LAYERS)?;
        check_size("num_attention_heads", self.num_attention_heads, MAX_HEADS)?;
        check_size("num_key_value_heads", self.kv_heads(), MAX_HEADS)?;
        check_size("head_dim", self.head_dim(), MAX_WIDTH)?;
        check_size("max_position_embeddings", self.max_position_embeddings, MAX_POSITIONS)?;
        if self.head_dim.is_none() {
            check_divides("hidden_size", self.hidden_size, "num_attention_heads", self.num_attention_heads)?;
        }
        check_divides("num_attention_heads", self.num_attention_heads, "num_key_value_heads", self.kv_heads())?;
        if self.head_dim() % 2 != 0 {
            return Err(LoadError::Config(format!("head_dim {} must be even for RoPE", self.head_dim())));
        }
        check_positive_float("rms_norm_eps", self.rms_norm_eps)?;
        check_positive_float("rope_theta", self.theta())?;
        self.rope_scaling()?;
        Ok(())
    }

    /// `Hkv`.
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// `D`.
    pub fn head_dim(&self) -> usize {
        self.head_dim.unwrap_or(self.hidden_size / self.num_attention_heads.max(1))
    }

    /// RoPE base θ (10000 unless the config says otherwise).
    pub fn theta(&self) -> f64 {
        self.rope_parameters.as_ref().and_then(|p| p.rope_theta).or(self.rope_theta).unwrap_or(10000.0)
    }

    /// The frequency scaling scheme.
    pub fn rope_scaling(&self) -> Result<RopeScaling, LoadError> {
        let Some(p) = self.rope_parameters.as_ref().or(self.rope_scaling.as_ref()) else {
            return Ok(RopeScaling::None);
        };
        let need = |v: Option<f64>, name: &str| -> Result<f32, LoadError> {
            match v {
                Some(x) if x.is_finite() && x > 0.0 => Ok(x as f32),
                _ => Err(LoadError::Config(format!("rope scaling needs a positive {name}"))),
            }
        };
        match p.rope_type.as_deref().unwrap_or("default") {
            "default" => Ok(RopeScaling::None),
            "linear" => Ok(RopeScaling::Linear { factor: need(p.factor, "factor")? }),
            "llama3" => {
                let low = need(p.low_freq_factor, "low_freq_factor")?;
                let high = need(p.high_freq_factor, "high_freq_factor")?;
                if high <= low {
                    return Err(LoadError::Config("high_freq_factor must exceed low_freq_factor".into()));
                }
                Ok(RopeScaling::Llama3 {
                    factor: need(p.factor, "factor")?,
                    low_freq_factor: low,
                    high_freq_factor: high,
                    original_max_positions: need(p.original_max_position_embeddings, "original_max_position_embeddings")?,
                })
            }
            other => Err(LoadError::Config(format!("rope type '{other}' is not supported"))),
        }
    }
}

/// A Llama language model.
#[derive(Clone, Debug)]
pub struct Llama {
    /// The parsed config.
    pub config: Config,
    /// The network.
    pub stack: DecoderOnly,
    special: SpecialTokens,
}

/// The `(out, in)` linear layer under `w` (`weight`, and `bias` when asked).
pub(crate) fn linear(w: &Weights, in_features: usize, out_features: usize, bias: bool) -> Result<Linear, LoadError> {
    let weight = w.matrix("weight", (out_features, in_features))?;
    let bias = if bias { Some(w.get1("bias", out_features)?) } else { None };
    Ok(Linear::from_matrix(weight, bias))
}

/// The RMSNorm under `w`.
pub(crate) fn rms(w: &Weights, c: usize, eps: f64) -> Result<Norm, LoadError> {
    Ok(Norm::Rms(RmsNorm { weight: w.get1("weight", c)?, eps: eps as f32 }))
}

/// The rotary self-attention under `w` (`self_attn.{q,k,v,o}_proj`), with
/// biases on q/k/v and on o as asked (Llama: all or none; Qwen2: q/k/v only).
pub(crate) fn load_attention(w: &Weights, cfg: &Config, rope: &Rope, qkv_bias: bool, o_bias: bool) -> Result<MultiHeadAttention, ModelError> {
    let (c, h, hkv, d) = (cfg.hidden_size, cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
    let a = w.pp("self_attn");
    Ok(MultiHeadAttention {
        q_proj: linear(&a.pp("q_proj"), c, h * d, qkv_bias)?,
        k_proj: linear(&a.pp("k_proj"), c, hkv * d, qkv_bias)?,
        v_proj: linear(&a.pp("v_proj"), c, hkv * d, qkv_bias)?,
        o_proj: linear(&a.pp("o_proj"), h * d, c, o_bias)?,
        num_heads: h,
        num_kv_heads: hkv,
        head_dim: d,
        scale: 1.0 / libm::sqrtf(d as f32),
        rope: Some(rope.clone()),
    })
}

/// A SwiGLU network `down(act(gate(x)) ⊙ up(x))` of width `f` whose three
/// projections are `w.pp(name)` for the names `[gate, up, down]`.
pub(crate) fn swiglu(w: &Weights, c: usize, f: usize, names: [&str; 3], bias: bool, act: &str) -> Result<FeedForward, ModelError> {
    let [gate, up, down] = names;
    Ok(FeedForward::Gated {
        gate: linear(&w.pp(gate), c, f, bias)?,
        up: linear(&w.pp(up), c, f, bias)?,
        down: linear(&w.pp(down), f, c, bias)?,
        act: Activation::from_hf_name(act)?,
    })
}

/// A Llama decoder layer under `w` whose MLP is `ffn`.
pub(crate) fn load_block_with(w: &Weights, cfg: &Config, attn: MultiHeadAttention, ffn: Mlp) -> Result<PreNormBlock, ModelError> {
    let c = cfg.hidden_size;
    Ok(PreNormBlock {
        norm1: rms(&w.pp("input_layernorm"), c, cfg.rms_norm_eps)?,
        attn,
        norm2: rms(&w.pp("post_attention_layernorm"), c, cfg.rms_norm_eps)?,
        ffn,
        adapters: None,
    })
}

/// The SwiGLU MLP's projection names in Llama checkpoints.
pub(crate) const MLP_NAMES: [&str; 3] = ["gate_proj", "up_proj", "down_proj"];

fn load_block(w: &Weights, cfg: &Config, rope: &Rope) -> Result<PreNormBlock, ModelError> {
    let attn = load_attention(w, cfg, rope, cfg.attention_bias, cfg.attention_bias)?;
    let ffn = swiglu(&w.pp("mlp"), cfg.hidden_size, cfg.intermediate_size, MLP_NAMES, cfg.mlp_bias, &cfg.hidden_act)?;
    load_block_with(w, cfg, attn, ffn.into())
}

impl Llama {
    /// Builds the model from `config.json` text and the checkpoint's tensors.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        let cfg = Config::from_json(config_json)?;
        Self::from_config(cfg, store, special_tokens_from_json(config_json))
    }

    /// Builds the model from an already-validated config (used by llama2.c).
    /// A tensor the model does not read is an error naming it, except the
    /// `rotary_emb.inv_freq` buffers transformers ignores.
    pub fn from_config(cfg: Config, store: &WeightStore, special: SpecialTokens) -> Result<Self, ModelError> {
        let stack = load_decoder(&cfg, store, |w, _, rope| load_block(w, &cfg, rope))?;
        Ok(Self { config: cfg, stack, special })
    }
}

/// A Llama-shaped decoder (`model.embed_tokens`, `model.layers.N`,
/// `model.norm`, `lm_head`) whose layer `i` under `model.layers.i` is built
/// by `load_layer(weights, i, rope)`. A tensor the model does not read is an
/// error naming it, except the `rotary_emb.inv_freq` buffers.
pub(crate) fn load_decoder(
    cfg: &Config,
    store: &WeightStore,
    load_layer: impl Fn(&Weights, usize, &Rope) -> Result<PreNormBlock, ModelError>,
) -> Result<DecoderOnly, ModelError> {
    cfg.validate()?;
    let root = Weights::new(store);
    let w = root.pp("model");
    let c = cfg.hidden_size;
    let rope = Rope::new(cfg.head_dim(), cfg.theta() as f32, &cfg.rope_scaling()?);
    let embed = Embedding::from_matrix(w.matrix("embed_tokens.weight", (cfg.vocab_size, c))?);
    let blocks = (0..cfg.num_hidden_layers).map(|i| load_layer(&w.pp("layers").pp(i), i, &rope)).collect::<Result<Vec<_>, _>>()?;
    let final_norm = rms(&w.pp("norm"), c, cfg.rms_norm_eps)?;
    // Tied checkpoints usually omit lm_head.weight; use it when present.
    let lm_head = if cfg.tie_word_embeddings && !root.contains("lm_head.weight") {
        None
    } else {
        Some(Linear::from_matrix(root.matrix("lm_head.weight", (cfg.vocab_size, c))?, None))
    };
    // Older transformers saved the RoPE frequencies as a buffer; they are recomputed.
    root.check_all_used(|name| name.ends_with(".rotary_emb.inv_freq"))?;
    Ok(DecoderOnly { embed, positions: None, blocks, final_norm, lm_head })
}

impl Llama {
    /// Lays out per-layer tensors under `LlamaForCausalLM`'s parameter
    /// names; `lm_head.weight` only when untied. A tied checkpoint that still
    /// stores `lm_head.weight` reports the head's share under the
    /// embedding's name, since transformers ties the two.
    pub fn named_tensors(&self, t: &DecoderOnlyGrad) -> Vec<NamedTensor> {
        named_decoder_tensors(t, self.config.tie_word_embeddings, |out, prefix, mlp| {
            if let MlpGrad::Dense(ffn) = mlp {
                push_swiglu(out, &format!("{prefix}.mlp"), ffn, MLP_NAMES);
            }
        })
    }
}

/// Appends a linear layer's `weight` (and `bias`) under `prefix`.
pub(crate) fn push_linear(out: &mut Vec<NamedTensor>, prefix: &str, g: &LinearGrad) {
    out.push(NamedTensor::new(format!("{prefix}.weight"), &g.weight));
    if let Some(b) = &g.bias {
        out.push(NamedTensor::new(format!("{prefix}.bias"), b));
    }
}

/// Appends a SwiGLU network's `[gate, up, down]` projections under `prefix`.
pub(crate) fn push_swiglu(out: &mut Vec<NamedTensor>, prefix: &str, ffn: &FeedForwardGrad, [gate, up, down]: [&str; 3]) {
    if let Some(g) = &ffn.gate {
        push_linear(out, &format!("{prefix}.{gate}"), g);
    }
    push_linear(out, &format!("{prefix}.{up}"), &ffn.up);
    push_linear(out, &format!("{prefix}.{down}"), &ffn.down);
}

/// The name table of a Llama-shaped decoder (`model.layers.N.self_attn.…`,
/// norms, embeddings, head); `mlp` names each layer's MLP under the layer
/// prefix `model.layers.N`. `lm_head.weight` only when untied; a tied
/// checkpoint that still stores it reports the head's share under the
/// embedding's name, since transformers ties the two.
pub(crate) fn named_decoder_tensors(
    t: &DecoderOnlyGrad,
    tied: bool,
    mlp: impl Fn(&mut Vec<NamedTensor>, &str, &MlpGrad),
) -> Vec<NamedTensor> {
    let mut embed = t.embed.clone();
    let mut out = Vec::new();
    for (i, b) in t.blocks.iter().enumerate() {
        let p = format!("model.layers.{i}");
        out.push(NamedTensor::new(format!("{p}.input_layernorm.weight"), &b.norm1.weight));
        push_linear(&mut out, &format!("{p}.self_attn.q_proj"), &b.attn.q_proj);
        push_linear(&mut out, &format!("{p}.self_attn.k_proj"), &b.attn.k_proj);
        push_linear(&mut out, &format!("{p}.self_attn.v_proj"), &b.attn.v_proj);
        push_linear(&mut out, &format!("{p}.self_attn.o_proj"), &b.attn.o_proj);
        out.push(NamedTensor::new(format!("{p}.post_attention_layernorm.weight"), &b.norm2.weight));
        mlp(&mut out, &p, &b.ffn);
    }
    out.push(NamedTensor::new("model.norm.weight", &t.final_norm.weight));
    match &t.lm_head {
        Some(head) if tied => embed += &head.weight,
        Some(head) => out.push(NamedTensor::new("lm_head.weight", &head.weight)),
        None => {}
    }
    out.insert(0, NamedTensor::new("model.embed_tokens.weight", &embed));
    out
}

impl CausalLm for Llama {
    fn model_type(&self) -> &str {
        "llama"
    }
    fn named_parameters(&self) -> Option<Vec<NamedTensor>> {
        Some(self.named_tensors(&self.stack.parameters()))
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn num_layers(&self) -> usize {
        self.config.num_hidden_layers
    }
    fn kv_width(&self) -> usize {
        self.config
            .kv_heads()
            .saturating_mul(self.config.head_dim())
    }
    fn max_positions(&self) -> Option<usize> {
        Some(self.config.max_position_embeddings)
    }
    fn special_tokens(&self) -> SpecialTokens {
        self.special.clone()
    }
    fn forward_batch(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        cache: Option<&mut KvCache>,
    ) -> Result<Array3<f32>, ModelError> {
        self.stack.forward_batch(input_ids, attention_mask, cache)
    }
    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        self.stack.trace(input_ids)
    }
    fn positional_encoding(&self, positions: usize) -> ndarray::Array2<f32> {
        let rope = Rope::new(self.config.head_dim(), self.config.theta() as f32, &self.config.rope_scaling().unwrap_or(RopeScaling::None));
        rope.cos_table(positions)
    }
}
