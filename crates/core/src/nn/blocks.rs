//! Transformer layers assembled from the building blocks.
//!
//! - [`PostNormBlock`]: the 2017 Transformer's / BERT's `EncoderLayer`:
//!   `x = norm1(x + attn(x)); x = norm2(x + ffn(x))`.
//! - [`PreNormBlock`]: GPT-2, Llama, T5's encoder:
//!   `x = x + attn(norm1(x)); x = x + ffn(norm2(x))` — the residual stream is
//!   never normalised, which trains deeper stacks more stably.
//! - [`DecoderBlock`]: an encoder-decoder's decoder layer (pre-norm, T5):
//!   masked self-attention, then cross-attention to the encoder, then FFN.
//!
//! A pre-norm block's position-wise sublayer is an [`Mlp`]: one FFN, or a
//! mixture of experts (Mixtral, Qwen2-MoE) whose router logits the block
//! can record. A pre-norm block may carry bottleneck adapters
//! ([`BlockAdapters`]) on its attention's and its FFN's output, each before
//! the residual add.

use super::bottleneck::{BlockAdapters, BlockAdaptersActivations, BlockAdaptersGrad};
use super::attention::{AttentionActivations, AttentionGrad, AttentionMask, AttentionRecord, KvPrefix, MultiHeadAttention};
use super::ffn::{FeedForward, FeedForwardActivations, FeedForwardGrad};
use super::kv_cache::LayerKv;
use super::moe::{Mlp, MlpActivations, MlpGrad};
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

/// What [`PostNormBlock::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct PostNormActivations {
    /// `x + attn(x)`, the input of `norm1`, `(B*T, C)`.
    pub attn_sum: Array2<f32>,
    /// `h + ffn(h)`, the input of `norm2`, `(B*T, C)`.
    pub ffn_sum: Array2<f32>,
    /// Inside the attention.
    pub attn: AttentionActivations,
    /// Inside the FFN.
    pub ffn: FeedForwardActivations,
}

impl PostNormBlock {
    /// Bidirectional (or causal, as `mask` says) block over whole
    /// sequences, keeping the activations. `x: (B*T, C)`.
    pub fn forward_train(&self, x: &Array2<f32>, batch: usize, mask: &AttentionMask) -> (Array2<f32>, PostNormActivations) {
        let t = if batch == 0 { 0 } else { x.nrows() / batch };
        let positions = alloc::vec![alloc::vec![0usize; t]; batch]; // no RoPE in a post-norm encoder
        let (attn_out, attn) = self.attn.forward_train_masked(x.view(), batch, &positions, mask, None);
        let attn_sum = x + &attn_out;
        let h = self.norm1.forward(&attn_sum);
        let (ffn_out, ffn) = self.ffn.forward_train(h.view());
        let ffn_sum = &h + &ffn_out;
        let out = self.norm2.forward(&ffn_sum);
        (out, PostNormActivations { attn_sum, ffn_sum, attn, ffn })
    }

    /// Backward: `dy: (B*T, C)` -> `dx: (B*T, C)`. Here the norms sit on
    /// the residual stream, so every gradient passes through them.
    pub fn backward(&self, acts: &PostNormActivations, dy: ArrayView2<f32>, grad: &mut PreNormGrad) -> Array2<f32> {
        let d_ffn_sum = self.norm2.backward(acts.ffn_sum.view(), dy, &mut grad.norm2); // (B*T, C)
        // This block's `zero_grad` makes a dense FFN gradient.
        let mut dh = match &mut grad.ffn {
            MlpGrad::Dense(ffn_grad) => self.ffn.backward(&acts.ffn, d_ffn_sum.view(), ffn_grad),
            MlpGrad::Sparse(_) => Array2::zeros(d_ffn_sum.raw_dim()),
        };
        dh += &d_ffn_sum;
        let d_attn_sum = self.norm1.backward(acts.attn_sum.view(), dh.view(), &mut grad.norm1);
        let mut dx = self.attn.backward(&acts.attn, d_attn_sum.view(), &mut grad.attn);
        dx += &d_attn_sum;
        dx
    }

