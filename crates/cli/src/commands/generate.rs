//! `llmlab generate`: text generation with HF `generate` semantics.
//!
//! ```text
//! llmlab generate --model DIR (--prompt TEXT | --prompt-ids 1,2,3[;4,5]) [--decoder-start-ids ..]
//!     [--strategy greedy|beam|sample] [--num-beams N] [--length-penalty X]
//!     [--early-stopping true|false|never] [--num-return-sequences N] [--no-repeat-ngram-size N]
//!     [--temperature T] [--top-k K] [--top-p P] [--min-p P] [--typical-p P]
//!     [--repetition-penalty R] [--max-new-tokens N] [--min-new-tokens N] [--seed S]
//!     [--stop STRING]... [--no-kv-cache] [--steps]
//! ```
//!
//! Prints `{"sequences":[{"ids":[..],"text":"..","score":..}]}`:
//! - `ids`: the full sequence exactly as HF's `generate` returns it (prompt +
//!   new tokens for decoder-only models; the decoder sequence, start token
//!   included, for T5), rows padded like HF's output tensor.
//! - `text`: the new tokens decoded with `DIR/tokenizer.json`
//!   (`skip_special_tokens=True`), or `null` without a tokenizer.
//! - `score`: beam search: HF's `sequences_scores` (length-penalised sum of
//!   log-probabilities). Greedy / sampling (HF has no such score): the sum of
//!   the chosen tokens' log-probabilities under the processed distribution.
//!
//! Unset options take their value from `DIR/generation_config.json`, then from
//! HF's global defaults (e.g. `top_k = 50` when sampling, 20 new tokens), like
//! `generate` (see `llmlab_core::decoding::settings`): with no option at all,
//! the tokens are those of `model.generate(input_ids)`.
//! Timing and warnings go to stderr; `--steps` adds every step's candidates.
//!
//! Several prompts (`--prompt-ids "1,2,3;4,5"`, decoder-only models) decode
//! as one batch, as HF does with a left-padded `input_ids` and its
//! `attention_mask`: shorter prompts are padded on the left with the pad id
//! (`pad_token_id`, else the first EOS id), every returned row keeps that
//! padding, and each sequence names its `prompt` (0-based).

use std::path::Path;
use std::time::Instant;

use llmlab_core::decoding::adapters::{CausalStepper, Seq2SeqStepper};
use llmlab_core::decoding::settings::{parse_early_stopping, resolve, CheckpointDefaults, StrategyChoice, UserSettings};
use llmlab_core::decoding::stopping::DecodeFn;
use llmlab_core::decoding::{generate, generate_batch, Generation, StepEvent, StepModel, Strategy};
use llmlab_core::models::AnyModel;
use llmlab_core::tokenizers::Tokenizer;
use serde_json::{json, Value};

use super::logits::{load_model_with, parse_activations, parse_ids};
use llmlab_core::loading::fs::LoadOptions;

/// Arguments of `llmlab generate`.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (config.json + safetensors [+ generation_config.json, tokenizer.json]), or a .gguf file (run quantized).
    #[arg(long)]
    model: String,
    /// Activations against quantized GGUF weights: q8 (integer dot products) or f32 (the dequantized model's values).
    #[arg(long, default_value = "q8")]
    activations: String,
    /// Prompt text, tokenized with DIR/tokenizer.json (special tokens added, as HF's tokenizer does).
    #[arg(long, conflicts_with = "prompt_ids")]
    prompt: Option<String>,
    /// Prompt as comma-separated token ids (the encoder input for T5); `;` separates
    /// several prompts, decoded together as one left-padded batch.
    #[arg(long)]
    prompt_ids: Option<String>,
    /// Decoder start ids for encoder-decoder models (default: decoder_start_token_id).
    #[arg(long)]
    decoder_start_ids: Option<String>,
    /// greedy | beam | sample (default: the checkpoint's do_sample / num_beams, else greedy).
    #[arg(long)]
    strategy: Option<String>,
    /// Beams for beam search (1 = greedy, as in HF).
    #[arg(long)]
    num_beams: Option<usize>,
    /// Exponent on the generated length in beam scores.
    #[arg(long, allow_hyphen_values = true)]
    length_penalty: Option<f32>,
    /// true | false | never.
    #[arg(long)]
    early_stopping: Option<String>,
    /// Sequences to return (beam: the best N; sample: N independent draws).
    #[arg(long)]
    num_return_sequences: Option<usize>,
    /// Forbid repeating any n-gram of this size (0 = off).
    #[arg(long)]
    no_repeat_ngram_size: Option<usize>,
    /// Sampling temperature (0 = greedy).
    #[arg(long)]
    temperature: Option<f32>,
    /// Keep the K most likely tokens (0 = off).
    #[arg(long, allow_hyphen_values = true)]
    top_k: Option<i64>,
    /// Nucleus: keep the smallest set with this much probability (1 = off).
    #[arg(long)]
    top_p: Option<f32>,
    /// Drop tokens below min_p × p(best).
    #[arg(long)]
    min_p: Option<f32>,
    /// Locally typical sampling mass (1 = off).
    #[arg(long)]
    typical_p: Option<f32>,
    /// CTRL repetition penalty (1 = off).
    #[arg(long)]
    repetition_penalty: Option<f32>,
    /// Number of new tokens at most (default: the checkpoint's, else HF's 20).
    #[arg(long)]
    max_new_tokens: Option<usize>,
    /// EOS is forbidden before this many new tokens.
    #[arg(long)]
    min_new_tokens: Option<usize>,
    /// Seed of the sampler (same seed, same text, natively and in the browser; default 0).
    #[arg(long)]
    seed: Option<u64>,
    /// Stop once this string appears in the decoded text (needs tokenizer.json); repeatable.
    #[arg(long)]
    stop: Vec<String>,
    /// Recompute the whole sequence every step instead of using the KV cache.
    #[arg(long)]
    no_kv_cache: bool,
    /// Also print every step (chosen token, probability, top candidates, cut-offs, beam tree).
    #[arg(long)]
    steps: bool,
}

