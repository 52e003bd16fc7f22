//! Transformer layers assembled from the building blocks.
//!
//! - [`PostNormBlock`]: the 2017 Transformer's / BERT's `EncoderLayer`:
//!   `x = norm1(x + attn(x)); x = norm2(x + ffn(x))`.
//! - [`PreNormBlock`]: GPT-2, Llama, T5's encoder:
//!   `x = x + attn(norm1(x)); x = x + ffn(norm2(x))` — the residual stream is
//!   never normalised, which trains deeper stacks more stably.
//! - [`DecoderBlock`]: an encoder-decoder's decoder layer (pre-norm, T5):
//!   masked self-attention, then cross-attention to the encoder, then FFN.

use super::attention::{AttentionMask, AttentionRecord, MultiHeadAttention};
use super::ffn::FeedForward;
use super::kv_cache::LayerKv;
use super::norm::Norm;
use alloc::vec::Vec;
use ndarray::{Array2, Array3, ArrayView2};

/// What every self-attention call of a step shares.
#[derive(Clone, Debug)]
pub struct StepContext<'a> {
    /// `B`.
    pub batch: usize,
    /// `(B, T)`: position id of each new token (for RoPE).
    pub positions: &'a [Vec<usize>],
    /// Key padding mask `(B, S)` and causality.
    pub mask: AttentionMask<'a>,
}

/// Post-LN encoder layer (BERT).
#[derive(Clone, Debug)]
pub struct PostNormBlock {
    /// Self-attention.
    pub attn: MultiHeadAttention,
    /// Applied after the attention residual.
    pub norm1: Norm,
    /// Feed-forward network.
    pub ffn: FeedForward,
    /// Applied after the FFN residual.
    pub norm2: Norm,
}

impl PostNormBlock {
    /// `x: (B*T, C) -> (B*T, C)`.
    pub fn forward(
        &self,
        x: &Array2<f32>,
        ctx: &StepContext,
        kv: &mut LayerKv,
        record: Option<&mut AttentionRecord>,
    ) -> Array2<f32> {
        let attn = self.attn.forward_self(x.view(), ctx.batch, ctx.positions, &ctx.mask, kv, None, record);
        let mut h = x + &attn;
        self.norm1.forward_inplace(&mut h);
        let mut out = &h + &self.ffn.forward(h.view());
        self.norm2.forward_inplace(&mut out);
        out
    }
}

/// Pre-LN block (GPT-2, Llama, T5 encoder).
#[derive(Clone, Debug)]
pub struct PreNormBlock {
    /// Before attention.
    pub norm1: Norm,
    /// Self-attention.
    pub attn: MultiHeadAttention,
    /// Before the FFN.
    pub norm2: Norm,
    /// Feed-forward network.
    pub ffn: FeedForward,
}

impl PreNormBlock {
    /// `x: (B*T, C) -> (B*T, C)`; `bias: (H, T, S)` is T5's position bias.
    pub fn forward(
        &self,
        x: &Array2<f32>,
        ctx: &StepContext,
        kv: &mut LayerKv,
        bias: Option<&Array3<f32>>,
        record: Option<&mut AttentionRecord>,
    ) -> Array2<f32> {
        let normed = self.norm1.forward(x);
        let attn = self.attn.forward_self(normed.view(), ctx.batch, ctx.positions, &ctx.mask, kv, bias, record);
        let mut h = x + &attn;
        let normed = self.norm2.forward(&h);
        h += &self.ffn.forward(normed.view());
        h
    }
}

/// Pre-LN decoder layer with cross-attention (T5 decoder).
#[derive(Clone, Debug)]
pub struct DecoderBlock {
    /// Before self-attention.
    pub self_norm: Norm,
    /// Causal self-attention.
    pub self_attn: MultiHeadAttention,
    /// Before cross-attention.
    pub cross_norm: Norm,
    /// Attention from decoder queries to encoder keys/values.
    pub cross_attn: MultiHeadAttention,
    /// Before the FFN.
    pub ffn_norm: Norm,
    /// Feed-forward network.
    pub ffn: FeedForward,
}

/// The encoder output a decoder layer attends to.
#[derive(Clone, Copy, Debug)]
pub struct Memory<'a> {
    /// `(B*S, C)`.
    pub states: ArrayView2<'a, f32>,
    /// `(B, S)`: 1 for real encoder tokens.
    pub mask: &'a [Vec<u8>],
}

/// Per-layer mutable state of a decoder layer.
pub struct DecoderLayerState<'a> {
    /// Self-attention keys/values.
    pub self_kv: &'a mut LayerKv,
    /// Cross-attention keys/values (filled on the first step).
    pub cross_kv: &'a mut Option<LayerKv>,
}

impl DecoderBlock {
    /// `x: (B*T, C) -> (B*T, C)`; `self_bias: (H, T, S)`.
    pub fn forward(
        &self,
        x: &Array2<f32>,
        ctx: &StepContext,
        memory: Memory,
        state: DecoderLayerState,
        self_bias: Option<&Array3<f32>>,
        mut record: Option<&mut AttentionRecord>,
    ) -> Array2<f32> {
        let normed = self.self_norm.forward(x);
        let attn = self.self_attn.forward_self(
            normed.view(),
            ctx.batch,
            ctx.positions,
            &ctx.mask,
            state.self_kv,
            self_bias,
            record.as_deref_mut(),
        );
        let mut h = x + &attn;
        let normed = self.cross_norm.forward(&h);
        // Cross-attention weights are not recorded: the teaching view shows
        // self-attention maps, whose shape is the same for every layer.
        h += &self.cross_attn.forward_cross(normed.view(), ctx.batch, memory.states, memory.mask, state.cross_kv, None);
        let normed = self.ffn_norm.forward(&h);
        h += &self.ffn.forward(normed.view());
        h
    }
}