    /// Zero gradients shaped like this block (the same fields as a pre-norm block).
    pub fn zero_grad(&self) -> PreNormGrad {
        PreNormGrad {
            norm1: self.norm1.zero_grad(),
            attn: AttentionGrad::zeros(&self.attn),
            norm2: self.norm2.zero_grad(),
            ffn: MlpGrad::Dense(self.ffn.zero_grad()),
            adapters: None,
        }
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
    /// Feed-forward network or mixture of experts.
    pub ffn: Mlp,
    /// Bottleneck adapters on the attention's and the FFN's output (`None` without).
    pub adapters: Option<BlockAdapters>,
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
        self.forward_recording(x, ctx, kv, bias, record, None)
    }

    /// [`forward`](Self::forward) that also appends a mixture of experts'
    /// router logits `(B*T, E)` to `router_logits`.
    pub fn forward_recording(
        &self,
        x: &Array2<f32>,
        ctx: &StepContext,
        kv: &mut LayerKv,
        bias: Option<&Array3<f32>>,
        record: Option<&mut AttentionRecord>,
        router_logits: Option<&mut Vec<Array2<f32>>>,
    ) -> Array2<f32> {
        let normed = self.norm1.forward(x);
        let mut attn = self.attn.forward_self(normed.view(), ctx.batch, ctx.positions, &ctx.mask, kv, bias, record);
        if let Some(a) = &self.adapters {
            attn = a.attn.forward(attn.view());
        }
        let mut h = x + &attn;
        let normed = self.norm2.forward(&h);
        let mut ffn = self.ffn.forward(normed.view(), router_logits);
        if let Some(a) = &self.adapters {
            ffn = a.ffn.forward(ffn.view());
        }
        h += &ffn;
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
    /// Inside the FFN or the mixture of experts.
    pub ffn: MlpActivations,
    /// Inside the bottleneck adapters, if the block has them.
    pub adapters: Option<BlockAdaptersActivations>,
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
    /// Of the FFN or the mixture of experts.
    pub ffn: MlpGrad,
    /// Of the bottleneck adapters, if the block has them.
    pub adapters: Option<BlockAdaptersGrad>,
}

impl PreNormGrad {
    /// Appends the tensors in [`PreNormBlock::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.norm1.tensors_mut(out);
        self.attn.tensors_mut(out);
        self.norm2.tensors_mut(out);
        self.ffn.tensors_mut(out);
        if let Some(a) = self.adapters.as_mut() {
            a.tensors_mut(out);
        }
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
        self.forward_train_masked(x, batch, positions, &AttentionMask { key_mask, causal: true }, None)
    }

    /// Like [`forward_train`](Self::forward_train) with the mask's
    /// causality and T5's position bias `(H, T, T)`.
    pub fn forward_train_masked(
        &self,
        x: Array2<f32>,
        batch: usize,
        positions: &[Vec<usize>],
        mask: &AttentionMask,
        bias: Option<&Array3<f32>>,
    ) -> (Array2<f32>, PreNormActivations) {
        self.forward_train_prefixed(x, batch, positions, mask, bias, None)
    }

    /// [`forward_train_masked`](Self::forward_train_masked) whose attention
    /// also sees `prefix`'s key/value rows (prefix tuning); the backward pass
    /// then fills `grad.attn.prefix`.
    pub fn forward_train_prefixed(
        &self,
        x: Array2<f32>,
        batch: usize,
        positions: &[Vec<usize>],
        mask: &AttentionMask,
        bias: Option<&Array3<f32>>,
        prefix: Option<&KvPrefix>,
    ) -> (Array2<f32>, PreNormActivations) {
        let normed = self.norm1.forward(&x);
        let (mut attn_out, attn) = self.attn.forward_train_prefixed(normed.view(), batch, positions, mask, bias, prefix);
        let mut attn_adapter = None;
        if let Some(a) = &self.adapters {
            let (out, acts) = a.attn.forward_train(attn_out);
            attn_out = out;
            attn_adapter = Some(acts);
        }
        let h = &x + &attn_out;
        let normed = self.norm2.forward(&h);
        let (mut ffn_out, ffn) = self.ffn.forward_train(normed.view());
        let mut adapters = None;
        if let (Some(a), Some(attn_acts)) = (&self.adapters, attn_adapter) {
            let (out, ffn_acts) = a.ffn.forward_train(ffn_out);
            ffn_out = out;
            adapters = Some(BlockAdaptersActivations { attn: attn_acts, ffn: ffn_acts });
        }
        let out = &h + &ffn_out;
        (out, PreNormActivations { x, h, attn, ffn, adapters })
    }

