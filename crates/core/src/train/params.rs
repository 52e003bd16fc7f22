//! The flat parameter buffer and its table of named tensors.
//!
//! As in llm.c, every parameter lives in ONE `Vec<f32>` and every gradient in
//! another of the same length. The optimiser, gradient clipping, gradient
//! accumulation and checkpointing then work on a single slice, while layers
//! get their tensors as sub-slices through [`Slots`]. Tensor names and
//! layouts are Hugging Face's, so a checkpoint is loaded and exported by
//! copying ranges.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use super::config::{Arch, Config};
use super::layers::linear::WeightLayout;
use crate::rng::Rng;

/// One named tensor inside the flat buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorSpec {
    /// Hugging Face name, e.g. `transformer.h.0.attn.c_attn.weight`.
    pub name: String,
    /// Shape as HF stores it.
    pub shape: Vec<usize>,
    /// Position in the flat buffer.
    pub range: Range<usize>,
    /// Whether AdamW applies weight decay (matrices and embeddings yes;
    /// biases and norm gains no, as in nanoGPT).
    pub decay: bool,
}

/// Where one transformer block's tensors sit in the flat buffer. Llama's
/// q/k/v projections are stored back to back, so together they form one
/// `((H+2KV)·D, C)` matrix; likewise gate and up form `(2I, C)`.
#[derive(Clone, Debug)]
pub struct LayerSlots {
    pub norm1_w: Range<usize>,
    pub norm1_b: Option<Range<usize>>,
    pub qkv_w: Range<usize>,
    pub qkv_b: Option<Range<usize>>,
    pub attn_out_w: Range<usize>,
    pub attn_out_b: Option<Range<usize>>,
    pub norm2_w: Range<usize>,
    pub norm2_b: Option<Range<usize>>,
    /// GPT-2 `c_fc` (C → I); Llama gate‖up (C → 2I).
    pub ffn_in_w: Range<usize>,
    pub ffn_in_b: Option<Range<usize>>,
    pub ffn_out_w: Range<usize>,
    pub ffn_out_b: Option<Range<usize>>,
}

/// Every tensor's position, by role.
#[derive(Clone, Debug)]
pub struct Slots {
    pub wte: Range<usize>,
    pub wpe: Option<Range<usize>>,
    pub layers: Vec<LayerSlots>,
    pub normf_w: Range<usize>,
    pub normf_b: Option<Range<usize>>,
    /// `None` when tied to `wte`.
    pub lm_head: Option<Range<usize>>,
    /// Storage of the block matrices.
    pub layout: WeightLayout,
}

/// The table of tensors plus the role index.
#[derive(Clone, Debug)]
pub struct ParamTable {
    pub tensors: Vec<TensorSpec>,
    pub slots: Slots,
    pub total: usize,
}

struct Builder {
    tensors: Vec<TensorSpec>,
    total: usize,
}

impl Builder {
    fn add(&mut self, name: String, shape: &[usize]) -> Range<usize> {
        let len: usize = shape.iter().product();
        let range = self.total..self.total + len;
        self.total += len;
        self.tensors.push(TensorSpec { name, shape: shape.to_vec(), range: range.clone(), decay: shape.len() >= 2 });
        range
    }
}

/// Union of back-to-back ranges.
fn span(first: &Range<usize>, last: &Range<usize>) -> Range<usize> {
    first.start..last.end
}

