//! The trainable model: the inference engine's [`DecoderOnly`] (GPT-2 or
//! Llama shape) holding f32 master weights, plus its gradients and what the
//! last forward pass kept for the backward pass.
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
//! There is one definition of the network: the layers of `nn/` run the
//! forward pass (`forward_train`) and walk it back (`backward`), exactly as
//! when `llmlab grad` computes a checkpoint's gradients. The model is built
//! by the family loaders (`models/gpt2.rs`, `models/llama.rs`) from tensors
//! under their Hugging Face names, and exported through the same name table,
//! so a trained model is an ordinary checkpoint.
//!
//! Half precision (bf16/fp16) is emulated: the forward pass runs on a copy
//! of the master weights rounded to the compute type, and the residual
//! stream, the logits and their gradients are rounded as they pass between
//! layers; the gradients of the weights accumulate in f32.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use ndarray::Array2;

use super::checkpoint::config_to_json;
use super::config::{Arch, Config};
use super::precision::Precision;
use super::TrainError;
use crate::loading::WeightStore;
use crate::models::decoder_only::{DecoderOnly, DecoderOnlyActivations, DecoderOnlyGrad};
use crate::models::gradients::{CausalLm, NamedTensor};
use crate::nn::{cross_entropy, NnError, TensorMut};
use crate::rng::Rng;

/// What the last forward pass kept.
struct LastForward {
    acts: DecoderOnlyActivations,
    logits: Array2<f32>, // (B*T, V)
    probs: Vec<f32>,     // (B*T, V) softmax; empty without targets
    targets: Vec<u32>,   // (B*T); empty without targets
    precision: Precision,
}

/// A decoder-only transformer with its master weights, gradients and the
/// last forward pass's activations.
pub struct Model {
    /// Shape of the model.
    pub config: Config,
    /// The network (f32 master weights) with its family's name table.
    net: CausalLm,
    /// Gradients, shaped like the network; backward accumulates into them.
    pub grads: DecoderOnlyGrad,
    /// Master weights rounded to the compute type (bf16/fp16 only), made by
    /// the forward pass and used by the backward pass that follows it.
    compute: Option<DecoderOnly>,
    last: Option<LastForward>,
}

fn nn_error(e: NnError) -> TrainError {
    match e {
        NnError::TokenOutOfRange { id, .. } => TrainError::TokenOutOfRange(id),
        other => TrainError::Format(other.to_string()),
    }
}

/// Every parameter's Hugging Face name and shape for `config`, in the
/// checkpoint's order (what [`Model::new`] initialises).
fn hf_tensor_shapes(config: &Config) -> Vec<(String, Vec<usize>)> {
    let (v, c, i, t) = (config.vocab_size, config.width, config.ffn_width, config.context);
    let (hd, kvd) = (config.heads * config.head_dim(), config.kv_heads * config.head_dim());
    let mut out: Vec<(String, Vec<usize>)> = Vec::new();
    let mut add = |name: String, shape: &[usize]| out.push((name, shape.to_vec()));
    match config.arch {
        Arch::Gpt2 => {
            add("transformer.wte.weight".into(), &[v, c]);
            add("transformer.wpe.weight".into(), &[t, c]);
            for l in 0..config.layers {
                let p = format!("transformer.h.{l}.");
                add(format!("{p}ln_1.weight"), &[c]);
                add(format!("{p}ln_1.bias"), &[c]);
                add(format!("{p}attn.c_attn.weight"), &[c, 3 * c]);
                add(format!("{p}attn.c_attn.bias"), &[3 * c]);
                add(format!("{p}attn.c_proj.weight"), &[c, c]);
                add(format!("{p}attn.c_proj.bias"), &[c]);
                add(format!("{p}ln_2.weight"), &[c]);
                add(format!("{p}ln_2.bias"), &[c]);
                add(format!("{p}mlp.c_fc.weight"), &[c, i]);
                add(format!("{p}mlp.c_fc.bias"), &[i]);
                add(format!("{p}mlp.c_proj.weight"), &[i, c]);
                add(format!("{p}mlp.c_proj.bias"), &[c]);
            }
            add("transformer.ln_f.weight".into(), &[c]);
            add("transformer.ln_f.bias".into(), &[c]);
        }
        Arch::Llama => {
            add("model.embed_tokens.weight".into(), &[v, c]);
            for l in 0..config.layers {
                let p = format!("model.layers.{l}.");
                add(format!("{p}input_layernorm.weight"), &[c]);
                add(format!("{p}self_attn.q_proj.weight"), &[hd, c]);
                add(format!("{p}self_attn.k_proj.weight"), &[kvd, c]);
                add(format!("{p}self_attn.v_proj.weight"), &[kvd, c]);
                add(format!("{p}self_attn.o_proj.weight"), &[c, hd]);
                add(format!("{p}post_attention_layernorm.weight"), &[c]);
                add(format!("{p}mlp.gate_proj.weight"), &[i, c]);
                add(format!("{p}mlp.up_proj.weight"), &[i, c]);
                add(format!("{p}mlp.down_proj.weight"), &[c, i]);
            }
            add("model.norm.weight".into(), &[c]);
        }
    }
    if !config.tie_embeddings {
        add("lm_head.weight".into(), &[v, c]);
    }
    out
}

