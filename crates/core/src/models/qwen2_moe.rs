//! Qwen2-MoE (`Qwen2MoeForCausalLM`): a Llama-shaped decoder with biased
//! q/k/v projections whose MLP is, in its sparse layers, a mixture of
//! SwiGLU experts plus a shared expert every token goes through, scaled by
//! `sigmoid(shared_expert_gate(x))` ([`SparseMoe`]). The top-k routing
//! weights are the raw softmax probabilities unless `norm_topk_prob`.
//! Layer `i` is sparse when `(i + 1) % decoder_sparse_step == 0` and `i` is
//! not in `mlp_only_layers`; the others have a dense SwiGLU MLP.
//!
//! Checkpoint keys: `model.layers.N.mlp.gate` (router), `mlp.experts.E.{gate,up,down}_proj`,
//! `mlp.shared_expert.{gate,up,down}_proj`, `mlp.shared_expert_gate`; dense
//! layers `mlp.{gate,up,down}_proj`.

use super::decoder_only::{DecoderOnly, DecoderOnlyGrad};
use super::gradients::NamedTensor;
use super::llama::{
    self, linear, load_attention, load_block_with, load_decoder, named_decoder_tensors, push_linear, push_swiglu, swiglu, MLP_NAMES,
};
use super::mixtral::MAX_EXPERTS;
use super::{special_tokens_from_json, CausalLm, KvCache, ModelError, SpecialTokens, Trace};
use crate::loading::config::{check_size, parse_json, MAX_WIDTH};
use crate::loading::{LoadError, WeightStore};
use crate::nn::moe::{Mlp, MlpGrad, SharedExpert, SparseMoe};
use crate::nn::positional::{Rope, RopeScaling};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use ndarray::{Array2, Array3};
use serde::Deserialize;

fn default_aux_loss_coef() -> f64 {
    0.001
}
fn default_sparse_step() -> usize {
    1
}
fn default_true() -> bool {
    true
}

/// `config.json` of a Qwen2-MoE checkpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// The Llama part: vocab_size, hidden_size, heads, RoPE, rms_norm_eps,
    /// tie_word_embeddings; its intermediate_size is the dense layers' width.
    #[serde(flatten)]
    pub base: llama::Config,
    /// num_experts: routed experts per sparse layer, `E`.
    pub num_experts: usize,
    /// num_experts_per_tok: experts each token is routed to, `K`.
    pub num_experts_per_tok: usize,
    /// moe_intermediate_size: each routed expert's SwiGLU width.
    pub moe_intermediate_size: usize,
    /// shared_expert_intermediate_size: the shared expert's SwiGLU width.
    pub shared_expert_intermediate_size: usize,
    /// norm_topk_prob: renormalise the kept probabilities to sum to 1.
    #[serde(default)]
    pub norm_topk_prob: bool,
    /// decoder_sparse_step: every this-many-th layer is sparse.
    #[serde(default = "default_sparse_step")]
    pub decoder_sparse_step: usize,
    /// mlp_only_layers: layer indices that keep a dense MLP.
    #[serde(default)]
    pub mlp_only_layers: Vec<usize>,
    /// qkv_bias: q/k/v projections have biases (o_proj never has one).
    #[serde(default = "default_true")]
    pub qkv_bias: bool,
    /// router_aux_loss_coef: weight of the load-balancing loss in the training loss.
    #[serde(default = "default_aux_loss_coef")]
    pub router_aux_loss_coef: f64,
    /// use_sliding_window: windowed attention in some layers (not supported).
    #[serde(default)]
    pub use_sliding_window: bool,
}

impl Config {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let cfg: Config = parse_json(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the Llama part, the expert counts and widths.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.base.validate()?;
        check_size("num_experts", self.num_experts, MAX_EXPERTS)?;
        check_size("num_experts_per_tok", self.num_experts_per_tok, self.num_experts)?;
        check_size("moe_intermediate_size", self.moe_intermediate_size, MAX_WIDTH)?;
        check_size("shared_expert_intermediate_size", self.shared_expert_intermediate_size, MAX_WIDTH)?;
        check_size("decoder_sparse_step", self.decoder_sparse_step, self.base.num_hidden_layers.max(1))?;
        if self.use_sliding_window {
            return Err(ModelError::Unsupported("qwen2_moe with use_sliding_window".into()));
        }
        if !self.router_aux_loss_coef.is_finite() {
            return Err(LoadError::Config("router_aux_loss_coef must be finite".into()).into());
        }
        Ok(())
    }

    /// Whether layer `i` is a mixture of experts (else a dense MLP).
    pub fn is_sparse_layer(&self, i: usize) -> bool {
        !self.mlp_only_layers.contains(&i) && self.num_experts > 0 && (i + 1) % self.decoder_sparse_step.max(1) == 0
    }
}

