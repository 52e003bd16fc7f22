//! Mixture of experts: a router sends each token to its top-k expert FFNs.
//!
//! [`SparseMoe`] is transformers' `MixtralSparseMoeBlock` /
//! `Qwen2MoeSparseMoeBlock`:
//!
//! 1. router logits `z = router(x)`, `(N, E)`; probabilities `p = softmax(z)`
//!    in f32;
//! 2. each token keeps its `K` most probable experts; their weights are the
//!    kept probabilities, renormalised to sum to 1 when `normalize_top_k`
//!    (Mixtral always, Qwen2-MoE with `norm_topk_prob`);
//! 3. `y = Σ_k w_k · expert_k(x)`, the experts being SwiGLU
//!    [`FeedForward`]s run only on the tokens routed to them;
//! 4. Qwen2-MoE adds a shared expert every token goes through, scaled by
//!    `sigmoid(shared_gate(x))`.
//!
//! Backward flows through the selected experts (their weights and inputs)
//! and through the routing weights into the router: with `s = Σ_S p`,
//! `w_i = p_i / s` gives `dp_i = (dw_i − Σ_j w_j dw_j) / s` for the selected
//! `i`, and the softmax gives `dz = p ⊙ (dp − Σ p ⊙ dp)`. The choice of
//! experts itself is piecewise constant and has no gradient.
//!
//! [`load_balancing_loss`] is transformers' `load_balancing_loss_func`, the
//! Switch Transformer's auxiliary loss `E · Σ_e f_e · P_e`, with `f_e` the
//! share of top-k assignments and `P_e` the mean router probability of
//! expert `e`, both over every MoE layer's (non-padding) tokens.
//!
//! [`Mlp`] is the position-wise sublayer of a transformer block: one
//! [`FeedForward`], or a [`SparseMoe`].

use super::ffn::{FeedForward, FeedForwardActivations, FeedForwardGrad};
use super::linear::{Linear, LinearGrad};
use super::math::{exp, sigmoid};
use super::TensorMut;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use ndarray::{Array2, ArrayView2};

/// Qwen2-MoE's shared expert: `sigmoid(gate(x)) · ffn(x)` for every token.
#[derive(Clone, Debug)]
pub struct SharedExpert {
    /// A dense SwiGLU network.
    pub ffn: FeedForward,
    /// `(C) -> (1)`: the scalar gate (no bias).
    pub gate: Linear,
}

/// A sparse mixture-of-experts layer, `(N, C) -> (N, C)`.
#[derive(Clone, Debug)]
pub struct SparseMoe {
    /// `(C) -> (E)`: the router's logits (no bias).
    pub router: Linear,
    /// The `E` expert networks (gated, SiLU in Mixtral and Qwen2-MoE).
    pub experts: Vec<FeedForward>,
    /// `K`: experts per token.
    pub top_k: usize,
    /// Renormalise the kept probabilities to sum to 1.
    pub normalize_top_k: bool,
    /// Qwen2-MoE's always-on expert.
    pub shared: Option<SharedExpert>,
}

/// Where each token goes and with what weight.
#[derive(Clone, Debug, PartialEq)]
pub struct Routing {
    /// `(N, E)`: softmax of the router logits.
    pub probs: Array2<f32>,
    /// `(N, K)`: chosen experts, most probable first.
    pub selected: Array2<usize>,
    /// `(N, K)`: their weights (renormalised when the layer says so).
    pub weights: Array2<f32>,
    /// `(N)`: the sum of the kept probabilities (the renormaliser).
    pub kept_mass: Vec<f32>,
}

/// Row-wise softmax of `(N, E)` logits, in f32 like `softmax(dtype=float)`.
pub fn softmax_rows(logits: ArrayView2<f32>) -> Array2<f32> {
    let mut probs = logits.to_owned();
    for mut row in probs.rows_mut() {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| exp(v - max));
        let sum: f32 = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    probs
}

