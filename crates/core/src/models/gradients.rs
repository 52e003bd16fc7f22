//! Loss and gradients of a loaded causal LM, under Hugging Face's names.
//!
//! This is `model(input_ids, attention_mask=..., labels=...).loss.backward()`
//! of transformers' `GPT2LMHeadModel` / `LlamaForCausalLM`:
//!
//! 1. The loaded model runs [`DecoderOnly::forward_train`](super::decoder_only::DecoderOnly::forward_train)
//!    (the same layers as inference) to logits `(B*T, V)`.
//! 2. [`causal_lm_loss`] shifts the labels by one (position `t` predicts
//!    label `t+1`), skips `-100`, and averages the cross-entropy over the
//!    labels that remain; its gradient is `(softmax − onehot) / count`.
//! 3. [`DecoderOnly::backward`](super::decoder_only::DecoderOnly::backward) returns every parameter's
//!    gradient, and the family's name table (`Gpt2::named_tensors`,
//!    `Llama::named_tensors`) lays them out like the checkpoint: GPT-2's
//!    `Conv1D` weights transposed back to `(in, out)` and `q, k, v` fused
//!    into `c_attn`. A tied LM head is reported once, under the embedding's
//!    name, as `named_parameters()` does.
//!
//! Mixture-of-experts models (Mixtral, Qwen2-MoE) add
//! `router_aux_loss_coef · aux` to the loss, `aux` being the load-balancing
//! loss over every sparse layer's router logits
//! ([`load_balancing_loss`](crate::nn::moe::load_balancing_loss)), as
//! transformers does with `output_router_logits=True` and labels; its
//! gradient reaches the routers.
//!
//! Batches come as text: `1,2,3;4,5,6` is two rows of three ids
//! ([`parse_rows`]); rows must have equal length.

use super::bert::Bert;
use super::decoder_only::{DecoderOnly, DecoderOnlyGrad};
use super::gpt2::Gpt2;
use super::llama::Llama;
use super::mixtral::Mixtral;
use super::qwen2_moe::Qwen2Moe;
use super::t5::T5;
use super::{detect_model_type, ModelError};
use crate::loading::WeightStore;
use crate::nn::moe::load_balancing_loss;
use crate::nn::{cross_entropy, distillation_loss};
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use ndarray::{Array2, ArrayView2, Dimension};

/// Label value that contributes nothing to the loss (PyTorch's `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// One tensor under its checkpoint name, row-major f32.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedTensor {
    /// Hugging Face state-dict name.
    pub name: String,
    /// Shape as stored in the checkpoint.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

impl NamedTensor {
    /// Copies an ndarray array (any layout) under `name`.
    pub fn new<D: Dimension>(name: impl Into<String>, array: &ndarray::Array<f32, D>) -> Self {
        Self { name: name.into(), shape: array.shape().to_vec(), data: array.iter().copied().collect() }
    }
}

/// A batch for [`causal_lm_gradients`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GradInput {
    /// `(B, T)` token ids.
    pub input_ids: Vec<Vec<u32>>,
    /// `(B, T)` labels; `None` means the ids themselves (plain causal LM).
    pub labels: Option<Vec<Vec<i64>>>,
    /// `(B, T)`: 1 for real tokens, 0 for padding; `None` means all ones.
    pub attention_mask: Option<Vec<Vec<u8>>>,
}

/// The loss and the gradient of every trainable parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct GradOutput {
    /// Mean cross-entropy over the non-ignored shifted labels.
    pub loss: f64,
    /// One entry per trainable parameter, under its HF name.
    pub gradients: Vec<NamedTensor>,
}

impl GradOutput {
    /// The gradients as a safetensors file (f32).
    pub fn to_safetensors(&self) -> Result<Vec<u8>, ModelError> {
        let tensors: Vec<(String, Vec<usize>, &[f32])> =
            self.gradients.iter().map(|t| (t.name.clone(), t.shape.clone(), &t.data[..])).collect();
        crate::train::checkpoint::write_tensors(&tensors).map_err(|e| ModelError::BadInput(format!("{e}")))
    }
}

