//! [`StepModel`] for the transformer families in [`crate::models`].
//!
//! - [`CausalStepper`] wraps a decoder-only [`CausalLm`] (GPT-2, Llama): the
//!   prompt runs once for one row and the cache is then copied to every row
//!   (beams start identical), so beam search pays one prefill, not B.
//!   Several prompts run as one left-padded batch with an attention mask
//!   ([`StepModel::start_batch`]); positions count the real tokens only.
//! - [`Seq2SeqStepper`] wraps an encoder-decoder [`Seq2SeqLm`] (T5): the
//!   encoder runs once when the stepper is built; the decoder then behaves
//!   like a causal model whose "prompt" is the decoder start ids.
//!
//! Both can run without the KV cache (`use_cache = false`): every step then
//! re-runs the whole sequence, which is what the Generate tab's toggle shows.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use super::{RowFootprint, StepModel};
use crate::models::{CausalLm, EncoderOutput, KvCache, Seq2SeqLm};
use ndarray::{Array3, Axis};

/// Last position's logits of every row, flattened `(B, V)`.
fn last_position(logits: &Array3<f32>) -> Vec<f32> {
    let t = logits.len_of(Axis(1));
    if t == 0 {
        return Vec::new();
    }
    logits.index_axis(Axis(1), t - 1).iter().copied().collect()
}

/// Decoding view of a decoder-only model.
pub struct CausalStepper<'m> {
    model: &'m dyn CausalLm,
    use_cache: bool,
    cache: KvCache,
    /// Full sequences per row (used when the cache is off).
    rows: Vec<Vec<u32>>,
    /// Attention mask of `rows` (0 on left padding).
    masks: Vec<Vec<u8>>,
}

impl<'m> CausalStepper<'m> {
    /// Wrap `model`; `use_cache = false` recomputes every step from scratch.
    pub fn new(model: &'m dyn CausalLm, use_cache: bool) -> Self {
        Self { model, use_cache, cache: model.new_cache(), rows: Vec::new(), masks: Vec::new() }
    }
}

impl StepModel for CausalStepper<'_> {
    fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }

    fn max_positions(&self) -> Option<usize> {
        self.model.max_positions()
    }

    fn row_footprint(&self, positions: usize) -> RowFootprint {
        RowFootprint {
            layers: self.model.num_layers(),
            kv_width: self.model.kv_width(),
            positions,
            vocab: self.model.vocab_size(),
        }
    }

    fn start(&mut self, prompt: &[u32], rows: usize) -> Result<Vec<f32>, String> {
        self.rows = vec![prompt.to_vec(); rows];
        self.masks = vec![vec![1; prompt.len()]; rows];
        let logits = if self.use_cache {
            self.cache = self.model.new_cache();
            let one = self.model.forward_batch(&[prompt.to_vec()], None, Some(&mut self.cache)).map_err(|e| format!("{e}"))?;
            self.cache.reorder(&vec![0; rows]).map_err(|e| format!("{e}"))?;
            let row = last_position(&one);
            let mut all = Vec::with_capacity(row.len() * rows);
            for _ in 0..rows {
                all.extend_from_slice(&row);
            }
            return Ok(all);
        } else {
            self.model.forward_batch(&self.rows, None, None).map_err(|e| format!("{e}"))?
        };
        Ok(last_position(&logits))
    }

    fn start_batch(&mut self, prompts: &[Vec<u32>], attention_mask: &[Vec<u8>], rows_per_prompt: usize) -> Result<Vec<f32>, String> {
        if prompts.len() != attention_mask.len() || prompts.iter().zip(attention_mask).any(|(p, m)| p.len() != m.len()) {
            return Err("start_batch: the attention mask must have the prompts' shape".into());
        }
        // Row r of the batch runs prompt r / rows_per_prompt.
        let expand: Vec<usize> = (0..prompts.len() * rows_per_prompt).map(|r| r / rows_per_prompt.max(1)).collect();
        self.rows = expand.iter().map(|&p| prompts[p].clone()).collect();
        self.masks = expand.iter().map(|&p| attention_mask[p].clone()).collect();
        let logits = if self.use_cache {
            // One prefill per distinct prompt, then the cache is copied to its rows.
            self.cache = self.model.new_cache();
            let once = self.model.forward_batch(prompts, Some(attention_mask), Some(&mut self.cache)).map_err(|e| format!("{e}"))?;
            self.model.reorder_cache(&mut self.cache, &expand).map_err(|e| format!("{e}"))?;
            let per_prompt = last_position(&once);
            let vocab = self.model.vocab_size();
            let mut all = Vec::with_capacity(expand.len() * vocab);
            for &p in &expand {
                all.extend_from_slice(per_prompt.get(p * vocab..(p + 1) * vocab).ok_or("start_batch: logits shape")?);
            }
            return Ok(all);
        } else {
            self.model.forward_batch(&self.rows, Some(&self.masks), None).map_err(|e| format!("{e}"))?
        };
        Ok(last_position(&logits))
    }

    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>, String> {
        if tokens.len() != self.rows.len() {
            return Err(format!("step got {} tokens for {} rows", tokens.len(), self.rows.len()));
        }
        for ((row, mask), &t) in self.rows.iter_mut().zip(self.masks.iter_mut()).zip(tokens) {
            row.push(t);
            mask.push(1);
        }
        let logits = if self.use_cache {
            let batch: Vec<Vec<u32>> = tokens.iter().map(|&t| vec![t]).collect();
            self.model.forward_batch(&batch, None, Some(&mut self.cache))
        } else {
            self.model.forward_batch(&self.rows, Some(&self.masks), None)
        }
        .map_err(|e| format!("{e}"))?;
        Ok(last_position(&logits))
    }

    fn reorder(&mut self, beam_idx: &[usize]) -> Result<(), String> {
        if beam_idx.iter().any(|&i| i >= self.rows.len()) {
            return Err("beam index out of range".into());
        }
        self.rows = beam_idx.iter().map(|&i| self.rows[i].clone()).collect();
        self.masks = beam_idx.iter().map(|&i| self.masks[i].clone()).collect();
        if self.use_cache {
            self.model.reorder_cache(&mut self.cache, beam_idx).map_err(|e| format!("{e}"))?;
        }
        Ok(())
    }
}

