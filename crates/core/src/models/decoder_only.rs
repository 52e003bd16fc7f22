//! The decoder-only stack shared by GPT-2, Llama and llama2.c:
//! `embed -> (+ learned positions) -> N pre-norm blocks -> final norm -> lm_head`.
//!
//! The family files only translate their checkpoint into this structure;
//! the forward pass (and its KV-cache bookkeeping) is written once here.
//!
//! Training uses the same layers: [`DecoderOnly::forward_train`] runs whole
//! sequences and keeps each layer's activations, [`DecoderOnly::backward`]
//! walks the stack in reverse from the logits' gradient and returns every
//! parameter's gradient in a [`DecoderOnlyGrad`] (apart from the weights,
//! which stay immutable). With a tied LM head the output projection's
//! gradient is added to the token embedding's.

use super::{batch_shape, flatten_ids, make_trace, row_norms, to_batched, ModelError, Trace};
use crate::nn::attention::{AttentionGrad, AttentionMask, AttentionRecord};
use crate::nn::ffn::{FeedForward, FeedForwardGrad};
use crate::nn::blocks::{PreNormActivations, PreNormBlock, PreNormGrad, StepContext};
use crate::nn::embedding::Embedding;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::{matmul_weight, Linear, LinearGrad};
use crate::nn::norm::{Norm, NormGrad};
use alloc::vec::Vec;
use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, Array3, ArrayView2};

/// A pre-norm decoder-only transformer.
#[derive(Clone, Debug)]
pub struct DecoderOnly {
    /// Token embeddings `(V, C)`.
    pub embed: Embedding,
    /// Learned absolute positions `(P, C)` (GPT-2); `None` with RoPE.
    pub positions: Option<Embedding>,
    /// The layers.
    pub blocks: Vec<PreNormBlock>,
    /// Norm after the last layer.
    pub final_norm: Norm,
    /// Output projection `(V, C)`; `None` when tied to `embed`.
    pub lm_head: Option<Linear>,
}

impl DecoderOnly {
    /// `input_ids, attention_mask: (B, T)` -> logits `(B, T, V)`, updating `cache`.
    pub fn forward_batch(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        cache: Option<&mut KvCache>,
    ) -> Result<Array3<f32>, ModelError> {
        let (batch, t) = (input_ids.len(), input_ids.first().map_or(0, |r| r.len()));
        let mut local_cache;
        let cache = match cache {
            Some(c) => c,
            None => {
                local_cache = KvCache::new(self.blocks.len());
                &mut local_cache
            }
        };
        let logits = self.run(input_ids, attention_mask, cache, None, None)?;
        to_batched(logits, batch, t)
    }

