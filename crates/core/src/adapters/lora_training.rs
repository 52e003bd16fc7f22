//! Training a LoRA adapter: the base model stays frozen and only `A` and `B`
//! learn.
//!
//! Each step merges the current update into a copy of the base weights
//! (`W0 + s·B·A`; the copy shares the untouched tensors with the base, so
//! only the adapted matrices are written), runs the model's one forward and
//! backward pass, turns the merged weights' gradients into the adapter's
//! (see [`lora`](super::lora)), and takes an AdamW step on `A` and `B` alone.
//! Merging from the frozen base each time keeps `W0` exact: no drift from
//! adding and subtracting updates. AdamW applies no weight decay, the
//! default of transformers' `Trainer` that peft users get.

use alloc::string::String;
use alloc::vec::Vec;

use super::lora::LoraAdapter;
use super::AdapterError;
use crate::loading::WeightStore;
use crate::models::gradients::{causal_lm_gradients, GradInput};
use crate::nn::TensorMut;
use crate::train::optim::{clip_grad_norm, global_norm, AdamW, AdamWConfig};

/// A LoRA adapter being trained on a frozen base model.
pub struct LoraTraining {
    /// The adapter; its `A` and `B` change with every step.
    pub adapter: LoraAdapter,
    config_json: String,
    base: WeightStore,
    optimizer: AdamW,
}

/// What one step measured.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LoraStep {
    /// Loss of the batch before the update.
    pub loss: f64,
    /// Global norm of the adapter's gradients before clipping.
    pub grad_norm: f64,
}

impl LoraTraining {
    /// Starts training `adapter` on the base model (`config_json`, `base`).
    pub fn new(adapter: LoraAdapter, config_json: String, base: WeightStore) -> Self {
        let n = adapter.modules.iter().map(|m| m.a.len() + m.b.len()).sum();
        let config = AdamWConfig { weight_decay: 0.0, ..AdamWConfig::default() };
        Self { adapter, config_json, base, optimizer: AdamW::new(config, n) }
    }

    /// Number of trainable parameters (every `A` and `B`).
    pub fn num_trainable(&self) -> usize {
        self.optimizer.m.len()
    }

    /// The base weights with the adapter merged in: the adapted model.
    pub fn merged(&self) -> Result<WeightStore, AdapterError> {
        let mut store = self.base.clone();
        self.adapter.apply_to_store(&mut store, 1.0)?;
        Ok(store)
    }

    /// Loss of the adapted model on `input`, without a step.
    pub fn loss(&self, input: &GradInput) -> Result<f64, AdapterError> {
        let store = self.merged()?;
        Ok(causal_lm_gradients(&self.config_json, &store, input).map_err(|e| AdapterError::Model(alloc::format!("{e}")))?.loss)
    }

