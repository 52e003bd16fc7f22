//! LoRA (Hu et al., 2021), exact to peft 0.21.
//!
//! A frozen weight `W: (out, in)` gets a trainable low-rank update:
//!
//! ```text
//! y = x·Wᵀ + s · (x·Aᵀ)·Bᵀ        A: (r, in), B: (out, r)
//! s = α / r                       (α / √r with use_rslora)
//! W_merged = W + s · B·A          merge; unmerge subtracts it again
//! ```
//!
//! peft initialises `A` with kaiming-uniform (a = √5, i.e. U(±1/√in)) and
//! `B` with zeros, so the model is unchanged at step 0. GPT-2 stores its
//! `Conv1D` weights transposed, `(in, out)` (peft's `fan_in_fan_out`): the
//! update is then added as `(B·A)ᵀ`.
//!
//! Because the update is linear in `W`, the model with the adapter *is* the
//! model with merged weights, and the adapter's gradients follow from the
//! gradient `G = ∂L/∂W_merged: (out, in)` of the same layers:
//!
//! ```text
//! ∂L/∂A = s · Bᵀ·G        ∂L/∂B = s · G·Aᵀ
//! ```
//!
//! so logits and gradients run the one model definition on the merged
//! weights (dropout, a training-time regulariser, is off, as in eval mode).
//!
//! Files are peft's: `adapter_config.json` and `adapter_model.safetensors`
//! with keys `base_model.model.<module>.lora_A.weight` / `.lora_B.weight`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use ndarray::Array2;
use serde_json::{json, Value};

use super::AdapterError;
use crate::loading::WeightStore;
use crate::models::gradients::{causal_lm_gradients, GradInput, GradOutput, NamedTensor};
use crate::rng::Rng;

/// File name of the settings in an adapter directory.
pub const CONFIG_FILE: &str = "adapter_config.json";
/// File name of the tensors in an adapter directory.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";

/// Which modules get an adapter (peft's `target_modules`).
#[derive(Clone, Debug, PartialEq)]
pub enum TargetModules {
    /// Module names, matched as peft does: equal to the module path or its
    /// last dotted components (`c_attn`, `mlp.c_proj`).
    Names(Vec<String>),
    /// Every linear layer except the output head (`"all-linear"`).
    AllLinear,
}

impl TargetModules {
    /// Parses a user's list: `all-linear`, or module names separated by
    /// commas (`c_attn`, `q_proj,v_proj`).
    pub fn parse(text: &str) -> Result<Self, AdapterError> {
        let text = text.trim();
        if text == "all-linear" {
            return Ok(Self::AllLinear);
        }
        let names: Vec<String> = text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect();
        if names.is_empty() {
            return Err(AdapterError::Config("target modules: give module names (e.g. c_attn or q_proj,v_proj) or all-linear".into()));
        }
        Ok(Self::Names(names))
    }
}

/// The settings of `adapter_config.json` that LoRA uses.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    /// Rank `r` of the update.
    pub r: usize,
    /// Scale numerator `α`.
    pub lora_alpha: f64,
    /// Scale by `α/√r` instead of `α/r` (rank-stabilised LoRA).
    pub use_rslora: bool,
    /// Dropout on the adapter's input while training (not applied here).
    pub lora_dropout: f64,
    /// Which modules are adapted.
    pub target_modules: TargetModules,
    /// Weights stored `(in, out)` (GPT-2's Conv1D).
    pub fan_in_fan_out: bool,
    /// peft's `init_lora_weights`: `true` starts `B` at zero (the model is
    /// unchanged); `false` keeps `nn.Linear`'s default for both halves,
    /// `U(±1/√fan_in)`, so a fresh adapter already changes the model.
    pub init_lora_weights: bool,
}

impl LoraConfig {
    /// The update's scale `s`.
    pub fn scaling(&self) -> f64 {
        if self.use_rslora {
            self.lora_alpha / libm::sqrt(self.r as f64)
        } else {
            self.lora_alpha / self.r as f64
        }
    }

