//! Pruning a whole GPT-2 or Llama checkpoint: what `llmlab prune` runs.
//!
//! The unstructured methods and `ln_structured` work on the *linear weights
//! of the transformer blocks*, in `named_parameters()` order:
//! - GPT-2: per layer `attn.c_attn`, `attn.c_proj`, `mlp.c_fc`, `mlp.c_proj`
//!   (`Conv1D`, stored `(in, out)`: `dim 0` is the input side there);
//! - Llama: per layer `q_proj`, `k_proj`, `v_proj`, `o_proj`, `gate_proj`,
//!   `up_proj`, `down_proj` (`(out, in)`).
//!
//! Embeddings, the LM head, norms and biases are left alone, the usual
//! recipe (`for m in model.modules(): if isinstance(m, (Linear, Conv1D))`
//! minus the head). Pruned weights are stored as zeros, so the checkpoint
//! keeps its shapes and loads anywhere. `heads` and `neurons` cut the
//! tensors instead ([`super::heads`], [`super::neurons`]) and rewrite the
//! config's sizes.

use super::heads::{prune_gpt2_heads, prune_llama_heads, removed, HeadLayout};
use super::neurons::{prune_gpt2_neurons, prune_llama_neurons};
use super::slicing::TensorTable;
use super::{global_unstructured, l1_unstructured, ln_structured, Amount, NormOrder, PruneError};
use crate::loading::WeightStore;
use crate::models::gradients::NamedTensor;
use crate::models::{gpt2, llama};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{json, Value};

/// The pruning method and its settings.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Method {
    /// Zero the smallest `|w|` of each linear weight separately.
    L1Unstructured,
    /// Zero the smallest `|w|` of all linear weights ranked together.
    GlobalL1,
    /// Zero whole channels along `dim` of each linear weight by L_n norm.
    LnStructured {
        /// The norm order.
        n: NormOrder,
        /// The channel dimension of the stored tensor.
        dim: i64,
    },
    /// Remove attention heads (GQA groups in Llama), the same count per layer.
    Heads,
    /// Remove FFN neurons, the same count per layer.
    Neurons,
}

impl Method {
    /// Reads the CLI's method name; `ln-structured` takes `n` (default 2) and `dim` (default 0).
    pub fn parse(name: &str, n: Option<&str>, dim: Option<i64>) -> Result<Self, PruneError> {
        match name {
            "l1-unstructured" => Ok(Method::L1Unstructured),
            "global-l1" => Ok(Method::GlobalL1),
            "ln-structured" => Ok(Method::LnStructured { n: NormOrder::parse(n.unwrap_or("2"))?, dim: dim.unwrap_or(0) }),
            "heads" => Ok(Method::Heads),
            "neurons" => Ok(Method::Neurons),
            other => {
                Err(PruneError::Unsupported(format!("method '{other}' (use l1-unstructured, global-l1, ln-structured, heads or neurons)")))
            }
        }
    }
}

/// What the pruning did, for the CLI's JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct PruneReport {
    /// Entries of the checkpoint before pruning.
    pub parameters_before: usize,
    /// Entries after (fewer only for heads and neurons).
    pub parameters_after: usize,
    /// Zero entries after pruning, over the whole checkpoint.
    pub zeros_after: usize,
    /// The tensors that were masked or sliced.
    pub pruned_tensors: Vec<String>,
    /// Zero entries among the masked tensors (unstructured and ln-structured).
    pub masked_zeros: usize,
    /// Entries of the masked tensors.
    pub masked_size: usize,
    /// Heads / neurons: the units each layer kept.
    pub kept_units: Option<Vec<Vec<usize>>>,
    /// Config keys that changed, with their new values.
    pub config_changes: Value,
}

impl PruneReport {
    /// The report as JSON: sparsities as fractions, sizes, kept units.
    pub fn to_json(&self) -> Value {
        let fraction = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        json!({
            "parameters_before": self.parameters_before,
            "parameters_after": self.parameters_after,
            "size_ratio": fraction(self.parameters_after, self.parameters_before),
            "sparsity": fraction(self.masked_zeros, self.masked_size),
            "model_sparsity": fraction(self.zeros_after, self.parameters_after),
            "pruned_tensors": self.pruned_tensors.len(),
            "kept_units": self.kept_units,
            "config_changes": self.config_changes,
        })
    }
}

