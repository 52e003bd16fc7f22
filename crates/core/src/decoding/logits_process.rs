//! Logits processors and sampling warpers, in Hugging Face's order.
//!
//! `transformers` (5.x, `GenerationMixin._get_logits_processor`) builds one
//! list and applies it to the next-token scores of every row, every step:
//!
//! 1. `RepetitionPenaltyLogitsProcessor`   (`repetition_penalty != 1`)
//! 2. `NoRepeatNGramLogitsProcessor`       (`no_repeat_ngram_size > 0`)
//! 3. `MinLengthLogitsProcessor`           (`min_length > 0`, needs EOS)
//! 4. `MinNewTokensLengthLogitsProcessor`  (`min_new_tokens > 0`, needs EOS)
//!
//! and, only when sampling (`do_sample=True`), the former "warpers":
//!
//! 5. `TemperatureLogitsWarper`  (`temperature != 1`)
//! 6. `TopKLogitsWarper`         (`top_k != 0`)
//! 7. `TopPLogitsWarper`         (`top_p < 1`)
//! 8. `MinPLogitsWarper`         (`min_p` set)
//! 9. `TypicalLogitsWarper`      (`typical_p < 1`)
//!
//! Greedy and sampling apply the list to raw logits; beam search applies it
//! to `log_softmax(logits)`. Filtering writes `-inf`, exactly like HF's
//! `filter_value`. Order matters: top-p after temperature sees the *sharpened*
//! distribution, min-p after top-k sees the already truncated one.

use serde::{Deserialize, Serialize};
use alloc::vec::Vec;

use super::sampling::softmax;
use super::DecodingError;

/// The sampling-only warpers (HF applies them only when `do_sample`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarperConfig {
    /// Divides the logits; must be > 0 (1.0 = off).
    pub temperature: f32,
    /// Keep the `top_k` highest scores (ties with the k-th kept too); 0 = off.
    pub top_k: usize,
    /// Keep the smallest set whose probability reaches `top_p`; 1.0 = off.
    pub top_p: f32,
    /// Drop tokens below `min_p × p(best)`; `None` = off.
    pub min_p: Option<f32>,
    /// Locally typical sampling mass; 1.0 = off.
    pub typical_p: f32,
    /// Never filter below this many tokens (HF: 1, or `#eos + 1` with beams).
    pub min_tokens_to_keep: usize,
}

impl Default for WarperConfig {
    /// HF's global defaults for sampling: temperature 1, top-k 50, top-p 1.
    fn default() -> Self {
        Self { temperature: 1.0, top_k: 50, top_p: 1.0, min_p: None, typical_p: 1.0, min_tokens_to_keep: 1 }
    }
}

/// The whole processor list for one generation.
#[derive(Clone, Debug, PartialEq)]
pub struct LogitsPipeline {
    /// `repetition_penalty`; 1.0 = off. Divides positive, multiplies negative
    /// scores of every token already in the sequence (prompt included).
    pub repetition_penalty: f32,
    /// Ban any token that would repeat an n-gram of this size; 0 = off.
    pub no_repeat_ngram_size: usize,
    /// `min_length` over the whole sequence (prompt included); 0 = off.
    pub min_length: usize,
    /// `min_new_tokens`: EOS is banned until this many tokens are generated.
    pub min_new_tokens: usize,
    /// Length of the (decoder) prompt, so "new" tokens can be counted.
    pub prompt_len: usize,
    /// End-of-sequence ids (banned by the two minimum-length processors).
    pub eos_token_ids: Vec<u32>,
    /// `Some` when sampling: the warpers to apply after the processors.
    pub warpers: Option<WarperConfig>,
}

/// Where each warper cut, for the UI: the number of tokens still allowed
/// after that stage (they are the most probable ones for top-k / top-p /
/// min-p, so this count is the cut-off position in the sorted bar chart).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessReport {
    /// Tokens left after top-k (if top-k ran).
    pub kept_after_top_k: Option<usize>,
    /// Tokens left after top-p (if top-p ran).
    pub kept_after_top_p: Option<usize>,
    /// Tokens left after min-p (if min-p ran).
    pub kept_after_min_p: Option<usize>,
    /// Tokens left after typical-p (if typical-p ran).
    pub kept_after_typical_p: Option<usize>,
    /// Tokens left at the end (finite scores).
    pub kept: usize,
}

impl LogitsPipeline {
    /// A pipeline that does nothing (plain greedy / plain beam search).
    pub fn identity(prompt_len: usize) -> Self {
        Self {
            repetition_penalty: 1.0,
            no_repeat_ngram_size: 0,
            min_length: 0,
            min_new_tokens: 0,
            prompt_len,
            eos_token_ids: Vec::new(),
            warpers: None,
        }
    }