    /// Parses peft's `adapter_config.json`, refusing options that would
    /// change the model in ways not implemented here.
    pub fn from_json(text: &str) -> Result<Self, AdapterError> {
        let v: Value = serde_json::from_str(text).map_err(|e| AdapterError::Config(format!("{e}")))?;
        let bad = |msg: String| Err(AdapterError::Config(msg));
        if v["peft_type"].as_str() != Some("LORA") {
            return bad(format!("peft_type is {}, not \"LORA\"", v["peft_type"]));
        }
        let r = v["r"].as_u64().filter(|&r| r > 0 && r <= 4096).ok_or_else(|| AdapterError::Config("r must be an integer in 1..=4096".into()))?;
        let lora_alpha = v["lora_alpha"].as_f64().filter(|a| a.is_finite()).ok_or_else(|| AdapterError::Config("lora_alpha must be a number".into()))?;
        let target_modules = match &v["target_modules"] {
            Value::String(s) if s == "all-linear" => TargetModules::AllLinear,
            Value::String(s) => return bad(format!("target_modules '{s}' is a regular expression; give a list of module names")),
            Value::Array(items) => TargetModules::Names(
                items.iter().map(|i| i.as_str().map(str::to_string)).collect::<Option<Vec<_>>>().ok_or_else(|| AdapterError::Config("target_modules must hold strings".into()))?,
            ),
            other => return bad(format!("target_modules must be a list or \"all-linear\", not {other}")),
        };
        for (key, ok) in [
            ("bias", matches!(v["bias"].as_str(), None | Some("none"))),
            ("use_dora", !v["use_dora"].as_bool().unwrap_or(false)),
            ("modules_to_save", v["modules_to_save"].is_null() || v["modules_to_save"].as_array().is_some_and(|a| a.is_empty())),
            ("rank_pattern", v["rank_pattern"].as_object().is_none_or(|m| m.is_empty())),
            ("alpha_pattern", v["alpha_pattern"].as_object().is_none_or(|m| m.is_empty())),
            ("layers_to_transform", v["layers_to_transform"].is_null()),
            ("lora_bias", !v["lora_bias"].as_bool().unwrap_or(false)),
        ] {
            if !ok {
                return bad(format!("{key} = {} is not supported", v[key]));
            }
        }
        Ok(Self {
            r: r as usize,
            lora_alpha,
            use_rslora: v["use_rslora"].as_bool().unwrap_or(false),
            lora_dropout: v["lora_dropout"].as_f64().unwrap_or(0.0),
            target_modules,
            fan_in_fan_out: v["fan_in_fan_out"].as_bool().unwrap_or(false),
            // peft also accepts initialisation names ("gaussian", "pissa", ...);
            // they only matter when creating an adapter, not when loading one.
            init_lora_weights: v["init_lora_weights"].as_bool().unwrap_or(true),
        })
    }

