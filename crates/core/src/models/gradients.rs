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
//! Batches come as text: `1,2,3;4,5,6` is two rows of three ids
//! ([`parse_rows`]); rows must have equal length.

use super::decoder_only::DecoderOnlyGrad;
use super::gpt2::Gpt2;
use super::llama::Llama;
use super::{detect_model_type, ModelError};
use crate::loading::WeightStore;
use crate::nn::cross_entropy;
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
                same_shape(&rows, "labels")?;
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
    let v = logits.ncols();
    let t = labels.first().map_or(0, Vec::len);
    if labels.iter().any(|row| row.len() != t) || labels.len() * t != logits.nrows() {
        return Err(ModelError::BadInput("labels must have the shape of input_ids".into()));
    }
    let mut rows = Vec::new(); // positions of `logits` that have a target
    let mut targets = Vec::new();
    for (b, row) in labels.iter().enumerate() {
        for (ti, &label) in row.iter().enumerate().skip(1) {
            if label == IGNORE_INDEX {
                continue;
            }
            let target = u32::try_from(label).ok().filter(|&l| (l as usize) < v).ok_or_else(|| {
                ModelError::BadInput(format!("label {label} is outside the vocabulary of {v} (use -100 to ignore)"))
            })?;
            rows.push(b * t + ti - 1);
            targets.push(target);
        }
    }
    if rows.is_empty() {
        return Err(ModelError::BadInput("no label to predict: every shifted label is -100".into()));
    }
    let n = rows.len();
    let mut picked = Vec::with_capacity(n * v); // (n, V)
    for &r in &rows {
        picked.extend(logits.row(r).iter().copied());
    }
    let mut probs = vec![0.0f32; n * v];
    let bad = |e: crate::nn::NnError| ModelError::BadInput(format!("{e}"));
    let total = cross_entropy::forward(&mut probs, &picked, &targets, v).map_err(bad)?;
    let mut d_picked = vec![0.0f32; n * v];
    cross_entropy::backward(&mut d_picked, &probs, &targets, v, 1.0 / n as f32).map_err(bad)?;
    let mut d_logits = Array2::<f32>::zeros(logits.raw_dim());
    for (&r, d) in rows.iter().zip(d_picked.chunks_exact(v)) {
        d_logits.row_mut(r).iter_mut().zip(d).for_each(|(o, &g)| *o = g);
    }
    Ok((total / n as f64, d_logits))
}

/// A causal LM whose parameters (and gradients) have HF names.
pub enum Trainable {
    /// `GPT2LMHeadModel`.
    Gpt2(Box<Gpt2>),
    /// `LlamaForCausalLM`.
    Llama(Box<Llama>),
}

impl Trainable {
    /// Loads a GPT-2 or Llama checkpoint.
    pub fn load(config_json: &str, store: &WeightStore) -> Result<Self, ModelError> {
        match detect_model_type(config_json)?.as_str() {
            "gpt2" => Ok(Trainable::Gpt2(Box::new(Gpt2::load(config_json, store)?))),
            "llama" => Ok(Trainable::Llama(Box::new(Llama::load(config_json, store)?))),
            other => {
                Err(ModelError::Unsupported(format!("gradients are implemented for gpt2 and llama, not '{other}'")))
            }
        }
    }

    /// The decoder-only network.
    pub fn stack(&self) -> &super::decoder_only::DecoderOnly {
        match self {
            Trainable::Gpt2(m) => &m.stack,
            Trainable::Llama(m) => &m.stack,
        }
    }

    /// The decoder-only network, to change its weights (training).
    pub fn stack_mut(&mut self) -> &mut super::decoder_only::DecoderOnly {
        match self {
            Trainable::Gpt2(m) => &mut m.stack,
            Trainable::Llama(m) => &mut m.stack,
        }
    }

    /// Lays out per-layer tensors (gradients, or parameters copied into the
    /// same structure) under the checkpoint's names.
    pub fn named_tensors(&self, tensors: &DecoderOnlyGrad) -> Vec<NamedTensor> {
        match self {
            Trainable::Gpt2(m) => m.named_tensors(tensors),
            Trainable::Llama(m) => m.named_tensors(tensors),
        }
    }

    /// Every trainable parameter under its HF name, in the checkpoint's
    /// layout (the same table [`gradients`](Self::gradients) uses).
    pub fn named_parameters(&self) -> Vec<NamedTensor> {
        self.named_tensors(&self.stack().parameters())
    }

    /// The loss and every trainable parameter's gradient for `input`.
    pub fn gradients(&self, input: &GradInput) -> Result<GradOutput, ModelError> {
        let labels: Vec<Vec<i64>> = match &input.labels {
            Some(labels) => labels.clone(),
            None => input.input_ids.iter().map(|row| row.iter().map(|&id| i64::from(id)).collect()).collect(),
        };
        let stack = self.stack();
        let (logits, acts) = stack.forward_train(&input.input_ids, input.attention_mask.as_deref())?;
        let (loss, d_logits) = causal_lm_loss(logits.view(), &labels)?;
        let grad = stack.backward(&acts, d_logits.view())?;
        Ok(GradOutput { loss, gradients: self.named_tensors(&grad) })
    }
}

/// Loads the checkpoint and computes [`Trainable::gradients`].
pub fn causal_lm_gradients(
    config_json: &str,
    store: &WeightStore,
    input: &GradInput,
) -> Result<GradOutput, ModelError> {
    Trainable::load(config_json, store)?.gradients(input)
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