    /// Check every parameter against the range HF's constructors accept.
    pub fn validate(&self) -> Result<(), DecodingError> {
        let bad = |m: &str| Err(DecodingError::InvalidParameter(m.into()));
        if self.repetition_penalty.is_nan() || self.repetition_penalty <= 0.0 || self.repetition_penalty.is_infinite() {
            return bad("repetition_penalty has to be a strictly positive float");
        }
        if let Some(w) = &self.warpers {
            if w.temperature == 0.0 {
                return bad("temperature 0 is greedy decoding: use the greedy strategy (HF: set do_sample=False)");
            }
            if w.temperature.is_nan() || w.temperature < 0.0 || w.temperature.is_infinite() {
                return bad("temperature has to be a strictly positive float");
            }
            // HF builds TopPLogitsWarper only for top_p < 1, and it rejects top_p < 0.
            if w.top_p < 0.0 || w.top_p.is_nan() {
                return bad("top_p has to be a float in [0, 1]");
            }
            if let Some(m) = w.min_p {
                if !(0.0..=1.0).contains(&m) {
                    return bad("min_p has to be a float in [0, 1]");
                }
            }
            // Likewise TypicalLogitsWarper exists only for typical_p < 1 and needs > 0.
            if w.typical_p.is_nan() || w.typical_p <= 0.0 {
                return bad("typical_p has to be a float in (0, 1]");
            }
            if w.min_tokens_to_keep == 0 {
                return bad("min_tokens_to_keep has to be at least 1");
            }
        }
        Ok(())
    }

    /// Apply the list in HF's order to one row of `scores`, given the row's
    /// full sequence so far (`input_ids`: prompt + generated). `step` is only
    /// used in error messages.
    pub fn apply(&self, input_ids: &[u32], scores: &mut [f32], step: usize) -> Result<ProcessReport, DecodingError> {
        self.apply_padded(input_ids, 0, scores, step)
    }

    /// [`LogitsPipeline::apply`] for a row of a left-padded batch whose first
    /// `padding` ids are padding: as in HF, the repetition penalty skips them
    /// (the other processors see the whole row).
    pub fn apply_padded(&self, input_ids: &[u32], padding: usize, scores: &mut [f32], step: usize) -> Result<ProcessReport, DecodingError> {
        check_finite(scores, step)?;
        let mut report = ProcessReport::default();
        if self.repetition_penalty != 1.0 {
            repetition_penalty(input_ids.get(padding..).unwrap_or(&[]), scores, self.repetition_penalty);
        }
        if self.no_repeat_ngram_size > 0 {
            no_repeat_ngram(input_ids, scores, self.no_repeat_ngram_size);
        }
        if self.min_length > 0 && !self.eos_token_ids.is_empty() && input_ids.len() < self.min_length {
            ban(scores, &self.eos_token_ids);
        }
        if self.min_new_tokens > 0
            && !self.eos_token_ids.is_empty()
            && input_ids.len().saturating_sub(self.prompt_len) < self.min_new_tokens
        {
            ban(scores, &self.eos_token_ids);
        }
        if let Some(w) = &self.warpers {
            if w.temperature != 1.0 {
                temperature(scores, w.temperature);
            }
            if w.top_k != 0 {
                top_k(scores, w.top_k, w.min_tokens_to_keep);
                report.kept_after_top_k = Some(count_finite(scores));
            }
            if w.top_p < 1.0 {
                top_p(scores, w.top_p, w.min_tokens_to_keep);
                report.kept_after_top_p = Some(count_finite(scores));
            }
            if let Some(m) = w.min_p {
                min_p(scores, m, w.min_tokens_to_keep);
                report.kept_after_min_p = Some(count_finite(scores));
            }
            if w.typical_p < 1.0 {
                typical_p(scores, w.typical_p, w.min_tokens_to_keep);
                report.kept_after_typical_p = Some(count_finite(scores));
            }
        }
        report.kept = count_finite(scores);
        if report.kept == 0 {
            return Err(DecodingError::AllTokensFiltered { step });
        }
        Ok(report)
    }
}

/// NaN or `+inf` logits make every later step meaningless: stop with a clear
/// error instead of HF's silent NaN propagation.
pub fn check_finite(scores: &[f32], step: usize) -> Result<(), DecodingError> {
    for &x in scores {
        if x.is_nan() {
            return Err(DecodingError::NanLogits { step });
        }
        if x == f32::INFINITY {
            return Err(DecodingError::PositiveInfiniteLogits { step });
        }
    }
    Ok(())
}

fn count_finite(scores: &[f32]) -> usize {
    scores.iter().filter(|x| **x != f32::NEG_INFINITY).count()
}

