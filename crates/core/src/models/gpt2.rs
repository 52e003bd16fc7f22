//! GPT-2 (`GPT2LMHeadModel`): learned positions, pre-LN blocks with GELU
//! (tanh) MLPs, LayerNorm, LM head tied to the token embeddings.
//!
//! Checkpoint quirk: GPT-2 uses `Conv1D` layers whose weight is stored
//! `(in, out)`, the transpose of `nn.Linear`. Nothing is transposed on load:
//! each layer reads the checkpoint's bytes as a transposed [`Matrix`] view,
//! and the matmul kernels work on the stored layout (see
//! [`crate::nn::linear`]). The fused `c_attn` `(C, 3C)` is split into query,
//! key and value as three column blocks of the same bytes; only the small
//! biases and norm gains are copied.

use super::decoder_only::{DecoderOnly, DecoderOnlyGrad};
use super::gradients::NamedTensor;
use crate::nn::linear::LinearGrad;
use crate::nn::norm::NormGrad;
use alloc::format;
use alloc::vec;
use super::{special_tokens_from_json, CausalLm, KvCache, ModelError, SpecialTokens, Trace};
use crate::loading::config::{check_divides, check_positive_float, check_size, parse_json, MAX_HEADS, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};
use crate::loading::{LoadError, WeightStore, Weights};
use crate::nn::activation::Activation;
use crate::nn::attention::MultiHeadAttention;
use crate::nn::blocks::PreNormBlock;
use crate::nn::embedding::Embedding;
use crate::nn::ffn::FeedForward;
use crate::nn::linear::Linear;
use crate::nn::norm::{LayerNorm, Norm};
use crate::nn::storage::Matrix;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use ndarray::{Array2, Array3, Axis, Slice};
use serde::Deserialize;

fn default_n_positions() -> usize {
    1024
}
fn default_activation() -> String {
    "gelu_new".into()
}
fn default_eps() -> f64 {
    1e-5
}
fn default_true() -> bool {
    true
}

/// `config.json` of a GPT-2 checkpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// vocab_size: rows of `wte`.
    pub vocab_size: usize,
    /// n_positions aka max_position_embeddings: rows of `wpe`.
    #[serde(default = "default_n_positions")]
    pub n_positions: usize,
    /// n_embd aka hidden_size `C`.
    pub n_embd: usize,
    /// n_layer aka num_hidden_layers.
    pub n_layer: usize,
    /// n_head aka num_attention_heads.
    pub n_head: usize,
    /// n_inner aka intermediate_size; `None` means `4 * n_embd`.
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// activation_function (`gelu_new` = tanh approximation).
    #[serde(default = "default_activation")]
    pub activation_function: String,
    /// layer_norm_epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// tie_word_embeddings: the LM head reuses `wte`.
    #[serde(default = "default_true")]
    pub tie_word_embeddings: bool,
    /// scale_attn_weights: divide scores by `√D`.
    #[serde(default = "default_true")]
    pub scale_attn_weights: bool,
    /// scale_attn_by_inverse_layer_idx: also divide layer `i`'s scores by `i + 1`.
    #[serde(default)]
    pub scale_attn_by_inverse_layer_idx: bool,
    /// pruned_heads: per layer (key = layer index as text), the heads removed
    /// from its `c_attn` / `c_proj` (transformers 4.x's `prune_heads`); the
    /// head width stays `n_embd / n_head`.
    #[serde(default)]
    pub pruned_heads: BTreeMap<String, Vec<usize>>,
}

impl Config {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str) -> Result<Self, LoadError> {
        let cfg: Config = parse_json(text)?;
        check_size("vocab_size", cfg.vocab_size, MAX_VOCAB)?;
        check_size("n_positions", cfg.n_positions, MAX_POSITIONS)?;
        check_size("n_embd", cfg.n_embd, MAX_WIDTH)?;
        check_size("n_layer", cfg.n_layer, MAX_LAYERS)?;
        check_size("n_head", cfg.n_head, MAX_HEADS)?;
        check_size("n_inner", cfg.inner(), MAX_WIDTH)?;
        check_divides("n_embd", cfg.n_embd, "n_head", cfg.n_head)?;
        check_positive_float("layer_norm_epsilon", cfg.layer_norm_epsilon)?;
        for (layer, heads) in &cfg.pruned_heads {
            let index = layer.parse::<usize>().ok().filter(|&l| l < cfg.n_layer);
            let mut sorted = heads.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if index.is_none() || sorted.len() != heads.len() || heads.len() >= cfg.n_head || heads.iter().any(|&h| h >= cfg.n_head) {
                return Err(LoadError::Config(format!("pruned_heads: layer '{layer}' -> {heads:?} is not a set of heads to remove")));
            }
        }
        Ok(cfg)
    }

    /// Heads that layer `layer` still has (`n_head` minus its pruned heads).
    pub fn heads_in_layer(&self, layer: usize) -> usize {
        self.n_head - self.pruned_heads.get(&format!("{layer}")).map_or(0, Vec::len)
    }

    /// FFN width.
    pub fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}

