//! Beam search, exactly as `transformers` 5.x runs it (`_beam_search`).
//!
//! Each step, for `num_beams` running beams (B) and vocabulary V:
//!
//! 1. every beam's processed log-probs are added to its running score, giving
//!    B × V candidates; the best `K = max(2, 1 + #eos) × B` are kept (so that
//!    even if the best B all end with EOS, B beams can still run);
//! 2. candidates that hit a stopping criterion (EOS, max length) are
//!    "finished"; only those among the top B may enter the bank of finished
//!    hypotheses, with score `sum_logprobs / generated_len ** length_penalty`;
//! 3. the best B unfinished candidates become the next running beams (the
//!    model's KV cache is reordered to their parents);
//! 4. the search stops when no running beam can beat the worst finished one
//!    (the heuristic depends on `early_stopping`), when every slot of the bank
//!    is finished and `early_stopping=True`, or when every candidate stopped.
//!
//! All arithmetic is `f32` like torch's, and "impossible" candidates are
//! pushed down by adding `-1e9`, also like torch, so ties and orderings match.

use serde::{Deserialize, Serialize};
use alloc::vec::Vec;

/// HF's `early_stopping` flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EarlyStopping {
    /// Stop as soon as `num_beams` hypotheses are finished.
    True,
    /// Stop when the heuristic says the best running beam, scored at the
    /// current length, cannot beat the worst finished hypothesis.
    False,
    /// The canonical bound: with `length_penalty > 0` the best running beam is
    /// scored at `max_length` (it can only get better by growing).
    Never,
}

/// Beam search settings.
#[derive(Clone, Debug, PartialEq)]
pub struct BeamConfig {
    /// Number of running beams (B).
    pub num_beams: usize,
    /// Exponent on the generated length in the final score.
    pub length_penalty: f32,
    /// When the search may stop (see [`EarlyStopping`]).
    pub early_stopping: EarlyStopping,
    /// How many finished hypotheses to return (≤ `num_beams`).
    pub num_return_sequences: usize,
    /// Number of EOS ids (sets how many candidates are kept per step).
    pub num_eos_tokens: usize,
    /// Total length limit (prompt + new tokens).
    pub max_length: usize,
    /// Value HF writes after a shorter hypothesis (`pad or eos[0]`, else -1).
    pub fill_value: i64,
}

/// What became of one of the K candidates of a step (for the beam tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CandidateFate {
    /// Continues as running beam number `.0` in the next step.
    Running(usize),
    /// Entered the bank of finished hypotheses.
    Finished,
    /// Finished (EOS / max length) but did not make it into the bank.
    FinishedRejected,
    /// Dropped: not among the best B unfinished candidates.
    Pruned,
}

/// One candidate continuation of a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeamCandidate {
    /// Running beam (row) it extends.
    pub parent: usize,
    /// The token appended.
    pub token: u32,
    /// Cumulative log-probability of the extended beam.
    pub cumulative_logprob: f32,
    /// What happened to it.
    pub fate: CandidateFate,
}

/// A finished hypothesis in the bank.
#[derive(Clone, Debug, PartialEq)]
struct Hypothesis {
    tokens: Vec<u32>,
    score: f32,
    finished: bool,
}

/// Result of [`BeamSearch::step`].
#[derive(Clone, Debug, PartialEq)]
pub struct BeamStepOutcome {
    /// The K candidates, best first, with their fate.
    pub candidates: Vec<BeamCandidate>,
    /// For each new running beam, the old row whose cache it continues.
    pub parents: Vec<usize>,
    /// For each new running beam, the token to feed the model next.
    pub next_tokens: Vec<u32>,
    /// True when the search is over (no more forward passes needed).
    pub done: bool,
    /// A running beam can still beat a finished hypothesis (HF's early-stop
    /// heuristic, sticky: once false it stays false).
    pub improvement_possible: bool,
    /// Every bank slot holds a finished hypothesis and `early_stopping` is true.
    pub bank_done: bool,
    /// Every candidate of this step met a stopping criterion.
    pub all_stopped: bool,
}

/// A returned hypothesis: the full sequence and HF's `sequences_scores`.
#[derive(Clone, Debug, PartialEq)]
pub struct BeamResult {
    /// Prompt + generated tokens, padded with `fill_value` to a common length.
    pub ids: Vec<i64>,
    /// Length-penalised score (`sequences_scores`).
    pub score: f32,
}

/// The running state of a beam search over one prompt.
#[derive(Clone, Debug)]
pub struct BeamSearch {
    config: BeamConfig,
    prompt_len: usize,
    cur_len: usize,
    running: Vec<Vec<u32>>,
    running_scores: Vec<f32>,
    bank: Vec<Hypothesis>,
    improvement_possible: bool,
}

const IMPOSSIBLE: f32 = -1.0e9;

