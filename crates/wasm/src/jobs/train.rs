//! Worker jobs of the train area: each request of
//! [`crate::protocol::train`] runs here, off the UI thread.
//!
//! The run (model, optimiser moments, data, tokenizer) lives in a
//! thread-local between jobs, like the session's model. Training is one long
//! job that works in chunks of about [`CHUNK_MILLIS`] and yields to the event
//! loop between them: a Cancel from the UI then stops it at a step boundary
//! (that is Pause), and `resume` picks the run up at the same step. Because
//! the trainer draws each step's batches from (seed, step), a paused and
//! resumed run computes exactly what an uninterrupted one would.

use std::cell::{Cell, RefCell};

use crate::protocol::model::NamedFile;
use crate::protocol::train::{EvalPoint, StepPoint, TrainData, TrainRequest, TrainResponse, TrainSettings};
use crate::protocol::Response;
use crate::runtime::{checkpoint, post, Cancelled};
use crate::session::{self, Loaded};
use llmlab_core::loading::safetensors::DEFAULT_HEADER_BUDGET;
use llmlab_core::loading::WeightStore;
use llmlab_core::rng::Rng;
use llmlab_core::tokenizers::Tokenizer;
use llmlab_core::models::AnyModel;
use llmlab_core::train::checkpoint::{config_to_json, model_from_named, model_to_safetensors};
use llmlab_core::train::recipe::{self, TextTokenizer, TokenizerSpec};
use llmlab_core::train::toy::{self, Probe, ToyTask};
use llmlab_core::train::trainer::{evaluate, TrainConfig, Trainer};
use llmlab_core::train::{Arch, Config, Model, Precision};

/// Compute between two yields to the event loop, in milliseconds: short
/// enough that Pause answers at once, long enough that the (≥ 4 ms clamped)
/// timer of each yield costs little.
const CHUNK_MILLIS: f64 = 60.0;
/// How often step statistics are posted to the UI, in milliseconds.
const POST_MILLIS: f64 = 250.0;
/// Largest corpus accepted, in bytes.
const MAX_TEXT_BYTES: usize = 32 * 1024 * 1024;
/// Memory a run may plan to use (parameters, optimiser, activations).
const MAX_RUN_BYTES: f64 = 1.5 * 1024.0 * 1024.0 * 1024.0;
/// Characters of generated toy text (split into training and validation).
const TOY_CORPUS_CHARS: usize = 200_000;
/// Validation tokens scored by each periodic evaluation.
const EVAL_TOKENS: usize = 4096;
/// Fresh toy examples scored by each accuracy measurement.
const TOY_PROBES: usize = 48;
/// Toy probes shown as the sample.
const SHOWN_PROBES: usize = 8;
/// Evaluations per run (the interval is steps / this, at least 10 steps).
const EVALS_PER_RUN: u32 = 25;
/// Tokens sampled for a text sample.
const SAMPLE_TOKENS: usize = 120;
/// Label of the trained model once it is in use.
const TRAINED_LABEL: &str = "Trained in the Train tab";

/// A toy task's accuracy probes, encoded once.
struct ToyProbes {
    probes: Vec<Probe>,
    contexts: Vec<Vec<u32>>,
    /// Tokens to generate: enough for the longest answer and its newline.
    new_tokens: usize,
}

/// Everything a run keeps between jobs.
struct Run {
    trainer: Trainer,
    tokenizer: TextTokenizer,
    train_ids: Vec<u32>,
    val_ids: Vec<u32>,
    toy: Option<ToyProbes>,
    total_steps: u32,
    eval_every: u32,
    seed: u64,
    /// Name of the trained model once it is in use.
    label: String,
    /// The starting checkpoint's `generation_config.json`, kept for the
    /// fine-tuned model.
    generation_config_json: Option<String>,
}

/// A fine-tuning run's start: the session's model in the trainer's layout.
struct LoadedStart {
    config: Config,
    model: Model,
    tokenizer: TextTokenizer,
    label: String,
    generation_config_json: Option<String>,
}