    /// `adapter_config.json` as peft writes it (the fields it needs to load).
    pub fn to_json(&self, base_model_class: &str) -> String {
        let targets = match &self.target_modules {
            TargetModules::AllLinear => json!("all-linear"),
            TargetModules::Names(n) => json!(n),
        };
        let v = json!({
            "peft_type": "LORA", "task_type": "CAUSAL_LM", "base_model_name_or_path": null, "inference_mode": true,
            "r": self.r, "lora_alpha": self.lora_alpha, "use_rslora": self.use_rslora, "lora_dropout": self.lora_dropout,
            "target_modules": targets, "fan_in_fan_out": self.fan_in_fan_out, "bias": "none", "use_dora": false,
            "modules_to_save": null, "rank_pattern": {}, "alpha_pattern": {}, "init_lora_weights": self.init_lora_weights,
            "auto_mapping": { "base_model_class": base_model_class },
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }
}

/// One adapted module.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraModule {
    /// Module path in the model, e.g. `transformer.h.0.attn.c_attn`.
    pub name: String,
    /// Down-projection `A: (r, in)`.
    pub a: Array2<f32>,
    /// Up-projection `B: (out, r)`.
    pub b: Array2<f32>,
}

/// A LoRA adapter: its settings and every adapted module.
#[derive(Clone, Debug, PartialEq)]
pub struct LoraAdapter {
    /// Settings.
    pub config: LoraConfig,
    /// Adapted modules, sorted by name.
    pub modules: Vec<LoraModule>,
}

const KEY_PREFIX: &str = "base_model.model.";

/// Embedding and output layers: never "linear" targets for peft.
fn is_linear_candidate(module: &str) -> bool {
    let last = module.rsplit('.').next().unwrap_or(module);
    !matches!(last, "wte" | "wpe" | "embed_tokens" | "lm_head" | "embed_positions")
}

/// peft's name match: the whole path, or its trailing components.
fn matches_target(module: &str, target: &str) -> bool {
    module == target || module.ends_with(&format!(".{target}"))
}

/// The store's name of `module`'s weight: as is, or without GPT-2's
/// `transformer.` prefix (checkpoints saved from `GPT2Model`).
fn weight_name(store: &WeightStore, module: &str) -> Option<String> {
    let full = format!("{module}.weight");
    if store.shape(&full).is_some() {
        return Some(full);
    }
    let short = full.strip_prefix("transformer.")?;
    store.shape(short).is_some().then(|| short.to_string())
}

/// GPT-2's `Conv1D` modules, which store their weight `(in, out)`; peft
/// treats them as `fan_in_fan_out` whatever the config says.
fn is_conv1d(name: &str) -> bool {
    ["attn.c_attn.weight", "attn.q_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight"].iter().any(|s| name.ends_with(s))
}

/// Whether the stored weight `name` is `(in, out)`, given `A` and `B`: read
/// off the shape, and for square weights from `fan_in_fan_out` / `Conv1D`.
fn stored_transposed(store: &WeightStore, name: &str, out: usize, inp: usize, fan_in_fan_out: bool) -> Result<bool, AdapterError> {
    match store.shape(name) {
        Some([o, i]) if out == inp && *o == out && *i == inp => Ok(fan_in_fan_out || is_conv1d(name)),
        Some([o, i]) if (*o, *i) == (out, inp) => Ok(false),
        Some([i, o]) if (*i, *o) == (inp, out) => Ok(true),
        Some(shape) => Err(AdapterError::Mismatch(format!("{name} has shape {shape:?}, but the adapter is ({out}, {inp})"))),
        None => Err(AdapterError::Mismatch(format!("the model has no {name}"))),
    }
}

fn to_array(t: &NamedTensor) -> Result<Array2<f32>, AdapterError> {
    match t.shape[..] {
        [rows, cols] => Array2::from_shape_vec((rows, cols), t.data.clone()).map_err(|e| AdapterError::Tensors(format!("{}: {e}", t.name))),
        _ => Err(AdapterError::Tensors(format!("{} must be 2-D, not {:?}", t.name, t.shape))),
    }
}

impl LoraAdapter {
    /// A fresh adapter as peft creates it: every module of `store` matched by
    /// `config.target_modules`, `A ~ U(±1/√in)` (kaiming-uniform, a = √5),
    /// `B = 0` (or `B ~ U(±1/√r)` when `init_lora_weights` is false).
    pub fn init(config: LoraConfig, store: &WeightStore, model_type: &str, rng: &mut Rng) -> Result<Self, AdapterError> {
        let mut modules = Vec::new();
        for name in store.names() {
            let Some(module) = name.strip_suffix(".weight") else { continue };
            let Some(&[rows, cols]) = store.shape(&name) else { continue };
            let module = if model_type == "gpt2" && !module.starts_with("transformer.") { format!("transformer.{module}") } else { module.to_string() };
            let wanted = is_linear_candidate(&module)
                && match &config.target_modules {
                    TargetModules::AllLinear => true,
                    TargetModules::Names(names) => names.iter().any(|t| matches_target(&module, t)),
                };
            if !wanted {
                continue;
            }
            let (out, inp) = if config.fan_in_fan_out || is_conv1d(&name) { (cols, rows) } else { (rows, cols) };
            let bound = 1.0 / libm::sqrt(inp as f64);
            let a = Array2::from_shape_simple_fn((config.r, inp), || ((rng.uniform_f64() * 2.0 - 1.0) * bound) as f32);
            let b = if config.init_lora_weights {
                Array2::zeros((out, config.r))
            } else {
                let bound = 1.0 / libm::sqrt(config.r as f64);
                Array2::from_shape_simple_fn((out, config.r), || ((rng.uniform_f64() * 2.0 - 1.0) * bound) as f32)
            };
            modules.push(LoraModule { name: module, a, b });
        }
        if modules.is_empty() {
            return Err(AdapterError::Mismatch(format!("no module of the model matches target_modules {:?}", config.target_modules)));
        }
        modules.sort_by(|x, y| x.name.cmp(&y.name));
        Ok(Self { config, modules })
    }