/// Indices of the `k` largest values, largest first, ties by lower index.
fn top_k_indices(values: &[f32], k: usize) -> Vec<usize> {
    let mut best: Vec<usize> = Vec::with_capacity(k + 1);
    for (i, &v) in values.iter().enumerate() {
        if best.len() == k {
            match best.last() {
                Some(&last) if values[last] >= v || v.is_nan() => continue,
                _ => {}
            }
        }
        // insert after every element >= v (stable for ties)
        let pos = best.partition_point(|&j| values[j] >= v);
        best.insert(pos, i);
        if best.len() > k {
            best.pop();
        }
    }
    best
}

/// `generated_len ** length_penalty` as torch gets it: a Python float power,
/// then used as an `f32` divisor.
fn length_divisor(generated_len: usize, length_penalty: f32) -> f32 {
    libm::pow(generated_len as f64, length_penalty as f64) as f32
}

impl BeamSearch {
    /// Start a search from `prompt` (the decoder prompt for encoder-decoders).
    pub fn new(config: BeamConfig, prompt: &[u32]) -> Self {
        let b = config.num_beams;
        let mut running_scores = alloc::vec![IMPOSSIBLE; b];
        // Only beam 0 is live at first, so the B identical rows do not all
        // pick the same tokens.
        if let Some(first) = running_scores.first_mut() {
            *first = 0.0;
        }
        let bank = (0..b).map(|_| Hypothesis { tokens: prompt.to_vec(), score: IMPOSSIBLE, finished: false }).collect();
        Self {
            prompt_len: prompt.len(),
            cur_len: prompt.len(),
            running: alloc::vec![prompt.to_vec(); b],
            running_scores,
            bank,
            improvement_possible: true,
            config,
        }
    }

    /// Number of running beams (rows the model must run).
    pub fn num_beams(&self) -> usize {
        self.config.num_beams
    }

    /// The sequence of running beam `row` (for the logits processors).
    pub fn running_sequence(&self, row: usize) -> &[u32] {
        self.running.get(row).map(|v| v.as_slice()).unwrap_or(&[])
    }

    /// Advance by one token. `log_probs` is `num_beams × vocab` of processed
    /// log-probabilities (not yet accumulated); `is_done` is the stopping
    /// criteria evaluated on a candidate sequence.
    pub fn step(&mut self, log_probs: &[f32], vocab: usize, is_done: &dyn Fn(&[u32]) -> bool) -> BeamStepOutcome {
        let b = self.config.num_beams;
        let keep = core::cmp::max(2, 1 + self.config.num_eos_tokens) * b;
        // (B, V) + running score -> flat (B * V)
        let accumulated: Vec<f32> = log_probs
            .iter()
            .enumerate()
            .map(|(i, &lp)| lp + self.running_scores.get(i / vocab).copied().unwrap_or(IMPOSSIBLE))
            .collect();
        let top = top_k_indices(&accumulated, keep);
        let mut candidates: Vec<BeamCandidate> = Vec::with_capacity(top.len());
        let mut sequences: Vec<Vec<u32>> = Vec::with_capacity(top.len());
        let mut hits: Vec<bool> = Vec::with_capacity(top.len());
        for &flat in &top {
            let parent = flat / vocab;
            let token = (flat % vocab) as u32;
            let mut seq = self.running.get(parent).cloned().unwrap_or_default();
            seq.push(token);
            hits.push(is_done(&seq));
            sequences.push(seq);
            candidates.push(BeamCandidate {
                parent,
                token,
                cumulative_logprob: accumulated[flat],
                fate: CandidateFate::Pruned,
            });
        }

        // Next running beams: best B candidates, finished ones pushed down.
        let running_scores: Vec<f32> = candidates
            .iter()
            .zip(&hits)
            .map(|(c, &h)| c.cumulative_logprob + if h { IMPOSSIBLE } else { 0.0 })
            .collect();
        let next = top_k_indices(&running_scores, b);
        let parents: Vec<usize> = next.iter().map(|&k| candidates[k].parent).collect();
        let next_tokens: Vec<u32> = next.iter().map(|&k| candidates[k].token).collect();
        let new_running: Vec<Vec<u32>> = next.iter().map(|&k| sequences[k].clone()).collect();
        let new_running_scores: Vec<f32> = next.iter().map(|&k| running_scores[k]).collect();
        for (slot, &k) in next.iter().enumerate() {
            if !hits[k] {
                candidates[k].fate = CandidateFate::Running(slot);
            }
        }

        // Bank update: only finished candidates among the top B may enter.
        let divisor = length_divisor(self.cur_len + 1 - self.prompt_len, self.config.length_penalty);
        let bank_full = self.bank.iter().all(|h| h.finished) && self.config.early_stopping == EarlyStopping::True;
        let mut merged_scores: Vec<f32> = self.bank.iter().map(|h| h.score).collect();
        for (k, c) in candidates.iter().enumerate() {
            let just_finished = hits[k] && k < b;
            let mut s = c.cumulative_logprob / divisor;
            if bank_full {
                s += IMPOSSIBLE;
            }
            if !self.improvement_possible {
                s += IMPOSSIBLE;
            }
            if !just_finished {
                s += IMPOSSIBLE;
            }
            merged_scores.push(s);
        }
        let chosen = top_k_indices(&merged_scores, b);
        let old_bank = core::mem::take(&mut self.bank);
        for &m in &chosen {
            if m < b {
                self.bank.push(old_bank[m].clone());
            } else {
                let k = m - b;
                let just_finished = hits[k] && k < b;
                self.bank.push(Hypothesis { tokens: sequences[k].clone(), score: merged_scores[m], finished: just_finished });
                if just_finished {
                    candidates[k].fate = CandidateFate::Finished;
                }
            }
        }
        for (k, c) in candidates.iter_mut().enumerate() {
            if hits[k] && c.fate == CandidateFate::Pruned {
                c.fate = CandidateFate::FinishedRejected;
            }
        }

        self.running = new_running;
        self.running_scores = new_running_scores;
        self.cur_len += 1;

        // Can a running beam still beat the worst finished hypothesis?
        let hypothetical_len = if self.config.early_stopping == EarlyStopping::Never && self.config.length_penalty > 0.0 {
            self.config.max_length.saturating_sub(self.prompt_len)
        } else {
            self.cur_len - self.prompt_len
        };
        let best_running = self.running_scores.first().copied().unwrap_or(IMPOSSIBLE)
            / length_divisor(hypothetical_len, self.config.length_penalty);
        let worst_bank = self.bank.iter().map(|h| h.score).fold(f32::INFINITY, f32::min);
        let beats_some_slot = self.bank.iter().any(|h| best_running > if h.finished { worst_bank } else { IMPOSSIBLE });
        self.improvement_possible = self.improvement_possible && beats_some_slot;

        let bank_done = self.bank.iter().all(|h| h.finished) && self.config.early_stopping == EarlyStopping::True;
        let all_stopped = hits.iter().all(|&h| h);
        let done = !self.improvement_possible || bank_done || all_stopped;
        BeamStepOutcome { candidates, parents, next_tokens, done, improvement_possible: self.improvement_possible, bank_done, all_stopped }
    }

