//! The `generate` driver: one loop for every strategy and every model.
//!
//! It mirrors `GenerationMixin.generate` for a single prompt:
//! greedy and sampling follow `_sample` (processors on raw logits, then
//! argmax or a draw; finished rows are padded), beam search follows
//! `_beam_search` (processors on log-softmax, see [`super::beam_search`]).
//! The model is called once for the prompt and then once per new token with
//! its KV cache: no step re-reads the whole sequence.
//!
//! After every step the `on_step` callback receives a [`StepEvent`] (the
//! chosen token, its probability, the top candidates and where top-k / top-p
//! cut, or the beam candidates and their fates). Returning `false` from the
//! callback stops generation early (the UI's Stop button).

use serde::{Deserialize, Serialize};
use alloc::string::String;
use alloc::vec::Vec;

use super::beam_search::{BeamCandidate, BeamConfig, BeamSearch, CandidateFate, EarlyStopping};
use super::logits_process::{check_finite, LogitsPipeline, ProcessReport, WarperConfig};
use super::sampling::{log_softmax, sample_from_probs, softmax, top_candidates};
use super::stopping::{DecodeFn, StoppingCriteria};
use super::{greedy, limits, DecodingError, StepModel};
use crate::rng::Rng;

/// How to pick the next token.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Argmax of the processed logits (`do_sample=False, num_beams=1`).
    Greedy,
    /// Draw from the processed, warped distribution (`do_sample=True`).
    Sample {
        /// Temperature / top-k / top-p / min-p / typical-p.
        warpers: WarperConfig,
        /// Seed of the PCG generator: same seed, same text, everywhere.
        seed: u64,
    },
    /// Beam search (`num_beams > 1` or 1, `do_sample=False`).
    Beam {
        /// Number of beams.
        num_beams: usize,
        /// Exponent on the generated length in the final score.
        length_penalty: f32,
        /// HF's `early_stopping`.
        early_stopping: EarlyStopping,
    },
}

/// Everything `generate` needs besides the model and the prompt.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GenerateConfig {
    /// Strategy and its parameters.
    pub strategy: Strategy,
    /// Number of tokens to generate at most.
    pub max_new_tokens: usize,
    /// EOS is banned until this many tokens are generated.
    pub min_new_tokens: usize,
    /// CTRL repetition penalty (1.0 = off).
    pub repetition_penalty: f32,
    /// No-repeat n-gram size (0 = off).
    pub no_repeat_ngram_size: usize,
    /// Sequences to return (beams: best N; sampling: N independent draws).
    pub num_return_sequences: usize,
    /// End-of-sequence ids (empty: only the length limit stops).
    pub eos_token_ids: Vec<u32>,
    /// Padding id written after a finished row (HF defaults it to `eos[0]`).
    pub pad_token_id: Option<u32>,
    /// Stop strings (need a decode function).
    pub stop_strings: Vec<String>,
    /// How many top candidates each step event lists.
    pub report_top: usize,
}

impl GenerateConfig {
    /// Greedy decoding of `max_new_tokens` tokens with no processors.
    pub fn greedy(max_new_tokens: usize, eos_token_ids: Vec<u32>) -> Self {
        Self {
            strategy: Strategy::Greedy,
            max_new_tokens,
            min_new_tokens: 0,
            repetition_penalty: 1.0,
            no_repeat_ngram_size: 0,
            num_return_sequences: 1,
            eos_token_ids,
            pad_token_id: None,
            stop_strings: Vec::new(),
            report_top: 10,
        }
    }
}

/// One row's choice at one greedy / sampling step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowStep {
    /// Token appended (the pad id for an already finished row).
    pub token: u32,
    /// Its probability under the processed distribution.
    pub prob: f32,
    /// Best candidates `(id, prob)` after processing, most likely first.
    pub candidates: Vec<(u32, f32)>,
    /// Where each warper cut (number of tokens it kept).
    pub report: ProcessReport,
    /// True when this row had already finished (the token is padding).
    pub padding: bool,
}