    /// Backward: `dy: (B*T, C)` -> `dx: (B*T, C)`. The residual passes `dy`
    /// straight through; each branch adds its own gradient.
    pub fn backward(&self, acts: &PreNormActivations, dy: ArrayView2<f32>, grad: &mut PreNormGrad) -> Array2<f32> {
        self.backward_with(acts, dy, grad, None)
    }

    /// [`backward`](Self::backward) that also adds the position bias's
    /// gradient `(H, T, T)` to `d_bias`.
    pub fn backward_with(
        &self,
        acts: &PreNormActivations,
        dy: ArrayView2<f32>,
        grad: &mut PreNormGrad,
        d_bias: Option<&mut Array3<f32>>,
    ) -> Array2<f32> {
        self.backward_full(acts, dy, grad, d_bias, None)
    }

    /// [`backward_with`](Self::backward_with) where `d_router_logits:
    /// (B*T, E)` also reaches a mixture of experts' router logits (the
    /// auxiliary load-balancing loss's gradient).
    pub fn backward_full(
        &self,
        acts: &PreNormActivations,
        dy: ArrayView2<f32>,
        grad: &mut PreNormGrad,
        d_bias: Option<&mut Array3<f32>>,
        d_router_logits: Option<ArrayView2<f32>>,
    ) -> Array2<f32> {
        let adapters = match (&self.adapters, &acts.adapters, grad.adapters.as_mut()) {
            (Some(a), Some(a_acts), Some(a_grad)) => Some((a, a_acts, a_grad)),
            _ => None,
        };
        let (d_ffn_out, mut adapters) = match adapters {
            Some((a, a_acts, a_grad)) => (a.ffn.backward(&a_acts.ffn, dy, &mut a_grad.ffn), Some((a, a_acts, a_grad))),
            None => (dy.to_owned(), None),
        };
        let d_normed = self.ffn.backward(&acts.ffn, d_ffn_out.view(), d_router_logits, &mut grad.ffn);
        let mut dh = dy.to_owned();
        dh += &self.norm2.backward(acts.h.view(), d_normed.view(), &mut grad.norm2);
        let d_attn_out = match adapters.as_mut() {
            Some((a, a_acts, a_grad)) => a.attn.backward(&a_acts.attn, dh.view(), &mut a_grad.attn),
            None => dh.clone(),
        };
        let (d_normed, _) = self.attn.backward_with(&acts.attn, d_attn_out.view(), &mut grad.attn, d_bias);
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
        if let Some(a) = self.adapters.as_mut() {
            a.params_mut(out);
        }
    }

