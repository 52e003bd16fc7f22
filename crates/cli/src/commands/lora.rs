//! `llmlab lora init|merge|train`: create a LoRA adapter for a checkpoint,
//! fold one into its weights, or train one on a text file. The adapter files are peft's
//! (`adapter_config.json`, `adapter_model.safetensors`); everything else
//! (init, merge, the file format) lives in `llmlab_core::adapters::lora`.
//! [`load_adapted`] also serves `llmlab logits --adapter` and
//! `llmlab grad --adapter`.

use std::fs;
use std::path::Path;

use llmlab_core::adapters::lora::{LoraAdapter, LoraConfig, TargetModules, CONFIG_FILE, WEIGHTS_FILE};
use llmlab_core::adapters::lora_training::LoraTraining;
use llmlab_core::models::gradients::GradInput;
use llmlab_core::tokenizers::Tokenizer;
use llmlab_core::train::recipe::split_text;
use llmlab_core::train::trainer::sample_batch;
use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::rng::Rng;
use serde_json::Value;

/// Arguments of `llmlab lora`.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand)]
enum Action {
    /// Create a fresh adapter for a checkpoint, initialised as peft does.
    Init(InitArgs),
    /// Write the checkpoint with the adapter merged in (peft's `merge_and_unload()`).
    Merge(MergeArgs),
    /// Train a fresh adapter on a text file, the base model frozen.
    Train(TrainArgs),
}

#[derive(clap::Args)]
struct InitArgs {
    /// Hugging Face model directory (GPT-2 or Llama).
    #[arg(long)]
    model: String,
    #[command(flatten)]
    settings: AdapterSettings,
    /// Adapter directory to write.
    #[arg(long)]
    out: String,
}

/// The adapter's settings, shared by `init` and `train`.
#[derive(clap::Args)]
struct AdapterSettings {
    /// Rank r of the update.
    #[arg(long, default_value_t = 8)]
    r: usize,
    /// Scale numerator α (the update is scaled by α/r).
    #[arg(long, default_value_t = 16.0)]
    alpha: f64,
    /// Scale by α/√r instead (rank-stabilised LoRA).
    #[arg(long)]
    rslora: bool,
    /// Modules to adapt by HF name, comma-separated, or `all-linear`
    /// (default: c_attn for GPT-2, q_proj,v_proj for Llama, as peft's defaults).
    #[arg(long)]
    targets: Option<String>,
    /// Dropout on the adapter's input while training.
    #[arg(long, default_value_t = 0.0)]
    dropout: f64,
    /// `false` initialises B randomly too, so the adapter changes the model at once
    /// (peft's `init_lora_weights=False`).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    init_lora_weights: bool,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Hugging Face model directory (GPT-2 or Llama) with tokenizer.json.
    #[arg(long)]
    model: String,
    /// Text file to train on (the last 10% validates).
    #[arg(long)]
    corpus: String,
    #[command(flatten)]
    settings: AdapterSettings,
    /// Optimiser steps.
    #[arg(long, default_value_t = 100)]
    steps: u64,
    /// AdamW learning rate (constant; no weight decay).
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// Windows per batch.
    #[arg(long, default_value_t = 4)]
    batch: usize,
    /// Tokens per window.
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// Adapter directory to write.
    #[arg(long)]
    out: String,
}

#[derive(clap::Args)]
struct MergeArgs {
    /// Hugging Face model directory.
    #[arg(long)]
    model: String,
    /// peft adapter directory.
    #[arg(long)]
    adapter: String,
    /// Where to write the merged checkpoint (config.json, model.safetensors and
    /// the model directory's other files).
    #[arg(long)]
    out: String,
}

fn read_checkpoint(model: &Path) -> Result<(String, WeightStore), String> {
    match load_checkpoint(model).map_err(|e| e.to_string())? {
        Checkpoint::HuggingFace { config_json, store } => Ok((config_json, store)),
        Checkpoint::Llama2c(_) => Err("LoRA needs a Hugging Face checkpoint directory, not a llama2.c .bin".into()),
    }
}

