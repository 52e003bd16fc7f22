//! Bottleneck adapters (Houlsby et al., 2019) on a frozen GPT-2 or Llama.
//!
//! Every layer gets two small residual MLPs ([`crate::nn::bottleneck`]),
//! `a(y) = y + up(f(down(y)))` with `down: (r, C)`, `up: (C, r)` (both with
//! biases) and `f` a nonlinearity, placed exactly so:
//!
//! ```text
//! h   = x + a_attn(o_proj(attention(norm1(x))))     GPT-2: after attn.c_proj
//! out = h + a_ffn(mlp(norm2(h)))                    GPT-2: after mlp.c_proj, Llama: after down_proj
//! ```
//!
//! i.e. on each sublayer's output, before its residual add (in eval mode,
//! where dropout is the identity). A fresh adapter has `up = 0` (weight and
//! bias), so the model starts unchanged; `down` is `nn.Linear`'s default,
//! `U(±1/√C)` for weight and bias.
//!
//! peft has no such method: the files are this project's, in peft's layout.
//! `adapter_config.json`:
//!
//! ```json
//! {"peft_type": "BOTTLENECK", "task_type": "CAUSAL_LM", "bottleneck_size": 8,
//!  "non_linearity": "relu", "num_layers": 12, "hidden_size": 768, "placement": "houlsby"}
//! ```
//!
//! (`non_linearity`: `relu`, `gelu` (exact), `gelu_new`, `silu`, any Hugging
//! Face activation name; `placement` is always `houlsby`), and
//! `adapter_model.safetensors` holds, for each layer `<layer>`
//! (`transformer.h.<i>` in GPT-2, `model.layers.<i>` in Llama),
//! `base_model.model.<layer>.{attn_adapter,ffn_adapter}.{down,up}.{weight,bias}`.
//! The PyTorch reference module is in `scripts/fixtures/bottleneck.py`.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use ndarray::{Array1, Array2};
use serde_json::{json, Value};

use super::AdapterError;
use crate::loading::WeightStore;
use crate::models::decoder_only::DecoderOnly;
use crate::models::gradients::{causal_lm_loss, CausalLm, GradInput, GradOutput, NamedTensor};
use crate::nn::activation::Activation;
use crate::nn::bottleneck::{BlockAdapters, Bottleneck};
use crate::nn::linear::{Linear, LinearGrad};
use crate::rng::Rng;

/// The `peft_type` of a bottleneck adapter's `adapter_config.json` (ours, not peft's).
pub const PEFT_TYPE: &str = "BOTTLENECK";
const KEY_PREFIX: &str = "base_model.model.";

/// The settings of a bottleneck adapter.
#[derive(Clone, Debug, PartialEq)]
pub struct BottleneckConfig {
    /// `r`: the adapters' inner width.
    pub bottleneck_size: usize,
    /// Hugging Face name of `f` (`relu`, `gelu`, `silu`, ...).
    pub non_linearity: String,
    /// Layers `L`.
    pub num_layers: usize,
    /// Model width `C`.
    pub hidden_size: usize,
}

impl BottleneckConfig {
    /// Parses `adapter_config.json` (`peft_type` `BOTTLENECK`).
    pub fn from_json(text: &str) -> Result<Self, AdapterError> {
        let v: Value = serde_json::from_str(text).map_err(|e| AdapterError::Config(format!("{e}")))?;
        if v["peft_type"].as_str() != Some(PEFT_TYPE) {
            return Err(AdapterError::Config(format!("peft_type is {}, not \"{PEFT_TYPE}\"", v["peft_type"])));
        }
        if !v["placement"].is_null() && v["placement"].as_str() != Some("houlsby") {
            return Err(AdapterError::Config(format!("placement {} is not supported (houlsby)", v["placement"])));
        }
        let count = |key: &str| -> Result<usize, AdapterError> {
            v[key]
                .as_u64()
                .filter(|&n| n > 0 && n <= 1 << 20)
                .map(|n| n as usize)
                .ok_or_else(|| AdapterError::Config(format!("{key} must be a positive integer")))
        };
        let non_linearity = v["non_linearity"].as_str().unwrap_or("relu").into();
        let config = Self {
            bottleneck_size: count("bottleneck_size")?,
            non_linearity,
            num_layers: count("num_layers")?,
            hidden_size: count("hidden_size")?,
        };
        config.activation()?;
        Ok(config)
    }

