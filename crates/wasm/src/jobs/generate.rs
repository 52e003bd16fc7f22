//! Worker jobs of the generate area: each request of
//! [`crate::protocol::generate`] runs here, off the UI thread.
//!
//! A run drives the core's resumable [`Generator`] one token at a time and
//! posts every step, so the tab shows tokens as they appear; between steps
//! it yields to the event loop, where a Stop (cancel) is noticed and the
//! partial output is returned. The configuration is built exactly as the
//! CLI's `llmlab generate` builds it from its flags.

use crate::protocol::generate::{
    BeamView, GenerateRequest, GenerateResponse, GenerateSettings, RowView, SequenceView, StepView, TokenProb,
};
use crate::protocol::Response;
use crate::runtime::{checkpoint, now_millis, post, Cancelled};
use llmlab_core::decoding::adapters::{CausalStepper, Seq2SeqStepper};
use llmlab_core::decoding::beam_search::{CandidateFate, EarlyStopping};
use llmlab_core::decoding::generate::Generator;
use llmlab_core::decoding::{GenerateConfig, StepEvent, StepModel, Strategy, WarperConfig};
use llmlab_core::models::AnyModel;
use llmlab_core::tokenizers::Tokenizer;
use serde_json::Value;

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

/// `config.json` values `generate` falls back on (EOS, pad, decoder start).
fn config_ids(config: &Value, key: &str) -> Vec<u32> {
    match config.get(key) {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).filter_map(|v| u32::try_from(v).ok()).collect(),
        Some(v) => v.as_u64().and_then(|v| u32::try_from(v).ok()).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The decoding configuration, built like the CLI's `build_config` from the
/// tab's settings. Returns it with the effective strategy name.
fn build_config(settings: &GenerateSettings, config: &Value) -> Result<(GenerateConfig, &'static str), String> {
    let max_new_tokens = settings.max_new_tokens as usize;
    let mut cfg = GenerateConfig::greedy(max_new_tokens, config_ids(config, "eos_token_id"));
    cfg.pad_token_id = config_ids(config, "pad_token_id").first().copied();
    cfg.min_new_tokens = settings.min_new_tokens as usize;
    cfg.repetition_penalty = settings.repetition_penalty;
    cfg.no_repeat_ngram_size = settings.no_repeat_ngram as usize;
    cfg.num_return_sequences = (settings.num_return_sequences as usize).max(1);
    cfg.report_top = 20;
    let greedy_only = |cfg: &GenerateConfig, why: &str| {
        if cfg.num_return_sequences > 1 {
            Err(format!("{why}, which returns one sequence: set Return sequences to 1"))
        } else {
            Ok(())
        }
    };
    let (strategy, name) = match settings.strategy.as_str() {
        "greedy" => {
            greedy_only(&cfg, "Greedy decoding")?;
            (Strategy::Greedy, "greedy")
        }
        "beam" => {
            let num_beams = settings.num_beams as usize;
            if num_beams == 0 {
                return Err("Beams must be at least 1".into());
            }
            let early_stopping = match settings.early_stopping.as_str() {
                "true" => EarlyStopping::True,
                "never" => EarlyStopping::Never,
                _ => EarlyStopping::False,
            };
            if num_beams == 1 {
                // HF's generation mode for one beam without sampling is greedy search.
                greedy_only(&cfg, "One beam is greedy decoding")?;
                (Strategy::Greedy, "greedy")
            } else {
                (Strategy::Beam { num_beams, length_penalty: settings.length_penalty, early_stopping }, "beam")
            }
        }
        "sample" => {
            if settings.temperature == 0.0 {
                greedy_only(&cfg, "Temperature 0 is greedy decoding")?;
                (Strategy::Greedy, "greedy")
            } else {
                let warpers = WarperConfig {
                    temperature: settings.temperature,
                    top_k: settings.top_k as usize,
                    top_p: settings.top_p,
                    min_p: if settings.min_p > 0.0 { Some(settings.min_p) } else { None },
                    typical_p: settings.typical_p,
                    min_tokens_to_keep: 1,
                };
                (Strategy::Sample { warpers, seed: settings.seed }, "sample")
            }
        }
        other => return Err(format!("Unknown strategy '{other}': choose greedy, beam or sample")),
    };
    cfg.strategy = strategy;
    Ok((cfg, name))
}

/// Prompt ids: tokenized text, or the ids typed when there is no tokenizer.
fn prompt_ids(prompt: &str, tokenizer: Option<&Tokenizer>, vocab: usize) -> Result<Vec<u32>, String> {
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
    let config_json: Value = serde_json::from_str(&loaded.config_json).unwrap_or(Value::Null);
    let (mut cfg, strategy_name) = build_config(settings, &config_json)?;
    let tokenizer = loaded.tokenizer.as_ref();
    let use_cache = settings.kv_cache;
    let mut note = None;

    // The stepper borrows the model for the whole run; the prompt fed to the
    // generator is the decoder prompt (the start ids for T5).
    let mut causal;
    let mut seq2seq;
    let (stepper, prompt): (&mut dyn StepModel, Vec<u32>) = match &loaded.model {
        AnyModel::Causal(m) => {
            let mut ids = prompt_ids(prompt, tokenizer, m.vocab_size())?;
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
            (&mut causal, ids)
        }
        AnyModel::Seq2Seq(m) => {
            let source = prompt_ids(prompt, tokenizer, m.vocab_size())?;
            let start = match config_ids(&config_json, "decoder_start_token_id").first() {
                Some(&s) => vec![s],
                None => vec![m.decoder_start_token_id()],
            };
            seq2seq = Seq2SeqStepper::new(m.as_ref(), &source, use_cache)?;
            (&mut seq2seq, start)
        }
        AnyModel::Masked(_) => {
            return Err("A masked language model (BERT) cannot generate text: load a GPT-2, Llama or T5 model.".into())
        }
    };
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
