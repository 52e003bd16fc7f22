//! Prefix tuning (Li & Liang, 2021), exact to peft 0.21.
//!
//! The frozen model gets `P = num_virtual_tokens` trainable key/value rows
//! in front of every attention layer's own, as if `P` tokens had already
//! been decoded into its cache. peft keeps them as one tensor
//!
//! ```text
//! prompt_embeddings: (P, L*2*token_dim)     token_dim = Hkv*D
//! column ((2l + kv)*Hkv + h)*D + d          kv = 0 keys, 1 values
//! ```
//!
//! i.e. `view(P, 2L, Hkv, D)` permuted to layer `l`'s keys `[2l]` and values
//! `[2l+1]`, each `(Hkv, P, D)`. For a grouped-query model peft sizes the
//! prefix by the key/value heads (`num_attention_heads = Hkv`,
//! `token_dim = Hkv*D`). The prefix keys are used as they are: RoPE is not
//! applied to them.
//!
//! With `prefix_projection` the trainable parameters are an MLP instead
//! (peft's `PrefixEncoder`):
//!
//! ```text
//! E: (P, token_dim) -> Linear(token_dim, H_enc) -> tanh -> Linear(H_enc, L*2*token_dim)
//! ```
//!
//! and peft saves only its output, under the same name `prompt_embeddings`
//! (a loaded adapter is in inference mode and reads the keys/values
//! directly). To train or differentiate the encoder itself, its state dict
//! comes as an extra file, [`ENCODER_FILE`], with `PrefixEncoder`'s own
//! names: `embedding.weight`, `transform.0.weight`, `transform.0.bias`,
//! `transform.2.weight`, `transform.2.bias` (peft does not write it).
//!
//! The model with the prefix is transformers' with a cache of length `P`:
//! the real tokens sit at positions `P..P+T` (learned positions and RoPE),
//! every token sees the whole prefix (peft prepends ones to the attention
//! mask), and the loss is on the real tokens only. The prefix's gradient is
//! the attention's gradient of those key/value rows, summed over the batch
//! ([`KvPrefix`]), then through the encoder when there is one.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use ndarray::{Array1, Array2, Axis, Slice};
use serde_json::{json, Value};

use super::AdapterError;
use crate::loading::WeightStore;
use crate::models::decoder_only::DecoderOnly;
use crate::models::gradients::{causal_lm_loss, CausalLm, GradInput, GradOutput, NamedTensor};
use crate::nn::attention::KvPrefix;
use crate::nn::linear::{Linear, LinearGrad};

/// File of the trainable `PrefixEncoder` of a `prefix_projection` adapter
/// (not part of peft's format; peft saves only the encoder's output).
pub const ENCODER_FILE: &str = "prefix_encoder.safetensors";
/// peft's key of the prefix keys/values in `adapter_model.safetensors`.
pub const PROMPT_EMBEDDINGS: &str = "prompt_embeddings";

/// The settings of a `PREFIX_TUNING` `adapter_config.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct PrefixTuningConfig {
    /// `P`: virtual tokens.
    pub num_virtual_tokens: usize,
    /// Width of one layer's keys (or values): `Hkv*D`.
    pub token_dim: usize,
    /// Key/value heads `Hkv` (peft's `num_attention_heads` after its GQA fix-up).
    pub num_attention_heads: usize,
    /// Layers `L`.
    pub num_layers: usize,
    /// The keys/values come from an MLP over `(P, token_dim)` embeddings.
    pub prefix_projection: bool,
    /// Hidden width of that MLP.
    pub encoder_hidden_size: usize,
}