    /// Reads `adapter_config.json` and the tensors of `adapter_model.safetensors`.
    pub fn from_parts(config_json: &str, tensors: &[NamedTensor]) -> Result<Self, AdapterError> {
        let config = LoraConfig::from_json(config_json)?;
        type Halves = (Option<Array2<f32>>, Option<Array2<f32>>); // (A, B)
        let mut halves: BTreeMap<String, Halves> = BTreeMap::new();
        for t in tensors {
            let rest = t.name.strip_prefix(KEY_PREFIX).ok_or_else(|| AdapterError::Tensors(format!("{} does not start with {KEY_PREFIX}", t.name)))?;
            let (module, half) = if let Some(m) = rest.strip_suffix(".lora_A.weight") {
                (m, 0)
            } else if let Some(m) = rest.strip_suffix(".lora_B.weight") {
                (m, 1)
            } else {
                return Err(AdapterError::Tensors(format!("{} is not a lora_A / lora_B weight", t.name)));
            };
            let entry = halves.entry(module.to_string()).or_default();
            let slot = if half == 0 { &mut entry.0 } else { &mut entry.1 };
            *slot = Some(to_array(t)?);
        }
        let mut modules = Vec::new();
        for (name, pair) in halves {
            let (Some(a), Some(b)) = pair else { return Err(AdapterError::Tensors(format!("{name} lacks lora_A or lora_B"))) };
            if a.nrows() != config.r || b.ncols() != config.r {
                return Err(AdapterError::Tensors(format!("{name}: A {:?} and B {:?} do not have rank r = {}", a.dim(), b.dim(), config.r)));
            }
            modules.push(LoraModule { name, a, b });
        }
        if modules.is_empty() {
            return Err(AdapterError::Tensors("the adapter holds no tensor".into()));
        }
        Ok(Self { config, modules })
    }

    /// Reads the two files of an adapter directory: the text of
    /// [`CONFIG_FILE`] and the bytes of [`WEIGHTS_FILE`] (f32, f16 or bf16).
    pub fn from_files(config_json: &str, safetensors: Vec<u8>) -> Result<Self, AdapterError> {
        let store = WeightStore::from_safetensors(safetensors).map_err(|e| AdapterError::Tensors(format!("{WEIGHTS_FILE}: {e}")))?;
        let mut tensors = Vec::new();
        for name in store.names() {
            let shape = store.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
            let data = store.to_f32(&name).map_err(|e| AdapterError::Tensors(format!("{name}: {e}")))?;
            tensors.push(NamedTensor { name, shape, data });
        }
        Self::from_parts(config_json, &tensors)
    }

    /// The two files of an adapter directory, as peft writes them:
    /// ([`CONFIG_FILE`] text, [`WEIGHTS_FILE`] bytes).
    pub fn to_files(&self, base_model_class: &str) -> Result<(String, Vec<u8>), AdapterError> {
        let named = self.named_tensors();
        let tensors: Vec<(String, Vec<usize>, &[f32])> = named.iter().map(|t| (t.name.clone(), t.shape.clone(), &t.data[..])).collect();
        let bytes = crate::train::checkpoint::write_tensors(&tensors).map_err(|e| AdapterError::Tensors(format!("{e}")))?;
        Ok((self.config.to_json(base_model_class), bytes))
    }

    /// The loss of the adapted model on `input` (what peft's
    /// `model(input_ids, labels=..)` returns in eval mode) and the gradient
    /// of every `lora_A` / `lora_B` under peft's saved key names. `store`
    /// holds the base weights; the adapter is merged into it first.
    pub fn loss_and_gradients(&self, config_json: &str, mut store: WeightStore, input: &GradInput) -> Result<GradOutput, AdapterError> {
        self.apply_to_store(&mut store, 1.0)?;
        let full = causal_lm_gradients(config_json, &store, input).map_err(|e| AdapterError::Model(format!("{e}")))?;
        Ok(GradOutput { loss: full.loss, gradients: self.gradients(&full.gradients, &store)? })
    }

    /// The tensors of `adapter_model.safetensors`, under peft's keys.
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for m in &self.modules {
            out.push(NamedTensor::new(format!("{KEY_PREFIX}{}.lora_A.weight", m.name), &m.a));
            out.push(NamedTensor::new(format!("{KEY_PREFIX}{}.lora_B.weight", m.name), &m.b));
        }
        out
    }

    /// `s · B·A` of one module, `(out, in)`.
    pub fn delta(&self, module: &LoraModule) -> Array2<f32> {
        let mut d = module.b.dot(&module.a);
        d *= self.config.scaling() as f32;
        d
    }

    /// Adds (`sign = 1`, merge) or subtracts (`-1`, unmerge) every update in
    /// `store`, which then holds the merged weights as f32.
    pub fn apply_to_store(&self, store: &mut WeightStore, sign: f32) -> Result<(), AdapterError> {
        for m in &self.modules {
            let name = weight_name(store, &m.name).ok_or_else(|| AdapterError::Mismatch(format!("the model has no {}.weight", m.name)))?;
            let (out, inp) = (m.b.nrows(), m.a.ncols());
            let transposed = stored_transposed(store, &name, out, inp, self.config.fan_in_fan_out)?;
            let shape = store.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
            let mut values = store.to_f32(&name).map_err(|e| AdapterError::Mismatch(format!("{name}: {e}")))?;
            let delta = self.delta(m);
            for o in 0..out {
                for i in 0..inp {
                    let at = if transposed { i * out + o } else { o * inp + i };
                    values[at] += sign * delta[[o, i]];
                }
            }
            store.insert_f32(&name, shape, values);
        }
        Ok(())
    }

