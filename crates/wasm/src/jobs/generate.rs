//! Worker jobs of the generate area: each request of
//! [`crate::protocol::generate`] runs here, off the UI thread.
//!
//! A run drives the core's resumable [`Generator`] one token at a time and
//! posts every step, so the tab shows tokens as they appear; between steps
//! it yields to the event loop, where a Stop (cancel) is noticed and the
//! partial output is returned. The configuration comes from the same core
//! function as the CLI's (`llmlab_core::decoding::settings::resolve`): the
//! tab's settings over the checkpoint's `generation_config.json` over
//! transformers' defaults.

use crate::protocol::generate::{
    BeamView, GenerateRequest, GenerateResponse, GenerateSettings, RowView, SequenceView, StepView, TokenProb,
};
use crate::protocol::Response;
use crate::runtime::{checkpoint, now_millis, post, Cancelled};
use llmlab_core::decoding::adapters::{CausalStepper, Seq2SeqStepper};
use llmlab_core::decoding::beam_search::CandidateFate;
use llmlab_core::decoding::generate::Generator;
use llmlab_core::decoding::settings::{explain, resolve, CheckpointDefaults};
use llmlab_core::decoding::{GenerateConfig, StepEvent, StepModel, Strategy};
use llmlab_core::models::AnyModel;
use llmlab_core::tokenizers::Tokenizer;

/// Run one request of this area for job `id`. Long loops call
/// `crate::runtime::checkpoint(id).await?` between chunks so the job can be
/// cancelled and the worker stays responsive to messages.
pub async fn run(id: u32, request: GenerateRequest) -> Result<Response, Cancelled> {
    match request {
        GenerateRequest::Run { prompt, settings } => match generate(id, &prompt, &settings).await {
            Ok(response) => Ok(response),
            Err(message) => Ok(Response::Error { message }),
        },
    }
}

/// Name of the strategy that will run (after "one beam is greedy" and
/// "temperature 0 is greedy").
fn strategy_name(strategy: &Strategy) -> &'static str {
    match strategy {
        Strategy::Greedy => "greedy",
        Strategy::Beam { .. } => "beam",
        Strategy::Sample { .. } => "sample",
    }
}

/// Prompt ids: tokenized text, or the ids typed when there is no tokenizer.
pub(crate) fn prompt_ids(prompt: &str, tokenizer: Option<&Tokenizer>, vocab: usize) -> Result<Vec<u32>, String> {
    let ids = match tokenizer {
        Some(t) => t.encode(prompt, true).map_err(|e| format!("Tokenizing the prompt failed: {e}"))?.ids,
        None => {
            let mut ids = Vec::new();
            for part in prompt.split(|c: char| c == ',' || c.is_whitespace()).filter(|p| !p.is_empty()) {
                let id: u32 = part.parse().map_err(|_| {
                    format!(
                        "This model has no tokenizer, so the prompt must be token ids separated by commas \
                         (e.g. 464, 3290, 318); '{part}' is not a token id."
                    )
                })?;
                ids.push(id);
            }
            ids
        }
    };
    if ids.is_empty() {
        return Err("The prompt has no tokens: type a prompt first.".into());
    }
    if let Some(&bad) = ids.iter().find(|&&id| id as usize >= vocab) {
        return Err(format!("Token id {bad} is outside the model's vocabulary ({vocab} tokens)."));
    }
    Ok(ids)
}

/// Text of one token for display.
fn token_text(tokenizer: Option<&Tokenizer>, id: u32) -> String {
    match tokenizer {
        Some(t) => t.decode(&[id], false),
        None => format!("#{id}"),
    }
}

fn view_step(event: &StepEvent, tokenizer: Option<&Tokenizer>) -> StepView {
    let tp = |id: u32, prob: f32| TokenProb { id, text: token_text(tokenizer, id), prob };
    match event {
        StepEvent::Tokens { step, rows } => StepView::Tokens {
            step: *step,
            rows: rows
                .iter()
                .map(|r| RowView {
                    chosen: tp(r.token, r.prob),
                    candidates: r.candidates.iter().map(|&(id, p)| tp(id, p)).collect(),
                    kept_after_top_k: r.report.kept_after_top_k,
                    kept_after_top_p: r.report.kept_after_top_p,
                    kept: r.report.kept,
                    padding: r.padding,
                })
                .collect(),
        },
        StepEvent::Beams { step, candidates } => StepView::Beams {
            step: *step,
            candidates: candidates
                .iter()
                .map(|c| {
                    let (fate, next_beam) = match c.fate {
                        CandidateFate::Running(i) => ("running", Some(i)),
                        CandidateFate::Finished => ("finished", None),
                        CandidateFate::FinishedRejected => ("rejected", None),
                        CandidateFate::Pruned => ("pruned", None),
                    };
                    BeamView {
                        parent: c.parent,
                        token: c.token,
                        text: token_text(tokenizer, c.token),
                        cumulative_logprob: c.cumulative_logprob,
                        fate: fate.into(),
                        next_beam,
                    }
                })
                .collect(),
        },
    }
}

