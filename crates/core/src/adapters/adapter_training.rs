//! Training a prefix-tuning or bottleneck adapter on a frozen base model,
//! as [`lora_training`](super::lora_training) trains LoRA: each step runs
//! the model's one forward and backward pass with the adapter in place, takes
//! the adapter's gradients (see [`prefix_tuning`](super::prefix_tuning) and
//! [`bottleneck`](super::bottleneck)) and an AdamW step on them alone
//! (no weight decay, transformers' `Trainer` default). The base weights are
//! never written.
//!
//! A prefix-tuning adapter trains its `PrefixEncoder` when it has one
//! (`prefix_projection`), else `prompt_embeddings` itself; both are
//! initialised as peft does ([`PrefixTuningAdapter::init`]).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use ndarray::{Array1, Array2};

use super::bottleneck::BottleneckAdapter;
use super::lora_training::LoraStep;
use super::prefix_tuning::{PrefixEncoder, PrefixTuningAdapter, PrefixTuningConfig};
use super::AdapterError;
use crate::loading::WeightStore;
use crate::models::gradients::{CausalLm, GradInput, GradOutput};
use crate::nn::linear::Linear;
use crate::nn::TensorMut;
use crate::rng::Rng;
use crate::train::optim::{clip_grad_norm, global_norm, AdamW, AdamWConfig};

/// The adapter a [`AdapterTraining`] steps.
#[derive(Clone, Debug)]
pub enum TrainedAdapter {
    /// Prefix tuning.
    PrefixTuning(PrefixTuningAdapter),
    /// Bottleneck adapters.
    Bottleneck(BottleneckAdapter),
}

impl PrefixTuningAdapter {
    /// A fresh adapter as peft creates it: `nn.Embedding`'s `N(0, 1)` for
    /// the embedding (`prompt_embeddings` without projection), `nn.Linear`'s
    /// `U(±1/√in)` for the encoder's weights and biases.
    pub fn init(config: PrefixTuningConfig, rng: &mut Rng) -> Result<Self, AdapterError> {
        let (p, td, hid, width) = (config.num_virtual_tokens, config.token_dim, config.encoder_hidden_size, config.flat_width());
        let shape_err = |e: ndarray::ShapeError| AdapterError::Settings(format!("{e}"));
        let mut normal = |rows: usize, cols: usize| Array2::from_shape_simple_fn((rows, cols), || rng.normal() as f32);
        if !config.prefix_projection {
            let prompt_embeddings = normal(p, width);
            return Ok(Self { config, prompt_embeddings, encoder: None });
        }
        let embedding = normal(p, td);
        let mut linear = |out: usize, inp: usize| -> Result<Linear, AdapterError> {
            let bound = 1.0 / libm::sqrt(inp as f64);
            let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| ((rng.uniform_f64() * 2.0 - 1.0) * bound) as f32).collect() };
            let weight = Array2::from_shape_vec((out, inp), draw(out * inp)).map_err(shape_err)?;
            Ok(Linear::new(weight, Some(Array1::from(draw(out)))))
        };
        let first = linear(hid, td)?;
        let second = linear(width, hid)?;
        let mut adapter =
            Self { config, prompt_embeddings: Array2::zeros((p, width)), encoder: Some(PrefixEncoder { embedding, first, second }) };
        adapter.prompt_embeddings = adapter.encoder.as_ref().map(PrefixEncoder::output).unwrap_or_default();
        Ok(adapter)
    }
}

impl TrainedAdapter {
    /// The loss on `input` and the trainable tensors' gradients, in
    /// [`params_mut`](Self::params_mut)'s order.
    /// `model` carries the bottleneck adapters already ([`BottleneckAdapter::attach`]).
    fn loss_and_gradients(&self, model: &CausalLm, input: &GradInput) -> Result<GradOutput, AdapterError> {
        match self {
            Self::PrefixTuning(prefix) => prefix.loss_and_gradients_on(model.stack(), input),
            Self::Bottleneck(bottleneck) => bottleneck.loss_and_gradients_on(model, input),
        }
    }