/// Parses a batch written `1,2,3;4,5,6` (rows split by `;`, values by `,`).
/// `field` names the option in errors; rows must have equal length.
pub fn parse_rows(text: &str, field: &str) -> Result<Vec<Vec<i64>>, ModelError> {
    let mut rows = Vec::new();
    for (r, row) in text.split(';').enumerate() {
        let values = row
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<i64>()
                    .map_err(|_| ModelError::BadInput(format!("{field}: '{s}' in row {} is not an integer", r + 1)))
            })
            .collect::<Result<Vec<i64>, _>>()?;
        if values.is_empty() {
            return Err(ModelError::BadInput(format!("{field}: row {} is empty", r + 1)));
        }
        rows.push(values);
    }
    if let Some(first) = rows.first() {
        if let Some((r, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != first.len()) {
            return Err(ModelError::BadInput(format!(
                "{field}: row {} has {} values but row 1 has {}; rows separated by ';' must have equal length",
                r + 1,
                row.len(),
                first.len()
            )));
        }
    }
    Ok(rows)
}

impl GradInput {
    /// Builds a batch from the text forms of `--ids`, `--labels` and
    /// `--attention-mask` (see [`parse_rows`]), checking ranges and shapes.
    pub fn parse(ids: &str, labels: Option<&str>, attention_mask: Option<&str>) -> Result<Self, ModelError> {
        Self::parse_with(ids, labels, attention_mask, true)
    }

    /// [`parse`](Self::parse); with `labels_follow_ids` false the labels are
    /// a target sequence (T5) that only needs as many rows as the ids.
    pub fn parse_with(
        ids: &str,
        labels: Option<&str>,
        attention_mask: Option<&str>,
        labels_follow_ids: bool,
    ) -> Result<Self, ModelError> {
        let input_ids = parse_rows(ids, "ids")?
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|v| u32::try_from(v).map_err(|_| ModelError::BadInput(format!("ids: {v} is not a token id"))))
                    .collect()
            })
            .collect::<Result<Vec<Vec<u32>>, _>>()?;
        let shape = (input_ids.len(), input_ids.first().map_or(0, Vec::len));
        let same_shape = |rows: &Vec<Vec<i64>>, field: &str| -> Result<(), ModelError> {
            let found = (rows.len(), rows.first().map_or(0, Vec::len));
            if found != shape {
                return Err(ModelError::BadInput(format!("{field} has shape {found:?} but ids has {shape:?}")));
            }
            Ok(())
        };
        let labels = match labels {
            Some(text) => {
                let rows = parse_rows(text, "labels")?;
                if labels_follow_ids {
                    same_shape(&rows, "labels")?;
                } else if rows.len() != shape.0 {
                    return Err(ModelError::BadInput(format!(
                        "labels have {} rows but ids have {}",
                        rows.len(),
                        shape.0
                    )));
                }
                Some(rows)
            }
            None => None,
        };
        let attention_mask = match attention_mask {
            Some(text) => {
                let rows = parse_rows(text, "attention_mask")?;
                same_shape(&rows, "attention_mask")?;
                let mask = rows
                    .into_iter()
                    .map(|row| {
                        row.into_iter()
                            .map(|v| match v {
                                0 | 1 => Ok(v as u8),
                                _ => Err(ModelError::BadInput(format!("attention_mask: {v} is not 0 or 1"))),
                            })
                            .collect()
                    })
                    .collect::<Result<Vec<Vec<u8>>, _>>()?;
                Some(mask)
            }
            None => None,
        };
        Ok(Self { input_ids, labels, attention_mask })
    }
}

/// Hugging Face's causal LM loss on `logits: (B*T, V)` with `labels: (B, T)`:
/// position `t` of a row is scored against label `t+1`, labels equal to
/// [`IGNORE_INDEX`] are skipped, and the mean is over the rest. Returns the
/// loss and `d_logits: (B*T, V)`.
pub fn causal_lm_loss(logits: ArrayView2<f32>, labels: &[Vec<i64>]) -> Result<(f64, Array2<f32>), ModelError> {
    token_loss(logits, labels, 1)
}

/// The loss of a masked LM (BERT) or of a seq2seq decoder (T5): position
/// `t` is scored against label `t` itself (no shift), labels equal to
/// [`IGNORE_INDEX`] are skipped, and the mean is over the rest. Returns the
/// loss and `d_logits: (B*T, V)`.
pub fn aligned_lm_loss(logits: ArrayView2<f32>, labels: &[Vec<i64>]) -> Result<(f64, Array2<f32>), ModelError> {
    token_loss(logits, labels, 0)
}