/// What the callback sees after each step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepEvent {
    /// A greedy / sampling step: one entry per returned sequence.
    Tokens {
        /// 0 for the first new token.
        step: usize,
        /// Per-row details.
        rows: Vec<RowStep>,
    },
    /// A beam search step: the candidates and what became of them.
    Beams {
        /// 0 for the first new token.
        step: usize,
        /// The top `K` candidates, best first.
        candidates: Vec<BeamCandidate>,
    },
}

/// One returned sequence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GeneratedSequence {
    /// Full sequence as HF returns it: prompt (or decoder start) + new tokens,
    /// padded to the longest returned row. `-1` can appear only as beam
    /// padding when the model has no EOS/pad id (as in HF).
    pub ids: Vec<i64>,
    /// Beam search: HF's `sequences_scores`. Greedy / sampling: the sum of the
    /// chosen tokens' log-probabilities under the processed distribution.
    pub score: f32,
}

/// The result of [`generate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Generation {
    /// Returned sequences, prompt by prompt (`num_return_sequences` each,
    /// best first for beam search), as HF's output tensor orders them.
    pub sequences: Vec<GeneratedSequence>,
    /// Number of model calls (1 prefill + 1 per further step).
    pub forward_calls: usize,
    /// New tokens per row that were generated.
    pub new_tokens: usize,
    /// True if the callback asked to stop.
    pub cancelled: bool,
}

fn check_shape(logits: &[f32], rows: usize, vocab: usize) -> Result<(), DecodingError> {
    if logits.len() != rows * vocab || vocab == 0 {
        return Err(DecodingError::LogitsShape { expected: rows * vocab, got: logits.len() });
    }
    Ok(())
}

/// Where a [`Generator`] is.
enum Phase {
    /// Greedy / sampling rows (HF's `_sample`).
    Tokens {
        sequences: Vec<Vec<u32>>,
        scores: Vec<f32>,
        unfinished: Vec<bool>,
        rng: Option<Rng>,
        /// Tokens appended by the last step (fed to the model next).
        last_tokens: Vec<u32>,
    },
    /// Beam search (HF's `_beam_search`): one search per prompt.
    Beams {
        searches: Vec<BeamSearch>,
        /// Rows to keep and tokens to feed before the next step.
        pending: Option<(Vec<usize>, Vec<u32>)>,
    },
}

/// Generation as a resumable state machine: each [`Generator::step`] makes
/// one model call and produces one token per row (or one beam step), so a
/// UI can render between steps and stop at any time ([`generate`] is the
/// same loop run to the end).
pub struct Generator {
    config: GenerateConfig,
    pipeline: LogitsPipeline,
    /// The prompts, left-padded to one length.
    prompts: Vec<Vec<u32>>,
    /// 0 on each prompt's left padding.
    mask: Vec<Vec<u8>>,
    phase: Phase,
    step_index: usize,
    forward_calls: usize,
    done: bool,
    cancelled: bool,
}

impl Generator {
    /// Validate `config` and prepare to generate from `prompt` (the decoder
    /// prompt for encoder-decoder models). The row count is checked against
    /// [`limits::MAX_ROWS`] here, before anything is allocated; the first
    /// [`Generator::step`] checks it against the model's memory footprint.
    pub fn new(prompt: &[u32], config: &GenerateConfig) -> Result<Self, DecodingError> {
        Self::new_batch(&[prompt.to_vec()], config)
    }