/// The `k` largest entries of `row`, largest first (ties: lower index first).
fn top_k_indices(row: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..row.len()).collect();
    order.sort_by(|&a, &b| row[b].partial_cmp(&row[a]).unwrap_or(core::cmp::Ordering::Equal).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// Top-k routing of `logits: (N, E)`.
pub fn route(logits: ArrayView2<f32>, top_k: usize, normalize_top_k: bool) -> Routing {
    let n = logits.nrows();
    let k = top_k.min(logits.ncols());
    let probs = softmax_rows(logits);
    let mut selected = Array2::<usize>::zeros((n, k));
    let mut weights = Array2::<f32>::zeros((n, k));
    let mut kept_mass = vec![0.0f32; n];
    for (row, p) in probs.rows().into_iter().enumerate() {
        let p = p.to_vec();
        let chosen = top_k_indices(&p, k);
        let mass: f32 = chosen.iter().map(|&e| p[e]).sum();
        kept_mass[row] = mass;
        for (slot, &e) in chosen.iter().enumerate() {
            selected[[row, slot]] = e;
            weights[[row, slot]] = if normalize_top_k { p[e] / mass } else { p[e] };
        }
    }
    Routing { probs, selected, weights, kept_mass }
}

/// Backward of the softmax: `dz = p ⊙ (dp − Σ p ⊙ dp)` row by row, added to `d_logits`.
fn softmax_backward_into(probs: &Array2<f32>, d_probs: &Array2<f32>, d_logits: &mut Array2<f32>) {
    for ((p, dp), mut dz) in probs.rows().into_iter().zip(d_probs.rows()).zip(d_logits.rows_mut()) {
        let inner: f32 = p.iter().zip(dp.iter()).map(|(a, b)| a * b).sum();
        for ((z, &pi), &dpi) in dz.iter_mut().zip(p.iter()).zip(dp.iter()) {
            *z += pi * (dpi - inner);
        }
    }
}

/// The tokens one expert received: rows of the input and the slot (`0..K`)
/// through which each came.
#[derive(Clone, Debug)]
pub struct ExpertBatch {
    /// Token rows, ascending.
    pub rows: Vec<usize>,
    /// For each row, its position in the token's top-k list.
    pub slots: Vec<usize>,
}

/// Groups tokens by expert, as transformers' loop over `expert_hit` does.
fn dispatch(routing: &Routing, num_experts: usize) -> Vec<ExpertBatch> {
    let mut batches: Vec<ExpertBatch> = (0..num_experts).map(|_| ExpertBatch { rows: Vec::new(), slots: Vec::new() }).collect();
    for (row, chosen) in routing.selected.rows().into_iter().enumerate() {
        for (slot, &e) in chosen.iter().enumerate() {
            if let Some(batch) = batches.get_mut(e) {
                batch.rows.push(row);
                batch.slots.push(slot);
            }
        }
    }
    batches
}

/// `x[rows]`, `(n, C)`.
fn gather(x: ArrayView2<f32>, rows: &[usize]) -> Array2<f32> {
    let mut out = Array2::<f32>::zeros((rows.len(), x.ncols()));
    for (dst, &r) in out.rows_mut().into_iter().zip(rows) {
        dst.into_iter().zip(x.row(r)).for_each(|(d, &v)| *d = v);
    }
    out
}

/// What one expert kept for the backward pass.
#[derive(Clone, Debug)]
pub struct ExpertActivations {
    /// Which tokens it saw.
    pub batch: ExpertBatch,
    /// Inside the expert.
    pub ffn: FeedForwardActivations,
    /// Its output before weighting, `(n, C)`.
    pub out: Array2<f32>,
}

/// What the shared expert kept for the backward pass.
#[derive(Clone, Debug)]
pub struct SharedActivations {
    /// `gate(x)` before the sigmoid, `(N, 1)`.
    pub gate_logit: Array2<f32>,
    /// Inside the FFN.
    pub ffn: FeedForwardActivations,
    /// `ffn(x)`, `(N, C)`.
    pub out: Array2<f32>,
}

/// What [`SparseMoe::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub struct SparseMoeActivations {
    /// The input `(N, C)`.
    pub x: Array2<f32>,
    /// Router logits `(N, E)` (what `output_router_logits` returns).
    pub router_logits: Array2<f32>,
    /// The routing decision.
    pub routing: Routing,
    /// Per expert; `None` for an expert that received no token.
    pub experts: Vec<Option<ExpertActivations>>,
    /// The shared expert's.
    pub shared: Option<SharedActivations>,
}