/// The pruned checkpoint: new config text, every tensor (f32), the report.
#[derive(Clone, Debug)]
pub struct PrunedCheckpoint {
    /// `config.json` (sizes rewritten for heads/neurons).
    pub config_json: String,
    /// All tensors, pruned ones included, by name order.
    pub tensors: Vec<NamedTensor>,
    /// What changed.
    pub report: PruneReport,
}

/// The model family's shape facts that pruning needs.
enum Family {
    Gpt2 { root: String, config: gpt2::Config },
    Llama { config: llama::Config },
}

impl Family {
    fn layers(&self) -> usize {
        match self {
            Family::Gpt2 { config, .. } => config.n_layer,
            Family::Llama { config } => config.num_hidden_layers,
        }
    }

    /// The blocks' linear weights in `named_parameters()` order.
    fn linear_weights(&self) -> Vec<String> {
        let (prefix, suffixes): (String, &[&str]) = match self {
            Family::Gpt2 { root, .. } => {
                (format!("{root}h"), &["attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"])
            }
            Family::Llama { .. } => (
                "model.layers".to_string(),
                &[
                    "self_attn.q_proj.weight",
                    "self_attn.k_proj.weight",
                    "self_attn.v_proj.weight",
                    "self_attn.o_proj.weight",
                    "mlp.gate_proj.weight",
                    "mlp.up_proj.weight",
                    "mlp.down_proj.weight",
                ],
            ),
        };
        let prefix = &prefix;
        (0..self.layers()).flat_map(|i| suffixes.iter().map(move |s| format!("{prefix}.{i}.{s}"))).collect()
    }
}

fn bad_checkpoint(e: impl core::fmt::Display) -> PruneError {
    PruneError::BadCheckpoint(format!("{e}"))
}