async fn generate(id: u32, prompt: &str, settings: &GenerateSettings) -> Result<Response, String> {
    let loaded = crate::session::require()?;
    let defaults = CheckpointDefaults::from_json(loaded.generation_config_json.as_deref(), &loaded.config_json)
        .map_err(|e| format!("The model's settings could not be read: {e}"))?;
    let tokenizer = loaded.tokenizer.as_ref();
    let use_cache = settings.kv_cache;
    let mut note = None;
    let config_for = |decoder_prompt_len: usize| {
        let mut cfg = resolve(&settings.decoding, &defaults, decoder_prompt_len).map_err(|e| format!("Settings: {e}."))?;
        cfg.report_top = 20;
        Ok::<_, String>(cfg)
    };

    // The stepper borrows the model for the whole run; the prompt fed to the
    // generator is the decoder prompt (the start ids for T5).
    let mut causal;
    let mut seq2seq;
    let (stepper, prompt, cfg): (&mut dyn StepModel, Vec<u32>, GenerateConfig) = match &loaded.model {
        AnyModel::Causal(m) => {
            let mut ids = prompt_ids(prompt, tokenizer, m.vocab_size())?;
            let mut cfg = config_for(ids.len())?;
            if let Some(context) = m.max_positions() {
                if ids.len() >= context {
                    let keep = context.saturating_sub(cfg.max_new_tokens).max(1);
                    note = Some(format!(
                        "The prompt has {} tokens but the context window is {context}: only its last {keep} tokens are used.",
                        ids.len()
                    ));
                    ids.drain(..ids.len() - keep);
                }
                if ids.len() + cfg.max_new_tokens > context {
                    let allowed = context - ids.len();
                    let extra = format!(
                        "Prompt ({}) + max new tokens ({}) exceeds the context window ({context}): generating at most {allowed} tokens.",
                        ids.len(),
                        cfg.max_new_tokens
                    );
                    note = Some(match note {
                        Some(n) => format!("{n} {extra}"),
                        None => extra,
                    });
                    cfg.max_new_tokens = allowed;
                }
            }
            causal = CausalStepper::new(m.as_ref(), use_cache);
            (&mut causal, ids, cfg)
        }
        AnyModel::Seq2Seq(m) => {
            let source = prompt_ids(prompt, tokenizer, m.vocab_size())?;
            let start = vec![defaults.decoder_start().unwrap_or(m.decoder_start_token_id())];
            let cfg = config_for(start.len())?;
            seq2seq = Seq2SeqStepper::new(m.as_ref(), &source, use_cache)?;
            (&mut seq2seq, start, cfg)
        }
        AnyModel::Masked(_) => {
            return Err("A masked language model (BERT) cannot generate text: load a GPT-2, Llama or T5 model.".into())
        }
    };
    let strategy_name = strategy_name(&cfg.strategy);
    let resolved = explain(&settings.decoding, &defaults, &cfg);
    let mut generator = Generator::new(&prompt, &cfg).map_err(|e| e.to_string())?;
    let num_beams = match cfg.strategy {
        Strategy::Beam { num_beams, .. } => num_beams,
        _ => 1,
    };
    post(
        id,
        Response::Generate(GenerateResponse::Started {
            prompt_tokens: prompt.iter().map(|&t| token_text(tokenizer, t)).collect(),
            note,
            strategy: strategy_name.into(),
            num_beams,
            resolved,
        }),
    );

    let mut model_millis = 0.0;
    loop {
        let started = now_millis();
        let event = generator.step(stepper, None).map_err(|e| format!("Generation failed: {e}"))?;
        model_millis += now_millis() - started;
        let Some(event) = event else { break };
        post(id, Response::Generate(GenerateResponse::Step { step: view_step(&event, tokenizer) }));
        if checkpoint(id).await.is_err() {
            generator.cancel();
            break;
        }
    }
    let generation = generator.finish();
    let prompt_len = prompt.len();
    let sequences = generation
        .sequences
        .iter()
        .map(|s| {
            let new_ids: Vec<u32> = s.ids.iter().skip(prompt_len).filter_map(|&t| u32::try_from(t).ok()).collect();
            let text = match tokenizer {
                Some(t) => t.decode(&new_ids, true),
                None => new_ids.iter().map(|i| i.to_string()).collect::<Vec<_>>().join(", "),
            };
            SequenceView { ids: s.ids.clone(), text, score: s.score }
        })
        .collect();
    let total_new = generation.new_tokens * generation.sequences.len().max(1);
    Ok(Response::Generate(GenerateResponse::Finished {
        sequences,
        prompt_len,
        tokens_per_second: total_new as f64 / (model_millis / 1000.0).max(1e-6),
        forward_calls: generation.forward_calls,
        kv_cache: use_cache,
        cancelled: generation.cancelled,
    }))
}