    /// Like [`Generator::new`] for several prompts decoded together, as HF's
    /// `generate` does with a left-padded batch: shorter prompts are padded on
    /// the left with the pad id (`pad_token_id`, else the first EOS id, else
    /// 0) and masked out. The padding is part of every returned sequence and
    /// of what the logits processors see, exactly as in HF.
    pub fn new_batch(prompts: &[Vec<u32>], config: &GenerateConfig) -> Result<Self, DecodingError> {
        if prompts.is_empty() || prompts.iter().any(|p| p.is_empty()) {
            return Err(DecodingError::EmptyPrompt);
        }
        if config.num_return_sequences == 0 {
            return Err(DecodingError::InvalidParameter("num_return_sequences has to be at least 1".into()));
        }
        limits::check_row_cap("num_return_sequences", config.num_return_sequences)?;
        if let Strategy::Beam { num_beams, .. } = config.strategy {
            limits::check_row_cap("num_beams", num_beams)?;
        }
        let per_prompt = match config.strategy {
            Strategy::Beam { num_beams, .. } => num_beams,
            _ => config.num_return_sequences,
        };
        limits::check_row_cap("prompts × rows per prompt", prompts.len().saturating_mul(per_prompt))?;
        let pad = config.pad_token_id.or(config.eos_token_ids.first().copied()).unwrap_or(0);
        let width = prompts.iter().map(Vec::len).max().unwrap_or(0);
        let mask: Vec<Vec<u8>> =
            prompts.iter().map(|p| core::iter::repeat_n(0u8, width - p.len()).chain(core::iter::repeat_n(1u8, p.len())).collect()).collect();
        let prompts: Vec<Vec<u32>> =
            prompts.iter().map(|p| core::iter::repeat_n(pad, width - p.len()).chain(p.iter().copied()).collect()).collect();
        let prompt = &prompts[0];
        let mut pipeline = LogitsPipeline::identity(prompt.len());
        pipeline.repetition_penalty = config.repetition_penalty;
        pipeline.no_repeat_ngram_size = config.no_repeat_ngram_size;
        pipeline.min_new_tokens = config.min_new_tokens;
        pipeline.eos_token_ids = config.eos_token_ids.clone();
        let rows = config.num_return_sequences;
        // Row r decodes prompt r / rows (HF's repeat_interleave).
        let token_phase = |rng: Option<Rng>| Phase::Tokens {
            sequences: prompts.iter().flat_map(|p| core::iter::repeat_n(p.clone(), rows)).collect(),
            scores: alloc::vec![0.0; rows * prompts.len()],
            unfinished: alloc::vec![true; rows * prompts.len()],
            rng,
            last_tokens: Vec::new(),
        };
        let phase = match &config.strategy {
            Strategy::Greedy => {
                if rows != 1 {
                    return Err(DecodingError::InvalidParameter(
                        "greedy decoding returns one sequence (HF: num_return_sequences must be 1 without beams or \
                         sampling)"
                            .into(),
                    ));
                }
                token_phase(None)
            }
            Strategy::Sample { warpers, seed } => {
                pipeline.warpers = Some(warpers.clone());
                token_phase(Some(Rng::new(*seed)))
            }
            Strategy::Beam { num_beams, length_penalty, early_stopping } => {
                if *num_beams == 0 {
                    return Err(DecodingError::InvalidParameter("num_beams has to be at least 1".into()));
                }
                if rows > *num_beams {
                    return Err(DecodingError::InvalidParameter(
                        "num_return_sequences has to be smaller or equal to num_beams".into(),
                    ));
                }
                let beam_config = BeamConfig {
                    num_beams: *num_beams,
                    length_penalty: *length_penalty,
                    early_stopping: *early_stopping,
                    num_return_sequences: rows,
                    num_eos_tokens: config.eos_token_ids.len(),
                    max_length: prompt.len() + config.max_new_tokens,
                    fill_value: fill_value(config),
                };
                let searches = prompts.iter().map(|p| BeamSearch::new(beam_config.clone(), p)).collect();
                Phase::Beams { searches, pending: None }
            }
        };
        pipeline.validate()?;
        Ok(Self {
            config: config.clone(),
            pipeline,
            prompts,
            mask,
            phase,
            step_index: 0,
            forward_calls: 0,
            done: config.max_new_tokens == 0,
            cancelled: false,
        })
    }

    /// True once generation has finished (EOS / length / stop string / beam
    /// search's own stopping rule).
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Number of model calls so far (1 for the prompt, then 1 per step).
    pub fn forward_calls(&self) -> usize {
        self.forward_calls
    }