/// Gradients of a [`SparseMoe`].
#[derive(Clone, Debug, PartialEq)]
pub struct SparseMoeGrad {
    /// Of the router.
    pub router: LinearGrad,
    /// Of each expert.
    pub experts: Vec<FeedForwardGrad>,
    /// Of the shared expert's FFN and gate.
    pub shared: Option<(FeedForwardGrad, LinearGrad)>,
}

impl SparseMoeGrad {
    /// Appends the tensors in [`SparseMoe::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.router.tensors_mut(out);
        for expert in &mut self.experts {
            expert.tensors_mut(out);
        }
        if let Some((ffn, gate)) = self.shared.as_mut() {
            ffn.tensors_mut(out);
            gate.tensors_mut(out);
        }
    }
}

impl SparseMoe {
    /// `E`.
    pub fn num_experts(&self) -> usize {
        self.experts.len()
    }

    /// `x: (N, C)` -> output `(N, C)` and router logits `(N, E)`.
    pub fn forward(&self, x: ArrayView2<f32>) -> (Array2<f32>, Array2<f32>) {
        let router_logits = self.router.forward(x); // (N, E)
        let routing = route(router_logits.view(), self.top_k, self.normalize_top_k);
        let mut y = Array2::<f32>::zeros(x.raw_dim()); // (N, C)
        for (expert, batch) in self.experts.iter().zip(dispatch(&routing, self.num_experts())) {
            if batch.rows.is_empty() {
                continue;
            }
            let out = expert.forward(gather(x, &batch.rows).view()); // (n, C)
            add_weighted(&mut y, &out, &batch, &routing.weights);
        }
        if let Some(shared) = &self.shared {
            let gate = shared.gate.forward(x); // (N, 1)
            let out = shared.ffn.forward(x);
            add_gated(&mut y, &out, &gate);
        }
        (y, router_logits)
    }

    /// Like [`forward`](Self::forward), keeping the activations for
    /// [`backward`](Self::backward).
    pub fn forward_train(&self, x: ArrayView2<f32>) -> (Array2<f32>, SparseMoeActivations) {
        let router_logits = self.router.forward(x); // (N, E)
        let routing = route(router_logits.view(), self.top_k, self.normalize_top_k);
        let mut y = Array2::<f32>::zeros(x.raw_dim()); // (N, C)
        let mut experts = Vec::with_capacity(self.num_experts());
        for (expert, batch) in self.experts.iter().zip(dispatch(&routing, self.num_experts())) {
            if batch.rows.is_empty() {
                experts.push(None);
                continue;
            }
            let (out, ffn) = expert.forward_train(gather(x, &batch.rows).view()); // (n, C)
            add_weighted(&mut y, &out, &batch, &routing.weights);
            experts.push(Some(ExpertActivations { batch, ffn, out }));
        }
        let shared = self.shared.as_ref().map(|shared| {
            let gate_logit = shared.gate.forward(x); // (N, 1)
            let (out, ffn) = shared.ffn.forward_train(x);
            add_gated(&mut y, &out, &gate_logit);
            SharedActivations { gate_logit, ffn, out }
        });
        (y, SparseMoeActivations { x: x.to_owned(), router_logits, routing, experts, shared })
    }