/// A GPT-2 language model.
#[derive(Clone, Debug)]
pub struct Gpt2 {
    /// The parsed config.
    pub config: Config,
    /// The network.
    pub stack: DecoderOnly,
    special: SpecialTokens,
}

/// A Conv1D `(in, out)` weight as an `(out, in)` Linear (a transposed view).
fn conv1d(w: &Weights, in_features: usize, out_features: usize) -> Result<Linear, LoadError> {
    let weight = w.matrix("weight", (in_features, out_features))?.transposed();
    let bias = w.get1("bias", out_features)?;
    Ok(Linear::from_matrix(weight, Some(bias)))
}

fn layer_norm(w: &Weights, c: usize, eps: f64) -> Result<Norm, LoadError> {
    Ok(Norm::Layer(LayerNorm { weight: w.get1("weight", c)?, bias: w.get1("bias", c)?, eps: eps as f32 }))
}

fn load_block(w: &Weights, cfg: &Config, layer: usize) -> Result<PreNormBlock, ModelError> {
    let c = cfg.n_embd;
    let d = c / cfg.n_head;
    let heads = cfg.heads_in_layer(layer);
    let width = heads * d; // C, or less once heads are pruned
    // c_attn: (C, 3·width) Conv1D = [q | k | v] along the output axis.
    let attn = w.pp("attn");
    let fused_w: Matrix = attn.pp("c_attn").matrix("weight", (c, 3 * width))?.transposed();
    let fused_b = attn.pp("c_attn").get1("bias", 3 * width)?;
    let part = |i: usize| -> Result<Linear, LoadError> {
        let weight = fused_w.logical_rows(i * width..(i + 1) * width).ok_or_else(|| LoadError::ShapeMismatch {
            name: attn.path("c_attn.weight"),
            expected: alloc::vec![c, 3 * width],
            found: alloc::vec![fused_w.stored_dim().0, fused_w.stored_dim().1],
        })?;
        Ok(Linear::from_matrix(weight, Some(fused_b.slice_axis(Axis(0), Slice::from(i * width..(i + 1) * width)).to_owned())))
    };
    let mut scale = if cfg.scale_attn_weights { 1.0 / libm::sqrtf(d as f32) } else { 1.0 };
    if cfg.scale_attn_by_inverse_layer_idx {
        scale /= (layer + 1) as f32;
    }
    let attention = MultiHeadAttention {
        q_proj: part(0)?,
        k_proj: part(1)?,
        v_proj: part(2)?,
        o_proj: conv1d(&attn.pp("c_proj"), width, c)?,
        num_heads: heads,
        num_kv_heads: heads,
        head_dim: d,
        scale,
        rope: None,
    };
    let mlp = w.pp("mlp");
    let ffn = FeedForward::Plain {
        up: conv1d(&mlp.pp("c_fc"), c, cfg.inner())?,
        down: conv1d(&mlp.pp("c_proj"), cfg.inner(), c)?,
        act: Activation::from_hf_name(&cfg.activation_function)?,
    };
    Ok(PreNormBlock {
        norm1: layer_norm(&w.pp("ln_1"), c, cfg.layer_norm_epsilon)?,
        attn: attention,
        norm2: layer_norm(&w.pp("ln_2"), c, cfg.layer_norm_epsilon)?,
        ffn: ffn.into(),
        adapters: None,
    })
}

impl Gpt2 {
    /// Builds the model from `config.json` text and the checkpoint's tensors.
    /// Accepts keys with the `transformer.` prefix (saved `GPT2LMHeadModel`)
    /// or without it (the original `gpt2` checkpoint, a `GPT2Model`). Any
    /// other tensor is an error, except the buffers transformers itself
    /// ignores (`attn.bias`, `attn.masked_bias`) and a tied `lm_head.weight`.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        let cfg = Config::from_json(config_json)?;
        let root = Weights::new(store);
        let w = if root.contains("transformer.wte.weight") { root.pp("transformer") } else { root.clone() };
        let c = cfg.n_embd;
        let embed = Embedding::from_matrix(w.matrix("wte.weight", (cfg.vocab_size, c))?);
        let positions = Embedding::from_matrix(w.matrix("wpe.weight", (cfg.n_positions, c))?);
        let blocks = (0..cfg.n_layer)
            .map(|i| load_block(&w.pp("h").pp(i), &cfg, i))
            .collect::<Result<Vec<_>, _>>()?;
        let final_norm = layer_norm(&w.pp("ln_f"), c, cfg.layer_norm_epsilon)?;
        let lm_head = if cfg.tie_word_embeddings {
            None
        } else {
            Some(Linear::from_matrix(root.matrix("lm_head.weight", (cfg.vocab_size, c))?, None))
        };
        root.check_all_used(|name| {
            // Causal-mask buffers older transformers saved, and the tied head's duplicate.
            name.ends_with(".attn.bias")
                || name.ends_with(".attn.masked_bias")
                || (cfg.tie_word_embeddings && name == "lm_head.weight")
        })?;
        let stack = DecoderOnly { embed, positions: Some(positions), blocks, final_norm, lm_head };
        Ok(Self { config: cfg, stack, special: special_tokens_from_json(config_json) })
    }
}