    /// The rows every model call runs and the parameter that set them.
    fn rows(&self) -> (&'static str, usize) {
        match &self.phase {
            Phase::Tokens { sequences, .. } => ("num_return_sequences", sequences.len()),
            Phase::Beams { searches, .. } => ("num_beams", searches.iter().map(BeamSearch::num_beams).sum()),
        }
    }

    /// Run one step: one model call, one new token per row. Returns `None`
    /// when generation is already finished. Before the first model call, the
    /// rows are checked against the model's memory footprint
    /// ([`limits::check_row_budget`]), so an oversized request fails before
    /// the model allocates its caches.
    pub fn step<M: StepModel + ?Sized>(
        &mut self,
        model: &mut M,
        decode: Option<&DecodeFn<'_>>,
    ) -> Result<Option<StepEvent>, DecodingError> {
        if self.done {
            return Ok(None);
        }
        let prompt_len = self.prompts.first().map_or(0, Vec::len);
        if self.step_index == 0 {
            let mut positions = prompt_len.saturating_add(self.config.max_new_tokens);
            if let Some(context) = model.max_positions() {
                positions = positions.min(context.max(prompt_len));
            }
            let (parameter, rows) = self.rows();
            limits::check_row_budget(parameter, rows, &model.row_footprint(positions))?;
        }
        let stopping = StoppingCriteria {
            max_length: prompt_len + self.config.max_new_tokens,
            eos_token_ids: self.config.eos_token_ids.clone(),
            stop_strings: self.config.stop_strings.clone(),
            decode,
        };
        let step = self.step_index;
        let vocab = model.vocab_size();
        let event = match &mut self.phase {
            Phase::Tokens { sequences, scores, unfinished, rng, last_tokens } => {
                let rows = sequences.len();
                let per_prompt = rows / self.prompts.len();
                let logits = if step == 0 {
                    model.start_batch(&self.prompts, &self.mask, per_prompt)
                } else {
                    model.step(last_tokens)
                }
                .map_err(DecodingError::Model)?;
                self.forward_calls += 1;
                check_shape(&logits, rows, vocab)?;
                // HF pads rows that already finished (several sequences only).
                let pad = self.config.pad_token_id.or(self.config.eos_token_ids.first().copied()).unwrap_or(0);
                let mut row_steps = Vec::with_capacity(rows);
                let mut next_tokens = Vec::with_capacity(rows);
                for row in 0..rows {
                    if !unfinished[row] {
                        next_tokens.push(pad);
                        row_steps.push(RowStep {
                            token: pad,
                            prob: 0.0,
                            candidates: Vec::new(),
                            report: ProcessReport::default(),
                            padding: true,
                        });
                        continue;
                    }
                    let mut row_scores = logits[row * vocab..(row + 1) * vocab].to_vec();
                    check_finite(&row_scores, step)?;
                    let padding = self.mask[row / per_prompt].iter().take_while(|&&m| m == 0).count();
                    let report = self.pipeline.apply_padded(&sequences[row], padding, &mut row_scores, step)?;
                    let probs = softmax(&row_scores);
                    let token = match rng.as_mut() {
                        Some(r) => sample_from_probs(&probs, r),
                        None => greedy::argmax(&row_scores),
                    }
                    .ok_or(DecodingError::AllTokensFiltered { step })?;
                    let prob = probs[token];
                    scores[row] += libm::logf(prob);
                    next_tokens.push(token as u32);
                    row_steps.push(RowStep {
                        token: token as u32,
                        prob,
                        candidates: top_candidates(&probs, self.config.report_top),
                        report,
                        padding: false,
                    });
                }
                for row in 0..rows {
                    sequences[row].push(next_tokens[row]);
                    if unfinished[row] && stopping.is_done(&sequences[row]) {
                        unfinished[row] = false;
                    }
                }
                self.done = unfinished.iter().all(|u| !u);
                *last_tokens = next_tokens;
                StepEvent::Tokens { step, rows: row_steps }
            }
            Phase::Beams { searches, pending } => {
                let beams = searches.first().map_or(0, BeamSearch::num_beams);
                let rows = beams * searches.len();
                let logits = match pending.take() {
                    None => model.start_batch(&self.prompts, &self.mask, beams),
                    Some((parents, tokens)) => {
                        model.reorder(&parents).map_err(DecodingError::Model)?;
                        model.step(&tokens)
                    }
                }
                .map_err(DecodingError::Model)?;
                self.forward_calls += 1;
                check_shape(&logits, rows, vocab)?;
                let is_done = |seq: &[u32]| stopping.is_done(seq);
                let (mut parents, mut next_tokens, mut candidates) = (Vec::new(), Vec::new(), Vec::new());
                let (mut improvable, mut all_banks_done, mut all_stopped) = (false, true, true);
                // Each prompt's beams are rows b*beams .. (b+1)*beams; HF runs the
                // searches side by side and stops when none can go on.
                for (b, search) in searches.iter_mut().enumerate() {
                    let padding = self.mask[b].iter().take_while(|&&m| m == 0).count();
                    let mut log_probs = Vec::with_capacity(beams * vocab);
                    for row in 0..beams {
                        let raw = &logits[(b * beams + row) * vocab..(b * beams + row + 1) * vocab];
                        check_finite(raw, step)?;
                        let mut lp = log_softmax(raw);
                        // A single beam may lose every token (e.g. n-gram bans); HF
                        // then never picks it, so only an all-beams wipe-out is an error.
                        match self.pipeline.apply_padded(search.running_sequence(row), padding, &mut lp, step) {
                            Ok(_) | Err(DecodingError::AllTokensFiltered { .. }) => {}
                            Err(e) => return Err(e),
                        }
                        log_probs.extend_from_slice(&lp);
                    }
                    if log_probs.iter().all(|&x| x == f32::NEG_INFINITY) {
                        return Err(DecodingError::AllTokensFiltered { step });
                    }
                    let outcome = search.step(&log_probs, vocab, &is_done);
                    improvable |= outcome.improvement_possible;
                    all_banks_done &= outcome.bank_done;
                    all_stopped &= outcome.all_stopped;
                    parents.extend(outcome.parents.iter().map(|&p| b * beams + p));
                    next_tokens.extend(outcome.next_tokens);
                    candidates.extend(outcome.candidates.into_iter().map(|mut c| {
                        c.parent += b * beams;
                        if let CandidateFate::Running(slot) = c.fate {
                            c.fate = CandidateFate::Running(b * beams + slot);
                        }
                        c
                    }));
                }
                self.done = !improvable || all_banks_done || all_stopped;
                *pending = Some((parents, next_tokens));
                StepEvent::Beams { step, candidates }
            }
        };
        self.step_index += 1;
        Ok(Some(event))
    }