    /// The trainable tensors.
    fn params_mut(&mut self) -> Result<Vec<TensorMut<'_>>, AdapterError> {
        let mut out = Vec::new();
        match self {
            Self::PrefixTuning(prefix) => match prefix.encoder.as_mut() {
                Some(e) => {
                    let values =
                        e.embedding.as_slice_mut().ok_or_else(|| AdapterError::Tensors("the prefix embedding is not contiguous".into()))?;
                    out.push(TensorMut { values, matrix: true });
                    e.first.params_mut(&mut out);
                    e.second.params_mut(&mut out);
                }
                None => {
                    let values = prefix
                        .prompt_embeddings
                        .as_slice_mut()
                        .ok_or_else(|| AdapterError::Tensors("prompt_embeddings is not contiguous".into()))?;
                    out.push(TensorMut { values, matrix: true });
                }
            },
            Self::Bottleneck(bottleneck) => {
                for layer in &mut bottleneck.layers {
                    layer.params_mut(&mut out);
                }
            }
        }
        Ok(out)
    }
}

/// A prefix-tuning or bottleneck adapter being trained on a frozen base model.
pub struct AdapterTraining {
    /// The adapter; its tensors change with every step.
    pub adapter: TrainedAdapter,
    model: CausalLm,
    optimizer: AdamW,
}

impl AdapterTraining {
    /// Starts training `adapter` on the base model (`config_json`, `store`: GPT-2 or Llama).
    pub fn new(mut adapter: TrainedAdapter, config_json: &str, store: &WeightStore) -> Result<Self, AdapterError> {
        let mut model = CausalLm::load(config_json, store).map_err(|e| AdapterError::Model(format!("{e}")))?;
        match &adapter {
            TrainedAdapter::PrefixTuning(prefix) => prefix.check_fits(model.stack())?,
            TrainedAdapter::Bottleneck(bottleneck) => bottleneck.attach(model.stack_mut())?,
        }
        let n = adapter.params_mut()?.iter().map(|t| t.values.len()).sum();
        let config = AdamWConfig { weight_decay: 0.0, ..AdamWConfig::default() };
        Ok(Self { adapter, model, optimizer: AdamW::new(config, n) })
    }

    /// Number of trainable parameters.
    pub fn num_trainable(&self) -> usize {
        self.optimizer.m.len()
    }

    /// Loss of the adapted model on `input`, without a step.
    pub fn loss(&self, input: &GradInput) -> Result<f64, AdapterError> {
        Ok(self.adapter.loss_and_gradients(&self.model, input)?.loss)
    }

    /// The adapted model's logits `(T, V)` for one sequence (every position).
    pub fn logits(&self, ids: &[u32]) -> Result<Array2<f32>, AdapterError> {
        let rows = [ids.to_vec()];
        match &self.adapter {
            TrainedAdapter::PrefixTuning(prefix) => prefix.logits_on(self.model.stack(), &rows, None),
            TrainedAdapter::Bottleneck(_) => {
                let (logits, _) = self.model.stack().forward_train(&rows, None).map_err(|e| AdapterError::Model(format!("{e}")))?;
                Ok(logits)
            }
        }
    }