/// Decoding view of an encoder-decoder model, for one source sequence.
pub struct Seq2SeqStepper<'m> {
    model: &'m dyn Seq2SeqLm,
    use_cache: bool,
    cache: KvCache,
    encoded: EncoderOutput,
    /// `encoded` repeated once per row (set by `start`).
    encoded_rows: Option<EncoderOutput>,
    rows: Vec<Vec<u32>>,
}

impl<'m> Seq2SeqStepper<'m> {
    /// Encode `source` once and get ready to decode.
    pub fn new(model: &'m dyn Seq2SeqLm, source: &[u32], use_cache: bool) -> Result<Self, String> {
        let encoded = model.encode(&[source.to_vec()], None).map_err(|e| format!("{e}"))?;
        Ok(Self { model, use_cache, cache: model.new_cache(), encoded, encoded_rows: None, rows: Vec::new() })
    }
}

impl StepModel for Seq2SeqStepper<'_> {
    fn vocab_size(&self) -> usize {
        self.model.vocab_size()
    }

    fn max_positions(&self) -> Option<usize> {
        // T5's relative position buckets have no hard length limit.
        None
    }

    fn row_footprint(&self, positions: usize) -> RowFootprint {
        // Cross-attention caches the source's keys and values in every row.
        RowFootprint {
            layers: self.model.num_decoder_layers(),
            kv_width: self.model.kv_width(),
            positions: positions.saturating_add(self.encoded.seq_len()),
            vocab: self.model.vocab_size(),
        }
    }

    fn start(&mut self, prompt: &[u32], rows: usize) -> Result<Vec<f32>, String> {
        self.rows = vec![prompt.to_vec(); rows];
        self.cache = self.model.new_cache();
        // Every row decodes against the same source.
        let encoder = self.encoded.select(&vec![0; rows]).map_err(|e| format!("{e}"))?;
        let cache = if self.use_cache { Some(&mut self.cache) } else { None };
        let logits = self.model.decode(&self.rows, &encoder, cache).map_err(|e| format!("{e}"))?;
        self.encoded_rows = Some(encoder);
        Ok(last_position(&logits))
    }

    fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>, String> {
        if tokens.len() != self.rows.len() {
            return Err(format!("step got {} tokens for {} rows", tokens.len(), self.rows.len()));
        }
        for (row, &t) in self.rows.iter_mut().zip(tokens) {
            row.push(t);
        }
        let encoder = self.encoded_rows.as_ref().ok_or_else(|| String::from("step called before start"))?;
        let logits = if self.use_cache {
            let batch: Vec<Vec<u32>> = tokens.iter().map(|&t| vec![t]).collect();
            self.model.decode(&batch, encoder, Some(&mut self.cache))
        } else {
            self.model.decode(&self.rows, encoder, None)
        }
        .map_err(|e| format!("{e}"))?;
        Ok(last_position(&logits))
    }

    fn reorder(&mut self, beam_idx: &[usize]) -> Result<(), String> {
        if beam_idx.iter().any(|&i| i >= self.rows.len()) {
            return Err("beam index out of range".into());
        }
        self.rows = beam_idx.iter().map(|&i| self.rows[i].clone()).collect();
        if self.use_cache {
            self.model.reorder_cache(&mut self.cache, beam_idx).map_err(|e| format!("{e}"))?;
        }
        Ok(())
    }
}