impl PrefixTuningConfig {
    /// Parses peft's `adapter_config.json` (`peft_type` `PREFIX_TUNING`).
    pub fn from_json(text: &str) -> Result<Self, AdapterError> {
        let v: Value = serde_json::from_str(text).map_err(|e| AdapterError::Config(format!("{e}")))?;
        if v["peft_type"].as_str() != Some("PREFIX_TUNING") {
            return Err(AdapterError::Config(format!("peft_type is {}, not \"PREFIX_TUNING\"", v["peft_type"])));
        }
        let count = |key: &str| -> Result<usize, AdapterError> {
            v[key]
                .as_u64()
                .filter(|&n| n > 0 && n <= 1 << 20)
                .map(|n| n as usize)
                .ok_or_else(|| AdapterError::Config(format!("{key} must be a positive integer")))
        };
        if v["num_transformer_submodules"].as_u64().is_some_and(|n| n != 1) {
            return Err(AdapterError::Config("num_transformer_submodules must be 1 (a decoder-only model)".into()));
        }
        if !v["task_type"].is_null() && v["task_type"].as_str() != Some("CAUSAL_LM") {
            return Err(AdapterError::Config(format!("task_type {} is not supported; use CAUSAL_LM", v["task_type"])));
        }
        let token_dim = count("token_dim")?;
        let prefix_projection = v["prefix_projection"].as_bool().unwrap_or(false);
        Ok(Self {
            num_virtual_tokens: count("num_virtual_tokens")?,
            token_dim,
            num_attention_heads: count("num_attention_heads")?,
            num_layers: count("num_layers")?,
            prefix_projection,
            encoder_hidden_size: if v["encoder_hidden_size"].is_null() { token_dim } else { count("encoder_hidden_size")? },
        })
    }

