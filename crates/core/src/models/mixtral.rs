//! Mixtral (`MixtralForCausalLM`): a Llama-shaped decoder whose MLP is a
//! sparse mixture of SwiGLU experts. Each token's router picks its top-k
//! experts (softmax in f32, top-k, renormalised to sum to 1) and the layer
//! returns their weighted sum ([`SparseMoe`]).
//!
//! Checkpoint keys, as on the Hub (transformers 5 fuses the experts in
//! memory but saves this layout): `model.layers.N.block_sparse_moe.gate`
//! (the router, `(E, C)`) and `model.layers.N.block_sparse_moe.experts.E.w1|w2|w3`
//! (gate, down and up projections of expert `E`).

use super::decoder_only::{DecoderOnly, DecoderOnlyGrad};
use super::gradients::NamedTensor;
use super::llama::{self, linear, load_attention, load_block_with, load_decoder, named_decoder_tensors, push_linear, push_swiglu, swiglu};
use super::{special_tokens_from_json, CausalLm, KvCache, ModelError, SpecialTokens, Trace};
use crate::loading::config::{check_size, parse_json};
use crate::loading::{LoadError, WeightStore};
use crate::nn::moe::{MlpGrad, SparseMoe};
use crate::nn::positional::{Rope, RopeScaling};
use alloc::boxed::Box;
use alloc::format;
use alloc::vec::Vec;
use ndarray::{Array2, Array3};
use serde::Deserialize;

/// Largest number of experts a config may ask for.
pub const MAX_EXPERTS: usize = 1024;

fn default_aux_loss_coef() -> f64 {
    0.001
}

/// The expert projections' names: `w1` (gate), `w3` (up), `w2` (down).
const EXPERT_NAMES: [&str; 3] = ["w1", "w3", "w2"];

/// `config.json` of a Mixtral checkpoint.
#[derive(Clone, Debug, Deserialize)]
pub struct Config {
    /// The Llama part: vocab_size, hidden_size, heads, RoPE, rms_norm_eps,
    /// tie_word_embeddings; its intermediate_size is each expert's SwiGLU width.
    #[serde(flatten)]
    pub base: llama::Config,
    /// num_local_experts: experts per layer, `E`.
    pub num_local_experts: usize,
    /// num_experts_per_tok: experts each token is routed to, `K`.
    pub num_experts_per_tok: usize,
    /// router_aux_loss_coef: weight of the load-balancing loss in the training loss.
    #[serde(default = "default_aux_loss_coef")]
    pub router_aux_loss_coef: f64,
    /// sliding_window: attention span in tokens (`null`: full attention).
    /// Only windows at least as long as the model's context are supported.
    #[serde(default)]
    pub sliding_window: Option<usize>,
}

impl Config {
    /// Parses and validates `config.json`.
    pub fn from_json(text: &str) -> Result<Self, ModelError> {
        let cfg: Config = parse_json(text)?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks the Llama part, the expert counts and the window.
    pub fn validate(&self) -> Result<(), ModelError> {
        self.base.validate()?;
        check_size("num_local_experts", self.num_local_experts, MAX_EXPERTS)?;
        check_size("num_experts_per_tok", self.num_experts_per_tok, self.num_local_experts)?;
        if let Some(window) = self.sliding_window {
            if window < self.base.max_position_embeddings {
                return Err(ModelError::Unsupported(format!(
                    "sliding_window {window} shorter than max_position_embeddings {}",
                    self.base.max_position_embeddings
                )));
            }
        }
        if !self.router_aux_loss_coef.is_finite() {
            return Err(LoadError::Config("router_aux_loss_coef must be finite".into()).into());
        }
        Ok(())
    }
}

/// A Mixtral language model.
#[derive(Clone, Debug)]
pub struct Mixtral {
    /// The parsed config.
    pub config: Config,
    /// The network.
    pub stack: DecoderOnly,
    special: SpecialTokens,
}

impl Mixtral {
    /// Builds the model from `config.json` text and the checkpoint's tensors.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        let cfg = Config::from_json(config_json)?;
        let base = &cfg.base;
        let (c, f) = (base.hidden_size, base.intermediate_size);
        let stack = load_decoder(base, store, |w, _, rope| {
            let attn = load_attention(w, base, rope, false, false)?;
            let m = w.pp("block_sparse_moe");
            let experts = (0..cfg.num_local_experts)
                .map(|e| swiglu(&m.pp("experts").pp(e), c, f, EXPERT_NAMES, false, &base.hidden_act))
                .collect::<Result<Vec<_>, _>>()?;
            let moe = SparseMoe {
                router: linear(&m.pp("gate"), c, cfg.num_local_experts, false)?,
                experts,
                top_k: cfg.num_experts_per_tok,
                normalize_top_k: true,
                shared: None,
            };
            load_block_with(w, base, attn, crate::nn::moe::Mlp::Sparse(Box::new(moe)))
        })?;
        Ok(Self { config: cfg, stack, special: special_tokens_from_json(config_json) })
    }

    /// Lays out per-layer tensors under `MixtralForCausalLM`'s checkpoint names.
    pub fn named_tensors(&self, t: &DecoderOnlyGrad) -> Vec<NamedTensor> {
        named_decoder_tensors(t, self.config.base.tie_word_embeddings, |out, prefix, mlp| {
            if let MlpGrad::Sparse(moe) = mlp {
                let p = format!("{prefix}.block_sparse_moe");
                push_linear(out, &format!("{p}.gate"), &moe.router);
                for (e, expert) in moe.experts.iter().enumerate() {
                    push_swiglu(out, &format!("{p}.experts.{e}"), expert, EXPERT_NAMES);
                }
            }
        })
    }
}

impl CausalLm for Mixtral {
    fn model_type(&self) -> &str {
        "mixtral"
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