    /// Stop early (the UI's Stop button): [`Generator::finish`] then returns
    /// what was generated so far.
    pub fn cancel(&mut self) {
        if !self.done {
            self.cancelled = true;
            self.done = true;
        }
    }

    /// The sequences generated (complete, or partial after a cancel).
    pub fn finish(self) -> Generation {
        let sequences = match &self.phase {
            Phase::Tokens { sequences, scores, .. } => sequences
                .iter()
                .zip(scores)
                .map(|(s, &score)| GeneratedSequence { ids: s.iter().map(|&t| t as i64).collect(), score })
                .collect(),
            Phase::Beams { searches, .. } if self.step_index == 0 => searches
                .iter()
                .map(|search| GeneratedSequence { ids: search.running_sequence(0).iter().map(|&t| t as i64).collect(), score: 0.0 })
                .collect(),
            Phase::Beams { searches, .. } => {
                let per_prompt: Vec<_> = searches.iter().map(|s| if self.cancelled { s.partial() } else { s.finish() }).collect();
                // One output tensor: every prompt's results padded to the longest.
                let longest = per_prompt.iter().flatten().map(|r| r.ids.len()).max().unwrap_or(0);
                let fill = fill_value(&self.config);
                per_prompt
                    .into_iter()
                    .flatten()
                    .map(|mut r| {
                        r.ids.resize(longest, fill);
                        GeneratedSequence { ids: r.ids, score: r.score }
                    })
                    .collect()
            }
        };
        Generation { sequences, forward_calls: self.forward_calls, new_tokens: self.step_index, cancelled: self.cancelled }
    }
}

