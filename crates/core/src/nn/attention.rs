//! Scaled dot-product attention, multi-head and grouped-query.
//!
//! For one head: `softmax(Q·Kᵀ·scale + bias + mask)·V` with
//! `Q: (T, D)`, `K, V: (S, D)`, scores `(T, S)`. `scale` is `1/√D` except in
//! T5, which folds it into the initialisation and uses 1. The mask hides
//! padding keys and, in a decoder, keys in the future of the query
//! (causal). Multi-head attention runs `H` heads side by side on slices of
//! the projected width; grouped-query attention (GQA) lets `H/Hkv` query
//! heads share one key/value head, which shrinks the KV cache.
//!
//! Training runs the same code on a whole sequence ([`MultiHeadAttention::forward_train`])
//! and keeps what the backward pass needs. For one head with `P = softmax(S)`,
//! `S = scale·Q·Kᵀ` and `O = P·V`:
//! `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ⊙ (dP − rowsum(P ⊙ dP))`,
//! `dQ = scale·dS·K`, `dK = scale·dSᵀ·Q`; with GQA a key/value head sums the
//! gradients of every query head that shares it. RoPE's gradient is the
//! rotation undone ([`Rope::rotate_back`]); masked keys have `P = 0` and get
//! no gradient.
//!
//! A [`KvPrefix`] (prefix tuning) puts `P` fixed key/value rows before the
//! sequence's own in every batch row: every query sees them (the sequence's
//! positions start at `P` for the causal mask), RoPE is not applied to them,
//! and the backward pass returns their gradient, summed over the batch, in
//! [`AttentionGrad::prefix`].

use super::gemm::{gemm, matmul};
use super::kv_cache::LayerKv;
use super::linear::{Linear, LinearGrad};
use super::positional::Rope;
use alloc::vec::Vec;
use super::{block, block_mut, TensorMut};
use ndarray::{Array2, Array3, Array4, ArrayView2, Axis, Slice};

/// Which keys each query row of one batch row may see.
#[derive(Clone, Debug)]
pub struct AttentionMask<'a> {
    /// `(B, S)`: 1 for real keys, 0 for padding.
    pub key_mask: &'a [Vec<u8>],
    /// Whether query `i` (absolute position `past + i`) only sees keys `<= past + i`.
    pub causal: bool,
}

/// Key/value rows placed before a sequence's own in self-attention, shared
/// by every batch row (prefix tuning's virtual tokens). Also the layout of
/// their gradient.
#[derive(Clone, Debug, PartialEq)]
pub struct KvPrefix {
    /// Keys `(P, Hkv*D)`: row `p`, head `h` at columns `h*D..(h+1)*D`.
    pub keys: Array2<f32>,
    /// Values `(P, Hkv*D)`, laid out like `keys`.
    pub values: Array2<f32>,
}

impl KvPrefix {
    /// `P`, the number of prefix rows.
    pub fn len(&self) -> usize {
        self.keys.nrows()
    }

    /// True when the prefix has no rows.
    pub fn is_empty(&self) -> bool {
        self.keys.nrows() == 0
    }

    /// Zeros shaped like `self`.
    pub fn zeros_like(&self) -> Self {
        Self { keys: Array2::zeros(self.keys.raw_dim()), values: Array2::zeros(self.values.raw_dim()) }
    }
}

/// Attention weights recorded for teaching, one entry per layer:
/// `(B, H, T, S)`.
pub type AttentionRecord = Vec<Array4<f32>>;