    /// `adapter_config.json`.
    pub fn to_json(&self) -> String {
        let v = json!({
            "peft_type": PEFT_TYPE, "task_type": "CAUSAL_LM", "bottleneck_size": self.bottleneck_size,
            "non_linearity": self.non_linearity, "num_layers": self.num_layers, "hidden_size": self.hidden_size,
            "placement": "houlsby",
        });
        serde_json::to_string_pretty(&v).unwrap_or_default()
    }

    /// The nonlinearity `f`.
    pub fn activation(&self) -> Result<Activation, AdapterError> {
        Activation::from_hf_name(&self.non_linearity).map_err(|e| AdapterError::Config(format!("non_linearity: {e}")))
    }
}

/// A bottleneck adapter: settings, the layers' path in the checkpoint and
/// every layer's two adapters.
#[derive(Clone, Debug)]
pub struct BottleneckAdapter {
    /// Settings.
    pub config: BottleneckConfig,
    /// Per layer.
    pub layers: Vec<BlockAdapters>,
}

/// Where a family keeps its layers: `transformer.h` (GPT-2) or `model.layers` (Llama).
pub(crate) fn layer_path(model: &CausalLm) -> &'static str {
    match model {
        CausalLm::Gpt2(_) => "transformer.h",
        CausalLm::Llama(_) => "model.layers",
    }
}

/// The four tensors of one adapter under `<base>.{down,up}.{weight,bias}`.
fn adapter_tensors(base: &str, a: &Bottleneck, out: &mut Vec<NamedTensor>) {
    for (part, linear) in [("down", &a.down), ("up", &a.up)] {
        out.push(NamedTensor::new(format!("{base}.{part}.weight"), &linear.weight.view().to_owned()));
        out.push(NamedTensor::new(format!("{base}.{part}.bias"), &linear.bias.clone().unwrap_or_else(|| Array1::zeros(0))));
    }
}

/// The four gradients of one adapter, named like [`adapter_tensors`].
fn adapter_grads(base: &str, down: &LinearGrad, up: &LinearGrad, out: &mut Vec<NamedTensor>) {
    for (part, g) in [("down", down), ("up", up)] {
        out.push(NamedTensor::new(format!("{base}.{part}.weight"), &g.weight));
        out.push(NamedTensor::new(format!("{base}.{part}.bias"), &g.bias.clone().unwrap_or_else(|| Array1::zeros(0))));
    }
}

impl BottleneckAdapter {
    /// A fresh adapter: `down ~ U(±1/√C)` (weight and bias, `nn.Linear`'s
    /// default), `up = 0`, so the model is unchanged.
    pub fn init(config: BottleneckConfig, rng: &mut Rng) -> Result<Self, AdapterError> {
        let (c, r, activation) = (config.hidden_size, config.bottleneck_size, config.activation()?);
        let bound = 1.0 / libm::sqrt(c as f64);
        let mut uniform = |n: usize| -> Vec<f32> { (0..n).map(|_| ((rng.uniform_f64() * 2.0 - 1.0) * bound) as f32).collect() };
        let mut fresh = || -> Result<Bottleneck, AdapterError> {
            let down = Linear::new(
                Array2::from_shape_vec((r, c), uniform(r * c)).map_err(|e| AdapterError::Settings(format!("{e}")))?,
                Some(Array1::from(uniform(r))),
            );
            let up = Linear::new(Array2::zeros((c, r)), Some(Array1::zeros(c)));
            Ok(Bottleneck { down, up, activation })
        };
        let mut layers = Vec::with_capacity(config.num_layers);
        for _ in 0..config.num_layers {
            layers.push(BlockAdapters { attn: fresh()?, ffn: fresh()? });
        }
        Ok(Self { config, layers })
    }