    /// Zero gradients shaped like this block.
    pub fn zero_grad(&self) -> PreNormGrad {
        PreNormGrad {
            norm1: self.norm1.zero_grad(),
            attn: AttentionGrad::zeros(&self.attn),
            norm2: self.norm2.zero_grad(),
            ffn: self.ffn.zero_grad(),
            adapters: self.adapters.as_ref().map(BlockAdapters::zero_grad),
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

/// What [`DecoderBlock::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct DecoderActivations {
    /// The block's input `(B*T, C)`.
    pub x: Array2<f32>,
    /// After the self-attention residual `(B*T, C)`.
    pub after_self: Array2<f32>,
    /// After the cross-attention residual `(B*T, C)`.
    pub after_cross: Array2<f32>,
    /// Inside the self-attention.
    pub self_attn: AttentionActivations,
    /// Inside the cross-attention.
    pub cross_attn: AttentionActivations,
    /// Inside the FFN.
    pub ffn: FeedForwardActivations,
}

/// Gradients of a [`DecoderBlock`].
#[derive(Clone, Debug, PartialEq)]
pub struct DecoderGrad {
    /// Of `self_norm`.
    pub self_norm: NormGrad,
    /// Of the self-attention.
    pub self_attn: AttentionGrad,
    /// Of `cross_norm`.
    pub cross_norm: NormGrad,
    /// Of the cross-attention.
    pub cross_attn: AttentionGrad,
    /// Of `ffn_norm`.
    pub ffn_norm: NormGrad,
    /// Of the FFN.
    pub ffn: FeedForwardGrad,
}

impl DecoderBlock {
    /// Whole target sequences for training: `x: (B*T, C)`, causal `mask`
    /// over `(B, T)`, `self_bias: (H, T, T)`, encoder `memory: (B*S, C)`
    /// with `memory_mask: (B, S)` -> `(B*T, C)` and the activations.
    pub fn forward_train(
        &self,
        x: Array2<f32>,
        batch: usize,
        mask: &AttentionMask,
        self_bias: Option<&Array3<f32>>,
        memory: Memory,
    ) -> (Array2<f32>, DecoderActivations) {
        let t = if batch == 0 { 0 } else { x.nrows() / batch };
        let positions = alloc::vec![alloc::vec![0usize; t]; batch];
        let normed = self.self_norm.forward(&x);
        let (attn_out, self_attn) = self.self_attn.forward_train_masked(normed.view(), batch, &positions, mask, self_bias);
        let after_self = &x + &attn_out;
        let normed = self.cross_norm.forward(&after_self);
        let (cross_out, cross_attn) = self.cross_attn.forward_train_cross(normed.view(), batch, memory.states, memory.mask);
        let after_cross = &after_self + &cross_out;
        let normed = self.ffn_norm.forward(&after_cross);
        let (ffn_out, ffn) = self.ffn.forward_train(normed.view());
        let out = &after_cross + &ffn_out;
        (out, DecoderActivations { x, after_self, after_cross, self_attn, cross_attn, ffn })
    }

    /// Backward: `dy: (B*T, C)` -> `dx: (B*T, C)` and the memory's gradient
    /// `(B*S, C)`; the self-attention bias's gradient is added to `d_bias`.
    pub fn backward(
        &self,
        acts: &DecoderActivations,
        dy: ArrayView2<f32>,
        grad: &mut DecoderGrad,
        d_bias: Option<&mut Array3<f32>>,
    ) -> (Array2<f32>, Array2<f32>) {
        let d_normed = self.ffn.backward(&acts.ffn, dy, &mut grad.ffn);
        let mut dh = dy.to_owned();
        dh += &self.ffn_norm.backward(acts.after_cross.view(), d_normed.view(), &mut grad.ffn_norm);
        let (d_normed, d_memory) = self.cross_attn.backward_with(&acts.cross_attn, dh.view(), &mut grad.cross_attn, None);
        dh += &self.cross_norm.backward(acts.after_self.view(), d_normed.view(), &mut grad.cross_norm);
        let (d_normed, _) = self.self_attn.backward_with(&acts.self_attn, dh.view(), &mut grad.self_attn, d_bias);
        dh += &self.self_norm.backward(acts.x.view(), d_normed.view(), &mut grad.self_norm);
        let d_memory = d_memory.unwrap_or_else(|| Array2::zeros(acts.cross_attn.memory.as_ref().map_or((0, 0), |m| m.dim())));
        (dh, d_memory)
    }

    /// Zero gradients shaped like this block.
    pub fn zero_grad(&self) -> DecoderGrad {
        DecoderGrad {
            self_norm: self.self_norm.zero_grad(),
            self_attn: AttentionGrad::zeros(&self.self_attn),
            cross_norm: self.cross_norm.zero_grad(),
            cross_attn: AttentionGrad::zeros(&self.cross_attn),
            ffn_norm: self.ffn_norm.zero_grad(),
            ffn: self.ffn.zero_grad(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::Activation;
    use crate::nn::linear::{Linear, LinearGrad};
    use crate::nn::norm::{LayerNorm, RmsNorm};
    use crate::nn::gradcheck::{check_gradient, random_vec};
    use alloc::vec;
    use ndarray::Array1;

    fn linear(out: usize, inp: usize, seed: u64, bias: bool) -> Linear {
        Linear::new(
            Array2::from_shape_vec((out, inp), random_vec(out * inp, seed)).unwrap(),
            bias.then(|| Array1::from(random_vec(out, seed + 100))),
        )
    }

    fn attention(c: usize, h: usize, d: usize, seed: u64, bias: bool, scale: f32) -> MultiHeadAttention {
        MultiHeadAttention {
            q_proj: linear(h * d, c, seed, bias),
            k_proj: linear(h * d, c, seed + 1, bias),
            v_proj: linear(h * d, c, seed + 2, bias),
            o_proj: linear(c, h * d, seed + 3, bias),
            num_heads: h,
            num_kv_heads: h,
            head_dim: d,
            scale,
            rope: None,
        }
    }

    fn layer_norm(c: usize, seed: u64) -> Norm {
        Norm::Layer(LayerNorm {
            weight: Array1::from(random_vec(c, seed)) * 0.2 + 1.0,
            bias: Array1::from(random_vec(c, seed + 1)),
            eps: 1e-12,
        })
    }

    fn rms_norm(c: usize, seed: u64) -> Norm {
        Norm::Rms(RmsNorm { weight: Array1::from(random_vec(c, seed)) * 0.2 + 1.0, eps: 1e-6 })
    }

    fn weighted_sum(y: &Array2<f32>, r: &Array2<f32>) -> f64 {
        y.iter().zip(r).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum()
    }

    /// BERT's layer: bidirectional attention with a padded key, LayerNorms
    /// on the residual stream; checks the input and every weight matrix.
    #[test]
    fn post_norm_backward_matches_finite_differences_with_padding() {
        let (c, h, d, batch, t) = (6, 2, 3, 2, 3);
        let block = PostNormBlock {
            attn: attention(c, h, d, 1, true, 0.5),
            norm1: layer_norm(c, 10),
            ffn: FeedForward::Plain { up: linear(8, c, 20, true), down: linear(c, 8, 21, true), act: Activation::GeluExact },
            norm2: layer_norm(c, 30),
        };
        let key_mask = vec![vec![1u8, 1, 1], vec![1, 1, 0]];
        let x = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 40)).unwrap();
        let r = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 41)).unwrap();
        let loss = |block: &PostNormBlock, x: &Array2<f32>| {
            let (y, _) = block.forward_train(x, batch, &AttentionMask { key_mask: &key_mask, causal: false });
            weighted_sum(&y, &r)
        };
        let (y, acts) = block.forward_train(&x, batch, &AttentionMask { key_mask: &key_mask, causal: false });
        let mut kv = LayerKv::default();
        let positions = vec![vec![0usize; t]; batch];
        let ctx = StepContext { batch, positions: &positions, mask: AttentionMask { key_mask: &key_mask, causal: false } };
        let inference = block.forward(&x, &ctx, &mut kv, None);
        assert!(y.iter().zip(&inference).all(|(a, b)| (a - b).abs() < 1e-6), "training and inference forward differ");
        let mut grad = block.zero_grad();
        let dx = block.backward(&acts, r.view(), &mut grad);
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
            loss(&block, &Array2::from_shape_vec(x.raw_dim(), p.to_vec()).unwrap())
        });
        type Field = fn(&mut PostNormBlock) -> &mut Linear;
        let fields: [(Field, &LinearGrad); 4] = [
            (|b| &mut b.attn.q_proj, &grad.attn.q_proj),
            (|b| &mut b.attn.v_proj, &grad.attn.v_proj),
            (|b| &mut b.attn.o_proj, &grad.attn.o_proj),
            (|b| match &mut b.ffn { FeedForward::Plain { up, .. } | FeedForward::Gated { up, .. } => up }, &grad.ffn.dense().unwrap().up),
        ];
        for (field, g) in fields {
            let w = field(&mut block.clone()).weight.view().to_owned();
            check_gradient(w.as_slice().unwrap(), g.weight.as_slice().unwrap(), |p| {
                let mut changed = block.clone();
                field(&mut changed).weight = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap().into();
                loss(&changed, &x)
            });
        }
        let Norm::Layer(n1) = &block.norm1 else { unreachable!() };
        check_gradient(n1.weight.as_slice().unwrap(), grad.norm1.weight.as_slice().unwrap(), |p| {
            let mut changed = block.clone();
            changed.norm1 = Norm::Layer(LayerNorm { weight: Array1::from(p.to_vec()), ..n1.clone() });
            loss(&changed, &x)
        });
    }

    /// T5's decoder layer: causal self-attention with a position bias,
    /// cross-attention to a padded memory (of another length), gated FFN,
    /// RMS norms, unscaled scores; checks the input, the memory, the bias
    /// and the weights of both attentions.
    #[test]
    fn decoder_backward_matches_finite_differences_with_bias_and_padded_memory() {
        let (c, h, d, batch, t, s) = (5, 2, 3, 2, 3, 4);
        let block = DecoderBlock {
            self_norm: rms_norm(c, 50),
            self_attn: attention(c, h, d, 51, false, 1.0),
            cross_norm: rms_norm(c, 55),
            cross_attn: attention(c, h, d, 56, false, 1.0),
            ffn_norm: rms_norm(c, 60),
            ffn: FeedForward::Gated {
                gate: linear(7, c, 61, false),
                up: linear(7, c, 62, false),
                down: linear(c, 7, 63, false),
                act: Activation::GeluTanh,
            },
        };
        let self_mask = vec![vec![1u8; t]; batch];
        let memory_mask = vec![vec![1u8, 1, 1, 1], vec![1, 1, 0, 0]];
        let x = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 70)).unwrap();
        let memory = Array2::from_shape_vec((batch * s, c), random_vec(batch * s * c, 71)).unwrap();
        let bias = Array3::from_shape_vec((h, t, t), random_vec(h * t * t, 72)).unwrap();
        let r = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 73)).unwrap();
        let run = |block: &DecoderBlock, x: &Array2<f32>, memory: &Array2<f32>, bias: &Array3<f32>| {
            let mask = AttentionMask { key_mask: &self_mask, causal: true };
            block.forward_train(x.clone(), batch, &mask, Some(bias), Memory { states: memory.view(), mask: &memory_mask })
        };
        let loss = |block: &DecoderBlock, x: &Array2<f32>, memory: &Array2<f32>, bias: &Array3<f32>| {
            weighted_sum(&run(block, x, memory, bias).0, &r)
        };
        let (_, acts) = run(&block, &x, &memory, &bias);
        let mut grad = block.zero_grad();
        let mut d_bias = Array3::<f32>::zeros(bias.raw_dim());
        let (dx, d_memory) = block.backward(&acts, r.view(), &mut grad, Some(&mut d_bias));
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
            loss(&block, &Array2::from_shape_vec(x.raw_dim(), p.to_vec()).unwrap(), &memory, &bias)
        });
        check_gradient(memory.as_slice().unwrap(), d_memory.as_slice().unwrap(), |p| {
            loss(&block, &x, &Array2::from_shape_vec(memory.raw_dim(), p.to_vec()).unwrap(), &bias)
        });
        check_gradient(bias.as_slice().unwrap(), d_bias.as_slice().unwrap(), |p| {
            loss(&block, &x, &memory, &Array3::from_shape_vec(bias.raw_dim(), p.to_vec()).unwrap())
        });
        type Field = fn(&mut DecoderBlock) -> &mut Linear;
        let fields: [(Field, &LinearGrad); 4] = [
            (|b| &mut b.self_attn.k_proj, &grad.self_attn.k_proj),
            (|b| &mut b.cross_attn.q_proj, &grad.cross_attn.q_proj),
            (|b| &mut b.cross_attn.k_proj, &grad.cross_attn.k_proj),
            (|b| &mut b.cross_attn.v_proj, &grad.cross_attn.v_proj),
        ];
        for (field, g) in fields {
            let w = field(&mut block.clone()).weight.view().to_owned();
            check_gradient(w.as_slice().unwrap(), g.weight.as_slice().unwrap(), |p| {
                let mut changed = block.clone();
                field(&mut changed).weight = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap().into();
                loss(&changed, &x, &memory, &bias)
            });
        }
    }

    /// A Llama-style pre-norm block with a key/value prefix (prefix tuning)
    /// and bottleneck adapters on both sublayers, causal with a padded key:
    /// checks the input, the prefix's keys and values and the adapters.
    #[test]
    fn pre_norm_backward_matches_finite_differences_with_prefix_and_adapters() {
        use crate::nn::attention::KvPrefix;
        use crate::nn::bottleneck::{BlockAdapters, Bottleneck};
        let (c, h, d, batch, t, p_len, r) = (6, 2, 3, 2, 3, 2, 2);
        let adapter = |seed| Bottleneck { down: linear(r, c, seed, true), up: linear(c, r, seed + 1, true), activation: Activation::GeluExact };
        let block = PreNormBlock {
            norm1: rms_norm(c, 10),
            attn: attention(c, h, d, 1, false, 0.5),
            norm2: rms_norm(c, 30),
            ffn: FeedForward::Plain { up: linear(8, c, 20, true), down: linear(c, 8, 21, true), act: Activation::Silu }.into(),
            adapters: Some(BlockAdapters { attn: adapter(50), ffn: adapter(60) }),
        };
        let prefix = KvPrefix {
            keys: Array2::from_shape_vec((p_len, h * d), random_vec(p_len * h * d, 70)).unwrap(),
            values: Array2::from_shape_vec((p_len, h * d), random_vec(p_len * h * d, 71)).unwrap(),
        };
        let key_mask = vec![vec![1u8, 1, 1], vec![0, 1, 1]];
        let positions = vec![vec![2usize, 3, 4]; batch];
        let mask = AttentionMask { key_mask: &key_mask, causal: true };
        let x = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 40)).unwrap();
        let r_out = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 41)).unwrap();
        let loss = |block: &PreNormBlock, x: &Array2<f32>, prefix: &KvPrefix| {
            let (y, _) = block.forward_train_prefixed(x.clone(), batch, &positions, &mask, None, Some(prefix));
            weighted_sum(&y, &r_out)
        };
        let (_, acts) = block.forward_train_prefixed(x.clone(), batch, &positions, &mask, None, Some(&prefix));
        let mut grad = block.zero_grad();
        let dx = block.backward(&acts, r_out.view(), &mut grad);
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |v| {
            loss(&block, &Array2::from_shape_vec(x.raw_dim(), v.to_vec()).unwrap(), &prefix)
        });
        let d_prefix = grad.attn.prefix.clone().unwrap();
        check_gradient(prefix.keys.as_slice().unwrap(), d_prefix.keys.as_slice().unwrap(), |v| {
            loss(&block, &x, &KvPrefix { keys: Array2::from_shape_vec(prefix.keys.raw_dim(), v.to_vec()).unwrap(), ..prefix.clone() })
        });
        check_gradient(prefix.values.as_slice().unwrap(), d_prefix.values.as_slice().unwrap(), |v| {
            loss(&block, &x, &KvPrefix { values: Array2::from_shape_vec(prefix.values.raw_dim(), v.to_vec()).unwrap(), ..prefix.clone() })
        });
        let adapter_grads = grad.adapters.clone().unwrap();
        type Field = fn(&mut PreNormBlock) -> &mut Linear;
        let fields: [(Field, &LinearGrad); 4] = [
            (|b| &mut b.adapters.as_mut().unwrap().attn.down, &adapter_grads.attn.down),
            (|b| &mut b.adapters.as_mut().unwrap().attn.up, &adapter_grads.attn.up),
            (|b| &mut b.adapters.as_mut().unwrap().ffn.down, &adapter_grads.ffn.down),
            (|b| &mut b.adapters.as_mut().unwrap().ffn.up, &adapter_grads.ffn.up),
        ];
        for (field, g) in fields {
            let w = field(&mut block.clone()).weight.view().to_owned();
            check_gradient(w.as_slice().unwrap(), g.weight.as_slice().unwrap(), |v| {
                let mut changed = block.clone();
                field(&mut changed).weight = Array2::from_shape_vec(w.raw_dim(), v.to_vec()).unwrap().into();
                loss(&changed, &x, &prefix)
            });
        }
        // Inference (with the prefix as a past cache) gives the same outputs.
        let mut kv = LayerKv::new(batch, h, d);
        for b in 0..batch {
            for head in 0..h {
                for row in 0..p_len {
                    kv.keys[b * h + head].extend(prefix.keys.row(row).iter().skip(head * d).take(d));
                    kv.values[b * h + head].extend(prefix.values.row(row).iter().skip(head * d).take(d));
                }
            }
        }
        let full_mask: Vec<Vec<u8>> = key_mask.iter().map(|m| [1u8, 1].iter().chain(m).copied().collect()).collect();
        let ctx = StepContext { batch, positions: &positions, mask: AttentionMask { key_mask: &full_mask, causal: true } };
        let inference = block.forward(&x, &ctx, &mut kv, None, None);
        let (y, _) = block.forward_train_prefixed(x.clone(), batch, &positions, &mask, None, Some(&prefix));
        assert!(y.iter().zip(&inference).all(|(a, b)| (a - b).abs() < 1e-5), "training and inference forward differ");
    }

}