    /// Backward: `dy: (N, C)` -> `dx: (N, C)`, accumulating into `grad`.
    /// `d_router_logits: (N, E)` is a gradient reaching the router logits
    /// from elsewhere (the auxiliary loss).
    pub fn backward(
        &self,
        acts: &SparseMoeActivations,
        dy: ArrayView2<f32>,
        d_router_logits: Option<ArrayView2<f32>>,
        grad: &mut SparseMoeGrad,
    ) -> Array2<f32> {
        let x = acts.x.view();
        let routing = &acts.routing;
        let mut dx = Array2::<f32>::zeros(x.raw_dim()); // (N, C)
        let mut d_weights = Array2::<f32>::zeros(routing.weights.raw_dim()); // (N, K)
        for ((expert, expert_grad), expert_acts) in self.experts.iter().zip(grad.experts.iter_mut()).zip(&acts.experts) {
            let Some(expert_acts) = expert_acts else { continue };
            let batch = &expert_acts.batch;
            let mut d_out = gather(dy, &batch.rows); // (n, C)
            for (i, (&row, &slot)) in batch.rows.iter().zip(&batch.slots).enumerate() {
                let out_row = expert_acts.out.row(i);
                d_weights[[row, slot]] += d_out.row(i).iter().zip(out_row.iter()).map(|(a, b)| a * b).sum::<f32>();
                let w = routing.weights[[row, slot]];
                d_out.row_mut(i).mapv_inplace(|v| v * w);
            }
            let d_in = expert.backward(&expert_acts.ffn, d_out.view(), expert_grad); // (n, C)
            for (i, &row) in batch.rows.iter().enumerate() {
                let mut dst = dx.row_mut(row);
                dst += &d_in.row(i);
            }
        }
        // Routing weights -> probabilities of the selected experts.
        let mut d_probs = Array2::<f32>::zeros(routing.probs.raw_dim()); // (N, E)
        for (row, (chosen, (w, dw))) in
            routing.selected.rows().into_iter().zip(routing.weights.rows().into_iter().zip(d_weights.rows())).enumerate()
        {
            if self.normalize_top_k {
                let mass = routing.kept_mass[row];
                let inner: f32 = w.iter().zip(dw.iter()).map(|(a, b)| a * b).sum();
                for (&e, &g) in chosen.iter().zip(dw.iter()) {
                    d_probs[[row, e]] += (g - inner) / mass;
                }
            } else {
                for (&e, &g) in chosen.iter().zip(dw.iter()) {
                    d_probs[[row, e]] += g;
                }
            }
        }
        let mut d_logits = match d_router_logits {
            Some(d) => d.to_owned(),
            None => Array2::<f32>::zeros(routing.probs.raw_dim()),
        };
        softmax_backward_into(&routing.probs, &d_probs, &mut d_logits);
        dx += &self.router.backward(x, d_logits.view(), &mut grad.router);
        if let (Some(shared), Some(shared_acts), Some((ffn_grad, gate_grad))) = (&self.shared, &acts.shared, grad.shared.as_mut()) {
            // y = σ(g)·f: df = σ(g)·dy, dg = σ'(g)·Σ_c dy·f.
            let mut d_ffn = dy.to_owned();
            let mut d_gate = Array2::<f32>::zeros(shared_acts.gate_logit.raw_dim()); // (N, 1)
            for (row, mut d) in d_ffn.rows_mut().into_iter().enumerate() {
                let s = sigmoid(shared_acts.gate_logit[[row, 0]]);
                let dot: f32 = d.iter().zip(shared_acts.out.row(row).iter()).map(|(a, b)| a * b).sum();
                d_gate[[row, 0]] = dot * s * (1.0 - s);
                d.mapv_inplace(|v| v * s);
            }
            dx += &shared.ffn.backward(&shared_acts.ffn, d_ffn.view(), ffn_grad);
            dx += &shared.gate.backward(x, d_gate.view(), gate_grad);
        }
        dx
    }

