//! BERT's masked-LM batch, as transformers' `DataCollatorForLanguageModeling`
//! (`torch_mask_tokens`) builds it:
//!
//! ```text
//! p = 0.15 everywhere, 0 on special tokens ([CLS], [SEP], [PAD], ...)
//! masked   = u₁ < p                     -> labels keep the id, else -100
//! replaced = u₂ < 0.8  and masked       -> input becomes [MASK]
//! random   = u₃ < 0.1/(1-0.8) = 0.5 and masked and not replaced
//!                                       -> input becomes a random id in 0..len(tokenizer)
//! the rest of the masked tokens (10%) keep their id
//! ```
//!
//! Each `uᵢ` is one uniform draw per position (`torch.bernoulli(p)` is 1 when
//! its uniform is below `p`), compared in `f32` as torch does. The draws are
//! [`MaskDecisions`]: drawn from our seeded [`Rng`], or read from a file so
//! that the reference can be run on the very same numbers.

use alloc::format;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::{ObjectiveBatch, ObjectiveError};
use crate::rng::Rng;

/// Label of a position that is not predicted (PyTorch's `ignore_index`).
pub const IGNORE: i64 = -100;

/// The collator's probabilities (transformers' defaults).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MlmConfig {
    /// Fraction of the non-special tokens selected for prediction (`mlm_probability`).
    pub mlm_probability: f64,
    /// Of the selected, the fraction replaced by `[MASK]` (`mask_replace_prob`).
    pub mask_replace_prob: f64,
    /// Of the selected, the fraction replaced by a random token (`random_replace_prob`).
    pub random_replace_prob: f64,
}

impl Default for MlmConfig {
    fn default() -> Self {
        Self { mlm_probability: 0.15, mask_replace_prob: 0.8, random_replace_prob: 0.1 }
    }
}

impl MlmConfig {
    fn validate(&self) -> Result<(), ObjectiveError> {
        let ok = |p: f64| (0.0..=1.0).contains(&p);
        if !ok(self.mlm_probability) || !ok(self.mask_replace_prob) || !ok(self.random_replace_prob) {
            return Err(ObjectiveError::Setting("probabilities must lie in [0, 1]".into()));
        }
        if self.mask_replace_prob + self.random_replace_prob > 1.0 {
            return Err(ObjectiveError::Setting("mask_replace_prob + random_replace_prob must not exceed 1".into()));
        }
        Ok(())
    }
}

/// One batch's random draws, each `(B, T)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaskDecisions {
    /// Uniforms deciding which positions are selected.
    pub masked: Vec<Vec<f32>>,
    /// Uniforms deciding which selected positions become `[MASK]`.
    pub replaced: Vec<Vec<f32>>,
    /// Uniforms deciding which of the rest become a random token.
    pub random: Vec<Vec<f32>>,
    /// The random token drawn for every position (used where `random` fires).
    pub random_words: Vec<Vec<u32>>,
}

impl MaskDecisions {
    /// Fresh draws for a `(batch, seq)` batch from `rng`, with random words
    /// in `0..vocab_size` (transformers uses `len(tokenizer)`).
    pub fn draw(rng: &mut Rng, batch: usize, seq: usize, vocab_size: usize) -> Self {
        let uniforms = |rng: &mut Rng| -> Vec<Vec<f32>> { (0..batch).map(|_| (0..seq).map(|_| rng.uniform_f32()).collect()).collect() };
        let masked = uniforms(rng);
        let replaced = uniforms(rng);
        let random = uniforms(rng);
        let random_words = (0..batch).map(|_| (0..seq).map(|_| rng.below(vocab_size as u64) as u32).collect()).collect();
        Self { masked, replaced, random, random_words }
    }

    fn check_shape(&self, batch: usize, seq: usize) -> Result<(), ObjectiveError> {
        fn fits<T>(rows: &[Vec<T>], batch: usize, seq: usize) -> bool {
            rows.len() == batch && rows.iter().all(|r| r.len() == seq)
        }
        if fits(&self.masked, batch, seq)
            && fits(&self.replaced, batch, seq)
            && fits(&self.random, batch, seq)
            && fits(&self.random_words, batch, seq)
        {
            Ok(())
        } else {
            Err(ObjectiveError::Shape(format!("every decision table must be {batch} rows of {seq} values, like the ids")))
        }
    }
}