    /// The forward pass on the flattened `(B*T, C)` residual stream.
    pub fn run(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        cache: &mut KvCache,
        mut record: Option<&mut AttentionRecord>,
        mut norms: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<Array2<f32>, ModelError> {
        let (batch, t, mask) = batch_shape(input_ids, attention_mask)?;
        if cache.self_attn.len() != self.blocks.len() {
            return Err(crate::nn::kv_cache::CacheError::LayerCountMismatch {
                cache: cache.self_attn.len(),
                model: self.blocks.len(),
            }
            .into());
        }
        let positions = cache.begin_step(batch, &mask)?; // (B, T)
        let mut h = self.embed.forward(&flatten_ids(input_ids))?; // (B*T, C)
        if let Some(table) = &self.positions {
            let flat: Vec<usize> = positions.iter().flatten().copied().collect();
            h += &table.forward_positions(&flat)?;
        }
        if let Some(n) = norms.as_deref_mut() {
            n.push(row_norms(&h, t));
        }
        let key_mask = cache.key_mask.clone(); // (B, S) including this step
        let ctx = StepContext { batch, positions: &positions, mask: AttentionMask { key_mask: &key_mask, causal: true } };
        for (block, kv) in self.blocks.iter().zip(cache.self_attn.iter_mut()) {
            h = block.forward(&h, &ctx, kv, None, record.as_deref_mut());
            if let Some(n) = norms.as_deref_mut() {
                n.push(row_norms(&h, t));
            }
        }
        self.final_norm.forward_inplace(&mut h);
        Ok(match &self.lm_head {
            Some(head) => head.forward(h.view()),
            None => matmul_weight(h.view(), &self.embed.weight), // (B*T, V)
        })
    }

    /// Whole sequences for training: `input_ids, attention_mask: (B, T)` ->
    /// logits `(B*T, V)` and the activations [`backward`](Self::backward)
    /// needs. Positions are `0..T` in every row, as in a Hugging Face forward
    /// call without `position_ids`; padding (mask 0) hides keys.
    pub fn forward_train(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<(Array2<f32>, DecoderOnlyActivations), ModelError> {
        let (batch, t, mask) = batch_shape(input_ids, attention_mask)?;
        let ids = flatten_ids(input_ids);
        let positions: Vec<Vec<usize>> = (0..batch).map(|_| (0..t).collect()).collect(); // (B, T)
        let flat_positions: Vec<usize> = positions.iter().flatten().copied().collect();
        let mut h = self.embed.forward(&ids)?; // (B*T, C)
        if let Some(table) = &self.positions {
            h += &table.forward_positions(&flat_positions)?;
        }
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (out, acts) = block.forward_train(h, batch, &positions, &mask);
            blocks.push(acts);
            h = out;
        }
        let normed = self.final_norm.forward(&h);
        let logits = match &self.lm_head {
            Some(head) => head.forward(normed.view()),
            None => matmul_weight(normed.view(), &self.embed.weight), // (B*T, V)
        };
        let ids = ids.into_iter().map(|id| id as usize).collect();
        Ok((logits, DecoderOnlyActivations { ids, positions: flat_positions, blocks, final_in: h, final_out: normed }))
    }

    /// Backward from `d_logits: (B*T, V)` through the whole stack.
    pub fn backward(&self, acts: &DecoderOnlyActivations, d_logits: ArrayView2<f32>) -> Result<DecoderOnlyGrad, ModelError> {
        let mut grad = self.zero_grad();
        let d_normed = match (&self.lm_head, grad.lm_head.as_mut()) {
            (Some(head), Some(head_grad)) => head.backward(acts.final_out.view(), d_logits, head_grad),
            _ => {
                // Tied: logits = h·Eᵀ, so dE += dlogitsᵀ·h and dh = dlogits·E.
                general_mat_mul(1.0, &d_logits.t(), &acts.final_out, 1.0, &mut grad.embed);
                d_logits.dot(&self.embed.weight.view())
            }
        };
        let mut dh = self.final_norm.backward(acts.final_in.view(), d_normed.view(), &mut grad.final_norm);
        for ((block, block_acts), block_grad) in self.blocks.iter().zip(&acts.blocks).zip(grad.blocks.iter_mut()).rev() {
            dh = block.backward(block_acts, dh.view(), block_grad);
        }
        self.embed.backward(&acts.ids, dh.view(), &mut grad.embed)?;
        if let (Some(table), Some(table_grad)) = (&self.positions, grad.positions.as_mut()) {
            table.backward(&acts.positions, dh.view(), table_grad)?;
        }
        Ok(grad)
    }

    /// Zero gradients shaped like the model.
    pub fn zero_grad(&self) -> DecoderOnlyGrad {
        DecoderOnlyGrad {
            embed: Array2::zeros(self.embed.weight.dim()),
            positions: self.positions.as_ref().map(|p| Array2::zeros(p.weight.dim())),
            blocks: self.blocks.iter().map(PreNormBlock::zero_grad).collect(),
            final_norm: self.final_norm.zero_grad(),
            lm_head: self.lm_head.as_ref().map(LinearGrad::zeros),
        }
    }

    /// A copy of every parameter, laid out like the gradients, so that the
    /// families' name tables (`Gpt2::named_tensors`, `Llama::named_tensors`)
    /// name weights and gradients alike.
    pub fn parameters(&self) -> DecoderOnlyGrad {
        let linear = |l: &Linear| LinearGrad { weight: l.weight.view().to_owned(), bias: l.bias.as_ref().map(|b| b.view().to_owned()) };
        let norm = |n: &Norm| match n {
            Norm::Layer(l) => NormGrad { weight: l.weight.view().to_owned(), bias: Some(l.bias.view().to_owned()) },
            Norm::Rms(r) => NormGrad { weight: r.weight.view().to_owned(), bias: None },
        };
        let ffn = |f: &FeedForward| match f {
            FeedForward::Plain { up, down, .. } => FeedForwardGrad { gate: None, up: linear(up), down: linear(down) },
            FeedForward::Gated { gate, up, down, .. } => {
                FeedForwardGrad { gate: Some(linear(gate)), up: linear(up), down: linear(down) }
            }
        };
        DecoderOnlyGrad {
            embed: self.embed.weight.view().to_owned(),
            positions: self.positions.as_ref().map(|p| p.weight.view().to_owned()),
            blocks: self
                .blocks
                .iter()
                .map(|b| PreNormGrad {
                    norm1: norm(&b.norm1),
                    attn: AttentionGrad {
                        q_proj: linear(&b.attn.q_proj),
                        k_proj: linear(&b.attn.k_proj),
                        v_proj: linear(&b.attn.v_proj),
                        o_proj: linear(&b.attn.o_proj),
                    },
                    norm2: norm(&b.norm2),
                    ffn: ffn(&b.ffn),
                })
                .collect(),
            final_norm: norm(&self.final_norm),
            lm_head: self.lm_head.as_ref().map(linear),
        }
    }

    /// Attention maps and norms for one sequence.
    pub fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        let mut cache = KvCache::new(self.blocks.len());
        let mut record = Vec::new();
        let mut norms = Vec::new();
        self.run(&[input_ids.to_vec()], None, &mut cache, Some(&mut record), Some(&mut norms))?;
        make_trace(record, norms)
    }
}

/// What [`DecoderOnly::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct DecoderOnlyActivations {
    /// Token ids, `(B*T)`.
    pub ids: Vec<usize>,
    /// Position ids, `(B*T)`.
    pub positions: Vec<usize>,
    /// Per layer.
    pub blocks: Vec<PreNormActivations>,
    /// Input of the final norm, `(B*T, C)`.
    pub final_in: Array2<f32>,
    /// Output of the final norm (input of the LM head), `(B*T, C)`.
    pub final_out: Array2<f32>,
}

/// Gradients of every parameter of a [`DecoderOnly`], in its structure.
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderOnlyGrad {
    /// Token embeddings `(V, C)` (including the tied LM head's share).
    pub embed: Array2<f32>,
    /// Learned positions `(P, C)`.
    pub positions: Option<Array2<f32>>,
    /// Per layer.
    pub blocks: Vec<PreNormGrad>,
    /// Final norm.
    pub final_norm: NormGrad,
    /// Untied LM head `(V, C)`.
    pub lm_head: Option<LinearGrad>,
}