    /// Appends the router, each expert, and the shared expert's FFN and gate.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        self.router.params_mut(out);
        for expert in &mut self.experts {
            expert.params_mut(out);
        }
        if let Some(shared) = self.shared.as_mut() {
            shared.ffn.params_mut(out);
            shared.gate.params_mut(out);
        }
    }

    /// Zero gradients shaped like this layer.
    pub fn zero_grad(&self) -> SparseMoeGrad {
        SparseMoeGrad {
            router: LinearGrad::zeros(&self.router),
            experts: self.experts.iter().map(FeedForward::zero_grad).collect(),
            shared: self.shared.as_ref().map(|s| (s.ffn.zero_grad(), LinearGrad::zeros(&s.gate))),
        }
    }

    /// A copy of the parameters in the gradient's layout.
    pub fn parameters(&self) -> SparseMoeGrad {
        SparseMoeGrad {
            router: LinearGrad::of(&self.router),
            experts: self.experts.iter().map(FeedForward::parameters).collect(),
            shared: self.shared.as_ref().map(|s| (s.ffn.parameters(), LinearGrad::of(&s.gate))),
        }
    }

    /// Number of parameters (every expert counted).
    pub fn num_params(&self) -> usize {
        self.router.num_params()
            + self.experts.iter().map(FeedForward::num_params).sum::<usize>()
            + self.shared.as_ref().map_or(0, |s| s.ffn.num_params() + s.gate.num_params())
    }
}

/// `y[rows] += w · out`.
fn add_weighted(y: &mut Array2<f32>, out: &Array2<f32>, batch: &ExpertBatch, weights: &Array2<f32>) {
    for (i, (&row, &slot)) in batch.rows.iter().zip(&batch.slots).enumerate() {
        let w = weights[[row, slot]];
        y.row_mut(row).iter_mut().zip(out.row(i)).for_each(|(d, &v)| *d += v * w);
    }
}

/// `y += sigmoid(gate) · out`, `gate: (N, 1)`.
fn add_gated(y: &mut Array2<f32>, out: &Array2<f32>, gate: &Array2<f32>) {
    for ((mut dst, src), g) in y.rows_mut().into_iter().zip(out.rows()).zip(gate.column(0)) {
        let s = sigmoid(*g);
        dst.iter_mut().zip(src).for_each(|(d, &v)| *d += s * v);
    }
}

/// transformers' `load_balancing_loss_func` over the router logits of every
/// MoE layer (`(N, E)` each, rows batch-major like the attention mask):
/// `E · Σ_e f_e · P_e`, where `f_e` counts top-`top_k` assignments and `P_e`
/// sums router probabilities, both divided by the number of (unmasked)
/// token rows over all layers. `token_mask: (N)` is 1 for real tokens.
/// Returns the loss and its gradient with respect to each layer's logits
/// (only through `P`; the counts are constant).
pub fn load_balancing_loss(router_logits: &[ArrayView2<f32>], top_k: usize, token_mask: Option<&[f32]>) -> (f64, Vec<Array2<f32>>) {
    let Some(num_experts) = router_logits.first().map(|l| l.ncols()) else {
        return (0.0, Vec::new());
    };
    let mut counts = vec![0.0f32; num_experts];
    let mut prob_sums = vec![0.0f32; num_experts];
    let mut total_rows = 0.0f32;
    let mut layers_probs = Vec::with_capacity(router_logits.len());
    for logits in router_logits {
        let probs = softmax_rows(*logits);
        for (row, p) in probs.rows().into_iter().enumerate() {
            let m = token_mask.and_then(|mask| mask.get(row).copied()).unwrap_or(1.0);
            for e in top_k_indices(&p.to_vec(), top_k.min(num_experts)) {
                counts[e] += m;
            }
            prob_sums.iter_mut().zip(p.iter()).for_each(|(s, &v)| *s += v * m);
            total_rows += m;
        }
        layers_probs.push(probs);
    }
    if total_rows == 0.0 {
        return (0.0, router_logits.iter().map(|l| Array2::zeros(l.raw_dim())).collect());
    }
    let scale = num_experts as f32;
    let loss: f32 = counts.iter().zip(&prob_sums).map(|(c, p)| (c / total_rows) * (p / total_rows)).sum::<f32>() * scale;
    // d loss / d p[n, e] = E · f_e · mask_n / total.
    let d_prob_per_expert: Vec<f32> = counts.iter().map(|c| scale * (c / total_rows) / total_rows).collect();
    let grads = layers_probs
        .iter()
        .map(|probs| {
            let mut d_probs = Array2::<f32>::zeros(probs.raw_dim());
            for (row, mut d) in d_probs.rows_mut().into_iter().enumerate() {
                let m = token_mask.and_then(|mask| mask.get(row).copied()).unwrap_or(1.0);
                d.iter_mut().zip(&d_prob_per_expert).for_each(|(o, &g)| *o = g * m);
            }
            let mut d_logits = Array2::<f32>::zeros(probs.raw_dim());
            softmax_backward_into(probs, &d_probs, &mut d_logits);
            d_logits
        })
        .collect();
    (f64::from(loss), grads)
}