    /// `adapter_config.json` as peft writes it.
    pub fn to_json(&self, base_model_class: &str) -> String {
        let v = json!({
            "peft_type": "PREFIX_TUNING", "task_type": "CAUSAL_LM", "base_model_name_or_path": null, "inference_mode": true,
            "num_virtual_tokens": self.num_virtual_tokens, "token_dim": self.token_dim,
            "num_attention_heads": self.num_attention_heads, "num_layers": self.num_layers,
            "num_transformer_submodules": 1, "prefix_projection": self.prefix_projection,
            "encoder_hidden_size": self.encoder_hidden_size, "init_weights": null, "modules_to_save": null,
            "auto_mapping": { "base_model_class": base_model_class },
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// Width of one virtual token's keys and values over every layer, `L*2*token_dim`.
    pub fn flat_width(&self) -> usize {
        self.num_layers * 2 * self.token_dim
    }
}

/// peft's `PrefixEncoder` with `prefix_projection`: embeddings and a
/// two-layer tanh MLP.
#[derive(Clone, Debug)]
pub struct PrefixEncoder {
    /// `E: (P, token_dim)`.
    pub embedding: Array2<f32>,
    /// `transform.0`: `(H_enc, token_dim)`.
    pub first: Linear,
    /// `transform.2`: `(L*2*token_dim, H_enc)`.
    pub second: Linear,
}

/// What [`PrefixEncoder::forward`] keeps for its backward pass.
struct EncoderActivations {
    /// `tanh(first(E))`, `(P, H_enc)`.
    hidden: Array2<f32>,
}

impl PrefixEncoder {
    /// `E -> (P, L*2*token_dim)`.
    fn forward(&self) -> (Array2<f32>, EncoderActivations) {
        let hidden = self.first.forward(self.embedding.view()).mapv(libm::tanhf); // (P, H_enc)
        (self.second.forward(hidden.view()), EncoderActivations { hidden })
    }

    /// The prefix the encoder makes, `(P, L*2*token_dim)`: what peft saves as `prompt_embeddings`.
    pub fn output(&self) -> Array2<f32> {
        self.forward().0
    }

    /// The gradients of the five tensors from `d_out: (P, L*2*token_dim)`, under `PrefixEncoder`'s names.
    fn backward(&self, acts: &EncoderActivations, d_out: &Array2<f32>) -> Vec<NamedTensor> {
        let mut second = LinearGrad::zeros(&self.second);
        let mut d_hidden = self.second.backward(acts.hidden.view(), d_out.view(), &mut second); // (P, H_enc)
        d_hidden.zip_mut_with(&acts.hidden, |g, &y| *g *= 1.0 - y * y);
        let pre = self.embedding.view();
        let mut first = LinearGrad::zeros(&self.first);
        let d_embedding = self.first.backward(pre, d_hidden.view(), &mut first); // (P, token_dim)
        let bias = |g: &LinearGrad| g.bias.clone().unwrap_or_else(|| Array1::zeros(0));
        alloc::vec![
            NamedTensor::new("embedding.weight", &d_embedding),
            NamedTensor::new("transform.0.weight", &first.weight),
            NamedTensor::new("transform.0.bias", &bias(&first)),
            NamedTensor::new("transform.2.weight", &second.weight),
            NamedTensor::new("transform.2.bias", &bias(&second)),
        ]
    }

    /// The five tensors under `PrefixEncoder`'s names (the [`ENCODER_FILE`] contents).
    pub fn named_tensors(&self) -> Vec<NamedTensor> {
        let weight = |l: &Linear| l.weight.view().to_owned();
        let bias = |l: &Linear| l.bias.clone().unwrap_or_else(|| Array1::zeros(0));
        alloc::vec![
            NamedTensor::new("embedding.weight", &self.embedding),
            NamedTensor::new("transform.0.weight", &weight(&self.first)),
            NamedTensor::new("transform.0.bias", &bias(&self.first)),
            NamedTensor::new("transform.2.weight", &weight(&self.second)),
            NamedTensor::new("transform.2.bias", &bias(&self.second)),
        ]
    }
}

/// A prefix-tuning adapter: its settings, the prefix keys/values and, for
/// training a `prefix_projection` adapter, the encoder that makes them.
#[derive(Clone, Debug)]
pub struct PrefixTuningAdapter {
    /// Settings.
    pub config: PrefixTuningConfig,
    /// `(P, L*2*token_dim)`: the saved prefix (peft's `prompt_embeddings`).
    pub prompt_embeddings: Array2<f32>,
    /// The `PrefixEncoder` (with `prefix_projection` and [`ENCODER_FILE`]):
    /// when present, the prefix is its output and the gradients are its.
    pub encoder: Option<PrefixEncoder>,
}

/// Reads safetensors bytes as named f32 tensors.
fn read_tensors(bytes: Vec<u8>, file: &str) -> Result<Vec<NamedTensor>, AdapterError> {
    let store = WeightStore::from_safetensors(bytes).map_err(|e| AdapterError::Tensors(format!("{file}: {e}")))?;
    let mut tensors = Vec::new();
    for name in store.names() {
        let shape = store.shape(&name).map(<[usize]>::to_vec).unwrap_or_default();
        let data = store.to_f32(&name).map_err(|e| AdapterError::Tensors(format!("{name}: {e}")))?;
        tensors.push(NamedTensor { name, shape, data });
    }
    Ok(tensors)
}

/// The tensor `name` of `tensors` with the given shape.
fn take(tensors: &[NamedTensor], name: &str, shape: &[usize]) -> Result<Vec<f32>, AdapterError> {
    let t = tensors.iter().find(|t| t.name == name).ok_or_else(|| AdapterError::Tensors(format!("{name} is missing")))?;
    if t.shape != shape {
        return Err(AdapterError::Tensors(format!("{name} has shape {:?}, expected {shape:?}", t.shape)));
    }
    Ok(t.data.clone())
}

fn matrix(rows: usize, cols: usize, data: Vec<f32>) -> Result<Array2<f32>, AdapterError> {
    Array2::from_shape_vec((rows, cols), data).map_err(|e| AdapterError::Tensors(format!("{e}")))
}

impl PrefixTuningAdapter {
    /// Reads `adapter_config.json`, the bytes of `adapter_model.safetensors`
    /// and, optionally, of [`ENCODER_FILE`] (only with `prefix_projection`).
    pub fn from_files(config_json: &str, safetensors: Vec<u8>, encoder: Option<Vec<u8>>) -> Result<Self, AdapterError> {
        let config = PrefixTuningConfig::from_json(config_json)?;
        let tensors = read_tensors(safetensors, super::lora::WEIGHTS_FILE)?;
        if let Some(extra) = tensors.iter().find(|t| t.name != PROMPT_EMBEDDINGS) {
            return Err(AdapterError::Tensors(format!("{} is not a prefix-tuning tensor (expected only {PROMPT_EMBEDDINGS})", extra.name)));
        }
        let (p, width) = (config.num_virtual_tokens, config.flat_width());
        let prompt_embeddings = matrix(p, width, take(&tensors, PROMPT_EMBEDDINGS, &[p, width])?)?;
        let encoder = match encoder {
            None => None,
            Some(_) if !config.prefix_projection => {
                return Err(AdapterError::Config(format!("{ENCODER_FILE} is given but prefix_projection is false")));
            }
            Some(bytes) => {
                let t = read_tensors(bytes, ENCODER_FILE)?;
                let (td, hid) = (config.token_dim, config.encoder_hidden_size);
                let vector = |name: &str, n: usize| take(&t, name, &[n]).map(Array1::from);
                Some(PrefixEncoder {
                    embedding: matrix(p, td, take(&t, "embedding.weight", &[p, td])?)?,
                    first: Linear::new(
                        matrix(hid, td, take(&t, "transform.0.weight", &[hid, td])?)?,
                        Some(vector("transform.0.bias", hid)?),
                    ),
                    second: Linear::new(
                        matrix(width, hid, take(&t, "transform.2.weight", &[width, hid])?)?,
                        Some(vector("transform.2.bias", width)?),
                    ),
                })
            }
        };
        Ok(Self { config, prompt_embeddings, encoder })
    }

    /// The two files peft writes ([`CONFIG_FILE`](super::lora::CONFIG_FILE)
    /// text, [`WEIGHTS_FILE`](super::lora::WEIGHTS_FILE) bytes) and, with an
    /// encoder, the bytes of [`ENCODER_FILE`]. The saved prefix is the
    /// encoder's output when there is one, as peft saves it.
    pub fn to_files(&self, base_model_class: &str) -> Result<(String, Vec<u8>, Option<Vec<u8>>), AdapterError> {
        let write = |tensors: &[NamedTensor]| {
            let list: Vec<(String, Vec<usize>, &[f32])> = tensors.iter().map(|t| (t.name.clone(), t.shape.clone(), &t.data[..])).collect();
            crate::train::checkpoint::write_tensors(&list).map_err(|e| AdapterError::Tensors(format!("{e}")))
        };
        let (flat, _) = self.flat_prefix();
        let weights = write(&[NamedTensor::new(PROMPT_EMBEDDINGS, &flat)])?;
        let encoder = match &self.encoder {
            Some(e) => Some(write(&e.named_tensors())?),
            None => None,
        };
        Ok((self.config.to_json(base_model_class), weights, encoder))
    }

    /// The prefix `(P, L*2*token_dim)`: the encoder's output, or the saved one.
    fn flat_prefix(&self) -> (Array2<f32>, Option<EncoderActivations>) {
        match &self.encoder {
            Some(encoder) => {
                let (out, acts) = encoder.forward();
                (out, Some(acts))
            }
            None => (self.prompt_embeddings.clone(), None),
        }
    }

    /// Checks the prefix's shape against `stack`: layers, key/value heads and their width.
    pub fn check_fits(&self, stack: &DecoderOnly) -> Result<(), AdapterError> {
        let c = &self.config;
        let attn = stack.blocks.first().map(|b| &b.attn).ok_or_else(|| AdapterError::Mismatch("the model has no layer".into()))?;
        let (layers, hkv, d) = (stack.blocks.len(), attn.num_kv_heads, attn.head_dim);
        if c.num_layers != layers || c.num_attention_heads != hkv || c.token_dim != hkv * d {
            return Err(AdapterError::Mismatch(format!(
                "the prefix is for {} layers of {} key/value heads ({} wide), the model has {layers} layers of {hkv} heads of {d}",
                c.num_layers, c.num_attention_heads, c.token_dim
            )));
        }
        Ok(())
    }

    /// Layer `l`'s keys and values from the flat prefix `(P, L*2*token_dim)`.
    pub fn layer_prefixes(&self, flat: &Array2<f32>) -> Vec<KvPrefix> {
        let td = self.config.token_dim;
        (0..self.config.num_layers)
            .map(|l| KvPrefix {
                keys: flat.slice_axis(Axis(1), Slice::from(2 * l * td..(2 * l + 1) * td)).to_owned(),
                values: flat.slice_axis(Axis(1), Slice::from((2 * l + 1) * td..(2 * l + 2) * td)).to_owned(),
            })
            .collect()
    }

    /// Loads the base model and checks that the prefix fits it.
    fn load_model(&self, config_json: &str, store: &WeightStore) -> Result<CausalLm, AdapterError> {
        let model = CausalLm::load(config_json, store).map_err(|e| AdapterError::Model(format!("{e}")))?;
        self.check_fits(model.stack())?;
        Ok(model)
    }

    /// The adapted model's logits `(B*T, V)` on `input_ids, attention_mask: (B, T)`
    /// (what peft's `PeftModel(input_ids, attention_mask).logits` returns).
    pub fn logits(
        &self,
        config_json: &str,
        store: &WeightStore,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<Array2<f32>, AdapterError> {
        let model = self.load_model(config_json, store)?;
        self.logits_on(model.stack(), input_ids, attention_mask)
    }

    /// [`logits`](Self::logits) on a loaded model.
    pub fn logits_on(
        &self,
        stack: &DecoderOnly,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<Array2<f32>, AdapterError> {
        let (flat, _) = self.flat_prefix();
        let prefixes = self.layer_prefixes(&flat);
        let (logits, _) = stack
            .forward_train_prefixed(input_ids, attention_mask, Some(&prefixes), &|_| {})
            .map_err(|e| AdapterError::Model(format!("{e}")))?;
        Ok(logits)
    }

    /// The loss of the adapted model on `input` and the gradient of every
    /// trainable tensor: `prompt_embeddings` `(P, L*2*token_dim)`, or with an
    /// encoder its five tensors under `PrefixEncoder`'s names.
    pub fn loss_and_gradients(&self, config_json: &str, store: &WeightStore, input: &GradInput) -> Result<GradOutput, AdapterError> {
        let model = self.load_model(config_json, store)?;
        self.loss_and_gradients_on(model.stack(), input)
    }

    /// [`loss_and_gradients`](Self::loss_and_gradients) on a loaded model.
    pub fn loss_and_gradients_on(&self, stack: &DecoderOnly, input: &GradInput) -> Result<GradOutput, AdapterError> {
        let model_err = |e: crate::models::ModelError| AdapterError::Model(format!("{e}"));
        let labels: Vec<Vec<i64>> = match &input.labels {
            Some(labels) => labels.clone(),
            None => input.input_ids.iter().map(|row| row.iter().map(|&id| i64::from(id)).collect()).collect(),
        };
        let (flat, encoder_acts) = self.flat_prefix();
        let prefixes = self.layer_prefixes(&flat);
        let (logits, acts) =
            stack.forward_train_prefixed(&input.input_ids, input.attention_mask.as_deref(), Some(&prefixes), &|_| {}).map_err(model_err)?;
        let (loss, d_logits) = causal_lm_loss(logits.view(), &labels).map_err(model_err)?;
        let grad = stack.backward(&acts, d_logits.view()).map_err(model_err)?;
        let td = self.config.token_dim;
        let mut d_flat = Array2::<f32>::zeros(flat.raw_dim()); // (P, L*2*token_dim)
        for (l, block) in grad.blocks.iter().enumerate() {
            if let Some(p) = &block.attn.prefix {
                d_flat.slice_axis_mut(Axis(1), Slice::from(2 * l * td..(2 * l + 1) * td)).assign(&p.keys);
                d_flat.slice_axis_mut(Axis(1), Slice::from((2 * l + 1) * td..(2 * l + 2) * td)).assign(&p.values);
            }
        }
        let gradients = match (&self.encoder, encoder_acts) {
            (Some(encoder), Some(acts)) => encoder.backward(&acts, &d_flat),
            _ => alloc::vec![NamedTensor::new(PROMPT_EMBEDDINGS, &d_flat)],
        };
        Ok(GradOutput { loss, gradients })
    }

    /// The trainable tensors, in [`loss_and_gradients`](Self::loss_and_gradients)'s order and names.
    pub fn named_parameters(&self) -> Vec<NamedTensor> {
        match &self.encoder {
            Some(e) => e.named_tensors(),
            None => alloc::vec![NamedTensor::new(PROMPT_EMBEDDINGS, &self.prompt_embeddings)],
        }
    }

    /// Names of the trainable tensors.
    pub fn parameter_names(&self) -> Vec<String> {
        self.named_parameters().into_iter().map(|t| t.name.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_refuses_other_peft_types_and_encoder_decoder() {
        let ok = r#"{"peft_type":"PREFIX_TUNING","task_type":"CAUSAL_LM","num_virtual_tokens":3,"token_dim":8,"num_attention_heads":2,"num_layers":2,"num_transformer_submodules":1}"#;
        let c = PrefixTuningConfig::from_json(ok).unwrap();
        assert_eq!((c.flat_width(), c.encoder_hidden_size, c.prefix_projection), (32, 8, false));
        assert!(PrefixTuningConfig::from_json(&ok.replace("\"num_transformer_submodules\":1", "\"num_transformer_submodules\":2")).is_err());
        assert!(PrefixTuningConfig::from_json(&ok.replace("PREFIX_TUNING", "LORA")).is_err());
        assert_eq!(PrefixTuningConfig::from_json(&c.to_json("GPT2LMHeadModel")).unwrap(), c);
    }
}