/// The rows of `logits: (B*T, V)` that have a target (label read `shift`
/// positions ahead, not [`IGNORE_INDEX`]) and those targets.
fn scored_positions(v: usize, rows_total: usize, labels: &[Vec<i64>], shift: usize) -> Result<(Vec<usize>, Vec<u32>), ModelError> {
    let t = labels.first().map_or(0, Vec::len);
    if labels.iter().any(|row| row.len() != t) || labels.len() * t != rows_total {
        return Err(ModelError::BadInput("labels must have the shape of input_ids".into()));
    }
    let mut rows = Vec::new(); // positions of `logits` that have a target
    let mut targets = Vec::new();
    for (b, row) in labels.iter().enumerate() {
        for (ti, &label) in row.iter().enumerate().skip(shift) {
            if label == IGNORE_INDEX {
                continue;
            }
            let target = u32::try_from(label).ok().filter(|&l| (l as usize) < v).ok_or_else(|| {
                ModelError::BadInput(format!("label {label} is outside the vocabulary of {v} (use -100 to ignore)"))
            })?;
            rows.push(b * t + ti - shift);
            targets.push(target);
        }
    }
    if rows.is_empty() {
        let which = if shift > 0 { "shifted label" } else { "label" };
        return Err(ModelError::BadInput(format!("no label to predict: every {which} is -100")));
    }
    Ok((rows, targets))
}

/// The listed rows of `logits: (B*T, V)`, stacked: `(n, V)` row-major.
fn pick_rows(logits: ArrayView2<f32>, rows: &[usize]) -> Vec<f32> {
    let mut picked = Vec::with_capacity(rows.len() * logits.ncols());
    for &r in rows {
        picked.extend(logits.row(r).iter().copied());
    }
    picked
}

/// Scatters `(n, V)` row gradients back to a zero `(rows_total, V)` array.
fn scatter_rows(d_picked: &[f32], rows: &[usize], rows_total: usize, v: usize) -> Array2<f32> {
    let mut d_logits = Array2::<f32>::zeros((rows_total, v));
    for (&r, d) in rows.iter().zip(d_picked.chunks_exact(v)) {
        d_logits.row_mut(r).iter_mut().zip(d).for_each(|(o, &g)| *o = g);
    }
    d_logits
}

/// Mean cross-entropy of `logits: (B*T, V)` against `labels: (B, T)` read
/// `shift` positions ahead, and its gradient.
fn token_loss(logits: ArrayView2<f32>, labels: &[Vec<i64>], shift: usize) -> Result<(f64, Array2<f32>), ModelError> {
    let v = logits.ncols();
    let (rows, targets) = scored_positions(v, logits.nrows(), labels, shift)?;
    let n = rows.len();
    let picked = pick_rows(logits, &rows); // (n, V)
    let mut probs = vec![0.0f32; n * v];
    let bad = |e: crate::nn::NnError| ModelError::BadInput(format!("{e}"));
    let total = cross_entropy::forward(&mut probs, &picked, &targets, v).map_err(bad)?;
    let mut d_picked = vec![0.0f32; n * v];
    cross_entropy::backward(&mut d_picked, &probs, &targets, v, 1.0 / n as f32).map_err(bad)?;
    Ok((total / n as f64, scatter_rows(&d_picked, &rows, logits.nrows(), v)))
}

/// Temperature and mix of the distillation loss ([`crate::nn::distillation_loss`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DistillationSettings {
    /// `T > 0`: both distributions are softmax(logits / T).
    pub temperature: f32,
    /// `α` in `[0, 1]`: weight of the `T²·KL` term; `1 − α` weighs the cross-entropy.
    pub alpha: f32,
}

impl DistillationSettings {
    /// Checks `T > 0` (finite) and `0 ≤ α ≤ 1`.
    pub fn validate(&self) -> Result<(), ModelError> {
        if !(self.temperature.is_finite() && self.temperature > 0.0) {
            return Err(ModelError::BadInput(format!("temperature must be a positive number, not {}", self.temperature)));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(ModelError::BadInput(format!("alpha must be between 0 and 1, not {}", self.alpha)));
        }
        Ok(())
    }
}

/// The distillation loss of a student, its two terms and its gradients.
#[derive(Clone, Debug, PartialEq)]
pub struct DistillationOutput {
    /// `α·T²·kl + (1 − α)·cross_entropy`, and every student parameter's gradient.
    pub grad: GradOutput,
    /// Mean over the scored positions of KL(softmax(teacher/T) ‖ softmax(student/T)).
    pub kl: f64,
    /// Mean cross-entropy of the student on the shifted labels.
    pub cross_entropy: f64,
}

