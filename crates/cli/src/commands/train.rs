//! `llmlab train --corpus FILE --out DIR`: train a small GPT-2 or Llama
//! shaped model on a text file with the core's training engine, then export
//! it in Hugging Face layout (`config.json`, `model.safetensors`,
//! `tokenizer.json`).
//!
//! The text is split as nanoGPT does: the first (1 − F) of the characters
//! train, the last F validate. Progress (loss, tokens/s) goes to stderr;
//! checkpoints go to `DIR/checkpoint/` every `--eval-every` steps so
//! `--resume` continues a run exactly; the final JSON summary goes to stdout.

use std::fs;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use llmlab_core::rng::Rng;
use llmlab_core::loading::fs::{load_checkpoint as load_hf_checkpoint, Checkpoint};
use llmlab_core::train::checkpoint::{config_from_json, config_to_json, model_from_checkpoint, model_from_safetensors, model_to_safetensors, read_tensor_from_bytes, write_tensors};
use llmlab_core::train::recipe::{self, TextTokenizer, TokenizerSpec};
use llmlab_core::train::trainer::{evaluate, TrainConfig, Trainer};
use llmlab_core::train::{Arch, Model, Precision};
use serde_json::{json, Value};

/// Arguments of `llmlab train`.
#[derive(clap::Args)]
pub struct Args {
    /// UTF-8 text file to train on.
    #[arg(long)]
    corpus: PathBuf,
    /// Output directory (HF files, checkpoint/).
    #[arg(long)]
    out: PathBuf,
    /// Tokenizer: `char` (one token per character) or `bpe:N` (a byte-level
    /// BPE with N tokens, 257 ≤ N ≤ 32768, trained on the training split).
    #[arg(long, default_value = "char")]
    tokenizer: String,
    /// Architecture: gpt2 or llama.
    #[arg(long, default_value = "gpt2")]
    arch: String,
    /// Transformer blocks.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    /// Attention heads.
    #[arg(long, default_value_t = 4)]
    heads: usize,
    /// Residual stream width (n_embd).
    #[arg(long, default_value_t = 128)]
    width: usize,
    /// Context length (tokens per training sequence and the position table).
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 12)]
    batch: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 2000)]
    steps: u64,
    /// Peak learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Linear warmup steps.
    #[arg(long, default_value_t = 100)]
    warmup: u64,
    /// Micro-batches accumulated per optimiser step.
    #[arg(long, default_value_t = 1)]
    grad_accum: usize,
    /// AdamW decoupled weight decay (matrices and embeddings only).
    #[arg(long, default_value_t = recipe::WEIGHT_DECAY)]
    weight_decay: f64,
    /// AdamW β₂.
    #[arg(long, default_value_t = recipe::ADAMW_BETA2)]
    beta2: f64,
    /// Global gradient-norm clip (0 = off).
    #[arg(long, default_value_t = recipe::GRAD_CLIP)]
    grad_clip: f64,
    /// Compute precision: fp32, bf16 or fp16 (dynamic loss scaling).
    #[arg(long, default_value = "fp32")]
    precision: String,
    /// Fraction of the text (at the end) held out for validation.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f64,
    /// Seed of initialisation and batch sampling.
    #[arg(long, default_value_t = 1337)]
    seed: u64,
    /// Evaluate (on up to --eval-tokens validation tokens) and checkpoint every N steps.
    #[arg(long, default_value_t = 250)]
    eval_every: u64,
    /// Validation tokens scored by the periodic evaluations (the final one scores all).
    #[arg(long, default_value_t = 20000)]
    eval_tokens: usize,
    /// Continue from DIR/checkpoint.
    #[arg(long)]
    resume: bool,
    /// Start from a Hugging Face GPT-2 or Llama checkpoint directory (with its
    /// tokenizer.json) instead of random weights; --arch, --layers, --heads,
    /// --width and --tokenizer then come from the checkpoint.
    #[arg(long, conflicts_with = "resume")]
    init_from: Option<PathBuf>,
    /// Do not train: load the model exported in --out and print the training
    /// engine's logits for the first `context` tokens of --corpus as JSON
    /// (scripts/check_export.py compares them with HF transformers).
    #[arg(long)]
    logits_only: bool,
}