    /// Reads `adapter_config.json` and the bytes of `adapter_model.safetensors`.
    pub fn from_files(config_json: &str, safetensors: Vec<u8>) -> Result<Self, AdapterError> {
        let config = BottleneckConfig::from_json(config_json)?;
        let store = WeightStore::from_safetensors(safetensors).map_err(|e| AdapterError::Tensors(format!("{e}")))?;
        let (c, r, activation) = (config.hidden_size, config.bottleneck_size, config.activation()?);
        // The layer path is the one prefix the names share: `<path>.<i>.attn_adapter...`.
        let names = store.names();
        let first = names.first().ok_or_else(|| AdapterError::Tensors("the adapter holds no tensor".into()))?;
        let path = first
            .strip_prefix(KEY_PREFIX)
            .and_then(|rest| rest.split_once(".0.").map(|(p, _)| String::from(p)))
            .ok_or_else(|| AdapterError::Tensors(format!("{first} is not base_model.model.<layers>.0.…")))?;
        let read = |name: String, shape: &[usize]| -> Result<Vec<f32>, AdapterError> {
            match store.shape(&name) {
                Some(s) if s == shape => store.to_f32(&name).map_err(|e| AdapterError::Tensors(format!("{name}: {e}"))),
                Some(s) => Err(AdapterError::Tensors(format!("{name} has shape {s:?}, expected {shape:?}"))),
                None => Err(AdapterError::Tensors(format!("{name} is missing"))),
            }
        };
        let adapter = |base: String| -> Result<Bottleneck, AdapterError> {
            let matrix = |rows: usize, cols: usize, v: Vec<f32>| {
                Array2::from_shape_vec((rows, cols), v).map_err(|e| AdapterError::Tensors(format!("{e}")))
            };
            let down = Linear::new(
                matrix(r, c, read(format!("{base}.down.weight"), &[r, c])?)?,
                Some(Array1::from(read(format!("{base}.down.bias"), &[r])?)),
            );
            let up = Linear::new(
                matrix(c, r, read(format!("{base}.up.weight"), &[c, r])?)?,
                Some(Array1::from(read(format!("{base}.up.bias"), &[c])?)),
            );
            Ok(Bottleneck { down, up, activation })
        };
        let mut layers = Vec::with_capacity(config.num_layers);
        for l in 0..config.num_layers {
            let base = format!("{KEY_PREFIX}{path}.{l}");
            layers.push(BlockAdapters { attn: adapter(format!("{base}.attn_adapter"))?, ffn: adapter(format!("{base}.ffn_adapter"))? });
        }
        if names.len() != 8 * config.num_layers {
            return Err(AdapterError::Tensors(format!("{} tensors, expected 8 per layer ({})", names.len(), 8 * config.num_layers)));
        }
        Ok(Self { config, layers })
    }

    /// The two files: ([`CONFIG_FILE`](super::lora::CONFIG_FILE) text,
    /// [`WEIGHTS_FILE`](super::lora::WEIGHTS_FILE) bytes), the layers under
    /// `layer_path` (`transformer.h` or `model.layers`).
    pub fn to_files(&self, layer_path: &str) -> Result<(String, Vec<u8>), AdapterError> {
        let named = self.named_tensors(layer_path);
        let list: Vec<(String, Vec<usize>, &[f32])> = named.iter().map(|t| (t.name.clone(), t.shape.clone(), &t.data[..])).collect();
        let bytes = crate::train::checkpoint::write_tensors(&list).map_err(|e| AdapterError::Tensors(format!("{e}")))?;
        Ok((self.config.to_json(), bytes))
    }

    /// Every adapter tensor under its saved name.
    pub fn named_tensors(&self, layer_path: &str) -> Vec<NamedTensor> {
        let mut out = Vec::new();
        for (l, a) in self.layers.iter().enumerate() {
            adapter_tensors(&format!("{KEY_PREFIX}{layer_path}.{l}.attn_adapter"), &a.attn, &mut out);
            adapter_tensors(&format!("{KEY_PREFIX}{layer_path}.{l}.ffn_adapter"), &a.ffn, &mut out);
        }
        out
    }

    /// Puts the adapters into `stack`'s blocks (replacing any), checking the shapes.
    pub fn attach(&self, stack: &mut DecoderOnly) -> Result<(), AdapterError> {
        let width = stack.embed.weight.dim().1;
        if stack.blocks.len() != self.layers.len() || width != self.config.hidden_size {
            return Err(AdapterError::Mismatch(format!(
                "the adapter is for {} layers of width {}, the model has {} of width {width}",
                self.layers.len(),
                self.config.hidden_size,
                stack.blocks.len()
            )));
        }
        for (block, a) in stack.blocks.iter_mut().zip(&self.layers) {
            block.adapters = Some(a.clone());
        }
        Ok(())
    }

