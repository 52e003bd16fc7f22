//! A trainable decoder-only transformer (GPT-2 or Llama shape): explicit
//! forward pass that saves its activations, and a hand-written backward pass.
//!
//! ```text
//! tokens (B,T) ─ embed (+ positions) ─► x₀ (B,T,C)
//! for each block l:
//!   x_mid = x_l   + attn(norm1(x_l))      attention sub-block
//!   x_l+1 = x_mid + ffn(norm2(x_mid))     feed-forward sub-block
//! logits (B,T,V) = norm_f(x_L) · lm_headᵀ
//! loss = cross-entropy(logits, targets)
//! ```
//!
//! Backward walks the same graph in reverse. The gradient of the residual
//! stream (`d_resid`) flows straight through the additions; each sub-block
//! adds its contribution on the way down (the norms' backward accumulates
//! into `d_resid`).
//!
//! Parameters and gradients are the flat buffers of `params.rs`; activation
//! buffers are allocated once per (B, T) and reused every step.

use alloc::vec;
use alloc::vec::Vec;
use core::ops::Range;

use super::config::{Arch, Config};
use super::layers::attention::{self, AttentionShape, Rope};
use super::layers::linear::{self, WeightLayout};
use super::layers::{activation, cross_entropy, embedding, norm};
use super::params::ParamTable;
use super::precision::Precision;
use super::TrainError;
use crate::rng::Rng;

/// Saved activations of one block. N = B·T.
struct LayerActs {
    norm1: Vec<f32>,      // (N, C)
    norm1_mean: Vec<f32>, // (N)
    norm1_rstd: Vec<f32>, // (N)
    qkv: Vec<f32>,        // (N, (H+2KV)·D), after RoPE
    att: Vec<f32>,        // (B, H, T, T) softmax probabilities
    attn_y: Vec<f32>,     // (N, H·D)
    resid_mid: Vec<f32>,  // (N, C)
    norm2: Vec<f32>,      // (N, C)
    norm2_mean: Vec<f32>, // (N)
    norm2_rstd: Vec<f32>, // (N)
    ffn_pre: Vec<f32>,    // (N, I) GPT-2 pre-GELU; (N, 2I) Llama gate‖up
    ffn_act: Vec<f32>,    // (N, I)
}

/// Everything one forward/backward needs, sized for (B, T).
struct Activations {
    batch: usize,
    seq: usize,
    tokens: Vec<u32>,       // (N)
    targets: Vec<u32>,      // (N); empty when the forward had none
    resid: Vec<Vec<f32>>,   // L+1 × (N, C): input of each block, then the output
    layers: Vec<LayerActs>, // L
    normf: Vec<f32>,        // (N, C)
    normf_mean: Vec<f32>,   // (N)
    normf_rstd: Vec<f32>,   // (N)
    logits: Vec<f32>,       // (N, V)
    probs: Vec<f32>,        // (N, V)
    proj: Vec<f32>,         // (N, C) scratch for sub-block outputs
    // gradient scratch, reused by every block
    d_resid: Vec<f32>,   // (N, C)
    d_norm: Vec<f32>,    // (N, C)
    d_qkv: Vec<f32>,     // (N, (H+2KV)·D)
    d_att: Vec<f32>,     // (T, T)
    d_attn_y: Vec<f32>,  // (N, H·D)
    d_ffn_pre: Vec<f32>, // like ffn_pre
    d_ffn_act: Vec<f32>, // (N, I)
    d_logits: Vec<f32>,  // (N, V)
}