/// The position-wise sublayer of a transformer block.
#[derive(Clone, Debug)]
pub enum Mlp {
    /// One feed-forward network for every token.
    Dense(FeedForward),
    /// A router and its experts.
    Sparse(Box<SparseMoe>),
}

impl From<FeedForward> for Mlp {
    fn from(ffn: FeedForward) -> Self {
        Mlp::Dense(ffn)
    }
}

/// What [`Mlp::forward_train`] keeps for the backward pass.
#[derive(Clone, Debug)]
pub enum MlpActivations {
    /// Of a dense FFN.
    Dense(FeedForwardActivations),
    /// Of a mixture of experts.
    Sparse(Box<SparseMoeActivations>),
}

impl MlpActivations {
    /// The router logits `(N, E)` of a mixture of experts.
    pub fn router_logits(&self) -> Option<&Array2<f32>> {
        match self {
            MlpActivations::Dense(_) => None,
            MlpActivations::Sparse(acts) => Some(&acts.router_logits),
        }
    }
}

/// Gradients of an [`Mlp`].
#[derive(Clone, Debug, PartialEq)]
pub enum MlpGrad {
    /// Of a dense FFN.
    Dense(FeedForwardGrad),
    /// Of a mixture of experts.
    Sparse(Box<SparseMoeGrad>),
}

impl From<FeedForwardGrad> for MlpGrad {
    fn from(grad: FeedForwardGrad) -> Self {
        MlpGrad::Dense(grad)
    }
}

impl MlpGrad {
    /// Appends the tensors in [`Mlp::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        match self {
            MlpGrad::Dense(g) => g.tensors_mut(out),
            MlpGrad::Sparse(g) => g.tensors_mut(out),
        }
    }

    /// The dense FFN's gradients (`None` for a mixture of experts).
    pub fn dense(&self) -> Option<&FeedForwardGrad> {
        match self {
            MlpGrad::Dense(g) => Some(g),
            MlpGrad::Sparse(_) => None,
        }
    }
}

impl Mlp {
    /// `x: (N, C) -> (N, C)`; a mixture of experts appends its router logits
    /// `(N, E)` to `router_logits`.
    pub fn forward(&self, x: ArrayView2<f32>, router_logits: Option<&mut Vec<Array2<f32>>>) -> Array2<f32> {
        match self {
            Mlp::Dense(ffn) => ffn.forward(x),
            Mlp::Sparse(moe) => {
                let (y, logits) = moe.forward(x);
                if let Some(record) = router_logits {
                    record.push(logits);
                }
                y
            }
        }
    }