/// Softmax over one row in place; a row whose every key is masked
/// (`-inf`) becomes all zeros rather than NaN.
pub fn softmax_inplace(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if max == f32::NEG_INFINITY {
        row.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = super::math::exp(*v - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

/// One head: `q: (T, D)`, `k, v: (S, D)`, `bias: (T, S)` -> `(out (T, D), probs (T, S))`.
/// `visible(i, j)` says whether query `i` may attend to key `j`.
pub fn scaled_dot_product_attention(
    q: ArrayView2<f32>,
    k: ArrayView2<f32>,
    v: ArrayView2<f32>,
    scale: f32,
    bias: Option<ArrayView2<f32>>,
    visible: impl Fn(usize, usize) -> bool,
) -> (Array2<f32>, Array2<f32>) {
    let (t, s_len) = (q.nrows(), k.nrows());
    // scores = Q·Kᵀ: (T, S). Few query rows: contiguous dot products.
    let mut scores = if t <= 8 { super::linear::streaming_matmul_t(q, k) } else { matmul(q, k.t()) };
    for (i, mut row) in scores.rows_mut().into_iter().enumerate() {
        // Scale (and bias) in one vectorisable pass, then mask.
        match &bias {
            Some(b) => row.zip_mut_with(&b.row(i), |v, &bias| *v = *v * scale + bias),
            None => row.map_inplace(|v| *v *= scale),
        }
        let mut end = 0; // one past the last visible key
        for (j, v) in row.iter_mut().enumerate() {
            if visible(i, j) {
                end = j + 1;
            } else {
                *v = f32::NEG_INFINITY;
            }
        }
        if let Some(slice) = row.as_slice_mut() {
            // Keys after the last visible one get weight 0 without an
            // `exp` each (half the row under a causal mask); the sum is
            // unchanged, since they would add exact zeros.
            let (head, tail) = slice.split_at_mut(end);
            softmax_inplace(head);
            tail.fill(0.0);
        }
    }
    // out = P·V: (T, D).
    let out = if t <= 8 {
        let mut out = Array2::<f32>::zeros((t, v.ncols()));
        for i in 0..t {
            let mut acc = out.row_mut(i);
            for j in 0..s_len {
                let p = scores[[i, j]];
                if p != 0.0 {
                    acc.scaled_add(p, &v.row(j));
                }
            }
        }
        out
    } else {
        matmul(scores.view(), v)
    };
    (out, scores)
}

/// Multi-head (or grouped-query) attention with its four projections.
#[derive(Clone, Debug)]
pub struct MultiHeadAttention {
    /// `(C) -> (H*D)`.
    pub q_proj: Linear,
    /// `(C) -> (Hkv*D)`.
    pub k_proj: Linear,
    /// `(C) -> (Hkv*D)`.
    pub v_proj: Linear,
    /// `(H*D) -> (C)`.
    pub o_proj: Linear,
    /// `H`.
    pub num_heads: usize,
    /// `Hkv` (equal to `H` without GQA; must divide it).
    pub num_kv_heads: usize,
    /// `D`.
    pub head_dim: usize,
    /// Multiplies `Q·Kᵀ` (`1/√D`, or 1 in T5).
    pub scale: f32,
    /// Rotary embedding applied to queries and keys, if the model uses it.
    pub rope: Option<Rope>,
}

impl MultiHeadAttention {
    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        self.q_proj.num_params() + self.k_proj.num_params() + self.v_proj.num_params() + self.o_proj.num_params()
    }

    /// Appends the four projections' tensors (q, k, v, o) to `out`.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.q_proj.params_mut(out);
        self.k_proj.params_mut(out);
        self.v_proj.params_mut(out);
        self.o_proj.params_mut(out);
    }

    /// Projects `x: (B*T, C)` to keys and values and appends them to `kv`
    /// (rotated by RoPE at `positions: (B, T)` when the model uses it).
    fn append_keys_values(&self, x: ArrayView2<f32>, batch: usize, positions: &[Vec<usize>], kv: &mut LayerKv) {
        let t = if batch == 0 { 0 } else { x.nrows() / batch };
        let d = self.head_dim;
        let k = self.k_proj.forward(x); // (B*T, Hkv*D)
        let v = self.v_proj.forward(x); // (B*T, Hkv*D)
        if kv.keys.len() != batch * self.num_kv_heads || kv.head_dim != d {
            *kv = LayerKv::new(batch, self.num_kv_heads, d);
        }
        for b in 0..batch {
            for ti in 0..t {
                let row = b * t + ti;
                let rot = self.rope.as_ref().map(|r| r.cos_sin(positions[b][ti]));
                for h in 0..self.num_kv_heads {
                    let mut key: Vec<f32> = k.row(row).slice_axis(Axis(0), Slice::from(h * d..(h + 1) * d)).to_vec();
                    if let Some((cos, sin)) = &rot {
                        Rope::rotate(&mut key, cos, sin);
                    }
                    kv.keys[b * self.num_kv_heads + h].extend_from_slice(&key);
                    kv.values[b * self.num_kv_heads + h].extend(v.row(row).slice_axis(Axis(0), Slice::from(h * d..(h + 1) * d)).iter());
                }
            }
        }
    }

    /// Self-attention. `x: (B*T, C)` are the new tokens; `kv` holds the
    /// past (it is extended with the new keys and values); `positions: (B, T)`
    /// feed RoPE; `bias: (H, T, S)` is T5's position bias. Returns `(B*T, C)`
    /// and pushes `(B, H, T, S)` weights to `record` if given.
    #[allow(clippy::too_many_arguments)]
    pub fn forward_self(
        &self,
        x: ArrayView2<f32>,
        batch: usize,
        positions: &[Vec<usize>],
        mask: &AttentionMask,
        kv: &mut LayerKv,
        bias: Option<&Array3<f32>>,
        record: Option<&mut AttentionRecord>,
    ) -> Array2<f32> {
        let past = kv.len();
        self.append_keys_values(x, batch, positions, kv);
        let mut q = self.q_proj.forward(x); // (B*T, H*D)
        self.rotate_queries(&mut q, batch, positions);
        let causal = mask.causal;
        let context = self.attend(q.view(), batch, kv, mask.key_mask, bias, record, |i, j| !causal || j <= past + i);
        self.o_proj.forward(context.view())
    }

    /// Causal self-attention over whole sequences, keeping the activations
    /// for [`backward`](Self::backward). `x: (B*T, C)`, `positions: (B, T)`,
    /// `key_mask: (B, T)` -> `(B*T, C)`.
    pub fn forward_train(
        &self,
        x: ArrayView2<f32>,
        batch: usize,
        positions: &[Vec<usize>],
        key_mask: &[Vec<u8>],
    ) -> (Array2<f32>, AttentionActivations) {
        self.forward_train_masked(x, batch, positions, &AttentionMask { key_mask, causal: true }, None)
    }

    /// Self-attention over whole sequences for training, causal or
    /// bidirectional as `mask` says, with T5's position bias `(H, T, T)` if
    /// given. `x: (B*T, C)`, `positions: (B, T)` -> `(B*T, C)`.
    pub fn forward_train_masked(
        &self,
        x: ArrayView2<f32>,
        batch: usize,
        positions: &[Vec<usize>],
        mask: &AttentionMask,
        bias: Option<&Array3<f32>>,
    ) -> (Array2<f32>, AttentionActivations) {
        self.forward_train_prefixed(x, batch, positions, mask, bias, None)
    }

    /// [`forward_train_masked`](Self::forward_train_masked) with `prefix`'s
    /// `P` key/value rows before the sequence's own in every batch row.
    /// `mask.key_mask` is `(B, T)`: the prefix is always visible, and the
    /// causal mask lets query `i` see keys `..= P + i`. `bias` must then be
    /// `(H, T, P+T)`.
    pub fn forward_train_prefixed(
        &self,
        x: ArrayView2<f32>,
        batch: usize,
        positions: &[Vec<usize>],
        mask: &AttentionMask,
        bias: Option<&Array3<f32>>,
        prefix: Option<&KvPrefix>,
    ) -> (Array2<f32>, AttentionActivations) {
        let d = self.head_dim;
        let mut kv = LayerKv::new(batch, self.num_kv_heads, d);
        let prefix_len = prefix.map_or(0, KvPrefix::len);
        if let Some(p) = prefix {
            for b in 0..batch {
                for h in 0..self.num_kv_heads {
                    for row in 0..prefix_len {
                        kv.keys[b * self.num_kv_heads + h].extend(p.keys.row(row).slice_axis(Axis(0), Slice::from(h * d..(h + 1) * d)).iter());
                        kv.values[b * self.num_kv_heads + h].extend(p.values.row(row).slice_axis(Axis(0), Slice::from(h * d..(h + 1) * d)).iter());
                    }
                }
            }
        }
        self.append_keys_values(x, batch, positions, &mut kv);
        let mut q = self.q_proj.forward(x); // (B*T, H*D)
        self.rotate_queries(&mut q, batch, positions);
        let mut record = AttentionRecord::new();
        let causal = mask.causal;
        let extended: Vec<Vec<u8>>; // (B, P+T)
        let key_mask = if prefix_len > 0 {
            extended = mask.key_mask.iter().map(|row| core::iter::repeat_n(1u8, prefix_len).chain(row.iter().copied()).collect()).collect();
            &extended[..]
        } else {
            mask.key_mask
        };
        let context = self.attend(q.view(), batch, &kv, key_mask, bias, Some(&mut record), |i, j| !causal || j <= prefix_len + i);
        let out = self.o_proj.forward(context.view());
        let probs = record.pop().unwrap_or_else(|| Array4::zeros((0, 0, 0, 0)));
        let acts = AttentionActivations { x: x.to_owned(), memory: None, q, kv, probs, context, positions: positions.to_vec(), prefix_len };
        (out, acts)
    }

    /// Cross-attention for training: queries from `x: (B*T, C)`, keys and
    /// values from `memory: (B*S, C)` with `memory_mask: (B, S)`; no
    /// position information. Returns `(B*T, C)` and the activations.
    pub fn forward_train_cross(
        &self,
        x: ArrayView2<f32>,
        batch: usize,
        memory: ArrayView2<f32>,
        memory_mask: &[Vec<u8>],
    ) -> (Array2<f32>, AttentionActivations) {
        let mut kv = LayerKv::new(batch, self.num_kv_heads, self.head_dim);
        let s_len = if batch == 0 { 0 } else { memory.nrows() / batch };
        let positions = alloc::vec![alloc::vec![0usize; s_len]; batch];
        self.append_keys_values(memory, batch, &positions, &mut kv);
        let q = self.q_proj.forward(x); // (B*T, H*D)
        let mut record = AttentionRecord::new();
        let context = self.attend(q.view(), batch, &kv, memory_mask, None, Some(&mut record), |_, _| true);
        let out = self.o_proj.forward(context.view());
        let probs = record.pop().unwrap_or_else(|| Array4::zeros((0, 0, 0, 0)));
        let acts =
            AttentionActivations {
                x: x.to_owned(),
                memory: Some(memory.to_owned()),
                q,
                kv,
                probs,
                context,
                positions: Vec::new(),
                prefix_len: 0,
            };
        (out, acts)
    }

    /// Backward of self-attention ([`forward_train`](Self::forward_train)):
    /// `dy: (B*T, C)` -> `dx: (B*T, C)`, accumulating the four projections'
    /// gradients. Cross-attention needs [`backward_with`](Self::backward_with),
    /// which also returns the memory's gradient.
    pub fn backward(&self, acts: &AttentionActivations, dy: ArrayView2<f32>, grad: &mut AttentionGrad) -> Array2<f32> {
        self.backward_with(acts, dy, grad, None).0
    }

    /// Backward of any `forward_train*`: `dy: (B*T, C)` -> `dx: (B*T, C)`
    /// and, for cross-attention, the memory's gradient `(B*S, C)`.
    /// `d_bias: (H, T, S)` receives the gradient of the position bias (the
    /// scores' gradient before the scale, summed over the batch).
    pub fn backward_with(
        &self,
        acts: &AttentionActivations,
        dy: ArrayView2<f32>,
        grad: &mut AttentionGrad,
        mut d_bias: Option<&mut Array3<f32>>,
    ) -> (Array2<f32>, Option<Array2<f32>>) {
        let (batch, h_count, t, s_len) = acts.probs.dim();
        let d = self.head_dim;
        let hkv = self.num_kv_heads.max(1);
        let group = (self.num_heads / hkv).max(1);
        let dcontext = self.o_proj.backward(acts.context.view(), dy, &mut grad.o_proj); // (B*T, H*D)
        let mut dq = Array2::<f32>::zeros((batch * t, self.num_heads * d)); // (B*T, H*D)
        let mut dk = Array2::<f32>::zeros((batch * s_len, hkv * d)); // (B*S, Hkv*D)
        let mut dv = Array2::<f32>::zeros((batch * s_len, hkv * d));
        for b in 0..batch {
            for h in 0..h_count {
                let kv_head = h / group;
                let kv_index = b * hkv + kv_head;
                let (Ok(k), Ok(v)) = (
                    ArrayView2::from_shape((s_len, d), &acts.kv.keys[kv_index][..]),
                    ArrayView2::from_shape((s_len, d), &acts.kv.values[kv_index][..]),
                ) else {
                    continue;
                };
                let p = acts.probs.index_axis(Axis(0), b);
                let p = p.index_axis(Axis(0), h); // (T, S)
                let d_out = block(dcontext.view(), b * t..(b + 1) * t, h * d..(h + 1) * d); // (T, D)
                let q_bh = block(acts.q.view(), b * t..(b + 1) * t, h * d..(h + 1) * d); // (T, D)
                let mut dv_block = block_mut(dv.view_mut(), b * s_len..(b + 1) * s_len, kv_head * d..(kv_head + 1) * d);
                gemm(1.0, p.t(), d_out, 1.0, dv_block.view_mut()); // (S, D)
                let mut ds = matmul(d_out, v.t()); // dP: (T, S)
                for (mut ds_row, p_row) in ds.axis_iter_mut(Axis(0)).zip(p.axis_iter(Axis(0))) {
                    let inner: f32 = ds_row.iter().zip(p_row.iter()).map(|(g, p)| g * p).sum();
                    ds_row.zip_mut_with(&p_row, |g, &p| *g = p * (*g - inner));
                }
                if let Some(db) = d_bias.as_deref_mut() {
                    if db.dim() == (h_count, t, s_len) {
                        let mut db_head = db.index_axis_mut(Axis(0), h);
                        db_head += &ds; // (T, S)
                    }
                }
                ds.mapv_inplace(|g| g * self.scale);
                gemm(1.0, ds.view(), k, 0.0, block_mut(dq.view_mut(), b * t..(b + 1) * t, h * d..(h + 1) * d)); // (T, D)
                let mut dk_block = block_mut(dk.view_mut(), b * s_len..(b + 1) * s_len, kv_head * d..(kv_head + 1) * d);
                gemm(1.0, ds.t(), q_bh, 1.0, dk_block.view_mut()); // (S, D)
            }
        }
        let prefix_len = acts.prefix_len.min(s_len);
        if prefix_len > 0 {
            // The first `P` key/value rows of each batch row are the prefix's:
            // their gradient goes to `grad.prefix`, the rest to the projections.
            let t_rows = s_len - prefix_len;
            let prefix_grad = grad.prefix.get_or_insert_with(|| KvPrefix {
                keys: Array2::zeros((prefix_len, hkv * d)),
                values: Array2::zeros((prefix_len, hkv * d)),
            });
            let mut dk_own = Array2::<f32>::zeros((batch * t_rows, hkv * d)); // (B*T, Hkv*D)
            let mut dv_own = Array2::<f32>::zeros((batch * t_rows, hkv * d));
            for b in 0..batch {
                let start = b * s_len;
                for (all, prefix_part, own) in [(&dk, &mut prefix_grad.keys, &mut dk_own), (&dv, &mut prefix_grad.values, &mut dv_own)] {
                    *prefix_part += &all.slice_axis(Axis(0), Slice::from(start..start + prefix_len));
                    own.slice_axis_mut(Axis(0), Slice::from(b * t_rows..(b + 1) * t_rows))
                        .assign(&all.slice_axis(Axis(0), Slice::from(start + prefix_len..start + s_len)));
                }
            }
            dk = dk_own;
            dv = dv_own;
        }
        if let (Some(rope), None) = (&self.rope, &acts.memory) {
            for b in 0..batch {
                for ti in 0..t {
                    let (cos, sin) = rope.cos_sin(acts.positions[b][ti]);
                    for (grad_rows, heads) in [(&mut dq, self.num_heads), (&mut dk, hkv)] {
                        let mut row = grad_rows.row_mut(b * t + ti);
                        for head in 0..heads {
                            let mut part = row.slice_axis_mut(Axis(0), Slice::from(head * d..(head + 1) * d));
                            if let Some(slice) = part.as_slice_mut() {
                                Rope::rotate_back(slice, &cos, &sin);
                            }
                        }
                    }
                }
            }
        }
        let x = acts.x.view();
        let mut dx = self.q_proj.backward(x, dq.view(), &mut grad.q_proj);
        match &acts.memory {
            Some(memory) => {
                let mut d_memory = self.k_proj.backward(memory.view(), dk.view(), &mut grad.k_proj);
                d_memory += &self.v_proj.backward(memory.view(), dv.view(), &mut grad.v_proj);
                (dx, Some(d_memory))
            }
            None => {
                dx += &self.k_proj.backward(x, dk.view(), &mut grad.k_proj);
                dx += &self.v_proj.backward(x, dv.view(), &mut grad.v_proj);
                (dx, None)
            }
        }
    }

    /// Cross-attention from decoder states `x: (B*T, C)` to encoder states
    /// `memory: (B*S, C)` with `memory_mask: (B, S)`. Keys and values are
    /// computed once and kept in `cache` for the following steps.
    pub fn forward_cross(
        &self,
        x: ArrayView2<f32>,
        batch: usize,
        memory: ArrayView2<f32>,
        memory_mask: &[Vec<u8>],
        cache: &mut Option<LayerKv>,
        record: Option<&mut AttentionRecord>,
    ) -> Array2<f32> {
        let kv = cache.get_or_insert_with(|| {
            let mut kv = LayerKv::new(batch, self.num_kv_heads, self.head_dim);
            let s_len = if batch == 0 { 0 } else { memory.nrows() / batch };
            let positions = alloc::vec![alloc::vec![0usize; s_len]; batch];
            self.append_keys_values(memory, batch, &positions, &mut kv);
            kv
        });
        let q = self.q_proj.forward(x);
        let context = self.attend(q.view(), batch, kv, memory_mask, None, record, |_, _| true);
        self.o_proj.forward(context.view())
    }

    fn rotate_queries(&self, q: &mut Array2<f32>, batch: usize, positions: &[Vec<usize>]) {
        let Some(rope) = &self.rope else { return };
        let t = if batch == 0 { 0 } else { q.nrows() / batch };
        let d = self.head_dim;
        for b in 0..batch {
            for ti in 0..t {
                let (cos, sin) = rope.cos_sin(positions[b][ti]);
                let mut row = q.row_mut(b * t + ti);
                for h in 0..self.num_heads {
                    let mut head = row.slice_axis_mut(Axis(0), Slice::from(h * d..(h + 1) * d));
                    if let Some(slice) = head.as_slice_mut() {
                        Rope::rotate(slice, &cos, &sin);
                    }
                }
            }
        }
    }

    /// Runs every head of every batch row: `q: (B*T, H*D)` against the
    /// `(S, D)` keys/values in `kv`; returns the heads' outputs side by side,
    /// `(B*T, H*D)`, before the output projection.
    #[allow(clippy::too_many_arguments)]
    fn attend(
        &self,
        q: ArrayView2<f32>,
        batch: usize,
        kv: &LayerKv,
        key_mask: &[Vec<u8>],
        bias: Option<&Array3<f32>>,
        record: Option<&mut AttentionRecord>,
        visible: impl Fn(usize, usize) -> bool,
    ) -> Array2<f32> {
        let t = if batch == 0 { 0 } else { q.nrows() / batch };
        let d = self.head_dim;
        let s_len = kv.len();
        let group = (self.num_heads / self.num_kv_heads.max(1)).max(1);
        let mut context = Array2::<f32>::zeros((batch * t, self.num_heads * d)); // (B*T, H*D)
        let mut weights = record.as_ref().map(|_| Array4::<f32>::zeros((batch, self.num_heads, t, s_len)));
        for b in 0..batch {
            let row_mask = &key_mask[b];
            let key_visible: Vec<bool> = (0..s_len).map(|j| row_mask.get(j).is_some_and(|&m| m != 0)).collect();
            for h in 0..self.num_heads {
                let kv_index = b * self.num_kv_heads + h / group;
                let (Ok(k), Ok(v)) = (
                    ArrayView2::from_shape((s_len, d), &kv.keys[kv_index][..]),
                    ArrayView2::from_shape((s_len, d), &kv.values[kv_index][..]),
                ) else {
                    continue;
                };
                let q_bh = block(q, b * t..(b + 1) * t, h * d..(h + 1) * d); // (T, D)
                let head_bias = bias.map(|all| all.index_axis(Axis(0), h));
                let (out, probs) = scaled_dot_product_attention(q_bh, k, v, self.scale, head_bias, |i, j| key_visible[j] && visible(i, j));
                block_mut(context.view_mut(), b * t..(b + 1) * t, h * d..(h + 1) * d).assign(&out);
                if let Some(w) = weights.as_mut() {
                    w.index_axis_mut(Axis(0), b).index_axis_mut(Axis(0), h).assign(&probs);
                }
            }
        }
        if let (Some(record), Some(w)) = (record, weights) {
            record.push(w);
        }
        context
    }
}

/// What [`MultiHeadAttention::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct AttentionActivations {
    /// The input, `(B*T, C)`.
    pub x: Array2<f32>,
    /// Cross-attention only: the encoder states keys and values come from, `(B*S, C)`.
    pub memory: Option<Array2<f32>>,
    /// Queries after RoPE, `(B*T, H*D)`.
    pub q: Array2<f32>,
    /// Keys (after RoPE) and values per (batch row, key/value head), each `(S, D)`.
    pub kv: LayerKv,
    /// Attention weights `(B, H, T, S)`.
    pub probs: Array4<f32>,
    /// The heads' outputs before the output projection, `(B*T, H*D)`.
    pub context: Array2<f32>,
    /// Position ids `(B, T)`, for undoing RoPE.
    pub positions: Vec<Vec<usize>>,
    /// `P`: how many of the `S` key/value rows are a [`KvPrefix`]'s (0 without one).
    pub prefix_len: usize,
}