impl Activations {
    fn new(c: &Config, batch: usize, seq: usize) -> Self {
        let n = batch * seq;
        let (w, v, i) = (c.width, c.vocab_size, c.ffn_width);
        let qkv = (c.heads + 2 * c.kv_heads) * c.head_dim();
        let hd = c.heads * c.head_dim();
        let fi = ffn_in_width(c);
        let layer = || LayerActs {
            norm1: vec![0.0; n * w],
            norm1_mean: vec![0.0; n],
            norm1_rstd: vec![0.0; n],
            qkv: vec![0.0; n * qkv],
            att: vec![0.0; batch * c.heads * seq * seq],
            attn_y: vec![0.0; n * hd],
            resid_mid: vec![0.0; n * w],
            norm2: vec![0.0; n * w],
            norm2_mean: vec![0.0; n],
            norm2_rstd: vec![0.0; n],
            ffn_pre: vec![0.0; n * fi],
            ffn_act: vec![0.0; n * i],
        };
        Self {
            batch,
            seq,
            tokens: vec![0; n],
            targets: Vec::new(),
            resid: (0..=c.layers).map(|_| vec![0.0; n * w]).collect(),
            layers: (0..c.layers).map(|_| layer()).collect(),
            normf: vec![0.0; n * w],
            normf_mean: vec![0.0; n],
            normf_rstd: vec![0.0; n],
            logits: vec![0.0; n * v],
            probs: vec![0.0; n * v],
            proj: vec![0.0; n * w],
            d_resid: vec![0.0; n * w],
            d_norm: vec![0.0; n * w],
            d_qkv: vec![0.0; n * qkv],
            d_att: vec![0.0; seq * seq],
            d_attn_y: vec![0.0; n * hd],
            d_ffn_pre: vec![0.0; n * fi],
            d_ffn_act: vec![0.0; n * i],
            d_logits: vec![0.0; n * v],
        }
    }
}

/// Output width of the FFN's first projection: I for GPT-2, 2I (gate‖up) for Llama.
fn ffn_in_width(c: &Config) -> usize {
    match c.arch {
        Arch::Gpt2 => c.ffn_width,
        Arch::Llama => 2 * c.ffn_width,
    }
}

fn get<'a>(buf: &'a [f32], r: &Range<usize>) -> Result<&'a [f32], TrainError> {
    buf.get(r.clone()).ok_or(TrainError::Shape("parameter range outside the buffer"))
}

fn get_opt<'a>(buf: &'a [f32], r: &Option<Range<usize>>) -> Result<Option<&'a [f32]>, TrainError> {
    r.as_ref().map(|r| get(buf, r)).transpose()
}

/// Two disjoint mutable tensors of the gradient buffer (weight and bias).
fn pair_mut<'a>(
    buf: &'a mut [f32],
    a: &Range<usize>,
    b: &Option<Range<usize>>,
) -> Result<(&'a mut [f32], Option<&'a mut [f32]>), TrainError> {
    const ERR: TrainError = TrainError::Shape("parameter range outside the buffer");
    match b {
        None => Ok((buf.get_mut(a.clone()).ok_or(ERR)?, None)),
        Some(b) if a.end <= b.start => {
            let (lo, hi) = buf.split_at_mut(b.start);
            Ok((lo.get_mut(a.clone()).ok_or(ERR)?, Some(hi.get_mut(..b.len()).ok_or(ERR)?)))
        }
        Some(b) if b.end <= a.start => {
            let (lo, hi) = buf.split_at_mut(a.start);
            Ok((hi.get_mut(..a.len()).ok_or(ERR)?, Some(lo.get_mut(b.clone()).ok_or(ERR)?)))
        }
        Some(_) => Err(TrainError::Shape("overlapping parameter ranges")),
    }
}

/// A decoder-only transformer with its parameters, gradients and buffers.
pub struct Model {
    /// Shape of the model.
    pub config: Config,
    /// Names, shapes and positions of the tensors.
    pub table: ParamTable,
    /// f32 master weights (flat).
    pub params: Vec<f32>,
    /// Gradients, same layout as `params`; backward accumulates into them.
    pub grads: Vec<f32>,
    rope: Option<Rope>,
    /// Half-precision-rounded copy of `params` used for compute in bf16/fp16.
    compute: Vec<f32>,
    acts: Option<Activations>,
    precision: Precision,
}