/// Reads a peft adapter directory.
pub fn read_adapter(dir: &Path) -> Result<LoraAdapter, String> {
    let config = fs::read_to_string(dir.join(CONFIG_FILE)).map_err(|e| format!("cannot read {}: {e}", dir.join(CONFIG_FILE).display()))?;
    let weights = fs::read(dir.join(WEIGHTS_FILE)).map_err(|e| format!("cannot read {}: {e}", dir.join(WEIGHTS_FILE).display()))?;
    LoraAdapter::from_files(&config, weights).map_err(|e| e.to_string())
}

/// The checkpoint at `model` with the adapter at `adapter` merged into its
/// weights: (config.json text, merged weights). The merged model is the
/// adapted model (see `llmlab_core::adapters::lora`).
pub fn load_adapted(model: &Path, adapter: &Path) -> Result<(String, WeightStore), String> {
    let (config_json, mut store) = read_checkpoint(model)?;
    read_adapter(adapter)?.apply_to_store(&mut store, 1.0).map_err(|e| e.to_string())?;
    Ok((config_json, store))
}

fn model_type_and_class(config_json: &str) -> Result<(String, String), String> {
    let v: Value = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
    let model_type = v["model_type"].as_str().unwrap_or_default().to_string();
    let class = v["architectures"][0].as_str().unwrap_or_default().to_string();
    Ok((model_type, class))
}

/// A fresh adapter for the checkpoint, as peft initialises it.
fn fresh_adapter(config_json: &str, store: &WeightStore, args: &AdapterSettings) -> Result<LoraAdapter, String> {
    let (model_type, _) = model_type_and_class(config_json)?;
    let default_targets = if model_type == "gpt2" { "c_attn" } else { "q_proj,v_proj" };
    let config = LoraConfig {
        r: args.r,
        lora_alpha: args.alpha,
        use_rslora: args.rslora,
        lora_dropout: args.dropout,
        target_modules: TargetModules::parse(args.targets.as_deref().unwrap_or(default_targets)).map_err(|e| e.to_string())?,
        fan_in_fan_out: model_type == "gpt2",
        init_lora_weights: args.init_lora_weights,
    };
    LoraAdapter::init(config, store, &model_type, &mut Rng::new(args.seed)).map_err(|e| e.to_string())
}

fn write_adapter(adapter: &LoraAdapter, config_json: &str, out: &Path) -> Result<(), String> {
    let (_, class) = model_type_and_class(config_json)?;
    let (config_text, bytes) = adapter.to_files(&class).map_err(|e| e.to_string())?;
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    fs::write(out.join(CONFIG_FILE), config_text).map_err(|e| format!("cannot write {CONFIG_FILE}: {e}"))?;
    fs::write(out.join(WEIGHTS_FILE), bytes).map_err(|e| format!("cannot write {WEIGHTS_FILE}: {e}"))
}

fn init(args: InitArgs) -> Result<(), String> {
    let (config_json, store) = read_checkpoint(Path::new(&args.model))?;
    let adapter = fresh_adapter(&config_json, &store, &args.settings)?;
    write_adapter(&adapter, &config_json, Path::new(&args.out))?;
    let trainable: usize = adapter.modules.iter().map(|m| m.a.len() + m.b.len()).sum();
    let total: usize = store.names().iter().filter_map(|n| store.shape(n)).map(|s| s.iter().product::<usize>()).sum();
    println!(
        "{}",
        serde_json::json!({
            "modules": adapter.modules.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(),
            "trainable_parameters": trainable,
            "base_parameters": total,
            "trainable_percent": 100.0 * trainable as f64 / total.max(1) as f64,
        })
    );
    Ok(())
}