/// Prunes a GPT-2 or Llama checkpoint with `method` and `amount`.
pub fn prune_checkpoint(config_json: &str, store: &WeightStore, method: Method, amount: Amount) -> Result<PrunedCheckpoint, PruneError> {
    // Loading the model first checks every tensor's shape against the config.
    crate::models::load(config_json, store).map_err(bad_checkpoint)?;
    let mut config: Value = serde_json::from_str(config_json).map_err(bad_checkpoint)?;
    let mut table = TensorTable::new();
    for name in store.names() {
        let data = store.to_f32(&name).map_err(bad_checkpoint)?;
        let shape = store.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
        table.insert(name.clone(), NamedTensor { name, shape, data });
    }
    let family = match config.get("model_type").and_then(Value::as_str) {
        Some("gpt2") => {
            let root = if table.contains_key("transformer.wte.weight") { "transformer." } else { "" };
            Family::Gpt2 { root: root.into(), config: gpt2::Config::from_json(config_json).map_err(bad_checkpoint)? }
        }
        Some("llama") => Family::Llama { config: llama::Config::from_json(config_json).map_err(bad_checkpoint)? },
        other => return Err(PruneError::Unsupported(format!("pruning of model type {other:?} (gpt2 and llama are supported)"))),
    };
    let parameters_before = table.values().map(|t| t.data.len()).sum();
    let mut report = PruneReport {
        parameters_before,
        parameters_after: 0,
        zeros_after: 0,
        pruned_tensors: Vec::new(),
        masked_zeros: 0,
        masked_size: 0,
        kept_units: None,
        config_changes: json!({}),
    };
    match method {
        Method::L1Unstructured | Method::GlobalL1 | Method::LnStructured { .. } => {
            let names = family.linear_weights();
            let masks: Vec<Vec<bool>> = match method {
                Method::GlobalL1 => {
                    let tensors =
                        names.iter().map(|n| Ok(&super::slicing::get(&table, n)?.data[..])).collect::<Result<Vec<_>, PruneError>>()?;
                    global_unstructured(&tensors, amount)?
                }
                _ => names
                    .iter()
                    .map(|n| {
                        let t = super::slicing::get(&table, n)?;
                        match method {
                            Method::LnStructured { n, dim } => Ok(ln_structured(&t.data, &t.shape, amount, n, dim)?.0),
                            _ => l1_unstructured(&t.data, amount),
                        }
                    })
                    .collect::<Result<Vec<_>, PruneError>>()?,
            };
            for (name, mask) in names.iter().zip(&masks) {
                if let Some(t) = table.get_mut(name) {
                    t.data.iter_mut().zip(mask).filter(|(_, &keep)| !keep).for_each(|(w, _)| *w = 0.0);
                    report.masked_zeros += t.data.iter().filter(|&&w| w == 0.0).count();
                    report.masked_size += t.data.len();
                }
            }
            report.pruned_tensors = names;
        }
        Method::Heads => {
            let layers = family.layers();
            let (kept, changes) = match &family {
                Family::Gpt2 { root, config: cfg } => {
                    if !cfg.pruned_heads.is_empty() {
                        return Err(PruneError::Unsupported("removing heads from a GPT-2 whose heads are already pruned".into()));
                    }
                    let layout =
                        HeadLayout { heads: cfg.n_head, kv_heads: cfg.n_head, head_dim: cfg.n_embd / cfg.n_head, width: cfg.n_embd };
                    let count = checked_count(amount, cfg.n_head, "heads")?;
                    let kept = prune_gpt2_heads(&mut table, root, layers, layout, count)?;
                    let pruned: serde_json::Map<String, Value> =
                        kept.iter().enumerate().map(|(i, k)| (format!("{i}"), json!(removed(cfg.n_head, k)))).collect();
                    (kept, json!({ "pruned_heads": pruned }))
                }
                Family::Llama { config: cfg } => {
                    let (h, hkv, d) = (cfg.num_attention_heads, cfg.kv_heads(), cfg.head_dim());
                    let layout = HeadLayout { heads: h, kv_heads: hkv, head_dim: d, width: cfg.hidden_size };
                    let count = checked_count(amount, hkv, "key/value head groups")?;
                    let kept = prune_llama_heads(&mut table, layers, layout, count)?;
                    let left = hkv - count;
                    (kept, json!({ "num_attention_heads": left * (h / hkv), "num_key_value_heads": left, "head_dim": d }))
                }
            };
            report.kept_units = Some(kept);
            report.config_changes = changes;
        }
        Method::Neurons => {
            let layers = family.layers();
            let (kept, changes) = match &family {
                Family::Gpt2 { root, config: cfg } => {
                    let count = checked_count(amount, cfg.inner(), "neurons")?;
                    (prune_gpt2_neurons(&mut table, root, layers, cfg.inner(), count)?, json!({ "n_inner": cfg.inner() - count }))
                }
                Family::Llama { config: cfg } => {
                    let inner = cfg.intermediate_size;
                    let count = checked_count(amount, inner, "neurons")?;
                    (prune_llama_neurons(&mut table, layers, inner, count)?, json!({ "intermediate_size": inner - count }))
                }
            };
            report.kept_units = Some(kept);
            report.config_changes = changes;
        }
    }
    if let (Some(object), Some(changes)) = (config.as_object_mut(), report.config_changes.as_object()) {
        for (key, value) in changes {
            object.insert(key.clone(), value.clone());
        }
    }
    if matches!(method, Method::Heads | Method::Neurons) {
        report.pruned_tensors = family.linear_weights();
    }
    let tensors: Vec<NamedTensor> = table.into_values().collect();
    report.parameters_after = tensors.iter().map(|t| t.data.len()).sum();
    report.zeros_after = tensors.iter().map(|t| t.data.iter().filter(|&&w| w == 0.0).count()).sum();
    let config_json = serde_json::to_string_pretty(&config).map_err(bad_checkpoint)?;
    Ok(PrunedCheckpoint { config_json, tensors, report })
}

/// The units to remove per layer; at least one must stay.
fn checked_count(amount: Amount, units: usize, what: &str) -> Result<usize, PruneError> {
    let count = amount.count(units)?;
    if count >= units {
        return Err(PruneError::Unsupported(format!("removing all {units} {what} of a layer (at least one must stay)")));
    }
    Ok(count)
}