    /// The base model with the adapters attached.
    pub fn load_model(&self, config_json: &str, store: &WeightStore) -> Result<CausalLm, AdapterError> {
        let mut model = CausalLm::load(config_json, store).map_err(|e| AdapterError::Model(format!("{e}")))?;
        self.attach(model.stack_mut())?;
        Ok(model)
    }

    /// The adapted model's logits `(B*T, V)`.
    pub fn logits(
        &self,
        config_json: &str,
        store: &WeightStore,
        input_ids: &[Vec<u32>],
        attention_mask: Option<&[Vec<u8>]>,
    ) -> Result<Array2<f32>, AdapterError> {
        let model = self.load_model(config_json, store)?;
        let (logits, _) = model.stack().forward_train(input_ids, attention_mask).map_err(|e| AdapterError::Model(format!("{e}")))?;
        Ok(logits)
    }

    /// The loss of the adapted model on `input` and the gradient of every
    /// adapter tensor under its saved name (the base model's are not computed
    /// into the output).
    pub fn loss_and_gradients(&self, config_json: &str, store: &WeightStore, input: &GradInput) -> Result<GradOutput, AdapterError> {
        let model = self.load_model(config_json, store)?;
        self.loss_and_gradients_on(&model, input)
    }

    /// [`loss_and_gradients`](Self::loss_and_gradients) on a model these
    /// adapters are [attached](Self::attach) to.
    pub fn loss_and_gradients_on(&self, model: &CausalLm, input: &GradInput) -> Result<GradOutput, AdapterError> {
        let model_err = |e: crate::models::ModelError| AdapterError::Model(format!("{e}"));
        let labels: Vec<Vec<i64>> = match &input.labels {
            Some(labels) => labels.clone(),
            None => input.input_ids.iter().map(|row| row.iter().map(|&id| i64::from(id)).collect()).collect(),
        };
        let (logits, acts) = model.stack().forward_train(&input.input_ids, input.attention_mask.as_deref()).map_err(model_err)?;
        let (loss, d_logits) = causal_lm_loss(logits.view(), &labels).map_err(model_err)?;
        let grad = model.stack().backward(&acts, d_logits.view()).map_err(model_err)?;
        let path = layer_path(&model);
        let mut gradients = Vec::new();
        for (l, block) in grad.blocks.iter().enumerate() {
            let g = block.adapters.as_ref().ok_or_else(|| AdapterError::Model(format!("layer {l} has no adapter gradient")))?;
            adapter_grads(&format!("{KEY_PREFIX}{path}.{l}.attn_adapter"), &g.attn.down, &g.attn.up, &mut gradients);
            adapter_grads(&format!("{KEY_PREFIX}{path}.{l}.ffn_adapter"), &g.ffn.down, &g.ffn.up, &mut gradients);
        }
        Ok(GradOutput { loss, gradients })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_refuses_unknown_nonlinearities() {
        let text = r#"{"peft_type":"BOTTLENECK","bottleneck_size":4,"non_linearity":"gelu","num_layers":2,"hidden_size":8}"#;
        let c = BottleneckConfig::from_json(text).unwrap();
        assert_eq!(BottleneckConfig::from_json(&c.to_json()).unwrap(), c);
        assert!(BottleneckConfig::from_json(&text.replace("gelu", "sparkle")).is_err());
        assert!(BottleneckConfig::from_json(&text.replace("BOTTLENECK", "LORA")).is_err());
    }

    #[test]
    fn a_fresh_adapter_starts_with_a_zero_up_projection_and_round_trips() {
        let c = BottleneckConfig { bottleneck_size: 3, non_linearity: "relu".into(), num_layers: 2, hidden_size: 8 };
        let adapter = BottleneckAdapter::init(c, &mut Rng::new(5)).unwrap();
        assert!(adapter.layers.iter().all(|l| l.attn.up.weight.view().iter().all(|&w| w == 0.0)));
        let (config, bytes) = adapter.to_files("transformer.h").unwrap();
        let back = BottleneckAdapter::from_files(&config, bytes).unwrap();
        assert_eq!(back.named_tensors("transformer.h"), adapter.named_tensors("transformer.h"));
    }
}