    /// Like [`forward`](Self::forward), keeping the activations.
    pub fn forward_train(&self, x: ArrayView2<f32>) -> (Array2<f32>, MlpActivations) {
        match self {
            Mlp::Dense(ffn) => {
                let (y, acts) = ffn.forward_train(x);
                (y, MlpActivations::Dense(acts))
            }
            Mlp::Sparse(moe) => {
                let (y, acts) = moe.forward_train(x);
                (y, MlpActivations::Sparse(Box::new(acts)))
            }
        }
    }

    /// Backward: `dy: (N, C)` -> `dx: (N, C)`; `d_router_logits` is the
    /// auxiliary loss's gradient for a mixture of experts. `acts` and
    /// `grad` must come from this layer (a mismatch contributes nothing).
    pub fn backward(
        &self,
        acts: &MlpActivations,
        dy: ArrayView2<f32>,
        d_router_logits: Option<ArrayView2<f32>>,
        grad: &mut MlpGrad,
    ) -> Array2<f32> {
        match (self, acts, grad) {
            (Mlp::Dense(ffn), MlpActivations::Dense(acts), MlpGrad::Dense(grad)) => ffn.backward(acts, dy, grad),
            (Mlp::Sparse(moe), MlpActivations::Sparse(acts), MlpGrad::Sparse(grad)) => moe.backward(acts, dy, d_router_logits, grad),
            _ => Array2::zeros(dy.raw_dim()),
        }
    }