    /// The adapter's gradients from `full`, the gradients of the merged
    /// model's weights under their checkpoint names (`llmlab grad`'s output).
    pub fn gradients(&self, full: &[NamedTensor], store: &WeightStore) -> Result<Vec<NamedTensor>, AdapterError> {
        let s = self.config.scaling() as f32;
        let mut out = Vec::new();
        for m in &self.modules {
            let name = weight_name(store, &m.name).ok_or_else(|| AdapterError::Mismatch(format!("the model has no {}.weight", m.name)))?;
            let (rows, inp) = (m.b.nrows(), m.a.ncols());
            let transposed = stored_transposed(store, &name, rows, inp, self.config.fan_in_fan_out)?;
            // Gradients carry the model's HF names; a checkpoint saved from `GPT2Model` lacks the `transformer.` prefix.
            let g = full.iter().find(|t| t.name == name || t.name.strip_prefix("transformer.") == Some(name.as_str())).ok_or_else(|| AdapterError::Mismatch(format!("no gradient for {name}")))?;
            let g = to_array(g)?;
            let g = if transposed { g.reversed_axes() } else { g }; // (out, in)
            let mut da = m.b.t().dot(&g); // (r, in)
            da *= s;
            let mut db = g.dot(&m.a.t()); // (out, r)
            db *= s;
            out.push(NamedTensor::new(format!("{KEY_PREFIX}{}.lora_A.weight", m.name), &da));
            out.push(NamedTensor::new(format!("{KEY_PREFIX}{}.lora_B.weight", m.name), &db));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn config(targets: TargetModules, fan_in_fan_out: bool) -> LoraConfig {
        LoraConfig { r: 2, lora_alpha: 4.0, use_rslora: false, lora_dropout: 0.0, target_modules: targets, fan_in_fan_out, init_lora_weights: true }
    }

    #[test]
    fn merge_then_unmerge_gives_back_the_weights() {
        let mut store = WeightStore::new();
        store.insert_f32("h.0.attn.c_attn.weight", vec![3, 6], (0..18).map(|i| i as f32 * 0.1).collect());
        store.insert_f32("wte.weight", vec![5, 3], vec![0.5; 15]);
        let mut adapter = LoraAdapter::init(config(TargetModules::AllLinear, true), &store, "gpt2", &mut Rng::new(1)).unwrap();
        assert_eq!(adapter.modules.len(), 1, "embeddings are not targets");
        assert_eq!(adapter.modules[0].name, "transformer.h.0.attn.c_attn");
        assert!(adapter.modules[0].a.iter().all(|&x| x.abs() <= 1.0 / 3f32.sqrt()));
        adapter.modules[0].b.fill(0.3);
        let before = store.to_f32("h.0.attn.c_attn.weight").unwrap();
        adapter.apply_to_store(&mut store, 1.0).unwrap();
        let merged = store.to_f32("h.0.attn.c_attn.weight").unwrap();
        assert!(merged.iter().zip(&before).any(|(a, b)| (a - b).abs() > 1e-3));
        adapter.apply_to_store(&mut store, -1.0).unwrap();
        let back = store.to_f32("h.0.attn.c_attn.weight").unwrap();
        assert!(back.iter().zip(&before).all(|(a, b)| (a - b).abs() < 1e-6));
    }

    #[test]
    fn unsupported_options_are_refused_by_name() {
        let base = r#"{"peft_type":"LORA","r":4,"lora_alpha":8,"target_modules":["q_proj"]"#;
        assert!(LoraConfig::from_json(&format!("{base}}}")).is_ok());
        let err = LoraConfig::from_json(&format!("{base},\"use_dora\":true}}")).unwrap_err();
        assert!(format!("{err}").contains("use_dora"), "{err}");
        assert!(LoraConfig::from_json(r#"{"peft_type":"LORA","r":0,"lora_alpha":8,"target_modules":["q"]}"#).is_err());
        assert!(LoraConfig::from_json(r#"{"peft_type":"IA3"}"#).is_err());
    }
}