/// Applies `decisions` to `input_ids: (B, T)`. `special[b][t]` marks the
/// positions that are never selected (special tokens and padding, as
/// transformers' `get_special_tokens_mask`); `mask_id` is `[MASK]`.
pub fn mask_tokens(
    input_ids: &[Vec<u32>],
    special: &[Vec<bool>],
    decisions: &MaskDecisions,
    mask_id: u32,
    config: &MlmConfig,
) -> Result<ObjectiveBatch, ObjectiveError> {
    config.validate()?;
    let (batch, seq) = (input_ids.len(), input_ids.first().map_or(0, Vec::len));
    if input_ids.iter().any(|r| r.len() != seq) || special.len() != batch || special.iter().any(|r| r.len() != seq) {
        return Err(ObjectiveError::Shape("rows of ids and of the special-token mask must all have one length".into()));
    }
    decisions.check_shape(batch, seq)?;
    // torch fills f32 tensors with the Python floats, then compares.
    let p_select = config.mlm_probability as f32;
    let p_mask = config.mask_replace_prob as f32;
    let remaining = 1.0 - config.mask_replace_prob;
    let p_random = if remaining > 0.0 { (config.random_replace_prob / remaining) as f32 } else { 0.0 };
    let keep_going = config.mask_replace_prob != 1.0 && config.random_replace_prob != 0.0;
    let mut inputs = Vec::with_capacity(batch);
    let mut labels = Vec::with_capacity(batch);
    for b in 0..batch {
        let mut row_in = Vec::with_capacity(seq);
        let mut row_labels = Vec::with_capacity(seq);
        for t in 0..seq {
            let id = input_ids[b][t];
            let p = if special[b][t] { 0.0 } else { p_select };
            let masked = decisions.masked[b][t] < p;
            row_labels.push(if masked { i64::from(id) } else { IGNORE });
            let replaced = masked && decisions.replaced[b][t] < p_mask;
            let random = keep_going && masked && !replaced && decisions.random[b][t] < p_random;
            row_in.push(i64::from(match (replaced, random) {
                (true, _) => mask_id,
                (false, true) => decisions.random_words[b][t],
                (false, false) => id,
            }));
        }
        inputs.push(row_in);
        labels.push(row_labels);
    }
    Ok(ObjectiveBatch { input_ids: inputs, labels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// Over a million tokens the selection rate is 15% and the split of the
    /// selected tokens is 80/10/10.
    #[test]
    fn selection_and_replacement_rates_match_the_collator() {
        let (batch, seq, vocab, mask_id) = (1000, 1000, 30_000u32, 29_999u32);
        let ids: Vec<Vec<u32>> = (0..batch).map(|b| (0..seq).map(|t| ((b * seq + t) % 29_000) as u32 + 5).collect()).collect();
        let special: Vec<Vec<bool>> = (0..batch).map(|_| (0..seq).map(|t| t == 0 || t == seq - 1).collect()).collect();
        let decisions = MaskDecisions::draw(&mut Rng::new(7), batch, seq, vocab as usize);
        let out = mask_tokens(&ids, &special, &decisions, mask_id, &MlmConfig::default()).unwrap();
        let (mut selected, mut as_mask, mut kept, mut specials_touched) = (0usize, 0usize, 0usize, 0usize);
        let eligible = batch * (seq - 2);
        for b in 0..batch {
            for t in 0..seq {
                if out.labels[b][t] != IGNORE {
                    selected += 1;
                    specials_touched += usize::from(special[b][t]);
                    if out.input_ids[b][t] == i64::from(mask_id) {
                        as_mask += 1;
                    } else if out.input_ids[b][t] == i64::from(ids[b][t]) {
                        kept += 1;
                    }
                }
            }
        }
        let rate = selected as f64 / eligible as f64;
        let (f_mask, f_kept) = (as_mask as f64 / selected as f64, kept as f64 / selected as f64);
        let f_random = 1.0 - f_mask - f_kept;
        std::println!("selected {rate:.4}, [MASK] {f_mask:.4}, random {f_random:.4}, kept {f_kept:.4} of {eligible} tokens");
        assert_eq!(specials_touched, 0);
        assert!((rate - 0.15).abs() < 0.002, "{rate}");
        assert!((f_mask - 0.8).abs() < 0.005 && (f_random - 0.1).abs() < 0.005 && (f_kept - 0.1).abs() < 0.005);
    }

    #[test]
    fn mismatched_shapes_are_errors() {
        let d = MaskDecisions::draw(&mut Rng::new(1), 1, 3, 10);
        let err = mask_tokens(&[vec![1, 2]], &[vec![false, false]], &d, 4, &MlmConfig::default()).unwrap_err();
        assert!(matches!(err, ObjectiveError::Shape(_)), "{err}");
        let bad = MlmConfig { mlm_probability: 1.5, ..MlmConfig::default() };
        assert!(mask_tokens(&[vec![1, 2, 3]], &[vec![false; 3]], &d, 4, &bad).is_err());
    }
}
