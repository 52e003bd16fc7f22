//! T5's span corruption, as transformers' `run_t5_mlm_flax.py` builds it
//! (`random_spans_noise_mask`, `create_sentinel_ids`, `filter_input_ids`):
//!
//! ```text
//! ids        a  b  c  d  e  f  g  h
//! noise      0  0  1  1  0  0  1  0        15% of the tokens, spans of mean length 3
//! input_ids  a  b  <X0>  e  f  <X1>  h  </s>    one sentinel per noise span
//! labels     <X0'> c d <X1'> g <X2'> </s>       sentinels of the kept spans, then the hidden ones
//! ```
//!
//! Sentinels count down from the last id of the tokenizer: the k-th span
//! (from 1) gets `len(tokenizer) - k`, which is `<extra_id_{k-1}>` in T5's
//! vocabulary. The decoder learns to write each sentinel followed by the
//! tokens it stands for.
//!
//! The noise mask is random, but its *counts* are fixed by the length:
//! `round(length × density)` noise tokens in `round(noise / mean_span)` spans
//! (NumPy's round: half to even), spans alternating kept / noise and starting
//! with a kept one. Only the cut points are drawn (our seeded [`Rng`] in
//! place of `np.random.shuffle`); a mask can also be given directly.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::{ObjectiveBatch, ObjectiveError};
use crate::rng::Rng;

/// Python's / NumPy's `round`: to nearest, ties to even.
fn round_half_even(x: f64) -> i64 {
    libm::rint(x) as i64
}

/// `compute_input_and_target_lengths`: how many raw tokens to cut so that,
/// after corruption, the encoder input has `inputs_length` tokens; returns
/// `(tokens_length, targets_length)`.
pub fn input_and_target_lengths(inputs_length: usize, noise_density: f64, mean_noise_span_length: f64) -> (usize, usize) {
    let lengths = |tokens_length: usize| -> (i64, i64) {
        let noise = round_half_even(tokens_length as f64 * noise_density);
        let nonnoise = tokens_length as i64 - noise;
        let spans = round_half_even(noise as f64 / mean_noise_span_length);
        // inputs: kept tokens, one sentinel per span and EOS; targets: the
        // hidden tokens, one sentinel per span and EOS.
        (nonnoise + spans + 1, noise + spans + 1)
    };
    let mut tokens_length = inputs_length;
    while lengths(tokens_length + 1).0 <= inputs_length as i64 {
        tokens_length += 1;
    }
    let (_, mut targets_length) = lengths(tokens_length);
    // The script's "minor hack" that keeps targets no longer than inputs at density 0.5.
    if noise_density == 0.5 && targets_length > inputs_length as i64 {
        tokens_length -= 1;
        targets_length -= 1;
    }
    (tokens_length, targets_length.max(0) as usize)
}

/// Splits `num_items` into `num_segments` non-empty random segments
/// (`_random_segmentation`): the first `num_segments - 1` of the
/// `num_items - 1` gaps become cut points, shuffled.
fn random_segmentation(num_items: usize, num_segments: usize, rng: &mut Rng) -> Vec<usize> {
    let gaps = num_items.saturating_sub(1);
    let mut cuts: Vec<bool> = (0..gaps).map(|i| i < num_segments.saturating_sub(1)).collect();
    // Fisher–Yates, as np.random.shuffle does (with our generator).
    for i in (1..cuts.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        cuts.swap(i, j);
    }
    let mut lengths = vec![1usize];
    for cut in cuts {
        if cut {
            lengths.push(1);
        } else if let Some(last) = lengths.last_mut() {
            *last += 1;
        }
    }
    lengths
}

/// `random_spans_noise_mask(length)`: `true` on the noise tokens.
pub fn random_spans_noise_mask(
    length: usize,
    noise_density: f64,
    mean_noise_span_length: f64,
    rng: &mut Rng,
) -> Result<Vec<bool>, ObjectiveError> {
    if length < 2 {
        return Err(ObjectiveError::TooShort { length, minimum: 2 });
    }
    let mean_ok = mean_noise_span_length.is_finite() && mean_noise_span_length >= 1.0;
    if !(0.0..=1.0).contains(&noise_density) || !mean_ok {
        return Err(ObjectiveError::Setting("noise density must lie in [0, 1] and the mean span length be at least 1".into()));
    }
    let noise_unclamped = round_half_even(length as f64 * noise_density);
    let nonnoise_unclamped = length as i64 - noise_unclamped;
    // At least one noise and one kept token; spans from the smaller count.
    let noise = noise_unclamped.clamp(1, length as i64 - 1) as usize;
    let spans = round_half_even(noise.min(nonnoise_unclamped.max(0) as usize) as f64 / mean_noise_span_length).max(1) as usize;
    let nonnoise = length - noise;
    let noise_lengths = random_segmentation(noise, spans, rng);
    let nonnoise_lengths = random_segmentation(nonnoise, spans, rng);
    let mut mask = Vec::with_capacity(length);
    for (kept, hidden) in nonnoise_lengths.into_iter().zip(noise_lengths) {
        mask.extend(core::iter::repeat_n(false, kept));
        mask.extend(core::iter::repeat_n(true, hidden));
    }
    Ok(mask)
}