thread_local! {
    static RUN: RefCell<Option<Run>> = const { RefCell::new(None) };
    /// True while a start/resume job is training.
    static TRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Run one request of this area for job `id`.
pub async fn run(id: u32, request: TrainRequest) -> Result<Response, Cancelled> {
    let is_training = TRAINING.with(Cell::get);
    let result = match request {
        _ if is_training => Err("Training is running: pause it first.".to_string()),
        TrainRequest::Start { settings } => {
            post(id, Response::Progress { fraction: 0.0, message: "Preparing the data and the model…".into() });
            checkpoint(id).await?;
            match build_run(&settings) {
                Ok(run) => {
                    RUN.with(|r| *r.borrow_mut() = Some(run));
                    return train(id).await;
                }
                Err(e) => Err(e),
            }
        }
        TrainRequest::Resume => {
            if RUN.with(|r| r.borrow().is_none()) {
                Err("There is no run to resume: press Start.".to_string())
            } else {
                return train(id).await;
            }
        }
        TrainRequest::Reset => {
            RUN.with(|r| *r.borrow_mut() = None);
            Ok(TrainResponse::ResetDone)
        }
        TrainRequest::Export => with_run(export_files).map(|files| TrainResponse::Exported { files }),
        TrainRequest::UseModel => with_run(|run| Ok((export_files(run)?, run.label.clone(), run.generation_config_json.clone())))
            .and_then(|(files, label, generation_config_json)| use_model(files, label, generation_config_json)),
    };
    Ok(match result {
        Ok(r) => Response::Train(r),
        Err(message) => Response::Error { message },
    })
}

fn with_run<R>(f: impl FnOnce(&Run) -> Result<R, String>) -> Result<R, String> {
    RUN.with(|r| match r.borrow().as_ref() {
        Some(run) => f(run),
        None => Err("There is no trained model yet: press Start.".to_string()),
    })
}

/// Checks the settings and builds data, tokenizer, model and optimiser.
fn build_run(s: &TrainSettings) -> Result<Run, String> {
    let precision = Precision::parse(&s.precision).ok_or_else(|| format!("Unknown precision {:?}.", s.precision))?;
    let arch = Arch::parse(&s.arch).ok_or_else(|| format!("Unknown architecture {:?} (gpt2 or llama).", s.arch))?;
    if !(0.0..0.9).contains(&s.val_fraction) || s.val_fraction.is_nan() {
        return Err("The validation fraction must be between 0 and 0.9.".into());
    }
    if s.steps == 0 || s.batch == 0 || s.accum == 0 || s.context < 2 {
        return Err("Steps, batch and accumulation must be at least 1 and the context at least 2.".into());
    }
    if !(s.lr.is_finite() && s.lr > 0.0 && s.lr <= 1.0) {
        return Err("The learning rate must be in (0, 1].".into());
    }
    let toy_task = match &s.data {
        TrainData::Toy { task } => Some(ToyTask::parse(task).ok_or_else(|| format!("Unknown toy task {task:?}."))?),
        TrainData::Text { .. } => None,
    };
    let generated;
    let text: &str = match (&s.data, toy_task) {
        (TrainData::Text { text }, _) => {
            if text.len() > MAX_TEXT_BYTES {
                return Err(format!("The text is {} MB; the tab trains on at most {} MB.", text.len() >> 20, MAX_TEXT_BYTES >> 20));
            }
            text
        }
        (_, Some(task)) => {
            generated = task.corpus(s.seed, TOY_CORPUS_CHARS);
            &generated
        }
        (TrainData::Toy { .. }, None) => return Err("Unknown toy task.".into()),
    };
    let (train_text, val_text) = recipe::split_text(text, s.val_fraction).map_err(|e| format!("{e}."))?;
    let chars = text.chars().count();
    let val_text = if val_text.chars().count() < 2 {
        // No held-out text requested (or too little): validate on the end of
        // the training text so the curve still shows something meaningful.
        let tail = train_text.char_indices().rev().nth(4096.min(chars.saturating_sub(1))).map_or(0, |(i, _)| i);
        &train_text[tail..]
    } else {
        val_text
    };
    let start = if s.from_loaded { Some(loaded_start()?) } else { None };
    let tokenizer = match &start {
        Some(start) => start.tokenizer.clone(),
        None => build_tokenizer(&s.tokenizer, text, train_text, toy_task)?,
    };
    let train_ids = tokenizer.encode(train_text).map_err(|e| format!("{e}."))?;
    let val_ids = tokenizer.encode(val_text).map_err(|e| format!("{e}."))?;
    let context = s.context as usize;
    if train_ids.len() <= context + 1 {
        return Err(format!(
            "The training text has {} tokens, not more than one context window ({context}): add text or shorten the context.",
            train_ids.len()
        ));
    }
    if val_ids.len() < 2 {
        return Err("The validation text is too short: raise the validation fraction or add text.".into());
    }
    let (vocab, layers, heads, width) = (tokenizer.vocab_size(), s.layers as usize, s.heads as usize, s.width as usize);
    let config = match &start {
        Some(start) => {
            if context > start.config.context {
                return Err(format!("The context ({context}) is longer than {}'s {} positions.", start.label, start.config.context));
            }
            start.config.clone()
        }
        None => recipe::model_config(arch, vocab, context, layers, heads, width).map_err(|e| format!("{e}."))?,
    };
    let needed = planned_bytes(&config, s.batch as usize, context);
    if needed > MAX_RUN_BYTES {
        return Err(format!(
            "This run needs about {:.0} MB (parameters, optimiser state and activations); a browser tab can give it about {:.0} MB. Make the model, batch or context smaller.",
            needed / 1e6,
            MAX_RUN_BYTES / 1e6
        ));
    }
    let (model, label, generation_config_json) = match start {
        Some(start) => {
            let label = format!("{} (fine-tuned)", start.label);
            (start.model, label, start.generation_config_json)
        }
        None => (Model::new(config, &mut Rng::new(s.seed)).map_err(|e| e.to_string())?, TRAINED_LABEL.to_string(), None),
    };
    let train_config = TrainConfig {
        batch: s.batch as usize,
        seq: context,
        grad_accum: s.accum as usize,
        steps: u64::from(s.steps),
        lr: s.lr,
        warmup: u64::from(s.warmup),
        grad_clip: recipe::GRAD_CLIP,
        // nanoGPT's small-model settings (as `llmlab train` defaults).
        adamw: recipe::adamw(recipe::ADAMW_BETA2, recipe::WEIGHT_DECAY),
        precision,
        seed: s.seed,
    };
    let trainer = Trainer::new(model, train_config).map_err(|e| e.to_string())?;
    let toy = match toy_task {
        Some(task) => Some(toy_probes(task, s.seed, &tokenizer, context)?),
        None => None,
    };
    Ok(Run {
        trainer,
        tokenizer,
        train_ids,
        val_ids,
        toy,
        total_steps: s.steps,
        eval_every: (s.steps / EVALS_PER_RUN).max(10).min(s.steps),
        seed: s.seed,
        label,
        generation_config_json,
    })
}

/// The session's model as the start of a fine-tuning run: a GPT-2 or Llama
/// model with its `tokenizer.json`, whose `config.json` the trainer can
/// represent exactly.
fn loaded_start() -> Result<LoadedStart, String> {
    let loaded = session::require()?;
    let name = &loaded.label;
    let tokenizer = loaded
        .tokenizer
        .clone()
        .ok_or_else(|| format!("{name} has no tokenizer.json: fine-tuning needs the checkpoint's own tokenizer."))?;
    let named = match &loaded.model {
        AnyModel::Causal(m) => m.named_parameters(),
        _ => None,
    }
    .ok_or_else(|| format!("{name} is a {} model: only GPT-2 and Llama-shaped models can be fine-tuned.", loaded.model.model_type()))?;
    let model = model_from_named(&loaded.config_json, &named).map_err(|e| format!("{name} cannot be fine-tuned: {e}."))?;
    let config = model.config.clone();
    if tokenizer.vocab_size() > config.vocab_size {
        return Err(format!("{name}'s tokenizer has {} tokens but the model only {}.", tokenizer.vocab_size(), config.vocab_size));
    }
    Ok(LoadedStart {
        config,
        model,
        tokenizer: TextTokenizer::Hf(Box::new(tokenizer)),
        label: name.clone(),
        generation_config_json: loaded.generation_config_json.clone(),
    })
}

/// The tokenizer named by `spec` (`char` or `bpe:N`): the shared recipe,
/// with a toy task's whole alphabet in a character vocabulary (its probes
/// may use characters the generated corpus happens to lack).
fn build_tokenizer(spec: &str, text: &str, train_text: &str, toy: Option<ToyTask>) -> Result<TextTokenizer, String> {
    let spec = TokenizerSpec::parse(spec).map_err(|e| format!("Tokenizer: {e}."))?;
    let mut vocab_text = String::new();
    if spec == TokenizerSpec::Char {
        vocab_text.push_str(text);
        if let Some(task) = toy {
            vocab_text.push_str(task.alphabet());
        }
    }
    recipe::build_tokenizer(spec, &vocab_text, train_text).map_err(|e| format!("{e}."))
}

/// Rough memory of a run: parameters, gradients, two AdamW moments and the
/// half-precision copy (5 × P floats), plus the saved activations of one
/// micro-batch (per layer ~16·C + 3·4C floats per token and the B·H·T²
/// attention map; logits, probabilities and their gradient N·V each).
fn planned_bytes(c: &Config, batch: usize, seq: usize) -> f64 {
    let params = c.num_params() as f64;
    let n = (batch * seq) as f64;
    let (width, ffn, vocab) = (c.width as f64, c.ffn_width as f64, c.vocab_size as f64);
    let per_layer = n * (16.0 * width + 3.0 * ffn) + (batch * c.heads * seq * seq) as f64;
    let acts = c.layers as f64 * per_layer + n * (8.0 * width + 3.0 * vocab);
    4.0 * (5.0 * params + acts)
}

/// Encodes the accuracy probes of a toy task: each with about a context's
/// worth of earlier lines before the prompt.
fn toy_probes(task: ToyTask, seed: u64, tokenizer: &TextTokenizer, context: usize) -> Result<ToyProbes, String> {
    // A different stream than the training corpus: fresh examples.
    let probes = task.probes(seed ^ 0x5EED_70F0, TOY_PROBES, context);
    let encode = |text: &str| tokenizer.encode(text).map_err(|e| format!("{e}."));
    let contexts = probes.iter().map(|p| encode(&p.context)).collect::<Result<Vec<_>, _>>()?;
    let longest = probes.iter().map(|p| encode(&p.answer).map(|a| a.len())).collect::<Result<Vec<_>, _>>()?;
    Ok(ToyProbes { probes, contexts, new_tokens: longest.into_iter().max().unwrap_or(1) + 1 })
}

/// The training loop of `start` and `resume`.
async fn train(id: u32) -> Result<Response, Cancelled> {
    TRAINING.with(|t| t.set(true));
    let _guard = crate::runtime::ClearOnDrop(&TRAINING);
    let started = RUN.with(|r| {
        r.borrow().as_ref().map(|run| TrainResponse::Started {
            params: run.trainer.model.num_params() as u64,
            vocab_size: run.tokenizer.vocab_size() as u32,
            train_tokens: run.train_ids.len() as u64,
            val_tokens: run.val_ids.len() as u64,
            step: run.trainer.step as u32,
            total_steps: run.total_steps,
        })
    });
    let Some(started) = started else {
        return Ok(Response::Error { message: "There is no run: press Start.".into() });
    };
    post(id, Response::Train(started));
    let mut pending: Vec<StepPoint> = Vec::new();
    let mut tokens = 0usize;
    let mut train_millis = 0.0f64;
    let mut last_post = now();
    // A fresh run shows its untrained state first.
    if RUN.with(|r| r.borrow().as_ref().is_some_and(|run| run.trainer.step == 0)) {
        match RUN.with(|r| r.borrow_mut().as_mut().map(eval_point)) {
            Some(Ok(point)) => post(id, Response::Train(TrainResponse::Eval(point))),
            Some(Err(message)) => return Ok(Response::Error { message }),
            None => {}
        }
    }
    loop {
        let chunk_start = now();
        let mut finished = false;
        while now() - chunk_start < CHUNK_MILLIS {
            let outcome = RUN.with(|r| {
                let mut borrow = r.borrow_mut();
                let run = borrow.as_mut().ok_or_else(|| "The run was dropped.".to_string())?;
                if run.trainer.step >= u64::from(run.total_steps) {
                    return Ok(None);
                }
                let t0 = now();
                let stats = run.trainer.step(&run.train_ids).map_err(|e| e.to_string())?;
                let millis = now() - t0;
                let step = run.trainer.step as u32;
                let eval = step % run.eval_every == 0 || step == run.total_steps;
                Ok(Some((stats, millis, step, eval)))
            });
            match outcome {
                Err(message) => return Ok(Response::Error { message }),
                Ok(None) => {
                    finished = true;
                    break;
                }
                Ok(Some((stats, millis, step, eval))) => {
                    tokens += stats.tokens;
                    train_millis += millis;
                    pending.push(StepPoint {
                        step,
                        loss: stats.loss,
                        lr: stats.lr,
                        grad_norm: stats.grad_norm,
                        tokens_per_sec: tokens as f64 / (train_millis / 1000.0).max(1e-9),
                        skipped: stats.skipped,
                    });
                    if eval {
                        flush(id, &mut pending);
                        last_post = now();
                        match RUN.with(|r| r.borrow_mut().as_mut().map(eval_point)) {
                            Some(Ok(point)) => post(id, Response::Train(TrainResponse::Eval(point))),
                            Some(Err(message)) => return Ok(Response::Error { message }),
                            None => {}
                        }
                        // An evaluation is a chunk of its own.
                        break;
                    }
                }
            }
        }
        if finished || now() - last_post >= POST_MILLIS {
            flush(id, &mut pending);
            last_post = now();
        }
        if finished {
            let step = RUN.with(|r| r.borrow().as_ref().map_or(0, |run| run.trainer.step as u32));
            return Ok(Response::Train(TrainResponse::Finished {
                step,
                tokens_per_sec: tokens as f64 / (train_millis / 1000.0).max(1e-9),
            }));
        }
        if let Err(cancelled) = checkpoint(id).await {
            // Paused: the UI keeps every step it was told about.
            flush(id, &mut pending);
            return Err(cancelled);
        }
    }
}

fn now() -> f64 {
    js_sys::Date::now()
}

fn flush(id: u32, pending: &mut Vec<StepPoint>) {
    if !pending.is_empty() {
        post(id, Response::Train(TrainResponse::Steps { points: std::mem::take(pending) }));
    }
}

/// Validation loss, toy accuracy and a sample at the current step.
fn eval_point(run: &mut Run) -> Result<EvalPoint, String> {
    let step = run.trainer.step as u32;
    let (batch, seq) = (run.trainer.config.batch, run.trainer.config.seq);
    let model = &mut run.trainer.model;
    let (nats, count) = evaluate(model, &run.val_ids, seq, batch, Some(EVAL_TOKENS)).map_err(|e| e.to_string())?;
    let scored = run.val_ids.get(1..=count).unwrap_or(&[]);
    let chars = run.tokenizer.chars_of(scored).max(1);
    let (accuracy, sample) = match &run.toy {
        Some(toy) => {
            let out = toy::greedy_complete(model, &toy.contexts, toy.new_tokens).map_err(|e| e.to_string())?;
            let completions: Vec<String> = out.iter().map(|ids| run.tokenizer.decode(ids)).collect();
            let accuracy = toy::accuracy(&toy.probes, &completions);
            let mut sample = String::new();
            for (probe, completion) in toy.probes.iter().zip(&completions).take(SHOWN_PROBES) {
                let prompt = probe.context.rsplit('\n').next().unwrap_or("");
                let answer = toy::first_line(completion);
                let mark = if answer == probe.answer { "✓" } else { "✗" };
                sample.push_str(&format!("{prompt}{answer}  {mark}\n"));
            }
            (Some(accuracy), sample)
        }
        None => (None, sample_text(model, &run.tokenizer, &run.val_ids, run.seed ^ u64::from(step))?),
    };
    Ok(EvalPoint { step, val_loss: nats / count.max(1) as f64, val_nats_per_char: nats / chars as f64, accuracy, sample })
}

/// Seeded sampling (temperature 0.8) of [`SAMPLE_TOKENS`] tokens after the
/// first few tokens of the validation text.
fn sample_text(model: &mut Model, tokenizer: &TextTokenizer, val_ids: &[u32], seed: u64) -> Result<String, String> {
    let context = model.config.context;
    let v = model.config.vocab_size;
    let mut ids: Vec<u32> = val_ids.iter().copied().take(8.min(context)).collect();
    let prompt_len = ids.len();
    let mut rng = Rng::new(seed);
    let mut weights = vec![0.0f64; v];
    for _ in 0..SAMPLE_TOKENS {
        let window = &ids[ids.len().saturating_sub(context)..];
        let t = window.len();
        model.forward(window, None, 1, t, Precision::Fp32).map_err(|e| e.to_string())?;
        let logits = model.logits().get((t - 1) * v..t * v).ok_or("logits too small")?;
        let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for (w, &z) in weights.iter_mut().zip(logits) {
            *w = f64::from((z - max) / 0.8).exp();
        }
        let next = rng.categorical(&weights).ok_or("the model's probabilities are not finite")?;
        ids.push(next as u32);
    }
    let prompt = tokenizer.decode(&ids[..prompt_len]);
    Ok(format!("{prompt}{}", tokenizer.decode(&ids[prompt_len..])))
}

/// The HF files of the run's current model.
fn export_files(run: &Run) -> Result<Vec<NamedFile>, String> {
    let model = &run.trainer.model;
    let weights = model_to_safetensors(model).map_err(|e| e.to_string())?;
    let config = serde_json::to_string_pretty(&config_to_json(&model.config)).map_err(|e| e.to_string())?;
    Ok(vec![
        NamedFile { name: "config.json".into(), bytes: config.into_bytes() },
        NamedFile { name: "model.safetensors".into(), bytes: weights },
        NamedFile { name: "tokenizer.json".into(), bytes: run.tokenizer.to_json().map_err(|e| e.to_string())?.into_bytes() },
    ])
}

/// Loads the exported files as the session's model, exactly as a user's
/// upload of them would be loaded.
fn use_model(files: Vec<NamedFile>, label: String, generation_config_json: Option<String>) -> Result<TrainResponse, String> {
    let mut config_json = String::new();
    let mut tokenizer_json = String::new();
    let mut store = WeightStore::new();
    let mut bytes = 0u64;
    for file in files {
        match file.name.as_str() {
            "config.json" => config_json = String::from_utf8(file.bytes).map_err(|e| e.to_string())?,
            "tokenizer.json" => tokenizer_json = String::from_utf8(file.bytes).map_err(|e| e.to_string())?,
            _ => {
                bytes += file.bytes.len() as u64;
                store.add_safetensors(file.bytes, DEFAULT_HEADER_BUDGET).map_err(|e| format!("model.safetensors: {e}"))?;
            }
        }
    }
    let model = llmlab_core::models::load(&config_json, &store).map_err(|e| format!("The trained model could not be loaded: {e}"))?;
    let tokenizer = Tokenizer::from_json(&tokenizer_json).map_err(|e| format!("tokenizer.json: {e}"))?;
    let trained = Loaded { label: label.clone(), model, tokenizer: Some(tokenizer), config_json, generation_config_json, bytes, from_cache: false };
    session::set(trained);
    Ok(TrainResponse::InUse { label })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_settings() -> TrainSettings {
        TrainSettings {
            data: TrainData::Toy { task: "reversal".into() },
            from_loaded: false,
            tokenizer: "char".into(),
            arch: "llama".into(),
            layers: 1,
            heads: 2,
            width: 16,
            context: 16,
            batch: 4,
            steps: 20,
            lr: 3e-3,
            warmup: 2,
            accum: 1,
            precision: "fp32".into(),
            seed: 3,
            val_fraction: 0.1,
        }
    }

    fn error_of(settings: TrainSettings) -> String {
        match build_run(&settings) {
            Ok(_) => panic!("expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn bad_settings_are_clear_errors_before_anything_is_allocated() {
        let s = toy_settings();
        assert!(error_of(TrainSettings { data: TrainData::Toy { task: "chess".into() }, ..s.clone() }).contains("toy task"));
        assert!(error_of(TrainSettings { tokenizer: "bpe:5".into(), ..s.clone() }).contains("bpe:N"));
        assert!(error_of(TrainSettings { arch: "bert".into(), ..s.clone() }).contains("architecture"));
        assert!(error_of(TrainSettings { width: 30, heads: 4, ..s.clone() }).contains("multiple of heads"));
        assert!(error_of(TrainSettings { val_fraction: 0.95, ..s.clone() }).contains("validation fraction"));
        let short = TrainSettings { data: TrainData::Text { text: "to be or not".into() }, ..s.clone() };
        assert!(error_of(short).contains("context window"));
        // 12 layers of width 768 with batch 128 × 1024 tokens: many GB of activations.
        let huge = TrainSettings { layers: 12, heads: 12, width: 768, context: 1024, batch: 128, arch: "gpt2".into(), ..s };
        assert!(error_of(huge).contains("MB"));
    }

    #[test]
    fn a_trained_toy_run_exports_hf_files_that_load_as_the_session_model() {
        let mut run = build_run(&toy_settings()).unwrap();
        let first = run.trainer.step(&run.train_ids).unwrap().loss;
        for _ in 0..19 {
            run.trainer.step(&run.train_ids).unwrap();
        }
        let point = eval_point(&mut run).unwrap();
        assert!(point.val_loss.is_finite() && point.val_loss < first, "{} vs {first}", point.val_loss);
        assert_eq!(point.val_loss, point.val_nats_per_char); // char tokenizer: one token per character
        let accuracy = point.accuracy.unwrap();
        assert!((0.0..=1.0).contains(&accuracy));
        assert_eq!(point.sample.lines().count(), SHOWN_PROBES);
        let files = export_files(&run).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["config.json", "model.safetensors", "tokenizer.json"]);
        let config: serde_json::Value = serde_json::from_slice(&files[0].bytes).unwrap();
        assert_eq!(config["model_type"], "llama");
        assert!(matches!(use_model(files, run.label.clone(), None).unwrap(), TrainResponse::InUse { .. }));
        let loaded = session::current().unwrap();
        assert_eq!(loaded.label, TRAINED_LABEL);
        let ids = loaded.tokenizer.as_ref().unwrap().encode("ab|", false).unwrap().ids;
        assert_eq!(ids, run.tokenizer.encode("ab|").unwrap());
    }

    #[test]
    fn text_runs_split_validate_and_measure_nats_per_character() {
        let text = "To be, or not to be, that is the question. ".repeat(20);
        let s = TrainSettings { data: TrainData::Text { text }, tokenizer: "bpe:300".into(), arch: "gpt2".into(), ..toy_settings() };
        let mut run = build_run(&s).unwrap();
        assert!(run.toy.is_none());
        let point = eval_point(&mut run).unwrap();
        // BPE tokens cover several characters each: fewer nats per character than per token.
        assert!(point.val_nats_per_char < point.val_loss);
        assert!(!point.sample.is_empty());
    }

    /// Loads a committed tiny checkpoint into this thread's session, with a
    /// character tokenizer of `corpus` (fewer tokens than the model's 96).
    fn load_fixture(family: &str, corpus: Option<&str>) {
        let dir = format!("{}/../../tests/fixtures/decoding/models/{family}", env!("CARGO_MANIFEST_DIR"));
        let config_json = std::fs::read_to_string(format!("{dir}/config.json")).unwrap();
        let mut store = WeightStore::new();
        store.add_safetensors(std::fs::read(format!("{dir}/model.safetensors")).unwrap(), DEFAULT_HEADER_BUDGET).unwrap();
        let model = llmlab_core::models::load(&config_json, &store).unwrap();
        let tokenizer = corpus.map(|text| {
            let json = recipe::build_tokenizer(TokenizerSpec::Char, text, text).unwrap().to_json().unwrap();
            Tokenizer::from_json(&json).unwrap()
        });
        let loaded = Loaded { label: family.into(), model, tokenizer, config_json, generation_config_json: None, bytes: 0, from_cache: false };
        session::set(loaded);
    }

    #[test]
    fn fine_tuning_the_loaded_model_starts_from_its_weights_and_lowers_the_validation_loss() {
        let text = "the cat sat on the mat. ".repeat(40);
        load_fixture("gpt2", Some(&text));
        let s = TrainSettings {
            data: TrainData::Text { text: text.clone() },
            from_loaded: true,
            context: 16,
            steps: 30,
            warmup: 0,
            lr: 1e-2,
            ..toy_settings()
        };
        let mut run = build_run(&s).unwrap();
        // The checkpoint's shape, not the settings' (which ask for a 1-layer llama of width 16).
        assert_eq!(run.trainer.model.config.arch, Arch::Gpt2);
        let logits = session::current().unwrap();
        let AnyModel::Causal(m) = &logits.model else { panic!("not causal") };
        let ids = run.tokenizer.encode("the cat").unwrap();
        let expected = m.forward(&ids, None).unwrap();
        run.trainer.model.forward(&ids, None, 1, ids.len(), Precision::Fp32).unwrap();
        let maxdiff = run.trainer.model.logits().iter().zip(expected.iter()).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        println!("trainer vs inference logits of the loaded model: maxdiff {maxdiff:e}");
        assert!(maxdiff < 1e-4, "maxdiff {maxdiff}");
        let before = eval_point(&mut run).unwrap().val_loss;
        for _ in 0..30 {
            run.trainer.step(&run.train_ids).unwrap();
        }
        let after = eval_point(&mut run).unwrap().val_loss;
        println!("validation loss before {before:.4} -> after {after:.4}");
        assert!(after < before, "{after} vs {before}");
        let files = export_files(&run).unwrap();
        let TrainResponse::InUse { label } = use_model(files, run.label.clone(), None).unwrap() else { panic!("not in use") };
        assert_eq!(label, "gpt2 (fine-tuned)");
        assert_eq!(session::current().unwrap().label, label);
    }

    #[test]
    fn fine_tuning_needs_a_tokenizer_and_a_gpt2_or_llama_model() {
        let text = "the cat sat on the mat. ".repeat(40);
        let s = TrainSettings { data: TrainData::Text { text: text.clone() }, from_loaded: true, context: 16, ..toy_settings() };
        load_fixture("llama", None);
        assert!(error_of(s.clone()).contains("no tokenizer.json"));
        load_fixture("t5", Some(&text));
        assert!(error_of(s.clone()).contains("only GPT-2 and Llama"));
        load_fixture("llama", Some(&text));
        assert!(error_of(TrainSettings { context: 200, ..s.clone() }).contains("positions"));
        assert!(build_run(&s).is_ok());
    }
}