/// Initial weights: normal(0, 0.02) matrices, with the two projections
/// that write into the residual stream scaled by 1/√(2·layers) (GPT-2
/// paper, nanoGPT); zero biases; unit norm gains. Drawn tensor by tensor in
/// checkpoint order, each row-major in its stored layout.
fn init_tensors(config: &Config, rng: &mut Rng) -> Vec<NamedTensor> {
    let residual_std = 0.02 / libm::sqrt(2.0 * config.layers as f64);
    hf_tensor_shapes(config)
        .into_iter()
        .map(|(name, shape)| {
            let len: usize = shape.iter().product();
            let mut data = vec![0.0f32; len];
            let is_norm = name.contains("ln_") || name.contains("layernorm") || name.ends_with("norm.weight");
            if shape.len() >= 2 {
                let residual = name.ends_with("c_proj.weight") || name.ends_with("o_proj.weight") || name.ends_with("down_proj.weight");
                let std = if residual { residual_std } else { 0.02 };
                data.iter_mut().for_each(|p| *p = (rng.normal() * std) as f32);
            } else if is_norm && name.ends_with("weight") {
                data.fill(1.0);
            }
            NamedTensor { name, shape, data }
        })
        .collect()
}

impl Model {
    /// A freshly initialised model (see [`init_tensors`]).
    pub fn new(config: Config, rng: &mut Rng) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        let tensors = init_tensors(&config, rng);
        Self::from_named(config, &tensors)
    }

    /// A model from tensors under their Hugging Face names: every parameter
    /// of `config` must be there with its shape, and every tensor must be a
    /// parameter of the model.
    pub fn from_named(config: Config, tensors: &[NamedTensor]) -> Result<Self, TrainError> {
        config.validate().map_err(TrainError::Config)?;
        let expected = hf_tensor_shapes(&config);
        for (name, shape) in &expected {
            let t = tensors.iter().find(|t| &t.name == name).ok_or_else(|| TrainError::Format(format!("missing tensor {name}")))?;
            if &t.shape != shape || t.data.len() != shape.iter().product::<usize>() {
                return Err(TrainError::Format(format!("tensor {name} has shape {:?}, expected {shape:?}", t.shape)));
            }
        }
        if let Some(extra) = tensors.iter().find(|t| !expected.iter().any(|(name, _)| *name == t.name)) {
            return Err(TrainError::Format(format!("parameter {} has no place in the trainer's model", extra.name)));
        }
        let mut store = WeightStore::new();
        for t in tensors {
            store.insert_f32(&t.name, t.shape.clone(), t.data.clone());
        }
        let json = config_to_json(&config).to_string();
        let mut net = CausalLm::load(&json, &store).map_err(|e| TrainError::Format(format!("{e}")))?;
        // Make every weight owned f32 now, so the steps never copy.
        net.stack_mut().params_mut();
        let grads = net.stack().zero_grad();
        Ok(Self { config, net, grads, compute: None, last: None })
    }

    /// The network (master weights).
    pub fn stack(&self) -> &DecoderOnly {
        self.net.stack()
    }

    /// Master weights and gradients side by side, in one fixed order
    /// ([`DecoderOnly::params_mut`]): what the optimiser walks.
    pub fn params_and_grads(&mut self) -> (Vec<TensorMut<'_>>, Vec<TensorMut<'_>>) {
        (self.net.stack_mut().params_mut(), self.grads.tensors_mut())
    }

    /// Every parameter under its Hugging Face name, in the checkpoint's layout.
    pub fn named_parameters(&self) -> Vec<NamedTensor> {
        self.net.named_parameters()
    }

    /// Every gradient under its parameter's Hugging Face name.
    pub fn named_gradients(&self) -> Vec<NamedTensor> {
        self.net.named_tensors(&self.grads)
    }

    /// Reorders per-parameter values (AdamW's moments) from the order of
    /// [`params_and_grads`](Self::params_and_grads) to the checkpoint's: the
    /// Hugging Face tensors one after another, each in its stored layout.
    /// Checkpoints keep this order, so they do not depend on how the layers
    /// list their tensors.
    pub fn to_checkpoint_order(&self, values: &[f32]) -> Result<Vec<f32>, TrainError> {
        if values.len() != self.num_params() {
            return Err(TrainError::Shape("per-parameter values do not match the model"));
        }
        let mut shaped = self.net.stack().zero_grad();
        let mut rest = values;
        for t in shaped.tensors_mut() {
            let (head, tail) = rest.split_at(t.values.len().min(rest.len()));
            t.values.copy_from_slice(head);
            rest = tail;
        }
        Ok(self.net.named_tensors(&shaped).into_iter().flat_map(|t| t.data).collect())
    }

    /// The inverse of [`to_checkpoint_order`](Self::to_checkpoint_order).
    pub fn from_checkpoint_order(&self, values: &[f32]) -> Result<Vec<f32>, TrainError> {
        if values.len() != self.num_params() {
            return Err(TrainError::Shape("per-parameter values do not match the model"));
        }
        let mut rest = values;
        let mut named = Vec::new();
        for (name, shape) in hf_tensor_shapes(&self.config) {
            let (head, tail) = rest.split_at(shape.iter().product::<usize>().min(rest.len()));
            named.push(NamedTensor { name, shape, data: head.to_vec() });
            rest = tail;
        }
        // A model whose weights are the values, listed in the layers' order.
        let mut carrier = Self::from_named(self.config.clone(), &named)?;
        let (params, _) = carrier.params_and_grads();
        Ok(params.into_iter().flat_map(|t| t.values.to_vec()).collect())
    }

    /// Number of trainable parameters.
    pub fn num_params(&self) -> usize {
        self.net.stack().num_params()
    }

    /// Sets every gradient to zero (start of an optimiser step).
    pub fn zero_grad(&mut self) {
        for t in self.grads.tensors_mut() {
            t.values.fill(0.0);
        }
    }

    /// Logits (B·T, V) of the last forward pass.
    pub fn logits(&self) -> &[f32] {
        self.last.as_ref().and_then(|l| l.logits.as_slice()).unwrap_or(&[])
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
        self.last = None;
        self.compute = (precision != Precision::Fp32).then(|| {
            let mut rounded = self.net.stack().clone();
            for t in rounded.params_mut() {
                precision.round(t.values);
            }
            rounded
        });
        let net = self.compute.as_ref().unwrap_or(self.net.stack());
        let rows: Vec<Vec<u32>> = tokens.chunks_exact(seq).map(<[u32]>::to_vec).collect(); // (B, T)
        let round = |x: &mut [f32]| precision.round(x);
        let (logits, acts) = net.forward_train_rounded(&rows, None, &round).map_err(|e| match e {
            crate::models::ModelError::Nn(e) => nn_error(e),
            other => TrainError::Format(format!("{other}")),
        })?;
        let v = c.vocab_size;
        let (mut probs, mut kept, mut loss) = (Vec::new(), Vec::new(), None);
        if let Some(targets) = targets {
            probs = vec![0.0f32; batch * seq * v];
            let z = logits.as_slice().ok_or(TrainError::Shape("logits are not contiguous"))?;
            loss = Some(cross_entropy::forward(&mut probs, z, targets, v).map_err(nn_error)?);
            kept = targets.to_vec();
        }
        self.last = Some(LastForward { acts, logits, probs, targets: kept, precision });
        Ok(loss)
    }

    /// Backward pass of the last forward (which must have had targets).
    /// `d_loss` is the gradient of the final loss with respect to each
    /// position's NLL: 1/(B·T) for a mean, divided by K when accumulating K
    /// micro-batches, times the loss scale in fp16. Gradients are ADDED to
    /// [`Model::grads`].
    pub fn backward(&mut self, d_loss: f32) -> Result<(), TrainError> {
        let Some(last) = self.last.as_ref().filter(|l| !l.targets.is_empty()) else { return Err(TrainError::NoForward) };
        let v = self.config.vocab_size;
        let mut d_logits = Array2::<f32>::zeros(last.logits.raw_dim()); // (B*T, V)
        let precision = last.precision;
        {
            let d = d_logits.as_slice_mut().ok_or(TrainError::Shape("logit gradient is not contiguous"))?;
            cross_entropy::backward(d, &last.probs, &last.targets, v, d_loss).map_err(nn_error)?;
            // Activation gradients are rounded too in half precision: that is
            // where fp16 overflows (inf) or underflows without loss scaling.
            precision.round(d);
        }
        let net = self.compute.as_ref().unwrap_or(self.net.stack());
        let round = |x: &mut [f32]| precision.round(x);
        net.backward_into(&last.acts, d_logits.view(), &mut self.grads, &round).map_err(|e| TrainError::Format(format!("{e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::gradcheck::check_gradient_with;

    /// A tiny model with large random weights, so gradients are big enough
    /// for an f32 finite-difference check.
    fn tiny(config: Config) -> Model {
        let mut rng = Rng::new(7);
        let mut tensors = init_tensors(&config, &mut rng);
        for t in tensors.iter_mut() {
            for p in t.data.iter_mut() {
                *p += (rng.normal() * 0.3) as f32;
            }
        }
        Model::from_named(config, &tensors).unwrap()
    }

    fn flat(tensors: Vec<TensorMut<'_>>) -> Vec<f32> {
        tensors.into_iter().flat_map(|t| t.values.to_vec()).collect()
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
        let (params, grads) = model.params_and_grads();
        let (params, grads) = (flat(params), flat(grads));
        check_gradient_with(
            &params,
            &grads,
            |p| {
                let mut rest = p;
                for t in model.params_and_grads().0 {
                    let (head, tail) = rest.split_at(t.values.len());
                    t.values.copy_from_slice(head);
                    rest = tail;
                }
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
    fn named_parameters_round_trip_through_the_model() {
        for config in [Config::gpt2(7, 6, 2, 2, 8), Config { kv_heads: 2, ..Config::llama(7, 6, 1, 4, 8) }] {
            let tensors = init_tensors(&config, &mut Rng::new(3));
            let model = Model::from_named(config, &tensors).unwrap();
            assert_eq!(model.named_parameters(), tensors);
            let count: usize = tensors.iter().map(|t| t.data.len()).sum();
            assert_eq!(model.num_params(), count);
        }
    }

    #[test]
    fn checkpoint_order_is_the_hf_tensors_back_to_back_and_round_trips() {
        for config in [Config::gpt2(7, 6, 2, 2, 8), Config { kv_heads: 2, ..Config::llama(7, 6, 1, 4, 8) }] {
            let mut model = Model::new(config, &mut Rng::new(5)).unwrap();
            let in_layer_order = flat(model.params_and_grads().0);
            let hf: Vec<f32> = model.named_parameters().into_iter().flat_map(|t| t.data).collect();
            // GPT-2 stores Conv1D weights transposed and q, k, v fused; Llama as the layers list them.
            assert_eq!(in_layer_order == hf, model.config.arch == Arch::Llama);
            assert_eq!(model.to_checkpoint_order(&in_layer_order).unwrap(), hf);
            assert_eq!(model.from_checkpoint_order(&hf).unwrap(), in_layer_order);
            assert!(model.to_checkpoint_order(&hf[1..]).is_err());
        }
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut model = tiny(Config::gpt2(7, 6, 1, 2, 8));
        assert!(model.backward(1.0).is_err());
        assert!(model.forward(&[1, 2, 3], None, 1, 3, Precision::Fp32).unwrap().is_none());
        assert!(model.backward(1.0).is_err()); // the forward had no targets
        assert!(model.forward(&[1, 2, 9], None, 1, 3, Precision::Fp32).is_err());
        assert!(model.forward(&[1; 8], None, 1, 8, Precision::Fp32).is_err()); // longer than the context
        assert!(model.forward(&[1; 4], None, 1, 3, Precision::Fp32).is_err());
        let config = Config::gpt2(7, 6, 1, 2, 8);
        let mut tensors = init_tensors(&config, &mut Rng::new(1));
        tensors.push(NamedTensor { name: "extra.weight".into(), shape: vec![1], data: vec![0.0] });
        assert!(Model::from_named(config.clone(), &tensors).is_err());
        tensors.pop();
        tensors.remove(0);
        assert!(Model::from_named(config, &tensors).is_err());
    }
}