/// The causal distillation loss on `student, teacher: (B*T, V)` logits:
/// the positions scored are those of [`causal_lm_loss`] (label `t+1` not
/// ignored), and both terms are means over them. Returns the output's
/// loss terms and `d_student: (B*T, V)`.
pub fn causal_distillation_loss(
    student: ArrayView2<f32>,
    teacher: ArrayView2<f32>,
    labels: &[Vec<i64>],
    settings: DistillationSettings,
) -> Result<(f64, f64, f64, Array2<f32>), ModelError> {
    settings.validate()?;
    if student.dim() != teacher.dim() {
        return Err(ModelError::BadInput(format!(
            "student logits {:?} and teacher logits {:?} differ: the two models need the same vocabulary",
            student.dim(),
            teacher.dim()
        )));
    }
    let v = student.ncols();
    let (rows, targets) = scored_positions(v, student.nrows(), labels, 1)?;
    let n = rows.len();
    let (picked_student, picked_teacher) = (pick_rows(student, &rows), pick_rows(teacher, &rows)); // (n, V) each
    let (mut q, mut p, mut probs) = (vec![0.0f32; n * v], vec![0.0f32; n * v], vec![0.0f32; n * v]);
    let bad = |e: crate::nn::NnError| ModelError::BadInput(format!("{e}"));
    let buffers = distillation_loss::DistillationBuffers { student_soft: &mut q, teacher_soft: &mut p, student_probs: &mut probs };
    let sums = distillation_loss::forward(buffers, &picked_student, &picked_teacher, &targets, v, settings.temperature).map_err(bad)?;
    let buffers = distillation_loss::DistillationBuffers { student_soft: &mut q, teacher_soft: &mut p, student_probs: &mut probs };
    let mut d_picked = vec![0.0f32; n * v];
    distillation_loss::backward(&mut d_picked, &buffers, &targets, v, settings.temperature, settings.alpha, 1.0 / n as f32)
        .map_err(bad)?;
    let (kl, ce) = (sums.kl / n as f64, sums.cross_entropy / n as f64);
    let (t, alpha) = (f64::from(settings.temperature), f64::from(settings.alpha));
    let loss = alpha * t * t * kl + (1.0 - alpha) * ce;
    Ok((loss, kl, ce, scatter_rows(&d_picked, &rows, student.nrows(), v)))
}

/// A model whose parameters (and gradients) have HF names.
pub enum Trainable {
    /// `GPT2LMHeadModel`.
    Gpt2(Box<Gpt2>),
    /// `LlamaForCausalLM`.
    Llama(Box<Llama>),
    /// `BertForMaskedLM`.
    Bert(Box<Bert>),
    /// `T5ForConditionalGeneration`.
    T5(Box<T5>),
    /// `MixtralForCausalLM`.
    Mixtral(Box<Mixtral>),
    /// `Qwen2MoeForCausalLM`.
    Qwen2Moe(Box<Qwen2Moe>),
}