    /// One AdamW step with learning rate `lr` on `input`; gradients are
    /// clipped to `max_grad_norm` first when it is given.
    pub fn step(&mut self, input: &GradInput, lr: f64, max_grad_norm: Option<f64>) -> Result<LoraStep, AdapterError> {
        let store = self.merged()?;
        let full = causal_lm_gradients(&self.config_json, &store, input).map_err(|e| AdapterError::Model(alloc::format!("{e}")))?;
        // gradients() lists A then B per module, the order of `params` below.
        let mut grad_tensors = self.adapter.gradients(&full.gradients, &store)?;
        let mut grads: Vec<TensorMut<'_>> = grad_tensors.iter_mut().map(|t| TensorMut { values: &mut t.data, matrix: false }).collect();
        let grad_norm = match max_grad_norm {
            Some(max) => clip_grad_norm(&mut grads, max),
            None => global_norm(&grads),
        };
        let mut params: Vec<TensorMut<'_>> = Vec::with_capacity(grads.len());
        for m in &mut self.adapter.modules {
            for w in [&mut m.a, &mut m.b] {
                let values = w.as_slice_mut().ok_or_else(|| AdapterError::Mismatch(alloc::format!("{}: A or B is not contiguous", m.name)))?;
                params.push(TensorMut { values, matrix: false });
            }
        }
        let lens = |ts: &[TensorMut<'_>]| ts.iter().map(|t| t.values.len()).collect::<Vec<_>>();
        if lens(&params) != lens(&grads) {
            return Err(AdapterError::Mismatch(alloc::format!("adapter tensors {:?} but gradients {:?}", lens(&params), lens(&grads))));
        }
        self.optimizer.update(params, &grads, lr);
        Ok(LoraStep { loss: full.loss, grad_norm })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::lora::{LoraConfig, TargetModules};
    use crate::rng::Rng;
    use alloc::vec;

    fn tiny_gpt2() -> (String, WeightStore) {
        let config = r#"{"model_type":"gpt2","vocab_size":11,"n_positions":16,"n_embd":8,"n_layer":1,"n_head":2,"activation_function":"gelu_new","layer_norm_epsilon":1e-5,"tie_word_embeddings":true}"#;
        let mut rng = Rng::new(5);
        let mut store = WeightStore::new();
        let mut put = |name: &str, shape: Vec<usize>, scale: f32| {
            let n = shape.iter().product();
            let values = (0..n).map(|_| (rng.uniform_f32() * 2.0 - 1.0) * scale).collect();
            store.insert_f32(name, shape, values);
        };
        put("wte.weight", vec![11, 8], 0.5);
        put("wpe.weight", vec![16, 8], 0.1);
        for (name, shape) in [("c_attn", vec![8, 24]), ("c_proj", vec![8, 8])] {
            put(&alloc::format!("h.0.attn.{name}.weight"), shape.clone(), 0.3);
            put(&alloc::format!("h.0.attn.{name}.bias"), vec![shape[1]], 0.0);
        }
        put("h.0.mlp.c_fc.weight", vec![8, 32], 0.3);
        put("h.0.mlp.c_fc.bias", vec![32], 0.0);
        put("h.0.mlp.c_proj.weight", vec![32, 8], 0.3);
        put("h.0.mlp.c_proj.bias", vec![8], 0.0);
        for ln in ["h.0.ln_1", "h.0.ln_2", "ln_f"] {
            store.insert_f32(&alloc::format!("{ln}.weight"), vec![8], vec![1.0; 8]);
            store.insert_f32(&alloc::format!("{ln}.bias"), vec![8], vec![0.0; 8]);
        }
        (config.into(), store)
    }

    #[test]
    fn training_lowers_the_loss_and_leaves_the_base_untouched() {
        let (config, store) = tiny_gpt2();
        let lora = LoraConfig {
            r: 4,
            lora_alpha: 8.0,
            use_rslora: false,
            lora_dropout: 0.0,
            target_modules: TargetModules::AllLinear,
            fan_in_fan_out: true,
            init_lora_weights: true,
        };
        let adapter = LoraAdapter::init(lora, &store, "gpt2", &mut Rng::new(1)).unwrap();
        let before_weights = store.to_f32("h.0.attn.c_attn.weight").unwrap();
        let mut training = LoraTraining::new(adapter, config, store);
        assert_eq!(training.num_trainable(), 4 * ((8 + 24) + (8 + 8) + (8 + 32) + (32 + 8)));
        let input =
            GradInput { input_ids: vec![vec![1, 2, 3, 4, 5, 6, 7, 8], vec![8, 7, 6, 5, 4, 3, 2, 1]], labels: None, attention_mask: None };
        let first = training.loss(&input).unwrap();
        for _ in 0..40 {
            training.step(&input, 1e-2, Some(1.0)).unwrap();
        }
        let last = training.loss(&input).unwrap();
        assert!(last < first * 0.7, "loss {first} -> {last}");
        assert_eq!(training.base.to_f32("h.0.attn.c_attn.weight").unwrap(), before_weights, "the base stays frozen");
        assert!(training.adapter.modules.iter().any(|m| m.b.iter().any(|&x| x != 0.0)), "B learned");
    }
}