    /// One AdamW step with learning rate `lr` on `input`; gradients are
    /// clipped to `max_grad_norm` first when it is given.
    pub fn step(&mut self, input: &GradInput, lr: f64, max_grad_norm: Option<f64>) -> Result<LoraStep, AdapterError> {
        let mut out = self.adapter.loss_and_gradients(&self.model, input)?;
        let mut grads: Vec<TensorMut<'_>> = out.gradients.iter_mut().map(|t| TensorMut { values: &mut t.data, matrix: false }).collect();
        let grad_norm = match max_grad_norm {
            Some(max) => clip_grad_norm(&mut grads, max),
            None => global_norm(&grads),
        };
        let params = self.adapter.params_mut()?;
        let lens = |ts: &[TensorMut<'_>]| ts.iter().map(|t| t.values.len()).collect::<Vec<_>>();
        if lens(&params) != lens(&grads) {
            return Err(AdapterError::Mismatch(format!("adapter tensors {:?} but gradients {:?}", lens(&params), lens(&grads))));
        }
        self.optimizer.update(params, &grads, lr);
        match &mut self.adapter {
            TrainedAdapter::PrefixTuning(prefix) => {
                if let Some(encoder) = &prefix.encoder {
                    prefix.prompt_embeddings = encoder.output(); // what peft saves
                }
            }
            TrainedAdapter::Bottleneck(bottleneck) => bottleneck.attach(self.model.stack_mut())?,
        }
        Ok(LoraStep { loss: out.loss, grad_norm })
    }

    /// The model family's layer path (`transformer.h` or `model.layers`), for saving a bottleneck adapter.
    pub fn layer_path(&self) -> String {
        String::from(super::bottleneck::layer_path(&self.model))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::bottleneck::BottleneckConfig;
    use alloc::vec;

    /// A tiny Llama with GQA (4 query heads, 2 key/value heads), random weights.
    fn tiny_llama() -> (String, WeightStore) {
        let config = r#"{"model_type":"llama","vocab_size":13,"hidden_size":8,"intermediate_size":12,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"max_position_embeddings":32,"rms_norm_eps":1e-6,"tie_word_embeddings":false}"#;
        let mut rng = Rng::new(3);
        let mut store = WeightStore::new();
        let mut put = |name: &str, shape: Vec<usize>, scale: f32| {
            let n = shape.iter().product();
            let values = (0..n).map(|_| (rng.uniform_f32() * 2.0 - 1.0) * scale).collect();
            store.insert_f32(name, shape, values);
        };
        put("model.embed_tokens.weight", vec![13, 8], 0.5);
        put("lm_head.weight", vec![13, 8], 0.5);
        for l in 0..2 {
            for (name, shape) in [
                ("self_attn.q_proj", vec![8, 8]),
                ("self_attn.k_proj", vec![4, 8]),
                ("self_attn.v_proj", vec![4, 8]),
                ("self_attn.o_proj", vec![8, 8]),
                ("mlp.gate_proj", vec![12, 8]),
                ("mlp.up_proj", vec![12, 8]),
                ("mlp.down_proj", vec![8, 12]),
            ] {
                put(&format!("model.layers.{l}.{name}.weight"), shape, 0.4);
            }
        }
        let mut store = store;
        for name in [
            "model.layers.0.input_layernorm",
            "model.layers.0.post_attention_layernorm",
            "model.layers.1.input_layernorm",
            "model.layers.1.post_attention_layernorm",
            "model.norm",
        ] {
            store.insert_f32(&format!("{name}.weight"), vec![8], vec![1.0; 8]);
        }
        (config.into(), store)
    }

    fn input() -> GradInput {
        GradInput { input_ids: vec![vec![1, 2, 3, 4, 5, 6, 7, 8], vec![8, 7, 6, 5, 4, 3, 2, 1]], labels: None, attention_mask: None }
    }

    fn trains(adapter: TrainedAdapter, lr: f64) -> AdapterTraining {
        let (config, store) = tiny_llama();
        let mut training = AdapterTraining::new(adapter, &config, &store).unwrap();
        let first = training.loss(&input()).unwrap();
        for _ in 0..60 {
            training.step(&input(), lr, Some(1.0)).unwrap();
        }
        let last = training.loss(&input()).unwrap();
        assert!(last < first * 0.8, "loss {first} -> {last}");
        training
    }

    #[test]
    fn prefix_training_lowers_the_loss_with_and_without_projection() {
        for projection in [false, true] {
            let config = PrefixTuningConfig {
                num_virtual_tokens: 3,
                token_dim: 4,
                num_attention_heads: 2,
                num_layers: 2,
                prefix_projection: projection,
                encoder_hidden_size: 6,
            };
            let adapter = PrefixTuningAdapter::init(config, &mut Rng::new(1)).unwrap();
            let before = adapter.prompt_embeddings.clone();
            let training = trains(TrainedAdapter::PrefixTuning(adapter), 3e-2);
            let TrainedAdapter::PrefixTuning(after) = &training.adapter else { unreachable!() };
            assert_ne!(after.prompt_embeddings, before, "the saved prefix follows the training");
        }
    }

    #[test]
    fn bottleneck_training_lowers_the_loss_from_the_identity() {
        let config = BottleneckConfig { bottleneck_size: 4, non_linearity: "relu".into(), num_layers: 2, hidden_size: 8 };
        let adapter = BottleneckAdapter::init(config, &mut Rng::new(2)).unwrap();
        let training = trains(TrainedAdapter::Bottleneck(adapter), 3e-2);
        assert_eq!(training.layer_path(), "model.layers");
    }
}