impl Gpt2 {
    /// Lays out per-layer tensors under `GPT2LMHeadModel`'s parameter names:
    /// `Conv1D` weights back to `(in, out)`, `q, k, v` fused into `c_attn`,
    /// `lm_head.weight` only when untied.
    pub fn named_tensors(&self, t: &DecoderOnlyGrad) -> Vec<NamedTensor> {
        let conv1d_weight = |g: &LinearGrad| g.weight.t().to_owned();
        let mut out = vec![NamedTensor::new("transformer.wte.weight", &t.embed)];
        if let Some(wpe) = &t.positions {
            out.push(NamedTensor::new("transformer.wpe.weight", wpe));
        }
        let norm = |out: &mut Vec<NamedTensor>, prefix: &str, g: &NormGrad| {
            out.push(NamedTensor::new(format!("{prefix}.weight"), &g.weight));
            if let Some(b) = &g.bias {
                out.push(NamedTensor::new(format!("{prefix}.bias"), b));
            }
        };
        let conv = |out: &mut Vec<NamedTensor>, prefix: &str, g: &LinearGrad| {
            out.push(NamedTensor::new(format!("{prefix}.weight"), &conv1d_weight(g)));
            if let Some(b) = &g.bias {
                out.push(NamedTensor::new(format!("{prefix}.bias"), b));
            }
        };
        for (i, b) in t.blocks.iter().enumerate() {
            let p = format!("transformer.h.{i}");
            norm(&mut out, &format!("{p}.ln_1"), &b.norm1);
            let a = &b.attn;
            let fused = ndarray::concatenate(Axis(1), &[conv1d_weight(&a.q_proj).view(), conv1d_weight(&a.k_proj).view(), conv1d_weight(&a.v_proj).view()]);
            if let Ok(fused) = fused {
                out.push(NamedTensor::new(format!("{p}.attn.c_attn.weight"), &fused));
            }
            if let (Some(q), Some(k), Some(v)) = (&a.q_proj.bias, &a.k_proj.bias, &a.v_proj.bias) {
                if let Ok(fused) = ndarray::concatenate(Axis(0), &[q.view(), k.view(), v.view()]) {
                    out.push(NamedTensor::new(format!("{p}.attn.c_attn.bias"), &fused));
                }
            }
            conv(&mut out, &format!("{p}.attn.c_proj"), &a.o_proj);
            norm(&mut out, &format!("{p}.ln_2"), &b.norm2);
            if let Some(ffn) = b.ffn.dense() {
                conv(&mut out, &format!("{p}.mlp.c_fc"), &ffn.up);
                conv(&mut out, &format!("{p}.mlp.c_proj"), &ffn.down);
            }
        }
        norm(&mut out, "transformer.ln_f", &t.final_norm);
        if let Some(head) = &t.lm_head {
            out.push(NamedTensor::new("lm_head.weight", &head.weight));
        }
        out
    }
}

impl CausalLm for Gpt2 {
    fn model_type(&self) -> &str {
        "gpt2"
    }
    fn named_parameters(&self) -> Option<Vec<NamedTensor>> {
        Some(self.named_tensors(&self.stack.parameters()))
    }
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }
    fn num_layers(&self) -> usize {
        self.config.n_layer
    }
    fn kv_width(&self) -> usize {
        self.config.n_embd
    }
    fn max_positions(&self) -> Option<usize> {
        Some(self.config.n_positions)
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
    fn positional_encoding(&self, positions: usize) -> Array2<f32> {
        match &self.stack.positions {
            Some(table) => {
                let rows: Vec<usize> = (0..positions.min(table.num_embeddings())).collect();
                table.forward_positions(&rows).unwrap_or_else(|_| Array2::zeros((0, 0)))
            }
            None => Array2::zeros((0, 0)),
        }
    }
}