impl Trainable {
    /// Loads a GPT-2, Llama, BERT or T5 checkpoint. Every checkpoint tensor
    /// must be one the model uses (an unused one is an error naming it).
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        match detect_model_type(config_json)?.as_str() {
            "gpt2" => Ok(Trainable::Gpt2(Box::new(Gpt2::load(config_json, store)?))),
            "llama" => Ok(Trainable::Llama(Box::new(Llama::load(config_json, store)?))),
            "bert" => {
                let mut bert = Bert::load_checked(config_json, store)?;
                if bert.decoder.is_some() {
                    if bert.config.tie_word_embeddings {
                        // torch ties a stored duplicate of the word embeddings back to them.
                        bert.decoder = None;
                    } else {
                        return Err(ModelError::Unsupported(
                            "gradients of a BERT with an untied MLM decoder (tie_word_embeddings false)".into(),
                        ));
                    }
                }
                Ok(Trainable::Bert(Box::new(bert)))
            }
            "t5" => Ok(Trainable::T5(Box::new(T5::load_checked(config_json, store)?))),
            "mixtral" => Ok(Trainable::Mixtral(Box::new(Mixtral::load(config_json, store)?))),
            "qwen2_moe" => Ok(Trainable::Qwen2Moe(Box::new(Qwen2Moe::load(config_json, store)?))),
            other => Err(ModelError::Unsupported(format!(
                "gradients are implemented for gpt2, llama, bert, t5, mixtral and qwen2_moe, not '{other}'"
            ))),
        }
    }

    /// Every trainable parameter under its HF name, in the checkpoint's
    /// layout (the same table [`gradients`](Self::gradients) uses).
    pub fn named_parameters(&self) -> Vec<NamedTensor> {
        match self {
            Trainable::Gpt2(m) => m.named_tensors(&m.stack.parameters()),
            Trainable::Llama(m) => m.named_tensors(&m.stack.parameters()),
            Trainable::Bert(m) => m.named_tensors(&m.parameters()),
            Trainable::T5(m) => m.named_tensors(&m.parameters()),
            Trainable::Mixtral(m) => m.named_tensors(&m.stack.parameters()),
            Trainable::Qwen2Moe(m) => m.named_tensors(&m.stack.parameters()),
        }
    }

    /// Whether `--labels` is a separate target sequence (T5's decoder)
    /// rather than one label per input id.
    pub fn labels_are_targets(&self) -> bool {
        matches!(self, Trainable::T5(_))
    }

    /// [`GradInput::parse`] for this model: T5's labels are the target
    /// sequence, with its own length (and required).
    pub fn parse_input(&self, ids: &str, labels: Option<&str>, attention_mask: Option<&str>) -> Result<GradInput, ModelError> {
        GradInput::parse_with(ids, labels, attention_mask, !self.labels_are_targets())
    }

    /// The loss and every trainable parameter's gradient for `input`.
    /// Labels default to the ids (T5 needs them: they are its target);
    /// causal LMs score position `t` against label `t+1`, BERT against
    /// label `t`, T5's decoder position `t` against target `t`.
    pub fn gradients(&self, input: &GradInput) -> Result<GradOutput, ModelError> {
        let labels: Vec<Vec<i64>> = match &input.labels {
            Some(labels) => labels.clone(),
            None => input.input_ids.iter().map(|row| row.iter().map(|&id| i64::from(id)).collect()).collect(),
        };
        let mask = input.attention_mask.as_deref();
        match self {
            Trainable::Gpt2(m) => causal_gradients(&m.stack, input, &labels, |g| m.named_tensors(g)),
            Trainable::Llama(m) => causal_gradients(&m.stack, input, &labels, |g| m.named_tensors(g)),
            Trainable::Mixtral(m) => {
                let aux = RouterAuxLoss { top_k: m.config.num_experts_per_tok, coef: m.config.router_aux_loss_coef };
                moe_causal_gradients(&m.stack, input, &labels, aux, |g| m.named_tensors(g))
            }
            Trainable::Qwen2Moe(m) => {
                let aux = RouterAuxLoss { top_k: m.config.num_experts_per_tok, coef: m.config.router_aux_loss_coef };
                moe_causal_gradients(&m.stack, input, &labels, aux, |g| m.named_tensors(g))
            }
            Trainable::Bert(m) => {
                let (logits, acts) = m.forward_train(&input.input_ids, mask)?;
                let (loss, d_logits) = aligned_lm_loss(logits.view(), &labels)?;
                let grad = m.backward(&acts, d_logits.view())?;
                Ok(GradOutput { loss, gradients: m.named_tensors(&grad) })
            }
            Trainable::T5(m) => {
                let labels = input
                    .labels
                    .as_deref()
                    .ok_or_else(|| ModelError::BadInput("t5 needs --labels: the target sequence the decoder learns".into()))?;
                let (logits, acts) = m.forward_train(&input.input_ids, input.attention_mask.as_deref(), labels)?;
                let (loss, d_logits) = aligned_lm_loss(logits.view(), labels)?;
                let grad = m.backward(&acts, d_logits.view())?;
                Ok(GradOutput { loss, gradients: m.named_tensors(&grad) })
            }
        }
    }
}

impl Trainable {
    /// The decoder-only network of a dense GPT-2 or Llama model; `None` for
    /// BERT, T5 and the mixtures of experts (whose loss adds the router's).
    fn decoder_only(&self) -> Option<&DecoderOnly> {
        match self {
            Trainable::Gpt2(m) => Some(&m.stack),
            Trainable::Llama(m) => Some(&m.stack),
            Trainable::Mixtral(_) | Trainable::Qwen2Moe(_) | Trainable::Bert(_) | Trainable::T5(_) => None,
        }
    }