/// Gradients of the four projections of a [`MultiHeadAttention`].
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionGrad {
    /// Of `q_proj`.
    pub q_proj: LinearGrad,
    /// Of `k_proj`.
    pub k_proj: LinearGrad,
    /// Of `v_proj`.
    pub v_proj: LinearGrad,
    /// Of `o_proj`.
    pub o_proj: LinearGrad,
    /// Of the [`KvPrefix`] the attention ran with, summed over the batch
    /// (not a parameter of the layer, so not in [`tensors_mut`](Self::tensors_mut)).
    pub prefix: Option<KvPrefix>,
}

impl AttentionGrad {
    /// Zero gradients shaped like `attn`.
    pub fn zeros(attn: &MultiHeadAttention) -> Self {
        Self {
            q_proj: LinearGrad::zeros(&attn.q_proj),
            k_proj: LinearGrad::zeros(&attn.k_proj),
            v_proj: LinearGrad::zeros(&attn.v_proj),
            o_proj: LinearGrad::zeros(&attn.o_proj),
            prefix: None,
        }
    }

    /// A copy of `attn`'s four projections in the gradient's layout.
    pub fn of(attn: &MultiHeadAttention) -> Self {
        Self {
            q_proj: LinearGrad::of(&attn.q_proj),
            k_proj: LinearGrad::of(&attn.k_proj),
            v_proj: LinearGrad::of(&attn.v_proj),
            o_proj: LinearGrad::of(&attn.o_proj),
            prefix: None,
        }
    }