/// The user's settings from the flags (unset flags stay `None`).
fn user_settings(args: &Args) -> Result<UserSettings, String> {
    let top_k = match args.top_k {
        Some(k) if k < 0 => return Err(format!("--top-k has to be >= 0 (0 = off), not {k}")),
        Some(k) => Some(k as usize),
        None => None,
    };
    Ok(UserSettings {
        strategy: args.strategy.as_deref().map(StrategyChoice::parse).transpose().map_err(|e| format!("--{e}"))?,
        num_beams: args.num_beams,
        length_penalty: args.length_penalty,
        early_stopping: args.early_stopping.as_deref().map(parse_early_stopping).transpose().map_err(|e| format!("--{e}"))?,
        num_return_sequences: args.num_return_sequences,
        no_repeat_ngram_size: args.no_repeat_ngram_size,
        temperature: args.temperature,
        top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        typical_p: args.typical_p,
        repetition_penalty: args.repetition_penalty,
        max_new_tokens: args.max_new_tokens,
        min_new_tokens: args.min_new_tokens,
        seed: args.seed,
        stop_strings: args.stop.clone(),
    })
}

/// Reads `DIR/config.json` and, when present, `DIR/generation_config.json`.
fn checkpoint_defaults(dir: &Path) -> Result<CheckpointDefaults, String> {
    let config = std::fs::read_to_string(dir.join("config.json")).map_err(|e| format!("{}: {e}", dir.join("config.json").display()))?;
    let generation = std::fs::read_to_string(dir.join("generation_config.json")).ok();
    CheckpointDefaults::from_json(generation.as_deref(), &config).map_err(|e| e.to_string())
}