impl ParamTable {
    /// The tensors of `config`, in HF order.
    pub fn new(config: &Config) -> Self {
        let mut b = Builder { tensors: Vec::new(), total: 0 };
        let (v, c, i, t) = (config.vocab_size, config.width, config.ffn_width, config.context);
        let hd = config.heads * config.head_dim();
        let kvd = config.kv_heads * config.head_dim();
        let slots = match config.arch {
            Arch::Gpt2 => {
                let wte = b.add("transformer.wte.weight".into(), &[v, c]);
                let wpe = b.add("transformer.wpe.weight".into(), &[t, c]);
                let mut layers = Vec::new();
                for l in 0..config.layers {
                    let p = format!("transformer.h.{l}.");
                    layers.push(LayerSlots {
                        norm1_w: b.add(format!("{p}ln_1.weight"), &[c]),
                        norm1_b: Some(b.add(format!("{p}ln_1.bias"), &[c])),
                        qkv_w: b.add(format!("{p}attn.c_attn.weight"), &[c, 3 * c]),
                        qkv_b: Some(b.add(format!("{p}attn.c_attn.bias"), &[3 * c])),
                        attn_out_w: b.add(format!("{p}attn.c_proj.weight"), &[c, c]),
                        attn_out_b: Some(b.add(format!("{p}attn.c_proj.bias"), &[c])),
                        norm2_w: b.add(format!("{p}ln_2.weight"), &[c]),
                        norm2_b: Some(b.add(format!("{p}ln_2.bias"), &[c])),
                        ffn_in_w: b.add(format!("{p}mlp.c_fc.weight"), &[c, i]),
                        ffn_in_b: Some(b.add(format!("{p}mlp.c_fc.bias"), &[i])),
                        ffn_out_w: b.add(format!("{p}mlp.c_proj.weight"), &[i, c]),
                        ffn_out_b: Some(b.add(format!("{p}mlp.c_proj.bias"), &[c])),
                    });
                }
                let normf_w = b.add("transformer.ln_f.weight".into(), &[c]);
                let normf_b = Some(b.add("transformer.ln_f.bias".into(), &[c]));
                let lm_head = (!config.tie_embeddings).then(|| b.add("lm_head.weight".into(), &[v, c]));
                Slots { wte, wpe: Some(wpe), layers, normf_w, normf_b, lm_head, layout: WeightLayout::InOut }
            }
            Arch::Llama => {
                let wte = b.add("model.embed_tokens.weight".into(), &[v, c]);
                let mut layers = Vec::new();
                for l in 0..config.layers {
                    let p = format!("model.layers.{l}.");
                    let norm1_w = b.add(format!("{p}input_layernorm.weight"), &[c]);
                    let q = b.add(format!("{p}self_attn.q_proj.weight"), &[hd, c]);
                    let _k = b.add(format!("{p}self_attn.k_proj.weight"), &[kvd, c]);
                    let vv = b.add(format!("{p}self_attn.v_proj.weight"), &[kvd, c]);
                    let attn_out_w = b.add(format!("{p}self_attn.o_proj.weight"), &[c, hd]);
                    let norm2_w = b.add(format!("{p}post_attention_layernorm.weight"), &[c]);
                    let gate = b.add(format!("{p}mlp.gate_proj.weight"), &[i, c]);
                    let up = b.add(format!("{p}mlp.up_proj.weight"), &[i, c]);
                    let down = b.add(format!("{p}mlp.down_proj.weight"), &[c, i]);
                    layers.push(LayerSlots {
                        norm1_w,
                        norm1_b: None,
                        qkv_w: span(&q, &vv),
                        qkv_b: None,
                        attn_out_w,
                        attn_out_b: None,
                        norm2_w,
                        norm2_b: None,
                        ffn_in_w: span(&gate, &up),
                        ffn_in_b: None,
                        ffn_out_w: down,
                        ffn_out_b: None,
                    });
                }
                let normf_w = b.add("model.norm.weight".into(), &[c]);
                let lm_head = (!config.tie_embeddings).then(|| b.add("lm_head.weight".into(), &[v, c]));
                Slots { wte, wpe: None, layers, normf_w, normf_b: None, lm_head, layout: WeightLayout::OutIn }
            }
        };
        Self { tensors: b.tensors, slots, total: b.total }
    }

    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Option<&TensorSpec> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// Initial weights: normal(0, 0.02) matrices, with the two projections
    /// that write into the residual stream scaled by 1/√(2·layers) (GPT-2
    /// paper, nanoGPT); zero biases; unit norm gains.
    pub fn init(&self, config: &Config, rng: &mut Rng) -> Vec<f32> {
        let mut params = vec![0.0f32; self.total];
        let residual_std = 0.02 / libm::sqrt(2.0 * config.layers as f64);
        for t in &self.tensors {
            let Some(dst) = params.get_mut(t.range.clone()) else { continue };
            let is_norm = t.name.contains("ln_") || t.name.contains("layernorm") || t.name.ends_with("norm.weight");
            if t.shape.len() >= 2 {
                let std = if t.name.ends_with("c_proj.weight") || t.name.ends_with("o_proj.weight") || t.name.ends_with("down_proj.weight") {
                    residual_std
                } else {
                    0.02
                };
                dst.iter_mut().for_each(|p| *p = (rng.normal() * std) as f32);
            } else if is_norm && t.name.ends_with("weight") {
                dst.fill(1.0);
            }
        }
        params
    }
}