    /// After a cancel: the finished hypotheses if the bank is full, else the
    /// best running beams scored as if they ended now (HF has no such case).
    pub fn partial(&self) -> Vec<BeamResult> {
        if self.bank.iter().all(|h| h.finished) {
            return self.finish();
        }
        let divisor = length_divisor(self.cur_len - self.prompt_len, self.config.length_penalty);
        let n = self.config.num_return_sequences.min(self.running.len());
        self.running[..n]
            .iter()
            .zip(&self.running_scores)
            .map(|(tokens, &score)| BeamResult { ids: tokens.iter().map(|&t| t as i64).collect(), score: score / divisor })
            .collect()
    }

    /// The best `num_return_sequences` hypotheses, padded like HF's output.
    pub fn finish(&self) -> Vec<BeamResult> {
        let n = self.config.num_return_sequences.min(self.bank.len());
        let returned = &self.bank[..n];
        let longest = returned.iter().map(|h| h.tokens.len()).max().unwrap_or(self.prompt_len);
        returned
            .iter()
            .map(|h| {
                let mut ids: Vec<i64> = h.tokens.iter().map(|&t| t as i64).collect();
                ids.resize(longest, self.config.fill_value);
                BeamResult { ids, score: h.score }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn top_k_indices_orders_and_breaks_ties_by_index() {
        assert_eq!(top_k_indices(&[1.0, 3.0, 2.0, 3.0, 0.0], 3), vec![1, 3, 2]);
        assert_eq!(top_k_indices(&[1.0, 2.0], 5), vec![1, 0]);
    }

    /// A hand-checked two-step search with vocab 3 (token 2 = EOS).
    #[test]
    fn eos_hypothesis_enters_the_bank_and_search_stops() {
        let cfg = BeamConfig {
            num_beams: 2,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::True,
            num_return_sequences: 2,
            num_eos_tokens: 1,
            max_length: 10,
            fill_value: 2,
        };
        let mut bs = BeamSearch::new(cfg, &[0]);
        let ln = |p: f32| libm::logf(p);
        let eos = |s: &[u32]| s.last() == Some(&2);
        // step 1: only beam 0 is live. EOS is best -> finished; tokens 0,1 run.
        let lp = vec![ln(0.3), ln(0.2), ln(0.5), ln(0.3), ln(0.2), ln(0.5)];
        let out = bs.step(&lp, 3, &eos);
        assert_eq!(out.candidates[0].token, 2);
        assert_eq!(out.candidates[0].fate, CandidateFate::Finished);
        assert_eq!(out.next_tokens, vec![0, 1]);
        assert_eq!(out.parents, vec![0, 0]);
        assert!(!out.done);
        // step 2: both beams end with EOS -> bank full, early stop.
        let lp = vec![ln(0.1), ln(0.1), ln(0.8), ln(0.1), ln(0.1), ln(0.8)];
        let out = bs.step(&lp, 3, &eos);
        assert!(out.done);
        let res = bs.finish();
        assert_eq!(res[0].ids, vec![0, 2, 2]); // padded with fill value 2
        assert!((res[0].score - ln(0.5)).abs() < 1e-6);
        assert_eq!(res[1].ids, vec![0, 0, 2]);
        assert!((res[1].score - (ln(0.3) + ln(0.8)) / 2.0).abs() < 1e-6);
    }
}