fn merge(args: MergeArgs) -> Result<(), String> {
    let (model, out) = (Path::new(&args.model), Path::new(&args.out));
    let (_, store) = load_adapted(model, Path::new(&args.adapter))?;
    let names = store.names();
    let mut tensors = Vec::with_capacity(names.len());
    for name in &names {
        let shape = store.shape(name).map(<[usize]>::to_vec).unwrap_or_default();
        tensors.push((name.clone(), shape, store.to_f32(name).map_err(|e| e.to_string())?));
    }
    let views: Vec<(String, Vec<usize>, &[f32])> = tensors.iter().map(|(n, s, d)| (n.clone(), s.clone(), &d[..])).collect();
    let bytes = llmlab_core::train::checkpoint::write_tensors(&views).map_err(|e| e.to_string())?;
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    // The model directory's other files (config, tokenizer, generation config) are copied as they are.
    for entry in fs::read_dir(model).map_err(|e| format!("cannot list {}: {e}", model.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if path.is_file() && !name.ends_with(".safetensors") && name != "model.safetensors.index.json" {
            fs::copy(&path, out.join(name)).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
        }
    }
    fs::write(out.join("model.safetensors"), bytes).map_err(|e| format!("cannot write model.safetensors: {e}"))?;
    println!("{}", serde_json::json!({ "tensors": names.len(), "out": args.out }));
    Ok(())
}

/// Fixed validation windows: every `context`-token window from the start of
/// `ids`, at most 16.
fn validation_batch(ids: &[u32], context: usize) -> Result<GradInput, String> {
    let rows: Vec<Vec<u32>> = ids.chunks_exact(context + 1).take(16).map(|w| w[..context].to_vec()).collect();
    if rows.is_empty() {
        return Err(format!("the validation text has {} tokens; --context {context} needs at least {}", ids.len(), context + 1));
    }
    Ok(GradInput { input_ids: rows, labels: None, attention_mask: None })
}

fn train(args: TrainArgs) -> Result<(), String> {
    let model = Path::new(&args.model);
    let (config_json, store) = read_checkpoint(model)?;
    let tokenizer_json = fs::read_to_string(model.join("tokenizer.json")).map_err(|e| format!("cannot read {}: {e}", model.join("tokenizer.json").display()))?;
    let tokenizer = Tokenizer::from_json(&tokenizer_json).map_err(|e| e.to_string())?;
    let text = fs::read_to_string(&args.corpus).map_err(|e| format!("cannot read {}: {e}", args.corpus))?;
    let (train_text, val_text) = split_text(&text, 0.1).map_err(|e| e.to_string())?;
    let train_ids = tokenizer.encode(train_text, false).map_err(|e| e.to_string())?.ids;
    let val_ids = tokenizer.encode(val_text, false).map_err(|e| e.to_string())?.ids;
    if args.batch == 0 || args.context == 0 || args.batch * args.context > 1 << 20 {
        return Err("--batch and --context must be positive, with batch × context ≤ 1,048,576".into());
    }
    let val = validation_batch(&val_ids, args.context)?;
    let adapter = fresh_adapter(&config_json, &store, &args.settings)?;
    let mut training = LoraTraining::new(adapter, config_json.clone(), store);
    let val_before = training.loss(&val).map_err(|e| e.to_string())?;
    let mut rng = Rng::new(args.settings.seed ^ 0x5eed);
    let (mut tokens, mut targets) = (Vec::new(), Vec::new());
    let mut last = f64::NAN;
    for step in 1..=args.steps {
        sample_batch(&mut rng, &train_ids, args.batch, args.context, &mut tokens, &mut targets).map_err(|e| e.to_string())?;
        let input = GradInput { input_ids: tokens.chunks_exact(args.context).map(<[u32]>::to_vec).collect(), labels: None, attention_mask: None };
        last = training.step(&input, args.lr, Some(1.0)).map_err(|e| e.to_string())?.loss;
        if step % 10 == 0 || step == args.steps {
            eprintln!("step {step}/{}: loss {last:.4}", args.steps);
        }
    }
    let val_after = training.loss(&val).map_err(|e| e.to_string())?;
    write_adapter(&training.adapter, &config_json, Path::new(&args.out))?;
    println!(
        "{}",
        serde_json::json!({
            "steps": args.steps,
            "trainable_parameters": training.num_trainable(),
            "last_train_loss": last,
            "val_loss_before": val_before,
            "val_loss_after": val_after,
            "out": args.out,
        })
    );
    Ok(())
}

/// Runs `args`.
pub fn run(args: Args) -> Result<(), String> {
    match args.action {
        Action::Init(a) => init(a),
        Action::Merge(a) => merge(a),
        Action::Train(a) => train(a),
    }
}