/// Runs `args` and prints the generated sequences.
pub fn run(args: Args) -> Result<(), String> {
    let dir = Path::new(&args.model);
    let defaults = checkpoint_defaults(dir)?;
    let user = user_settings(&args)?;
    let tokenizer = match std::fs::read_to_string(dir.join("tokenizer.json")) {
        Ok(text) => Some(Tokenizer::from_json(&text).map_err(|e| format!("tokenizer.json: {e}"))?),
        Err(_) => None,
    };
    let mut prompts: Vec<Vec<u32>> = match (&args.prompt_ids, &args.prompt) {
        (Some(ids), _) => ids.split(';').map(parse_ids).collect::<Result<_, _>>()?,
        (None, Some(text)) => {
            let tok = tokenizer.as_ref().ok_or("--prompt needs DIR/tokenizer.json; pass --prompt-ids instead")?;
            vec![tok.encode(text, true).map_err(|e| format!("tokenizing the prompt: {e}"))?.ids]
        }
        (None, None) => return Err("pass --prompt or --prompt-ids".into()),
    };
    if let Some(i) = prompts.iter().position(Vec::is_empty) {
        return Err(if prompts.len() == 1 { "the prompt has no tokens".into() } else { format!("prompt {} has no tokens", i + 1) });
    }
    let batched = prompts.len() > 1;
    if !args.stop.is_empty() && tokenizer.is_none() {
        return Err("--stop needs DIR/tokenizer.json to decode the text".into());
    }
    let model = load_model_with(dir, LoadOptions::quantized(parse_activations(&args.activations)?))?;
    let start = match (&model, &args.decoder_start_ids) {
        (AnyModel::Seq2Seq(_), _) if batched => {
            return Err("several prompts need a decoder-only model; pass one --prompt-ids row for an encoder-decoder".into())
        }
        (AnyModel::Seq2Seq(_), Some(ids)) => parse_ids(ids)?,
        (AnyModel::Seq2Seq(m), None) => vec![defaults.decoder_start().unwrap_or(m.decoder_start_token_id())],
        _ => Vec::new(),
    };
    let width = |prompts: &[Vec<u32>]| prompts.iter().map(Vec::len).max().unwrap_or(0);
    let decoder_prompt_len = if start.is_empty() { width(&prompts) } else { start.len() };
    let mut cfg = resolve(&user, &defaults, decoder_prompt_len).map_err(|e| e.to_string())?;
    if matches!(cfg.strategy, Strategy::Greedy) && user.temperature == Some(0.0) && user.strategy == Some(StrategyChoice::Sample) {
        eprintln!("note: temperature 0 means greedy decoding; generating greedily");
    }

    let decode_text = |ids: &[u32]| tokenizer.as_ref().map(|t| t.decode(ids, true));
    let decode_fn = |ids: &[u32]| decode_text(ids);
    let decode: Option<&DecodeFn> = if tokenizer.is_some() { Some(&decode_fn) } else { None };

    let mut steps = Vec::new();
    let mut record = |event: &StepEvent| {
        if args.steps {
            steps.push(serde_json::to_value(event).unwrap_or(Value::Null));
        }
        true
    };
    let started = Instant::now();
    let use_cache = !args.no_kv_cache;
    let (generation, prompt_len): (Generation, usize) = match &model {
        AnyModel::Causal(m) => {
            if let Some(context) = m.max_positions() {
                for prompt in prompts.iter_mut().filter(|p| p.len() >= context) {
                    let keep = context.saturating_sub(cfg.max_new_tokens).max(1);
                    eprintln!(
                        "warning: the prompt has {} tokens but the model's context window is {context}; \
                         truncating it to its last {keep} tokens",
                        prompt.len()
                    );
                    prompt.drain(..prompt.len() - keep);
                }
                let longest = width(&prompts);
                if longest + cfg.max_new_tokens > context {
                    let allowed = context - longest;
                    eprintln!(
                        "warning: prompt ({longest}) + max_new_tokens ({}) exceeds the context window ({context}); \
                         generating at most {allowed} tokens",
                        cfg.max_new_tokens
                    );
                    cfg.max_new_tokens = allowed;
                }
            }
            let mut stepper = CausalStepper::new(m.as_ref(), use_cache);
            let out = generate_batch(&mut stepper as &mut dyn StepModel, &prompts, &cfg, decode, &mut record)
                .map_err(|e| e.to_string())?;
            (out, width(&prompts))
        }
        AnyModel::Seq2Seq(m) => {
            let mut stepper = Seq2SeqStepper::new(m.as_ref(), &prompts[0], use_cache)?;
            let out = generate(&mut stepper as &mut dyn StepModel, &start, &cfg, decode, &mut record).map_err(|e| e.to_string())?;
            (out, start.len())
        }
        AnyModel::Masked(_) => return Err("a masked language model (BERT) cannot generate text".into()),
    };
    let seconds = started.elapsed().as_secs_f64();
    let total_new = generation.new_tokens * generation.sequences.len().max(1);
    eprintln!(
        "generated {} tokens per sequence in {:.3} s ({:.1} tokens/s, {} forward calls, KV cache {})",
        generation.new_tokens,
        seconds,
        total_new as f64 / seconds.max(1e-9),
        generation.forward_calls,
        if use_cache { "on" } else { "off" }
    );

    let per_prompt = generation.sequences.len() / prompts.len().max(1);
    let sequences: Vec<Value> = generation
        .sequences
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let new_ids: Vec<u32> = s.ids.iter().skip(prompt_len).filter_map(|&t| u32::try_from(t).ok()).collect();
            let mut row = json!({ "ids": s.ids, "text": decode_text(&new_ids), "score": s.score });
            if batched {
                row["prompt"] = json!(i / per_prompt.max(1));
            }
            row
        })
        .collect();
    let mut out = json!({ "sequences": sequences });
    if args.steps {
        out["steps"] = Value::Array(steps);
    }
    println!("{out}");
    Ok(())
}