/// `create_sentinel_ids` for one row: the first position of the k-th span of
/// `mask` gets `vocab_len - k`, the rest of the span `-1` (to be dropped),
/// everything else 0.
pub fn sentinel_ids(mask: &[bool], vocab_len: usize) -> Vec<i64> {
    let mut out = Vec::with_capacity(mask.len());
    let mut spans = 0i64;
    for (t, &m) in mask.iter().enumerate() {
        let starts = m && (t == 0 || !mask[t - 1]);
        out.push(match (m, starts) {
            (true, true) => {
                spans += 1;
                vocab_len as i64 - spans
            }
            (true, false) => -1,
            (false, _) => 0,
        });
    }
    out
}

/// `filter_input_ids` for one row: sentinels replace the span starts, span
/// continuations are dropped, and EOS is appended.
pub fn filter_input_ids(ids: &[u32], sentinels: &[i64], eos_id: u32) -> Vec<i64> {
    let mut out: Vec<i64> = ids
        .iter()
        .zip(sentinels)
        .map(|(&id, &s)| if s != 0 { s } else { i64::from(id) })
        .filter(|&v| v >= 0)
        .collect();
    out.push(i64::from(eos_id));
    out
}

/// Corrupts `input_ids: (B, T)` with `noise: (B, T)` (`true` = hidden):
/// encoder inputs and decoder labels, as the script's collator returns them.
/// Like its NumPy reshape, every row must come out the same length.
pub fn span_corrupt(input_ids: &[Vec<u32>], noise: &[Vec<bool>], vocab_len: usize, eos_id: u32) -> Result<ObjectiveBatch, ObjectiveError> {
    if input_ids.len() != noise.len() || input_ids.iter().zip(noise).any(|(i, m)| i.len() != m.len()) {
        return Err(ObjectiveError::Shape("the noise mask must have the shape of the ids".into()));
    }
    if let Some(&big) = input_ids.iter().flatten().find(|&&id| id as usize >= vocab_len) {
        return Err(ObjectiveError::Setting(format!("token id {big} is outside the tokenizer's {vocab_len} ids")));
    }
    let mut batch = ObjectiveBatch { input_ids: Vec::new(), labels: Vec::new() };
    for (ids, mask) in input_ids.iter().zip(noise) {
        let kept: Vec<bool> = mask.iter().map(|m| !m).collect();
        batch.input_ids.push(filter_input_ids(ids, &sentinel_ids(mask, vocab_len), eos_id));
        batch.labels.push(filter_input_ids(ids, &sentinel_ids(&kept, vocab_len), eos_id));
    }
    for rows in [&batch.input_ids, &batch.labels] {
        if let Some(first) = rows.first() {
            if let Some((r, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != first.len()) {
                return Err(ObjectiveError::Shape(format!(
                    "row {} corrupts to {} tokens but row 1 to {}: give every row the same number of spans",
                    r + 1,
                    row.len(),
                    first.len()
                )));
            }
        }
    }
    Ok(batch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_diagram_in_the_module_doc_holds() {
        let ids = vec![vec![10u32, 11, 12, 13, 14, 15, 16, 17]];
        let noise = vec![[0, 0, 1, 1, 0, 0, 1, 0].iter().map(|&m| m == 1).collect::<Vec<_>>()];
        let out = span_corrupt(&ids, &noise, 100, 1).unwrap();
        assert_eq!(out.input_ids, vec![vec![10, 11, 99, 14, 15, 98, 17, 1]]);
        assert_eq!(out.labels, vec![vec![99, 12, 13, 98, 16, 97, 1]]);
    }

    #[test]
    fn random_masks_have_the_fixed_counts() {
        let mut rng = Rng::new(3);
        for length in [2usize, 3, 10, 57, 114, 568] {
            let mask = random_spans_noise_mask(length, 0.15, 3.0, &mut rng).unwrap();
            let noise = mask.iter().filter(|&&m| m).count();
            let expected = round_half_even(length as f64 * 0.15).clamp(1, length as i64 - 1) as usize;
            assert_eq!((mask.len(), noise), (length, expected));
            assert!(!mask[0], "spans start with kept tokens");
        }
        assert!(matches!(random_spans_noise_mask(1, 0.15, 3.0, &mut rng), Err(ObjectiveError::TooShort { .. })));
    }

    #[test]
    fn lengths_match_the_script_for_its_default_512() {
        // run_t5_mlm_flax.py with max_seq_length 512: expanded 568, targets 114.
        assert_eq!(input_and_target_lengths(512, 0.15, 3.0), (568, 114));
    }
}