fn ban(scores: &mut [f32], ids: &[u32]) {
    for &id in ids {
        if let Some(s) = scores.get_mut(id as usize) {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// CTRL's repetition penalty: every token id present in `input_ids` (ids
/// outside the vocabulary are ignored, as HF's clamp-and-drop does) gets
/// `score * penalty` if its score is negative, `score / penalty` otherwise.
pub fn repetition_penalty(input_ids: &[u32], scores: &mut [f32], penalty: f32) {
    let mut seen = alloc::vec![false; scores.len()];
    for &id in input_ids {
        if let Some(flag) = seen.get_mut(id as usize) {
            *flag = true;
        }
    }
    for (s, &hit) in scores.iter_mut().zip(&seen) {
        if hit {
            *s = if *s < 0.0 { *s * penalty } else { *s / penalty };
        }
    }
}

/// Ban every token that would complete an n-gram already present in
/// `input_ids`: the last `n - 1` tokens are matched against every window of
/// size `n`, and each matching window bans its final token.
pub fn no_repeat_ngram(input_ids: &[u32], scores: &mut [f32], n: usize) {
    let len = input_ids.len();
    if n == 0 || len < n {
        return;
    }
    let prefix = &input_ids[len + 1 - n..];
    for window in input_ids.windows(n) {
        if &window[..n - 1] == prefix {
            if let Some(s) = scores.get_mut(window[n - 1] as usize) {
                *s = f32::NEG_INFINITY;
            }
        }
    }
}

/// `scores / temperature`.
pub fn temperature(scores: &mut [f32], t: f32) {
    for s in scores.iter_mut() {
        *s /= t;
    }
}

/// Keep every score `>=` the k-th largest (ties at the boundary survive, as
/// with HF's `scores < topk(...)[-1]`), with `k = max(top_k, min_keep)`.
pub fn top_k(scores: &mut [f32], k: usize, min_tokens_to_keep: usize) {
    let k = k.max(min_tokens_to_keep).min(scores.len());
    if k == 0 {
        return;
    }
    let mut sorted: Vec<f32> = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let threshold = sorted[k - 1];
    for s in scores.iter_mut() {
        if *s < threshold {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Indices sorting `scores` ascending, ties in index order (a stable sort;
/// torch's CPU sort is stable up to 16 elements and unspecified beyond, so
/// exact ties straddling a cut are the one place HF itself is arbitrary).
fn argsort_ascending(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    // partial_cmp, not total_cmp: torch sorts -0.0 and 0.0 as equal. NaN was
    // rejected before any processor runs.
    order.sort_by(|&a, &b| scores[a].partial_cmp(&scores[b]).unwrap_or(core::cmp::Ordering::Equal));
    order
}

/// Cumulative sum of `f32` values accumulated in `f64` (torch's CPU cumsum).
fn cumsum(values: &[f32]) -> Vec<f32> {
    let mut acc = 0.0f64;
    values
        .iter()
        .map(|&v| {
            acc += v as f64;
            acc as f32
        })
        .collect()
}

/// Nucleus filtering, HF style: sort ascending, remove every token whose
/// cumulative probability (from the least likely up) is `<= 1 - top_p`, but
/// always keep the `min_tokens_to_keep` most likely.
pub fn top_p(scores: &mut [f32], p: f32, min_tokens_to_keep: usize) {
    let order = argsort_ascending(scores);
    let sorted: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
    let cumulative = cumsum(&softmax(&sorted));
    let threshold = 1.0 - p;
    let keep_from = order.len().saturating_sub(min_tokens_to_keep);
    for (pos, (&idx, &c)) in order.iter().zip(&cumulative).enumerate() {
        if pos < keep_from && c <= threshold {
            scores[idx] = f32::NEG_INFINITY;
        }
    }
}

/// Min-p: drop tokens whose probability is below `min_p` times the top
/// token's probability, keeping at least the `min_tokens_to_keep` best.
pub fn min_p(scores: &mut [f32], min_p: f32, min_tokens_to_keep: usize) {
    let probs = softmax(scores);
    let top = probs.iter().copied().fold(0.0f32, f32::max);
    let threshold = min_p * top;
    let mut protected = alloc::vec![false; scores.len()];
    let mut by_prob: Vec<usize> = (0..probs.len()).collect();
    by_prob.sort_by(|&a, &b| probs[b].partial_cmp(&probs[a]).unwrap_or(core::cmp::Ordering::Equal).then(a.cmp(&b)));
    for &i in by_prob.iter().take(min_tokens_to_keep) {
        protected[i] = true;
    }
    for (i, s) in scores.iter_mut().enumerate() {
        if probs[i] < threshold && !protected[i] {
            *s = f32::NEG_INFINITY;
        }
    }
}

/// Locally typical sampling (Meister et al.): rank tokens by how far their
/// surprisal is from the distribution's entropy and keep the closest ones
/// until their probability mass reaches `mass`.
pub fn typical_p(scores: &mut [f32], mass: f32, min_tokens_to_keep: usize) {
    let n = scores.len();
    if n == 0 {
        return;
    }
    let log_probs = super::sampling::log_softmax(scores);
    // entropy = -sum p log p, with 0 * -inf terms skipped (torch's nansum)
    let mut entropy = 0.0f64;
    for &lp in &log_probs {
        let p = libm::expf(lp);
        let term = lp * p;
        if !term.is_nan() {
            entropy -= term as f64;
        }
    }
    let entropy = entropy as f32;
    let shifted: Vec<f32> = log_probs.iter().map(|&lp| ((-lp) - entropy).abs()).collect();
    let order = argsort_ascending(&shifted);
    let sorted_logits: Vec<f32> = order.iter().map(|&i| scores[i]).collect();
    let cumulative = cumsum(&softmax(&sorted_logits));
    let last_ind = cumulative.iter().filter(|&&c| c < mass).count().min(n - 1);
    let cutoff = shifted[order[last_ind]];
    for (pos, &idx) in order.iter().enumerate() {
        if pos >= min_tokens_to_keep && shifted[idx] > cutoff {
            scores[idx] = f32::NEG_INFINITY;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const NEG: f32 = f32::NEG_INFINITY;

    #[test]
    fn repetition_penalty_divides_positive_and_multiplies_negative() {
        let mut s = vec![2.0, -2.0, 1.0, 3.0];
        repetition_penalty(&[0, 1, 1, 9], &mut s, 2.0);
        assert_eq!(s, vec![1.0, -4.0, 1.0, 3.0]);
    }

    #[test]
    fn no_repeat_bigram_bans_the_follower() {
        // "1 2 ... 1" -> 2 must not follow 1 again
        let mut s = vec![0.0; 4];
        no_repeat_ngram(&[1, 2, 3, 1], &mut s, 2);
        assert_eq!(s, vec![0.0, 0.0, NEG, 0.0]);
        // unigram: every seen token is banned
        let mut s = vec![0.0; 4];
        no_repeat_ngram(&[3, 0], &mut s, 1);
        assert_eq!(s, vec![NEG, 0.0, 0.0, NEG]);
    }

    #[test]
    fn top_k_keeps_ties() {
        let mut s = vec![1.0, 3.0, 2.0, 2.0, 0.0];
        top_k(&mut s, 2, 1);
        assert_eq!(s, vec![NEG, 3.0, 2.0, 2.0, NEG]);
    }

    #[test]
    fn top_p_keeps_smallest_nucleus() {
        // probs ~ [0.665, 0.245, 0.090]
        let mut s = vec![2.0, 1.0, 0.0];
        top_p(&mut s, 0.7, 1);
        assert_eq!(s, vec![2.0, 1.0, NEG]);
        let mut s = vec![2.0, 1.0, 0.0];
        top_p(&mut s, 0.5, 1);
        assert_eq!(s, vec![2.0, NEG, NEG]);
        // top_p = 0 still keeps min_tokens_to_keep
        let mut s = vec![2.0, 1.0, 0.0];
        top_p(&mut s, 0.0, 2);
        assert_eq!(s, vec![2.0, 1.0, NEG]);
    }

    #[test]
    fn min_p_scales_with_the_top_probability() {
        let mut s = vec![0.0, -3.0, -1.0];
        // p(best)=0.705, p(-1)=0.259 (ratio e^-1=0.37), p(-3)=0.035 (ratio 0.05)
        min_p(&mut s, 0.1, 1);
        assert_eq!(s, vec![0.0, NEG, -1.0]);
    }

    #[test]
    fn all_filtered_and_nan_are_errors() {
        let mut p = LogitsPipeline::identity(1);
        p.min_new_tokens = 5;
        p.eos_token_ids = vec![0];
        let mut s = vec![1.0, NEG];
        assert_eq!(p.apply(&[1], &mut s, 3), Err(DecodingError::AllTokensFiltered { step: 3 }));
        let mut s = vec![f32::NAN, 1.0];
        assert_eq!(p.apply(&[1], &mut s, 0), Err(DecodingError::NanLogits { step: 0 }));
    }

    #[test]
    fn temperature_zero_is_rejected_with_a_hint() {
        let mut p = LogitsPipeline::identity(1);
        p.warpers = Some(WarperConfig { temperature: 0.0, ..WarperConfig::default() });
        assert!(matches!(p.validate(), Err(DecodingError::InvalidParameter(_))));
    }
}