/// Generate from `prompt` (decoder prompt for encoder-decoder models),
/// calling `on_step` after every step; returning `false` from it stops early.
pub fn generate<M: StepModel + ?Sized>(
    model: &mut M,
    prompt: &[u32],
    config: &GenerateConfig,
    decode: Option<&DecodeFn<'_>>,
    on_step: &mut dyn FnMut(&StepEvent) -> bool,
) -> Result<Generation, DecodingError> {
    generate_batch(model, &[prompt.to_vec()], config, decode, on_step)
}

/// [`generate`] for several prompts in one left-padded batch (see
/// [`Generator::new_batch`]); the sequences come prompt by prompt.
pub fn generate_batch<M: StepModel + ?Sized>(
    model: &mut M,
    prompts: &[Vec<u32>],
    config: &GenerateConfig,
    decode: Option<&DecodeFn<'_>>,
    on_step: &mut dyn FnMut(&StepEvent) -> bool,
) -> Result<Generation, DecodingError> {
    let mut generator = Generator::new_batch(prompts, config)?;
    while let Some(event) = generator.step(model, decode)? {
        if !on_step(&event) {
            generator.cancel();
        }
    }
    Ok(generator.finish())
}

/// HF: `pad_token_id or eos_token_id[0] if eos_token_id is not None else -1`
/// (note that a pad id of 0 is falsy in Python and falls back to EOS).
fn fill_value(config: &GenerateConfig) -> i64 {
    match (config.pad_token_id, config.eos_token_ids.first()) {
        (_, None) => -1,
        (Some(pad), Some(_)) if pad != 0 => pad as i64,
        (_, Some(&eos)) => eos as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    /// A bigram "model": the next-token logits depend only on the last token,
    /// through a fixed table. It counts forward calls and keeps per-row state
    /// like a real KV cache would (the last token of each row).
    struct BigramModel {
        table: Vec<Vec<f32>>,
        last: Vec<u32>,
        calls: usize,
    }

    impl BigramModel {
        fn new() -> Self {
            // vocab 4, token 3 = EOS
            let table = vec![
                vec![0.1, 2.0, 1.0, -1.0],
                vec![1.5, 0.0, 1.4, 0.2],
                vec![0.0, 0.3, -0.5, 2.5],
                vec![0.0, 0.0, 0.0, 0.0],
            ];
            Self { table, last: vec![], calls: 0 }
        }
        fn logits(&self) -> Vec<f32> {
            self.last.iter().flat_map(|&t| self.table[t as usize].clone()).collect()
        }
    }

    impl StepModel for BigramModel {
        fn vocab_size(&self) -> usize {
            4
        }
        fn max_positions(&self) -> Option<usize> {
            None
        }
        fn start(&mut self, prompt: &[u32], rows: usize) -> Result<Vec<f32>, String> {
            self.calls += 1;
            self.last = vec![*prompt.last().unwrap(); rows];
            Ok(self.logits())
        }
        fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>, String> {
            self.calls += 1;
            self.last = tokens.to_vec();
            Ok(self.logits())
        }
        fn reorder(&mut self, beam_idx: &[usize]) -> Result<(), String> {
            self.last = beam_idx.iter().map(|&i| self.last[i]).collect();
            Ok(())
        }
    }

    #[test]
    fn greedy_follows_the_argmax_chain_until_eos() {
        let mut m = BigramModel::new();
        let cfg = GenerateConfig::greedy(10, vec![3]);
        let mut events = 0;
        let out = generate(&mut m, &[0], &cfg, None, &mut |_| {
            events += 1;
            true
        })
        .unwrap();
        // 0 -> 1 -> 0 -> 1 ... never EOS: argmax(0)=1, argmax(1)=0
        assert_eq!(out.sequences[0].ids, vec![0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0]);
        assert_eq!(events, 10);
        assert_eq!(out.forward_calls, 10);
        assert_eq!(m.calls, 10);
    }

    #[test]
    fn greedy_with_no_repeat_bigram_reaches_eos() {
        let mut m = BigramModel::new();
        let mut cfg = GenerateConfig::greedy(10, vec![3]);
        cfg.no_repeat_ngram_size = 2;
        let out = generate(&mut m, &[0], &cfg, None, &mut |_| true).unwrap();
        // 0 1 0 then (0,1) banned -> 2 -> 3 (EOS)
        assert_eq!(out.sequences[0].ids, vec![0, 1, 0, 2, 3]);
    }

    #[test]
    fn callback_can_cancel() {
        let mut m = BigramModel::new();
        let cfg = GenerateConfig::greedy(10, vec![3]);
        let out = generate(&mut m, &[0], &cfg, None, &mut |_| false).unwrap();
        assert!(out.cancelled);
        assert_eq!(out.sequences[0].ids.len(), 2);
    }

    #[test]
    fn generator_steps_one_call_at_a_time_and_cancels_beams() {
        let mut m = BigramModel::new();
        let mut cfg = GenerateConfig::greedy(10, vec![3]);
        cfg.strategy = Strategy::Beam { num_beams: 2, length_penalty: 1.0, early_stopping: EarlyStopping::Never };
        cfg.num_return_sequences = 2;
        let mut g = Generator::new(&[0], &cfg).unwrap();
        assert!(matches!(g.step(&mut m, None).unwrap(), Some(StepEvent::Beams { step: 0, .. })));
        assert!(matches!(g.step(&mut m, None).unwrap(), Some(StepEvent::Beams { step: 1, .. })));
        assert_eq!((g.forward_calls(), m.calls), (2, 2));
        g.cancel();
        assert!(g.is_done());
        assert_eq!(g.step(&mut m, None).unwrap(), None);
        let out = g.finish();
        assert!(out.cancelled);
        assert_eq!(out.sequences.len(), 2);
        // two new tokens on the running beams
        assert!(out.sequences.iter().all(|s| s.ids.len() == 3));
    }

    #[test]
    fn sampling_is_reproducible_by_seed() {
        let mut cfg = GenerateConfig::greedy(8, vec![3]);
        cfg.strategy = Strategy::Sample { warpers: WarperConfig { top_k: 0, ..WarperConfig::default() }, seed: 5 };
        cfg.num_return_sequences = 3;
        let a = generate(&mut BigramModel::new(), &[0], &cfg, None, &mut |_| true).unwrap();
        let b = generate(&mut BigramModel::new(), &[0], &cfg, None, &mut |_| true).unwrap();
        assert_eq!(a, b);
        // finished rows are padded with eos (pad defaults to eos[0])
        for s in &a.sequences {
            if let Some(p) = s.ids.iter().position(|&t| t == 3) {
                assert!(s.ids[p..].iter().all(|&t| t == 3));
            }
        }
    }

    #[test]
    fn one_beam_equals_greedy() {
        let mut cfg = GenerateConfig::greedy(6, vec![3]);
        cfg.no_repeat_ngram_size = 2;
        let g = generate(&mut BigramModel::new(), &[2, 0], &cfg, None, &mut |_| true).unwrap();
        cfg.strategy = Strategy::Beam { num_beams: 1, length_penalty: 1.0, early_stopping: EarlyStopping::False };
        let b = generate(&mut BigramModel::new(), &[2, 0], &cfg, None, &mut |_| true).unwrap();
        assert_eq!(g.sequences[0].ids, b.sequences[0].ids);
    }

    #[test]
    fn beam_width_and_sample_count_over_the_cap_fail_before_allocating() {
        let mut cfg = GenerateConfig::greedy(2, vec![3]);
        cfg.strategy = Strategy::Beam {
            num_beams: 1_000_000,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
        };
        let err = Generator::new(&[0], &cfg).err().unwrap();
        assert_eq!(
            err,
            DecodingError::TooManyRows {
                parameter: "num_beams",
                requested: 1_000_000,
                limit: limits::MAX_ROWS
            }
        );
        assert!(alloc::format!("{err}").contains("64"), "{err}");
        cfg.strategy = Strategy::Sample {
            warpers: WarperConfig::default(),
            seed: 0,
        };
        cfg.num_return_sequences = 100_000_000;
        let err = Generator::new(&[0], &cfg).err().unwrap();
        assert!(
            matches!(
                err,
                DecodingError::TooManyRows {
                    parameter: "num_return_sequences",
                    ..
                }
            ),
            "{err:?}"
        );
        // The cap itself is allowed.
        cfg.num_return_sequences = limits::MAX_ROWS;
        assert!(Generator::new(&[0], &cfg).is_ok());
    }

    #[test]
    fn rows_over_the_memory_budget_fail_before_the_model_runs() {
        /// The bigram model with a 7B-sized cache: 32 layers × 4096 wide.
        struct BigCache(BigramModel);
        impl StepModel for BigCache {
            fn vocab_size(&self) -> usize {
                4
            }
            fn max_positions(&self) -> Option<usize> {
                Some(4096)
            }
            fn start(&mut self, prompt: &[u32], rows: usize) -> Result<Vec<f32>, String> {
                self.0.start(prompt, rows)
            }
            fn step(&mut self, tokens: &[u32]) -> Result<Vec<f32>, String> {
                self.0.step(tokens)
            }
            fn reorder(&mut self, beam_idx: &[usize]) -> Result<(), String> {
                self.0.reorder(beam_idx)
            }
            fn row_footprint(&self, positions: usize) -> limits::RowFootprint {
                limits::RowFootprint {
                    layers: 32,
                    kv_width: 4096,
                    positions,
                    vocab: 4,
                }
            }
        }
        // 32 × 2 × 4096 × 1000 × 4 bytes = 1000 MiB per row at 1000 positions: one row fits, two do not.
        let mut cfg = GenerateConfig::greedy(999, vec![]);
        cfg.strategy = Strategy::Beam {
            num_beams: 2,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
        };
        let mut model = BigCache(BigramModel::new());
        let err = generate(&mut model, &[0], &cfg, None, &mut |_| true).unwrap_err();
        assert!(
            matches!(
                err,
                DecodingError::RowsOverMemoryBudget {
                    parameter: "num_beams",
                    requested: 2,
                    limit: 1,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(model.0.calls, 0, "the model ran before the check");
        // A short generation fits: 32 × 2 × 4096 × 11 × 4 bytes = 11 MiB per row.
        cfg.max_new_tokens = 10;
        let out = generate(&mut model, &[0], &cfg, None, &mut |_| true).unwrap();
        assert_eq!(out.sequences.len(), 1);
    }

    #[test]
    fn nan_logits_are_a_clear_error() {
        struct NanModel;
        impl StepModel for NanModel {
            fn vocab_size(&self) -> usize {
                2
            }
            fn max_positions(&self) -> Option<usize> {
                None
            }
            fn start(&mut self, _: &[u32], rows: usize) -> Result<Vec<f32>, String> {
                Ok(vec![f32::NAN; 2 * rows])
            }
            fn step(&mut self, t: &[u32]) -> Result<Vec<f32>, String> {
                Ok(vec![f32::NAN; 2 * t.len()])
            }
            fn reorder(&mut self, _: &[usize]) -> Result<(), String> {
                Ok(())
            }
        }
        let cfg = GenerateConfig::greedy(3, vec![]);
        assert_eq!(generate(&mut NanModel, &[0], &cfg, None, &mut |_| true), Err(DecodingError::NanLogits { step: 0 }));
    }
}
