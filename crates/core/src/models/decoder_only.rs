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

use super::{batch_shape, flatten_ids, make_trace, row_norms, to_batched, LayerRouting, ModelError, Trace};
use crate::nn::attention::{AttentionMask, AttentionRecord, KvPrefix};
use crate::nn::blocks::{PreNormActivations, PreNormBlock, PreNormGrad, StepContext};
use crate::nn::embedding::Embedding;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::{matmul_weight, Linear, LinearGrad};
use crate::nn::moe::{route, Mlp};
use crate::nn::norm::{Norm, NormGrad};
use crate::nn::{push_array, TensorMut};
use alloc::format;
use alloc::vec::Vec;
use crate::nn::gemm::{gemm, matmul};
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
        record: Option<&mut AttentionRecord>,
        norms: Option<&mut Vec<Vec<f32>>>,
    ) -> Result<Array2<f32>, ModelError> {
        self.run_recording(input_ids, attention_mask, cache, record, norms, None)
    }

    /// [`run`](Self::run) that also appends each mixture-of-experts layer's
    /// router logits `(B*T, E)` to `router_logits` (dense layers add none).
    pub fn run_recording(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        cache: &mut KvCache,
        mut record: Option<&mut AttentionRecord>,
        mut norms: Option<&mut Vec<Vec<f32>>>,
        mut router_logits: Option<&mut Vec<Array2<f32>>>,
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
            h = block.forward_recording(&h, &ctx, kv, None, record.as_deref_mut(), router_logits.as_deref_mut());
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
        self.forward_train_rounded(input_ids, attention_mask, &|_| {})
    }

    /// [`forward_train`](Self::forward_train) with `round` applied to the
    /// residual stream after the embedding and after every block, to the
    /// final norm's output and to the logits: how half-precision compute is
    /// emulated in f32 (`round` rounds every value to bf16 or fp16).
    pub fn forward_train_rounded(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        round: &dyn Fn(&mut [f32]),
    ) -> Result<(Array2<f32>, DecoderOnlyActivations), ModelError> {
        self.forward_train_prefixed(input_ids, attention_mask, None, round)
    }

    /// [`forward_train_rounded`](Self::forward_train_rounded) where layer
    /// `l`'s attention also sees `prefix[l]`'s `P` key/value rows (prefix
    /// tuning: a past cache of `P` tokens). As in transformers with a cache
    /// of length `P`, the sequence's positions are `P..P+T` (learned
    /// positions and RoPE alike) and the prefix is visible to every token.
    /// [`backward`](Self::backward) then fills each block's `attn.prefix`.
    pub fn forward_train_prefixed(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        prefix: Option<&[KvPrefix]>,
        round: &dyn Fn(&mut [f32]),
    ) -> Result<(Array2<f32>, DecoderOnlyActivations), ModelError> {
        let round = |a: &mut Array2<f32>| {
            if let Some(values) = a.as_slice_mut() {
                round(values);
            }
        };
        if let Some(p) = prefix {
            if p.len() != self.blocks.len() {
                return Err(ModelError::BadInput(format!("the prefix has {} layers but the model {}", p.len(), self.blocks.len())));
            }
        }
        let past = prefix.and_then(|p| p.first()).map_or(0, KvPrefix::len);
        let (batch, t, mask) = batch_shape(input_ids, attention_mask)?;
        let ids = flatten_ids(input_ids);
        let positions: Vec<Vec<usize>> = (0..batch).map(|_| (past..past + t).collect()).collect(); // (B, T)
        let flat_positions: Vec<usize> = positions.iter().flatten().copied().collect();
        let mut h = self.embed.forward(&ids)?; // (B*T, C)
        if let Some(table) = &self.positions {
            h += &table.forward_positions(&flat_positions)?;
        }
        round(&mut h);
        let mut blocks = Vec::with_capacity(self.blocks.len());
        for (l, block) in self.blocks.iter().enumerate() {
            let layer_prefix = prefix.and_then(|p| p.get(l));
            let (mut out, acts) = block.forward_train_prefixed(h, batch, &positions, &AttentionMask { key_mask: &mask, causal: true }, None, layer_prefix);
            round(&mut out);
            blocks.push(acts);
            h = out;
        }
        let mut normed = self.final_norm.forward(&h);
        round(&mut normed);
        let mut logits = match &self.lm_head {
            Some(head) => head.forward(normed.view()),
            None => matmul_weight(normed.view(), &self.embed.weight), // (B*T, V)
        };
        round(&mut logits);
        let ids = ids.into_iter().map(|id| id as usize).collect();
        Ok((logits, DecoderOnlyActivations { ids, positions: flat_positions, blocks, final_in: h, final_out: normed }))
    }

    /// Backward from `d_logits: (B*T, V)` through the whole stack.
    pub fn backward(&self, acts: &DecoderOnlyActivations, d_logits: ArrayView2<f32>) -> Result<DecoderOnlyGrad, ModelError> {
        let mut grad = self.zero_grad();
        self.backward_into(acts, d_logits, &mut grad, &|_| {})?;
        Ok(grad)
    }

    /// [`backward`](Self::backward) that ADDS the gradients to `grad`
    /// (accumulation over micro-batches), applying `round` to the residual
    /// stream's gradient after every block (see
    /// [`forward_train_rounded`](Self::forward_train_rounded)).
    pub fn backward_into(
        &self,
        acts: &DecoderOnlyActivations,
        d_logits: ArrayView2<f32>,
        grad: &mut DecoderOnlyGrad,
        round: &dyn Fn(&mut [f32]),
    ) -> Result<(), ModelError> {
        self.backward_into_with_router(acts, d_logits, &[], grad, round)
    }

    /// [`backward_into`](Self::backward_into) where `d_router_logits` holds,
    /// for each mixture-of-experts layer in order (as
    /// [`DecoderOnlyActivations::router_logits`] lists them), a gradient
    /// `(B*T, E)` reaching its router logits: the auxiliary loss's.
    pub fn backward_into_with_router(
        &self,
        acts: &DecoderOnlyActivations,
        d_logits: ArrayView2<f32>,
        d_router_logits: &[Array2<f32>],
        grad: &mut DecoderOnlyGrad,
        round: &dyn Fn(&mut [f32]),
    ) -> Result<(), ModelError> {
        let round = |a: &mut Array2<f32>| {
            if let Some(values) = a.as_slice_mut() {
                round(values);
            }
        };
        let d_normed = match (&self.lm_head, grad.lm_head.as_mut()) {
            (Some(head), Some(head_grad)) => head.backward(acts.final_out.view(), d_logits, head_grad),
            _ => {
                // Tied: logits = h·Eᵀ, so dE += dlogitsᵀ·h and dh = dlogits·E.
                gemm(1.0, d_logits.t(), acts.final_out.view(), 1.0, grad.embed.view_mut());
                matmul(d_logits, self.embed.weight.view())
            }
        };
        let mut dh = self.final_norm.backward(acts.final_in.view(), d_normed.view(), &mut grad.final_norm);
        round(&mut dh);
        // The MoE ordinal of each block: which entry of `d_router_logits` is its.
        let mut moe_index = Vec::with_capacity(acts.blocks.len());
        let mut seen = 0;
        for block_acts in &acts.blocks {
            moe_index.push(block_acts.ffn.router_logits().map(|_| seen));
            seen += usize::from(block_acts.ffn.router_logits().is_some());
        }
        for (((block, block_acts), block_grad), moe) in
            self.blocks.iter().zip(&acts.blocks).zip(grad.blocks.iter_mut()).zip(moe_index).rev()
        {
            let d_router = moe.and_then(|i| d_router_logits.get(i)).map(|d| d.view());
            dh = block.backward_full(block_acts, dh.view(), block_grad, None, d_router);
            round(&mut dh);
        }
        self.embed.backward(&acts.ids, dh.view(), &mut grad.embed)?;
        if let (Some(table), Some(table_grad)) = (&self.positions, grad.positions.as_mut()) {
            table.backward(&acts.positions, dh.view(), table_grad)?;
        }
        Ok(())
    }

    /// Every parameter tensor, in one fixed order (embeddings, positions,
    /// each block, final norm, LM head), as owned f32 values that may be
    /// written: the trainer's master weights. [`DecoderOnlyGrad::tensors_mut`]
    /// lists the gradients in the same order.
    pub fn params_mut(&mut self) -> Vec<TensorMut<'_>> {
        let mut out = Vec::new();
        out.push(TensorMut { values: self.embed.weight.make_mut(), matrix: true });
        if let Some(table) = self.positions.as_mut() {
            out.push(TensorMut { values: table.weight.make_mut(), matrix: true });
        }
        for block in &mut self.blocks {
            block.params_mut(&mut out);
        }
        self.final_norm.params_mut(&mut out);
        if let Some(head) = self.lm_head.as_mut() {
            head.params_mut(&mut out);
        }
        out
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        let mut grad = self.zero_grad();
        grad.tensors_mut().iter().map(|t| t.values.len()).sum()
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
        let mut copy = self.clone();
        let mut out = self.zero_grad();
        for (dst, src) in out.tensors_mut().into_iter().zip(copy.params_mut()) {
            dst.values.copy_from_slice(src.values);
        }
        out
    }

    /// The router logits `(T, E)` of each mixture-of-experts layer for one sequence.
    pub fn router_logits(&self, input_ids: &[u32]) -> Result<Vec<Array2<f32>>, ModelError> {
        let mut cache = KvCache::new(self.blocks.len());
        let mut router_logits = Vec::new();
        self.run_recording(&[input_ids.to_vec()], None, &mut cache, None, None, Some(&mut router_logits))?;
        Ok(router_logits)
    }

    /// Attention maps, norms and (for a mixture of experts) the routing of
    /// one sequence.
    pub fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        let mut cache = KvCache::new(self.blocks.len());
        let mut record = Vec::new();
        let mut norms = Vec::new();
        let mut router_logits = Vec::new(); // per sparse layer, (T, E)
        self.run_recording(&[input_ids.to_vec()], None, &mut cache, Some(&mut record), Some(&mut norms), Some(&mut router_logits))?;
        let mut trace = make_trace(record, norms)?;
        let sparse = self.blocks.iter().enumerate().filter_map(|(layer, b)| match &b.ffn {
            Mlp::Sparse(moe) => Some((layer, moe)),
            Mlp::Dense(_) => None,
        });
        trace.routing = sparse
            .zip(&router_logits)
            .map(|((layer, moe), logits)| LayerRouting { layer, routing: route(logits.view(), moe.top_k, moe.normalize_top_k) })
            .collect();
        Ok(trace)
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

impl DecoderOnlyActivations {
    /// The router logits `(B*T, E)` of each mixture-of-experts layer, in
    /// layer order (what transformers returns with `output_router_logits`).
    pub fn router_logits(&self) -> Vec<ArrayView2<'_, f32>> {
        self.blocks.iter().filter_map(|b| b.ffn.router_logits()).map(|l| l.view()).collect()
    }
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

impl DecoderOnlyGrad {
    /// Every tensor, in [`DecoderOnly::params_mut`]'s order.
    pub fn tensors_mut(&mut self) -> Vec<TensorMut<'_>> {
        let mut out = Vec::new();
        push_array(&mut out, &mut self.embed);
        if let Some(table) = self.positions.as_mut() {
            push_array(&mut out, table);
        }
        for block in &mut self.blocks {
            block.tensors_mut(&mut out);
        }
        self.final_norm.tensors_mut(&mut out);
        if let Some(head) = self.lm_head.as_mut() {
            head.tensors_mut(&mut out);
        }
        out
    }
}