    /// Appends the parameters to `out`.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        match self {
            Mlp::Dense(ffn) => ffn.params_mut(out),
            Mlp::Sparse(moe) => moe.params_mut(out),
        }
    }

    /// Zero gradients shaped like this layer.
    pub fn zero_grad(&self) -> MlpGrad {
        match self {
            Mlp::Dense(ffn) => MlpGrad::Dense(ffn.zero_grad()),
            Mlp::Sparse(moe) => MlpGrad::Sparse(Box::new(moe.zero_grad())),
        }
    }

    /// A copy of the parameters in the gradient's layout.
    pub fn parameters(&self) -> MlpGrad {
        match self {
            Mlp::Dense(ffn) => MlpGrad::Dense(ffn.parameters()),
            Mlp::Sparse(moe) => MlpGrad::Sparse(Box::new(moe.parameters())),
        }
    }

    /// Number of parameters.
    pub fn num_params(&self) -> usize {
        match self {
            Mlp::Dense(ffn) => ffn.num_params(),
            Mlp::Sparse(moe) => moe.num_params(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::activation::Activation;
    use crate::nn::gradcheck::{check_gradient, random_vec};

    fn linear(out: usize, inp: usize, seed: u64) -> Linear {
        Linear::new(Array2::from_shape_vec((out, inp), random_vec(out * inp, seed)).unwrap(), None)
    }

    fn expert(c: usize, f: usize, seed: u64) -> FeedForward {
        FeedForward::Gated { gate: linear(f, c, seed), up: linear(f, c, seed + 1), down: linear(c, f, seed + 2), act: Activation::Silu }
    }

    fn moe(normalize_top_k: bool, shared: bool) -> SparseMoe {
        let (c, f, e) = (4, 5, 4);
        SparseMoe {
            router: Linear::new(Array2::from_shape_vec((e, c), random_vec(e * c, 7)).unwrap() * 2.0, None),
            experts: (0..e).map(|i| expert(c, f, 10 + 3 * i as u64)).collect(),
            top_k: 2,
            normalize_top_k,
            shared: shared.then(|| SharedExpert { ffn: expert(c, 3, 40), gate: linear(1, c, 50) }),
        }
    }

    #[test]
    fn routing_keeps_the_top_k_and_renormalises() {
        let logits = Array2::from_shape_vec((1, 4), vec![0.0, 2.0, 1.0, -1.0]).unwrap();
        let r = route(logits.view(), 2, true);
        assert_eq!(r.selected.row(0).to_vec(), vec![1, 2]);
        assert!((r.weights.row(0).sum() - 1.0).abs() < 1e-6);
        let plain = route(logits.view(), 2, false);
        assert!((plain.weights[[0, 0]] - r.probs[[0, 1]]).abs() < 1e-7);
    }

    /// The gradient reaches the input, the router (through the routing
    /// weights) and the experts; the routing stays fixed under the small
    /// nudges of a finite difference for these inputs.
    fn check(layer: SparseMoe) {
        let (n, c) = (5, 4);
        let x = Array2::from_shape_vec((n, c), random_vec(n * c, 21)).unwrap();
        let r = Array2::from_shape_vec((n, c), random_vec(n * c, 22)).unwrap();
        let loss = |m: &SparseMoe, x: &Array2<f32>| (m.forward(x.view()).0 * &r).iter().map(|&v| f64::from(v)).sum::<f64>();
        let (y, acts) = layer.forward_train(x.view());
        assert_eq!(y, layer.forward(x.view()).0);
        let mut grad = layer.zero_grad();
        let dx = layer.backward(&acts, r.view(), None, &mut grad);
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
            loss(&layer, &Array2::from_shape_vec((n, c), p.to_vec()).unwrap())
        });
        let w = layer.router.weight.view().to_owned();
        check_gradient(w.as_slice().unwrap(), grad.router.weight.as_slice().unwrap(), |p| {
            let mut changed = layer.clone();
            changed.router.weight = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap().into();
            loss(&changed, &x)
        });
        let FeedForward::Gated { up, .. } = &layer.experts[1] else { unreachable!() };
        let w = up.weight.view().to_owned();
        check_gradient(w.as_slice().unwrap(), grad.experts[1].up.weight.as_slice().unwrap(), |p| {
            let mut changed = layer.clone();
            if let FeedForward::Gated { up, .. } = &mut changed.experts[1] {
                up.weight = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap().into();
            }
            loss(&changed, &x)
        });
        if let (Some(shared), Some((_, gate_grad))) = (&layer.shared, &grad.shared) {
            let w = shared.gate.weight.view().to_owned();
            check_gradient(w.as_slice().unwrap(), gate_grad.weight.as_slice().unwrap(), |p| {
                let mut changed = layer.clone();
                if let Some(s) = changed.shared.as_mut() {
                    s.gate.weight = Array2::from_shape_vec(w.raw_dim(), p.to_vec()).unwrap().into();
                }
                loss(&changed, &x)
            });
        }
    }

    #[test]
    fn moe_backward_with_renormalised_routing_matches_finite_differences() {
        check(moe(true, false));
    }

    #[test]
    fn moe_backward_with_shared_expert_and_raw_probabilities_matches_finite_differences() {
        check(moe(false, true));
    }

    #[test]
    fn load_balancing_gradient_matches_finite_differences() {
        let (n, e) = (6, 4);
        let logits: Vec<Array2<f32>> = (0..2).map(|l| Array2::from_shape_vec((n, e), random_vec(n * e, 60 + l)).unwrap() * 3.0).collect();
        let mask = [1.0, 1.0, 0.0, 1.0, 1.0, 1.0];
        let views: Vec<_> = logits.iter().map(|l| l.view()).collect();
        let (uniform, _) = load_balancing_loss(&[Array2::<f32>::zeros((n, e)).view()], 2, None);
        // Ties pick the lowest indices, so f = (1, 1, 0, 0) and P = 1/4 each.
        assert!((uniform - 4.0 * (0.25 + 0.25)).abs() < 1e-6, "{uniform}");
        let (_, grads) = load_balancing_loss(&views, 2, Some(&mask));
        check_gradient(logits[1].as_slice().unwrap(), grads[1].as_slice().unwrap(), |p| {
            let changed = Array2::from_shape_vec((n, e), p.to_vec()).unwrap();
            load_balancing_loss(&[logits[0].view(), changed.view()], 2, Some(&mask)).0
        });
    }
}