/// Reads a run's `tokenizer.json`.
fn load_tokenizer(path: &Path) -> Result<TextTokenizer, String> {
    let text = fs::read_to_string(path).map_err(|e| io_err(path, e))?;
    TextTokenizer::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// `--logits-only`: the engine's logits for an exported model.
fn print_logits(args: &Args) -> Result<(), String> {
    let dir = &args.out;
    let read = |name: &str| fs::read(dir.join(name)).map_err(|e| io_err(&dir.join(name), e));
    let config = config_from_json(&String::from_utf8_lossy(&read("config.json")?)).map_err(|e| e.to_string())?;
    let mut model = model_from_safetensors(config, &read("model.safetensors")?).map_err(|e| e.to_string())?;
    let tokenizer = load_tokenizer(&dir.join("tokenizer.json"))?;
    let text = fs::read_to_string(&args.corpus).map_err(|e| io_err(&args.corpus, e))?;
    let mut ids = tokenizer.encode(&text).map_err(|e| e.to_string())?;
    ids.truncate(model.config.context);
    if ids.is_empty() {
        return Err("no tokens to score".into());
    }
    model.forward(&ids, None, 1, ids.len(), Precision::Fp32).map_err(|e| e.to_string())?;
    let v = model.config.vocab_size;
    let logits: Vec<&[f32]> = model.logits().chunks_exact(v).collect();
    println!("{}", json!({"ids": ids, "logits": logits}));
    Ok(())
}

fn io_err(path: &Path, e: std::io::Error) -> String {
    format!("{}: {e}", path.display())
}

/// Writes the three HF files into `dir`.
fn export(dir: &Path, model: &Model, tokenizer: &TextTokenizer) -> Result<(), String> {
    fs::create_dir_all(dir).map_err(|e| io_err(dir, e))?;
    let bytes = model_to_safetensors(model).map_err(|e| e.to_string())?;
    let write = |name: &str, data: &[u8]| fs::write(dir.join(name), data).map_err(|e| io_err(&dir.join(name), e));
    write("model.safetensors", &bytes)?;
    write("config.json", serde_json::to_string_pretty(&config_to_json(&model.config)).map_err(|e| e.to_string())?.as_bytes())?;
    write("tokenizer.json", tokenizer.to_json().map_err(|e| e.to_string())?.as_bytes())?;
    Ok(())
}

/// Saves model, tokenizer, optimiser moments and loop state under `dir/checkpoint`.
fn save_checkpoint(dir: &Path, trainer: &Trainer, tokenizer: &TextTokenizer, history: &[Value]) -> Result<(), String> {
    let ck = dir.join("checkpoint");
    // Write to a temporary folder then rename, so an interrupted save never
    // leaves a half-written checkpoint behind.
    let tmp = dir.join("checkpoint.tmp");
    export(&tmp, &trainer.model, tokenizer)?;
    // Moments in the checkpoint's tensor order (HF names, stored layouts).
    let m = trainer.model.to_checkpoint_order(&trainer.optimizer.m).map_err(|e| e.to_string())?;
    let v = trainer.model.to_checkpoint_order(&trainer.optimizer.v).map_err(|e| e.to_string())?;
    let n = m.len();
    let opt = write_tensors(&[("adamw.m".into(), vec![n], &m), ("adamw.v".into(), vec![n], &v)])
    .map_err(|e| e.to_string())?;
    fs::write(tmp.join("optimizer.safetensors"), opt).map_err(|e| io_err(&tmp, e))?;
    let state = json!({
        "step": trainer.step,
        "adam_step": trainer.optimizer.step,
        "loss_scale": trainer.scaler.scale,
        "good_steps": trainer.scaler.good_steps,
        "skipped_steps": trainer.scaler.skipped_steps,
        "history": history,
    });
    fs::write(tmp.join("state.json"), state.to_string()).map_err(|e| io_err(&tmp, e))?;
    if ck.exists() {
        fs::remove_dir_all(&ck).map_err(|e| io_err(&ck, e))?;
    }
    fs::rename(&tmp, &ck).map_err(|e| io_err(&ck, e))
}

/// Restores what [`save_checkpoint`] wrote; returns the loss history.
fn load_checkpoint(dir: &Path, trainer: &mut Trainer) -> Result<Vec<Value>, String> {
    let ck = dir.join("checkpoint");
    let read = |name: &str| fs::read(ck.join(name)).map_err(|e| io_err(&ck.join(name), e));
    let config = config_from_json(&String::from_utf8_lossy(&read("config.json")?)).map_err(|e| e.to_string())?;
    if config != trainer.model.config {
        return Err("the checkpoint's model shape differs from the requested one".into());
    }
    trainer.model = model_from_safetensors(config, &read("model.safetensors")?).map_err(|e| e.to_string())?;
    let opt_bytes = read("optimizer.safetensors")?;
    let n = trainer.model.num_params();
    let m = read_tensor_from_bytes(&opt_bytes, "adamw.m", &[n]).map_err(|e| e.to_string())?;
    let v = read_tensor_from_bytes(&opt_bytes, "adamw.v", &[n]).map_err(|e| e.to_string())?;
    trainer.optimizer.m = trainer.model.from_checkpoint_order(&m).map_err(|e| e.to_string())?;
    trainer.optimizer.v = trainer.model.from_checkpoint_order(&v).map_err(|e| e.to_string())?;
    let state: Value = serde_json::from_slice(&read("state.json")?).map_err(|e| e.to_string())?;
    let num = |k: &str| state.get(k).and_then(Value::as_u64).ok_or_else(|| format!("state.json lacks {k}"));
    trainer.step = num("step")?;
    trainer.optimizer.step = num("adam_step")?;
    trainer.scaler.scale = state.get("loss_scale").and_then(Value::as_f64).unwrap_or(65536.0) as f32;
    trainer.scaler.good_steps = num("good_steps")? as u32;
    trainer.scaler.skipped_steps = num("skipped_steps")?;
    Ok(state.get("history").and_then(Value::as_array).cloned().unwrap_or_default())
}

/// `--init-from DIR`: the trainer's model from a Hugging Face checkpoint
/// (mapped by `model_from_checkpoint`), checked against the tokenizer's
/// vocabulary and the requested context.
fn init_from(dir: &Path, tokenizer_vocab: usize, context: usize) -> Result<Model, String> {
    let (config_json, store) = match load_hf_checkpoint(dir).map_err(|e| e.to_string())? {
        Checkpoint::HuggingFace { config_json, store } => (config_json, store),
        Checkpoint::Llama2c(_) => return Err("--init-from needs a Hugging Face checkpoint directory".into()),
    };
    let model = model_from_checkpoint(&config_json, &store).map_err(|e| format!("--init-from {}: {e}", dir.display()))?;
    let config = &model.config;
    if tokenizer_vocab > config.vocab_size {
        return Err(format!("--init-from: tokenizer.json has {tokenizer_vocab} tokens but the model only {}", config.vocab_size));
    }
    if context > config.context {
        return Err(format!("--context {context} exceeds the checkpoint's {} positions", config.context));
    }
    Ok(model)
}

/// Train, checkpoint, export and summarise.
pub fn run(args: Args) -> Result<(), String> {
    if args.logits_only {
        return print_logits(&args);
    }
    let text = fs::read_to_string(&args.corpus).map_err(|e| io_err(&args.corpus, e))?;
    let arch = Arch::parse(&args.arch).ok_or_else(|| format!("unknown --arch {:?} (gpt2 or llama)", args.arch))?;
    let precision = Precision::parse(&args.precision).ok_or_else(|| format!("unknown --precision {:?} (fp32, bf16, fp16)", args.precision))?;

    // nanoGPT split: by characters, first part trains, the rest validates.
    let (train_text, val_text) = recipe::split_text(&text, args.val_fraction).map_err(|e| format!("--val-fraction: {e}"))?;
    // On resume (or init-from), reuse the checkpoint's tokenizer so ids keep their meaning.
    let tokenizer = if args.resume {
        load_tokenizer(&args.out.join("checkpoint").join("tokenizer.json"))?
    } else if let Some(dir) = &args.init_from {
        load_tokenizer(&dir.join("tokenizer.json"))?
    } else {
        let spec = TokenizerSpec::parse(&args.tokenizer).map_err(|e| format!("--{e}"))?;
        recipe::build_tokenizer(spec, &text, train_text).map_err(|e| e.to_string())?
    };
    let train_ids = tokenizer.encode(train_text).map_err(|e| e.to_string())?;
    let val_ids = tokenizer.encode(val_text).map_err(|e| e.to_string())?;
    if val_ids.len() < 2 {
        return Err("the validation split is too short (raise --val-fraction)".into());
    }
    if train_ids.len() <= args.context {
        return Err("the training split is shorter than one context window".into());
    }

    let v = tokenizer.vocab_size();
    let model = match &args.init_from {
        Some(dir) => init_from(dir, v, args.context)?,
        None => {
            let config = recipe::model_config(arch, v, args.context, args.layers, args.heads, args.width).map_err(|e| e.to_string())?;
            Model::new(config, &mut Rng::new(args.seed)).map_err(|e| e.to_string())?
        }
    };
    let arch = model.config.arch;
    let v = model.config.vocab_size;
    let train_config = TrainConfig {
        batch: args.batch,
        seq: args.context,
        grad_accum: args.grad_accum,
        steps: args.steps,
        lr: args.lr,
        warmup: args.warmup,
        grad_clip: args.grad_clip,
        adamw: recipe::adamw(args.beta2, args.weight_decay),
        precision,
        seed: args.seed,
    };
    let mut trainer = Trainer::new(model, train_config).map_err(|e| e.to_string())?;
    let mut history = if args.resume { load_checkpoint(&args.out, &mut trainer)? } else { Vec::new() };
    fs::create_dir_all(&args.out).map_err(|e| io_err(&args.out, e))?;

    let tty = std::io::stderr().is_terminal();
    let start = Instant::now();
    let first_step = trainer.step;
    let mut tokens_done = 0usize;
    // Time spent in optimiser steps only (evaluation and checkpoints excluded),
    // which is what tokens/s measures.
    let mut train_seconds = 0.0f64;
    let mut last_loss = f64::NAN;
    let mut stderr = std::io::stderr();
    while trainer.step < args.steps {
        let step_start = Instant::now();
        let stats = trainer.step(&train_ids).map_err(|e| e.to_string())?;
        train_seconds += step_start.elapsed().as_secs_f64();
        tokens_done += stats.tokens;
        last_loss = stats.loss;
        let tok_s = tokens_done as f64 / train_seconds.max(1e-9);
        let done = trainer.step as f64 / args.steps as f64;
        let filled = (done * 30.0) as usize;
        let line = format!(
            "[{}{}] step {}/{} loss {:.4} lr {:.2e} {:.0} tok/s{}",
            "#".repeat(filled),
            ".".repeat(30 - filled.min(30)),
            trainer.step,
            args.steps,
            stats.loss,
            stats.lr,
            tok_s,
            if stats.skipped { " (skipped: fp16 overflow)" } else { "" }
        );
        if tty {
            let _ = write!(stderr, "\r{line}");
        } else if trainer.step % 10 == 0 || trainer.step == args.steps {
            let _ = writeln!(stderr, "{line}");
        }
        if trainer.step % args.eval_every.max(1) == 0 || trainer.step == args.steps {
            let (nats, count) = evaluate(&mut trainer.model, &val_ids, args.context, args.batch, Some(args.eval_tokens)).map_err(|e| e.to_string())?;
            let val = nats / count.max(1) as f64;
            history.push(json!({"step": trainer.step, "train_loss": stats.loss, "val_loss": val, "lr": stats.lr, "seconds": start.elapsed().as_secs_f64()}));
            let _ = writeln!(stderr, "{}step {} train {:.4} val {:.4} ({} tokens)", if tty { "\n" } else { "" }, trainer.step, stats.loss, val, count);
            save_checkpoint(&args.out, &trainer, &tokenizer, &history)?;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    export(&args.out, &trainer.model, &tokenizer)?;

    // Final evaluation over the WHOLE validation split. Every token but the
    // first is scored once; nats per character divide by the characters
    // those tokens cover (for `char`, one per token).
    let (val_nats, val_count) = evaluate(&mut trainer.model, &val_ids, args.context, args.batch, None).map_err(|e| e.to_string())?;
    let (train_nats, train_count) =
        evaluate(&mut trainer.model, &train_ids, args.context, args.batch, Some(val_ids.len())).map_err(|e| e.to_string())?;
    let val_chars = val_text.chars().count() - tokenizer.chars_of(&val_ids[..1]).min(val_text.chars().count());
    let val_per_char = val_nats / val_chars.max(1) as f64;
    let summary = json!({
        "arch": arch.key(),
        "params": trainer.model.num_params(),
        "config": config_to_json(&trainer.model.config),
        "tokenizer": tokenizer.key(),
        "vocab_size": v,
        "steps": trainer.step,
        "steps_this_run": trainer.step - first_step,
        "precision": precision.key(),
        "skipped_steps": trainer.scaler.skipped_steps,
        "last_batch_loss": last_loss,
        "train_loss": train_nats / train_count.max(1) as f64,
        "val_loss": val_nats / val_count.max(1) as f64,
        "val_tokens_scored": val_count,
        "val_chars_scored": val_chars,
        "val_nats_per_char": val_per_char,
        "val_bits_per_char": val_per_char / std::f64::consts::LN_2,
        "tokens_per_second": tokens_done as f64 / train_seconds.max(1e-9),
        "seconds": seconds,
        "out": args.out.display().to_string(),
        "history": history,
    });
    println!("{summary}");
    Ok(())
}
