//! Transformer layers assembled from the building blocks.
//!
//! - [`PostNormBlock`]: the 2017 Transformer's / BERT's `EncoderLayer`:
//!   `x = norm1(x + attn(x)); x = norm2(x + ffn(x))`.
//! - [`PreNormBlock`]: GPT-2, Llama, T5's encoder:
//!   `x = x + attn(norm1(x)); x = x + ffn(norm2(x))` — the residual stream is
//!   never normalised, which trains deeper stacks more stably.
//! - [`DecoderBlock`]: an encoder-decoder's decoder layer (pre-norm, T5):
//!   masked self-attention, then cross-attention to the encoder, then FFN.

use super::attention::{AttentionActivations, AttentionGrad, AttentionMask, AttentionRecord, MultiHeadAttention};
use super::ffn::{FeedForward, FeedForwardActivations, FeedForwardGrad};
use super::kv_cache::LayerKv;
use super::norm::{Norm, NormGrad};
use super::TensorMut;
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

/// What [`PreNormBlock::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct PreNormActivations {
    /// The block's input `(B*T, C)` (input of `norm1`).
    pub x: Array2<f32>,
    /// After the attention residual `(B*T, C)` (input of `norm2`).
    pub h: Array2<f32>,
    /// Inside the attention.
    pub attn: AttentionActivations,
    /// Inside the FFN.
    pub ffn: FeedForwardActivations,
}

/// Gradients of a [`PreNormBlock`].
#[derive(Clone, Debug, PartialEq)]
pub struct PreNormGrad {
    /// Of `norm1`.
    pub norm1: NormGrad,
    /// Of the attention.
    pub attn: AttentionGrad,
    /// Of `norm2`.
    pub norm2: NormGrad,
    /// Of the FFN.
    pub ffn: FeedForwardGrad,
}

impl PreNormGrad {
    /// Appends the tensors in [`PreNormBlock::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.norm1.tensors_mut(out);
        self.attn.tensors_mut(out);
        self.norm2.tensors_mut(out);
        self.ffn.tensors_mut(out);
    }
}

impl PreNormBlock {
    /// Causal self-attention block over whole sequences, keeping the
    /// activations. `x: (B*T, C)`, `positions, key_mask: (B, T)`.
    pub fn forward_train(
        &self,
        x: Array2<f32>,
        batch: usize,
        positions: &[Vec<usize>],
        key_mask: &[Vec<u8>],
    ) -> (Array2<f32>, PreNormActivations) {
        let normed = self.norm1.forward(&x);
        let (attn_out, attn) = self.attn.forward_train(normed.view(), batch, positions, key_mask);
        let h = &x + &attn_out;
        let normed = self.norm2.forward(&h);
        let (ffn_out, ffn) = self.ffn.forward_train(normed.view());
        let out = &h + &ffn_out;
        (out, PreNormActivations { x, h, attn, ffn })
    }

    /// Backward: `dy: (B*T, C)` -> `dx: (B*T, C)`. The residual passes `dy`
    /// straight through; each branch adds its own gradient.
    pub fn backward(&self, acts: &PreNormActivations, dy: ArrayView2<f32>, grad: &mut PreNormGrad) -> Array2<f32> {
        let d_normed = self.ffn.backward(&acts.ffn, dy, &mut grad.ffn);
        let mut dh = dy.to_owned();
        dh += &self.norm2.backward(acts.h.view(), d_normed.view(), &mut grad.norm2);
        let d_normed = self.attn.backward(&acts.attn, dh.view(), &mut grad.attn);
        let mut dx = dh;
        dx += &self.norm1.backward(acts.x.view(), d_normed.view(), &mut grad.norm1);
        dx
    }

    /// Appends norm1, attention, norm2 and FFN tensors to `out`.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.norm1.params_mut(out);
        self.attn.params_mut(out);
        self.norm2.params_mut(out);
        self.ffn.params_mut(out);
    }

    /// Zero gradients shaped like this block.
    pub fn zero_grad(&self) -> PreNormGrad {
        PreNormGrad {
            norm1: self.norm1.zero_grad(),
            attn: AttentionGrad::zeros(&self.attn),
            norm2: self.norm2.zero_grad(),
            ffn: self.ffn.zero_grad(),
        }
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