    /// Knowledge distillation: this model is the student, `teacher` (any
    /// GPT-2 or Llama with the same vocabulary) runs on the same batch, and
    /// the loss is [`causal_distillation_loss`]. Returns the loss, its two
    /// terms and the student's gradients under HF names (the same backward
    /// pass as [`gradients`](Self::gradients), fed another `d_logits`).
    pub fn distillation_gradients(
        &self,
        teacher: &Trainable,
        input: &GradInput,
        settings: DistillationSettings,
    ) -> Result<DistillationOutput, ModelError> {
        let not_causal = || ModelError::Unsupported("distillation needs a GPT-2 or Llama student and teacher".into());
        let (student_stack, teacher_stack) = (self.decoder_only().ok_or_else(not_causal)?, teacher.decoder_only().ok_or_else(not_causal)?);
        let labels: Vec<Vec<i64>> = match &input.labels {
            Some(labels) => labels.clone(),
            None => input.input_ids.iter().map(|row| row.iter().map(|&id| i64::from(id)).collect()).collect(),
        };
        let mask = input.attention_mask.as_deref();
        let (teacher_logits, _) = teacher_stack.forward_train(&input.input_ids, mask)?; // (B*T, V)
        let (student_logits, acts) = student_stack.forward_train(&input.input_ids, mask)?; // (B*T, V)
        let (loss, kl, cross_entropy, d_logits) =
            causal_distillation_loss(student_logits.view(), teacher_logits.view(), &labels, settings)?;
        let grad = student_stack.backward(&acts, d_logits.view())?;
        let gradients = match self {
            Trainable::Gpt2(m) => m.named_tensors(&grad),
            Trainable::Llama(m) => m.named_tensors(&grad),
            Trainable::Mixtral(_) | Trainable::Qwen2Moe(_) | Trainable::Bert(_) | Trainable::T5(_) => return Err(not_causal()),
        };
        Ok(DistillationOutput { grad: GradOutput { loss, gradients }, kl, cross_entropy })
    }
}

/// A decoder-only checkpoint (GPT-2 or Llama): the model that the trainer
/// steps. Its network is the inference model itself ([`DecoderOnly`]).
#[derive(Clone, Debug)]
pub enum CausalLm {
    /// `GPT2LMHeadModel`.
    Gpt2(Box<Gpt2>),
    /// `LlamaForCausalLM`.
    Llama(Box<Llama>),
}

impl CausalLm {
    /// Loads a GPT-2 or Llama checkpoint; any other family is an error.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        match detect_model_type(config_json)?.as_str() {
            "gpt2" => Ok(CausalLm::Gpt2(Box::new(Gpt2::load(config_json, store)?))),
            "llama" => Ok(CausalLm::Llama(Box::new(Llama::load(config_json, store)?))),
            other => Err(ModelError::Unsupported(format!("causal LM training needs gpt2 or llama, not '{other}'"))),
        }
    }

    /// The decoder-only network.
    pub fn stack(&self) -> &DecoderOnly {
        match self {
            CausalLm::Gpt2(m) => &m.stack,
            CausalLm::Llama(m) => &m.stack,
        }
    }

    /// The decoder-only network, to change its weights (training).
    pub fn stack_mut(&mut self) -> &mut DecoderOnly {
        match self {
            CausalLm::Gpt2(m) => &mut m.stack,
            CausalLm::Llama(m) => &mut m.stack,
        }
    }

    /// Lays out per-layer tensors (gradients, or parameters copied into the
    /// same structure) under the checkpoint's names.
    pub fn named_tensors(&self, tensors: &DecoderOnlyGrad) -> Vec<NamedTensor> {
        match self {
            CausalLm::Gpt2(m) => m.named_tensors(tensors),
            CausalLm::Llama(m) => m.named_tensors(tensors),
        }
    }

    /// Every parameter under its HF name, in the checkpoint's layout.
    pub fn named_parameters(&self) -> Vec<NamedTensor> {
        self.named_tensors(&self.stack().parameters())
    }
}