/// A Qwen2-MoE language model.
#[derive(Clone, Debug)]
pub struct Qwen2Moe {
    /// The parsed config.
    pub config: Config,
    /// The network.
    pub stack: DecoderOnly,
    special: SpecialTokens,
}

impl Qwen2Moe {
    /// Builds the model from `config.json` text and the checkpoint's tensors.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        let cfg = Config::from_json(config_json)?;
        let base = &cfg.base;
        let c = base.hidden_size;
        let act = base.hidden_act.as_str();
        let stack = load_decoder(base, store, |w, i, rope| {
            let attn = load_attention(w, base, rope, cfg.qkv_bias, false)?;
            let m = w.pp("mlp");
            let mlp = if cfg.is_sparse_layer(i) {
                let experts = (0..cfg.num_experts)
                    .map(|e| swiglu(&m.pp("experts").pp(e), c, cfg.moe_intermediate_size, MLP_NAMES, false, act))
                    .collect::<Result<Vec<_>, _>>()?;
                let shared = SharedExpert {
                    ffn: swiglu(&m.pp("shared_expert"), c, cfg.shared_expert_intermediate_size, MLP_NAMES, false, act)?,
                    gate: linear(&m.pp("shared_expert_gate"), c, 1, false)?,
                };
                Mlp::Sparse(Box::new(SparseMoe {
                    router: linear(&m.pp("gate"), c, cfg.num_experts, false)?,
                    experts,
                    top_k: cfg.num_experts_per_tok,
                    normalize_top_k: cfg.norm_topk_prob,
                    shared: Some(shared),
                }))
            } else {
                Mlp::Dense(swiglu(&m, c, base.intermediate_size, MLP_NAMES, false, act)?)
            };
            load_block_with(w, base, attn, mlp)
        })?;
        Ok(Self { config: cfg, stack, special: special_tokens_from_json(config_json) })
    }

    /// Lays out per-layer tensors under `Qwen2MoeForCausalLM`'s checkpoint names.
    pub fn named_tensors(&self, t: &DecoderOnlyGrad) -> Vec<NamedTensor> {
        named_decoder_tensors(t, self.config.base.tie_word_embeddings, |out, prefix, mlp| {
            let p = format!("{prefix}.mlp");
            match mlp {
                MlpGrad::Dense(ffn) => push_swiglu(out, &p, ffn, MLP_NAMES),
                MlpGrad::Sparse(moe) => {
                    push_linear(out, &format!("{p}.gate"), &moe.router);
                    for (e, expert) in moe.experts.iter().enumerate() {
                        push_swiglu(out, &format!("{p}.experts.{e}"), expert, MLP_NAMES);
                    }
                    if let Some((ffn, gate)) = &moe.shared {
                        push_swiglu(out, &format!("{p}.shared_expert"), ffn, MLP_NAMES);
                        push_linear(out, &format!("{p}.shared_expert_gate"), gate);
                    }
                }
            }
        })
    }
}

impl CausalLm for Qwen2Moe {
    fn model_type(&self) -> &str {
        "qwen2_moe"
    }
    fn named_parameters(&self) -> Option<Vec<NamedTensor>> {
        Some(self.named_tensors(&self.stack.parameters()))
    }
    fn vocab_size(&self) -> usize {
        self.config.base.vocab_size
    }
    fn num_layers(&self) -> usize {
        self.config.base.num_hidden_layers
    }
    fn kv_width(&self) -> usize {
        self.config.base.kv_heads().saturating_mul(self.config.base.head_dim())
    }
    fn max_positions(&self) -> Option<usize> {
        Some(self.config.base.max_position_embeddings)
    }
    fn special_tokens(&self) -> SpecialTokens {
        self.special.clone()
    }
    fn forward_batch(
        &self,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
        cache: Option<&mut KvCache>,
    ) -> Result<Array3<f32>, ModelError> {
        self.stack.forward_batch(input_ids, attention_mask, cache)
    }
    fn trace(&self, input_ids: &[u32]) -> Result<Trace, ModelError> {
        self.stack.trace(input_ids)
    }
    fn router_logits(&self, input_ids: &[u32]) -> Result<Vec<Array2<f32>>, ModelError> {
        self.stack.router_logits(input_ids)
    }
    fn positional_encoding(&self, positions: usize) -> Array2<f32> {
        let base = &self.config.base;
        let rope = Rope::new(base.head_dim(), base.theta() as f32, &base.rope_scaling().unwrap_or(RopeScaling::None));
        rope.cos_table(positions)
    }
}