    /// Appends the tensors in [`MultiHeadAttention::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.q_proj.tensors_mut(out);
        self.k_proj.tensors_mut(out);
        self.v_proj.tensors_mut(out);
        self.o_proj.tensors_mut(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::positional::RopeScaling;
    use crate::nn::gradcheck::{check_gradient, random_vec};
    use alloc::vec;
    use ndarray::Array1;

    fn linear(out: usize, inp: usize, seed: u64) -> Linear {
        Linear::new(
            Array2::from_shape_vec((out, inp), random_vec(out * inp, seed)).unwrap(),
            Some(Array1::from(random_vec(out, seed + 100))),
        )
    }

    /// GQA (4 query heads sharing 2 key/value heads), RoPE with linear
    /// scaling, biases, and a padded second row.
    #[test]
    fn backward_matches_finite_differences_with_gqa_rope_and_padding() {
        let (c, h, hkv, d, batch, t) = (6, 4, 2, 4, 2, 3);
        let attn = MultiHeadAttention {
            q_proj: linear(h * d, c, 1),
            k_proj: linear(hkv * d, c, 2),
            v_proj: linear(hkv * d, c, 3),
            o_proj: linear(c, h * d, 4),
            num_heads: h,
            num_kv_heads: hkv,
            head_dim: d,
            scale: 0.5,
            rope: Some(Rope::new(d, 10000.0, &RopeScaling::Linear { factor: 2.0 })),
        };
        let positions = vec![vec![0, 1, 2], vec![0, 1, 2]];
        let key_mask = vec![vec![1u8, 1, 1], vec![1, 1, 0]];
        let x = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 5)).unwrap();
        let r = Array2::from_shape_vec((batch * t, c), random_vec(batch * t * c, 6)).unwrap();
        let loss = |attn: &MultiHeadAttention, x: &Array2<f32>| {
            let (y, _) = attn.forward_train(x.view(), batch, &positions, &key_mask);
            (y * &r).iter().map(|&v| f64::from(v)).sum::<f64>()
        };
        let (_, acts) = attn.forward_train(x.view(), batch, &positions, &key_mask);
        let mut grad = AttentionGrad::zeros(&attn);
        let dx = attn.backward(&acts, r.view(), &mut grad);
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
            loss(&attn, &Array2::from_shape_vec((batch * t, c), p.to_vec()).unwrap())
        });
        let pick: [(fn(&mut MultiHeadAttention) -> &mut Linear, &LinearGrad); 4] = [
            (|a| &mut a.q_proj, &grad.q_proj),
            (|a| &mut a.k_proj, &grad.k_proj),
            (|a| &mut a.v_proj, &grad.v_proj),
            (|a| &mut a.o_proj, &grad.o_proj),
        ];
        for (field, g) in pick {
            let mut probe = attn.clone();
            let w = field(&mut probe).weight.view().to_owned();
            check_gradient(w.as_slice().unwrap(), g.weight.as_slice().unwrap(), |p| {
                let mut changed = attn.clone();
                field(&mut changed).weight = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap().into();
                loss(&changed, &x)
            });
            let bias = field(&mut probe).bias.clone().unwrap();
            check_gradient(bias.as_slice().unwrap(), g.bias.as_ref().unwrap().as_slice().unwrap(), |p| {
                let mut changed = attn.clone();
                field(&mut changed).bias = Some(Array1::from(p.to_vec()));
                loss(&changed, &x)
            });
        }
    }
}