/// Loss and named gradients of a decoder-only stack (`names` is the family's name table).
fn causal_gradients(
    stack: &DecoderOnly,
    input: &GradInput,
    labels: &[Vec<i64>],
    names: impl Fn(&DecoderOnlyGrad) -> Vec<NamedTensor>,
) -> Result<GradOutput, ModelError> {
    let (logits, acts) = stack.forward_train(&input.input_ids, input.attention_mask.as_deref())?;
    let (loss, d_logits) = causal_lm_loss(logits.view(), labels)?;
    let grad = stack.backward(&acts, d_logits.view())?;
    Ok(GradOutput { loss, gradients: names(&grad) })
}

/// The load-balancing term of a mixture-of-experts model's loss.
#[derive(Clone, Copy, Debug)]
pub struct RouterAuxLoss {
    /// Experts per token (`num_experts_per_tok`).
    pub top_k: usize,
    /// Its weight in the loss (`router_aux_loss_coef`).
    pub coef: f64,
}

/// Loss (the LM loss plus `coef · aux`) and named gradients of a
/// mixture-of-experts decoder; padding (mask 0) is left out of `aux`.
fn moe_causal_gradients(
    stack: &DecoderOnly,
    input: &GradInput,
    labels: &[Vec<i64>],
    aux: RouterAuxLoss,
    names: impl Fn(&DecoderOnlyGrad) -> Vec<NamedTensor>,
) -> Result<GradOutput, ModelError> {
    let (logits, acts) = stack.forward_train(&input.input_ids, input.attention_mask.as_deref())?;
    let (lm_loss, d_logits) = causal_lm_loss(logits.view(), labels)?;
    let token_mask: Option<Vec<f32>> =
        input.attention_mask.as_ref().map(|rows| rows.iter().flatten().map(|&m| f32::from(m)).collect()); // (B*T)
    let (aux_loss, mut d_router) = load_balancing_loss(&acts.router_logits(), aux.top_k, token_mask.as_deref());
    for d in &mut d_router {
        d.mapv_inplace(|v| v * aux.coef as f32);
    }
    let mut grad = stack.zero_grad();
    stack.backward_into_with_router(&acts, d_logits.view(), &d_router, &mut grad, &|_| {})?;
    Ok(GradOutput { loss: lm_loss + aux.coef * aux_loss, gradients: names(&grad) })
}

/// Loads the checkpoint and computes [`Trainable::gradients`].
pub fn model_gradients(config_json: &str, store: &WeightStore, input: &GradInput) -> Result<GradOutput, ModelError> {
    Trainable::load(config_json, store)?.gradients(input)
}

/// Loads a causal LM checkpoint and computes [`Trainable::gradients`]
/// (kept for callers that predate BERT and T5; same as [`model_gradients`]).
pub fn causal_lm_gradients(
    config_json: &str,
    store: &WeightStore,
    input: &GradInput,
) -> Result<GradOutput, ModelError> {
    model_gradients(config_json, store, input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_must_have_equal_length() {
        assert_eq!(parse_rows("1,2;3,4", "ids").unwrap(), vec![vec![1, 2], vec![3, 4]]);
        let err = parse_rows("1,2,3;4,5", "ids").unwrap_err();
        assert!(format!("{err}").contains("row 2 has 2 values but row 1 has 3"), "{err}");
        assert!(parse_rows("1,x", "ids").is_err());
        assert!(GradInput::parse("1,2", Some("1"), None).is_err());
        assert!(GradInput::parse("1,2", None, Some("1,2")).is_err());
        assert!(GradInput::parse("-1,2", None, None).is_err());
    }

    #[test]
    fn loss_shifts_labels_and_skips_ignored() {
        // Uniform logits: every scored position costs ln V, whatever its label.
        let logits = Array2::<f32>::zeros((4, 5));
        let (loss, d) = causal_lm_loss(logits.view(), &[vec![0, 1, -100, 3]]).unwrap();
        assert!((loss - 5f64.ln()).abs() < 1e-6);
        // Positions 0 and 2 have targets (labels 1 and 3); 1 (label -100) and 3 (last) do not.
        assert!(d.row(1).iter().chain(d.row(3).iter()).all(|&g| g == 0.0));
        assert!((d[[0, 1]] - (0.2 - 1.0) / 2.0).abs() < 1e-6);
        assert!(causal_lm_loss(logits.view(), &[vec![0, -100, -100, -100]]).is_err());
        assert!(causal_lm_loss(logits.view(), &[vec![0, 9, 1, 1]]).is_err());
    }
}
