//! The decoder-only stack shared by GPT-2, Llama and llama2.c:
//! `embed -> (+ learned positions) -> N pre-norm blocks -> final norm -> lm_head`.
//!
//! The family files only translate their checkpoint into this structure;
//! the forward pass (and its KV-cache bookkeeping) is written once here.

use super::{batch_shape, flatten_ids, make_trace, row_norms, to_batched, ModelError, Trace};
use crate::nn::attention::{AttentionMask, AttentionRecord};
use crate::nn::blocks::{PreNormBlock, StepContext};
use crate::nn::embedding::Embedding;
use crate::nn::kv_cache::KvCache;
use crate::nn::linear::{matmul_weight, Linear};
use crate::nn::norm::Norm;
use alloc::vec::Vec;
use ndarray::{Array2, Array3};

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

    /// Attention maps and norms for one sequence.
    pub fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        let mut cache = KvCache::new(self.blocks.len());
        let mut record = Vec::new();
        let mut norms = Vec::new();
        self.run(&[input_ids.to_vec()], None, &mut cache, Some(&mut record), Some(&mut norms))?;
        make_trace(record, norms)
    }
}