impl Model {
    /// A freshly initialised model (see [`ParamTable::init`]).
    pub fn new(config: Config, rng: &mut Rng) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        let table = ParamTable::new(&config);
        let params = table.init(&config, rng);
        Self::from_params(config, params)
    }

    /// A model around existing flat parameters (laid out as [`ParamTable`]).
    pub fn from_params(config: Config, params: Vec<f32>) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        let table = ParamTable::new(&config);
        if params.len() != table.total {
            return Err(TrainError::Shape("parameter buffer does not match the config"));
        }
        let rope = (config.arch == Arch::Llama).then(|| Rope::new(config.context, config.head_dim(), config.rope_theta));
        Ok(Self {
            grads: vec![0.0; params.len()],
            params,
            rope,
            compute: Vec::new(),
            acts: None,
            precision: Precision::Fp32,
            table,
            config,
        })
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// Sets every gradient to zero (start of an optimiser step).
    pub fn zero_grad(&mut self) {
        self.grads.fill(0.0);
    }

    /// Logits (B·T, V) of the last forward pass.
    pub fn logits(&self) -> &[f32] {
        self.acts.as_ref().map_or(&[], |a| &a.logits[..a.batch * a.seq * self.config.vocab_size])
    }

    /// Forward pass over `tokens` (B·T ids, row-major). With `targets`,
    /// returns the SUMMED cross-entropy over the B·T positions in nats and
    /// keeps what backward needs. `precision` selects the compute type.
    pub fn forward(
        &mut self,
        tokens: &[u32],
        targets: Option<&[u32]>,
        batch: usize,
        seq: usize,
        precision: Precision,
    ) -> Result<Option<f64>, TrainError> {
        let c = &self.config;
        if batch == 0 || seq == 0 || seq > c.context {
            return Err(TrainError::Shape("sequence length must be between 1 and the context"));
        }
        if tokens.len() != batch * seq || targets.is_some_and(|t| t.len() != batch * seq) {
            return Err(TrainError::Shape("token count is not batch × sequence length"));
        }
        if self.acts.as_ref().is_none_or(|a| a.batch != batch || a.seq != seq) {
            self.acts = Some(Activations::new(c, batch, seq));
        }
        let Some(acts) = self.acts.as_mut() else { return Err(TrainError::Shape("activations missing")) };
        self.precision = precision;
        let w: &[f32] = if precision == Precision::Fp32 {
            &self.params
        } else {
            self.compute.clear();
            self.compute.extend_from_slice(&self.params);
            precision.round(&mut self.compute);
            &self.compute
        };
        let s = &self.table.slots;
        let n = batch * seq;
        let (cw, v, ffn) = (c.width, c.vocab_size, c.ffn_width);
        let shape = AttentionShape { batch, seq, heads: c.heads, kv_heads: c.kv_heads, head_dim: c.head_dim() };
        let (qkv_w, hd, fi) = (shape.qkv_width(), shape.out_width(), ffn_in_width(c));

        acts.tokens.copy_from_slice(tokens);
        acts.targets.clear();
        if let Some(t) = targets {
            acts.targets.extend_from_slice(t);
        }
        let wpe = get_opt(w, &s.wpe)?;
        embedding::forward(&mut acts.resid[0], tokens, get(w, &s.wte)?, wpe, seq, cw)?;

        for (l, (ls, la)) in s.layers.iter().zip(acts.layers.iter_mut()).enumerate() {
            let (before, after) = acts.resid.split_at_mut(l + 1);
            let (x, x_out) = (&before[l], &mut after[0]);
            // attention sub-block: x_mid = x + attn_out(attn(qkv(norm1(x))))
            match c.arch {
                Arch::Gpt2 => norm::layernorm_forward(
                    &mut la.norm1, &mut la.norm1_mean, &mut la.norm1_rstd, x,
                    get(w, &ls.norm1_w)?, get_opt(w, &ls.norm1_b)?.unwrap_or(&[]), n, cw, c.norm_eps,
                )?,
                Arch::Llama => norm::rmsnorm_forward(&mut la.norm1, &mut la.norm1_rstd, x, get(w, &ls.norm1_w)?, n, cw, c.norm_eps)?,
            }
            precision.round(&mut la.norm1);
            linear::forward(&mut la.qkv, &la.norm1, get(w, &ls.qkv_w)?, get_opt(w, &ls.qkv_b)?, n, cw, qkv_w, s.layout)?;
            if let Some(rope) = &self.rope {
                // q heads then k heads are the first H+KV heads of each row
                rope.apply(&mut la.qkv, n, seq, qkv_w, c.heads + c.kv_heads, false);
            }
            precision.round(&mut la.qkv);
            attention::forward(&mut la.attn_y, &mut la.att, &la.qkv, shape, precision)?;
            linear::forward(&mut acts.proj, &la.attn_y, get(w, &ls.attn_out_w)?, get_opt(w, &ls.attn_out_b)?, n, hd, cw, s.layout)?;
            precision.round(&mut acts.proj);
            for ((m, &a), &b) in la.resid_mid.iter_mut().zip(x.iter()).zip(acts.proj.iter()) {
                *m = a + b;
            }
            // feed-forward sub-block: x_out = x_mid + ffn(norm2(x_mid))
            match c.arch {
                Arch::Gpt2 => norm::layernorm_forward(
                    &mut la.norm2, &mut la.norm2_mean, &mut la.norm2_rstd, &la.resid_mid,
                    get(w, &ls.norm2_w)?, get_opt(w, &ls.norm2_b)?.unwrap_or(&[]), n, cw, c.norm_eps,
                )?,
                Arch::Llama => {
                    norm::rmsnorm_forward(&mut la.norm2, &mut la.norm2_rstd, &la.resid_mid, get(w, &ls.norm2_w)?, n, cw, c.norm_eps)?
                }
            }
            precision.round(&mut la.norm2);
            linear::forward(&mut la.ffn_pre, &la.norm2, get(w, &ls.ffn_in_w)?, get_opt(w, &ls.ffn_in_b)?, n, cw, fi, s.layout)?;
            precision.round(&mut la.ffn_pre);
            match c.arch {
                Arch::Gpt2 => activation::gelu_forward(&mut la.ffn_act, &la.ffn_pre),
                Arch::Llama => {
                    for (out, pre) in la.ffn_act.chunks_exact_mut(ffn).zip(la.ffn_pre.chunks_exact(fi)) {
                        let (gate, up) = pre.split_at(ffn);
                        activation::swiglu_forward(out, gate, up);
                    }
                }
            }
            precision.round(&mut la.ffn_act);
            linear::forward(&mut acts.proj, &la.ffn_act, get(w, &ls.ffn_out_w)?, get_opt(w, &ls.ffn_out_b)?, n, ffn, cw, s.layout)?;
            precision.round(&mut acts.proj);
            for ((o, &a), &b) in x_out.iter_mut().zip(la.resid_mid.iter()).zip(acts.proj.iter()) {
                *o = a + b;
            }
        }

        let x_last = &acts.resid[c.layers];
        match c.arch {
            Arch::Gpt2 => norm::layernorm_forward(
                &mut acts.normf, &mut acts.normf_mean, &mut acts.normf_rstd, x_last,
                get(w, &s.normf_w)?, get_opt(w, &s.normf_b)?.unwrap_or(&[]), n, cw, c.norm_eps,
            )?,
            Arch::Llama => norm::rmsnorm_forward(&mut acts.normf, &mut acts.normf_rstd, x_last, get(w, &s.normf_w)?, n, cw, c.norm_eps)?,
        }
        precision.round(&mut acts.normf);
        let head = get(w, s.lm_head.as_ref().unwrap_or(&s.wte))?;
        // logits (N, V) = normf (N, C) · headᵀ, head stored (V, C)
        linear::forward(&mut acts.logits, &acts.normf, head, None, n, cw, v, WeightLayout::OutIn)?;
        precision.round(&mut acts.logits);
        match targets {
            Some(t) => Ok(Some(cross_entropy::forward(&mut acts.probs, &acts.logits, t, v)?)),
            None => Ok(None),
        }
    }

    /// Backward pass of the last forward (which must have had targets).
    /// `d_loss` is the gradient of the final loss with respect to each
    /// position's NLL: 1/(B·T) for a mean, divided by K when accumulating K
    /// micro-batches, times the loss scale in fp16. Gradients are ADDED to
    /// [`Model::grads`].
    pub fn backward(&mut self, d_loss: f32) -> Result<(), TrainError> {
        let c = &self.config;
        let Some(acts) = self.acts.as_mut() else { return Err(TrainError::NoForward) };
        if acts.targets.is_empty() {
            return Err(TrainError::NoForward);
        }
        let precision = self.precision;
        let w: &[f32] = if precision == Precision::Fp32 { &self.params } else { &self.compute };
        let g = &mut self.grads;
        let s = &self.table.slots;
        let (batch, seq) = (acts.batch, acts.seq);
        let n = batch * seq;
        let (cw, v, ffn) = (c.width, c.vocab_size, c.ffn_width);
        let shape = AttentionShape { batch, seq, heads: c.heads, kv_heads: c.kv_heads, head_dim: c.head_dim() };
        let (qkv_w, hd, fi) = (shape.qkv_width(), shape.out_width(), ffn_in_width(c));
        // Activation gradients are rounded too in half precision: that is
        // where fp16 overflows (inf) or underflows without loss scaling.
        let round_grad = |x: &mut [f32]| precision.round(x);

        cross_entropy::backward(&mut acts.d_logits, &acts.probs, &acts.targets, v, d_loss)?;
        round_grad(&mut acts.d_logits);
        let head_range = s.lm_head.as_ref().unwrap_or(&s.wte);
        acts.d_norm.fill(0.0);
        {
            let (dw, _) = pair_mut(g, head_range, &None)?;
            linear::backward(&mut acts.d_norm, dw, None, &acts.d_logits, &acts.normf, get(w, head_range)?, n, cw, v, WeightLayout::OutIn)?;
        }
        acts.d_resid.fill(0.0);
        let x_last = &acts.resid[c.layers];
        match c.arch {
            Arch::Gpt2 => {
                let (dw, db) = pair_mut(g, &s.normf_w, &s.normf_b)?;
                norm::layernorm_backward(
                    &mut acts.d_resid, dw, db.unwrap_or(&mut []), &acts.d_norm, x_last, get(w, &s.normf_w)?,
                    &acts.normf_mean, &acts.normf_rstd, n, cw,
                )?
            }
            Arch::Llama => {
                let (dw, _) = pair_mut(g, &s.normf_w, &None)?;
                norm::rmsnorm_backward(&mut acts.d_resid, dw, &acts.d_norm, x_last, get(w, &s.normf_w)?, &acts.normf_rstd, n, cw)?
            }
        }
        round_grad(&mut acts.d_resid);

        for (l, (ls, la)) in s.layers.iter().zip(acts.layers.iter()).enumerate().rev() {
            // feed-forward sub-block
            acts.d_ffn_act.fill(0.0);
            {
                let (dw, db) = pair_mut(g, &ls.ffn_out_w, &ls.ffn_out_b)?;
                linear::backward(&mut acts.d_ffn_act, dw, db, &acts.d_resid, &la.ffn_act, get(w, &ls.ffn_out_w)?, n, ffn, cw, s.layout)?;
            }
            round_grad(&mut acts.d_ffn_act);
            acts.d_ffn_pre.fill(0.0);
            match c.arch {
                Arch::Gpt2 => activation::gelu_backward(&mut acts.d_ffn_pre, &la.ffn_pre, &acts.d_ffn_act),
                Arch::Llama => {
                    for ((d_pre, pre), d_act) in
                        acts.d_ffn_pre.chunks_exact_mut(fi).zip(la.ffn_pre.chunks_exact(fi)).zip(acts.d_ffn_act.chunks_exact(ffn))
                    {
                        let (d_gate, d_up) = d_pre.split_at_mut(ffn);
                        let (gate, up) = pre.split_at(ffn);
                        activation::swiglu_backward(d_gate, d_up, gate, up, d_act);
                    }
                }
            }
            round_grad(&mut acts.d_ffn_pre);
            acts.d_norm.fill(0.0);
            {
                let (dw, db) = pair_mut(g, &ls.ffn_in_w, &ls.ffn_in_b)?;
                linear::backward(&mut acts.d_norm, dw, db, &acts.d_ffn_pre, &la.norm2, get(w, &ls.ffn_in_w)?, n, cw, fi, s.layout)?;
            }
            match c.arch {
                Arch::Gpt2 => {
                    let (dw, db) = pair_mut(g, &ls.norm2_w, &ls.norm2_b)?;
                    norm::layernorm_backward(
                        &mut acts.d_resid, dw, db.unwrap_or(&mut []), &acts.d_norm, &la.resid_mid, get(w, &ls.norm2_w)?,
                        &la.norm2_mean, &la.norm2_rstd, n, cw,
                    )?
                }
                Arch::Llama => {
                    let (dw, _) = pair_mut(g, &ls.norm2_w, &None)?;
                    norm::rmsnorm_backward(&mut acts.d_resid, dw, &acts.d_norm, &la.resid_mid, get(w, &ls.norm2_w)?, &la.norm2_rstd, n, cw)?
                }
            }
            round_grad(&mut acts.d_resid);

            // attention sub-block
            acts.d_attn_y.fill(0.0);
            {
                let (dw, db) = pair_mut(g, &ls.attn_out_w, &ls.attn_out_b)?;
                linear::backward(&mut acts.d_attn_y, dw, db, &acts.d_resid, &la.attn_y, get(w, &ls.attn_out_w)?, n, hd, cw, s.layout)?;
            }
            round_grad(&mut acts.d_attn_y);
            acts.d_qkv.fill(0.0);
            attention::backward(&mut acts.d_qkv, &mut acts.d_att, &acts.d_attn_y, &la.qkv, &la.att, shape)?;
            if let Some(rope) = &self.rope {
                rope.apply(&mut acts.d_qkv, n, seq, qkv_w, c.heads + c.kv_heads, true);
            }
            round_grad(&mut acts.d_qkv);
            acts.d_norm.fill(0.0);
            {
                let (dw, db) = pair_mut(g, &ls.qkv_w, &ls.qkv_b)?;
                linear::backward(&mut acts.d_norm, dw, db, &acts.d_qkv, &la.norm1, get(w, &ls.qkv_w)?, n, cw, qkv_w, s.layout)?;
            }
            let x = &acts.resid[l];
            match c.arch {
                Arch::Gpt2 => {
                    let (dw, db) = pair_mut(g, &ls.norm1_w, &ls.norm1_b)?;
                    norm::layernorm_backward(
                        &mut acts.d_resid, dw, db.unwrap_or(&mut []), &acts.d_norm, x, get(w, &ls.norm1_w)?,
                        &la.norm1_mean, &la.norm1_rstd, n, cw,
                    )?
                }
                Arch::Llama => {
                    let (dw, _) = pair_mut(g, &ls.norm1_w, &None)?;
                    norm::rmsnorm_backward(&mut acts.d_resid, dw, &acts.d_norm, x, get(w, &ls.norm1_w)?, &la.norm1_rstd, n, cw)?
                }
            }
            round_grad(&mut acts.d_resid);
        }

        let (d_wte, d_wpe) = pair_mut(g, &s.wte, &s.wpe)?;
        embedding::backward(d_wte, d_wpe, &acts.d_resid, &acts.tokens, seq, cw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::layers::gradcheck::check_gradient_with;

    /// A tiny model with large random weights, so gradients are big enough
    /// for an f32 finite-difference check.
    fn tiny(config: Config) -> Model {
        let mut rng = Rng::new(7);
        let table = ParamTable::new(&config);
        let mut params = table.init(&config, &mut rng);
        for p in params.iter_mut() {
            *p += (rng.normal() * 0.3) as f32;
        }
        Model::from_params(config, params).unwrap()
    }

    fn check_model(config: Config) {
        let mut model = tiny(config);
        let (b, t) = (2, 4);
        let tokens = [1u32, 2, 3, 4, 6, 5, 0, 1];
        let targets = [2u32, 3, 4, 5, 5, 0, 1, 6];
        let n = (b * t) as f64;
        model.zero_grad();
        model.forward(&tokens, Some(&targets), b, t, Precision::Fp32).unwrap();
        model.backward(1.0 / n as f32).unwrap();
        let grads = model.grads.clone();
        let params = model.params.clone();
        check_gradient_with(
            &params,
            &grads,
            |p| {
                model.params.copy_from_slice(p);
                model.forward(&tokens, Some(&targets), b, t, Precision::Fp32).unwrap().unwrap() / n
            },
            1e-2,
            5e-5,
        );
    }

    #[test]
    fn gpt2_model_gradients_match_finite_differences() {
        check_model(Config::gpt2(7, 6, 2, 2, 8));
    }

    #[test]
    fn llama_model_gradients_match_finite_differences() {
        // grouped-query attention (4 query heads, 2 kv heads), untied head
        check_model(Config { kv_heads: 2, ffn_width: 12, ..Config::llama(7, 6, 2, 4, 8) });
    }

    #[test]
    fn llama_with_tied_embeddings_gradients_match_finite_differences() {
        check_model(Config { tie_embeddings: true, ..Config::llama(7, 6, 1, 2, 8) });
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut model = tiny(Config::gpt2(7, 6, 1, 2, 8));
        assert!(model.backward(1.0).is_err());
        assert!(model.forward(&[1, 2, 3], None, 1, 3, Precision::Fp32).unwrap().is_none());
        assert!(model.forward(&[1, 2, 9], None, 1, 3, Precision::Fp32).is_err());
        assert!(model.forward(&[1; 8], None, 1, 8, Precision::Fp32).is_err()); // longer than the context
        assert!(model.forward(&[1; 4], None, 1, 3, Precision::Fp32).is_err());
    }
}
