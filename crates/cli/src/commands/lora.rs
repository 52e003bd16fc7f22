//! `llmlab lora init|merge|train`: create a LoRA adapter for a checkpoint,
//! fold one into its weights, or train one on a text file or on instruction
//! data (`--data FILE.jsonl` or `--builtin`, the recipe of
//! `llmlab_core::adapters::finetune` that the Fine-tune tab runs too). The adapter files are peft's
//! (`adapter_config.json`, `adapter_model.safetensors`); everything else
//! (init, merge, the file format) lives in `llmlab_core::adapters::lora`.
//! [`load_adapted`] also serves `llmlab logits --adapter` and
//! `llmlab grad --adapter`. `train --method prefix|bottleneck` (on a corpus
//! or with the instruction recipe) trains a prefix-tuning adapter (peft's files, plus
//! `prefix_encoder.safetensors` with `--prefix-projection`) or bottleneck
//! adapters instead (`llmlab_core::adapters::adapter_training`).

use std::fs;
use std::path::Path;

use llmlab_core::adapters::finetune::{default_targets, Finetune, FinetuneData, FinetuneMethod, FinetuneSettings, RunTraining};
use llmlab_core::adapters::lora::{LoraAdapter, LoraConfig, TargetModules, CONFIG_FILE, WEIGHTS_FILE};
use llmlab_core::adapters::adapter_training::{AdapterTraining, TrainedAdapter};
use llmlab_core::adapters::bottleneck::{BottleneckAdapter, BottleneckConfig};
use llmlab_core::adapters::lora_training::LoraTraining;
use llmlab_core::adapters::prefix_tuning::{PrefixTuningAdapter, PrefixTuningConfig, ENCODER_FILE};
use llmlab_core::models::gradients::CausalLm;
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
    /// Train a fresh adapter on a text file or instruction data, the base model frozen.
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
    #[arg(long, required_unless_present_any = ["data", "builtin"], conflicts_with_all = ["data", "builtin"])]
    corpus: Option<String>,
    /// Instruction data: Alpaca JSON/JSONL or chat JSONL (`messages`); the loss
    /// is on the answers only and the last tenth is held out.
    #[arg(long, conflicts_with = "builtin")]
    data: Option<String>,
    /// Train on the built-in instruction set of the seed (upper, repeat, first, last).
    #[arg(long)]
    builtin: bool,
    #[command(flatten)]
    settings: AdapterSettings,
    /// Optimiser steps (default: 100 on a corpus, the recipe's on instruction data).
    #[arg(long)]
    steps: Option<u64>,
    /// AdamW learning rate, constant, no weight decay (default: 1e-3 on a corpus,
    /// the recipe's on instruction data).
    #[arg(long)]
    lr: Option<f64>,
    /// Windows (corpus) or examples (instruction data) per batch (default: 4 on a
    /// corpus, the recipe's on instruction data).
    #[arg(long)]
    batch: Option<usize>,
    /// Tokens per window.
    #[arg(long, default_value_t = 64)]
    context: usize,
    /// What to train: a LoRA adapter, a prefix (peft's prefix tuning) or
    /// bottleneck adapters (Houlsby); on a corpus or with the instruction recipe.
    #[arg(long, value_enum, default_value_t = Method::Lora)]
    method: Method,
    /// Prefix tuning: virtual tokens.
    #[arg(long, default_value_t = 10)]
    num_virtual_tokens: usize,
    /// Prefix tuning: make the prefix with peft's MLP (`prefix_projection`); the
    /// encoder is written beside the adapter as prefix_encoder.safetensors.
    #[arg(long)]
    prefix_projection: bool,
    /// Prefix tuning with projection: the MLP's hidden width (default: the prefix's width).
    #[arg(long)]
    encoder_hidden_size: Option<usize>,
    /// Bottleneck adapters: inner width r.
    #[arg(long, default_value_t = 16)]
    bottleneck_size: usize,
    /// Bottleneck adapters: the nonlinearity (relu, gelu, gelu_new, silu).
    #[arg(long, default_value = "relu")]
    non_linearity: String,
    /// Adapter directory to write.
    #[arg(long)]
    out: String,
}

/// The adapter `lora train --method` trains.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Method {
    /// LoRA (peft).
    Lora,
    /// Prefix tuning (peft's PREFIX_TUNING).
    Prefix,
    /// Bottleneck adapters (Houlsby; this project's format).
    Bottleneck,
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

/// Reads a Hugging Face checkpoint directory: (config.json text, weights).
pub fn read_checkpoint(model: &Path) -> Result<(String, WeightStore), String> {
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
    let config = LoraConfig {
        r: args.r,
        lora_alpha: args.alpha,
        use_rslora: args.rslora,
        lora_dropout: args.dropout,
        target_modules: TargetModules::parse(args.targets.as_deref().unwrap_or(default_targets(&model_type))).map_err(|e| e.to_string())?,
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
    let Some(corpus) = &args.corpus else {
        return train_instructions(&args, config_json, store, tokenizer);
    };
    let (steps, lr, batch) = (args.steps.unwrap_or(100), args.lr.unwrap_or(1e-3), args.batch.unwrap_or(4));
    let text = fs::read_to_string(corpus).map_err(|e| format!("cannot read {corpus}: {e}"))?;
    let (train_text, val_text) = split_text(&text, 0.1).map_err(|e| e.to_string())?;
    let train_ids = tokenizer.encode(train_text, false).map_err(|e| e.to_string())?.ids;
    let val_ids = tokenizer.encode(val_text, false).map_err(|e| e.to_string())?.ids;
    if batch == 0 || args.context == 0 || batch * args.context > 1 << 20 {
        return Err("--batch and --context must be positive, with batch × context ≤ 1,048,576".into());
    }
    let val = validation_batch(&val_ids, args.context)?;
    if args.method != Method::Lora {
        return train_other(&args, &config_json, &store, (&train_ids, &val), (steps, lr, batch));
    }
    let adapter = fresh_adapter(&config_json, &store, &args.settings)?;
    let mut training = LoraTraining::new(adapter, config_json.clone(), store);
    let val_before = training.loss(&val).map_err(|e| e.to_string())?;
    let mut rng = Rng::new(args.settings.seed ^ 0x5eed);
    let (mut tokens, mut targets) = (Vec::new(), Vec::new());
    let mut last = f64::NAN;
    for step in 1..=steps {
        sample_batch(&mut rng, &train_ids, batch, args.context, &mut tokens, &mut targets).map_err(|e| e.to_string())?;
        let input = GradInput { input_ids: tokens.chunks_exact(args.context).map(<[u32]>::to_vec).collect(), labels: None, attention_mask: None };
        last = training.step(&input, lr, Some(1.0)).map_err(|e| e.to_string())?.loss;
        if step % 10 == 0 || step == steps {
            eprintln!("step {step}/{steps}: loss {last:.4}");
        }
    }
    let val_after = training.loss(&val).map_err(|e| e.to_string())?;
    write_adapter(&training.adapter, &config_json, Path::new(&args.out))?;
    println!(
        "{}",
        serde_json::json!({
            "steps": steps,
            "trainable_parameters": training.num_trainable(),
            "last_train_loss": last,
            "val_loss_before": val_before,
            "val_loss_after": val_after,
            "out": args.out,
        })
    );
    Ok(())
}

/// Writes a trained prefix-tuning adapter (peft's files, plus the encoder
/// with `prefix_projection`) or bottleneck adapter to `out`.
fn write_trained(training: &AdapterTraining, config_json: &str, out: &Path) -> Result<(), String> {
    let (_, class) = model_type_and_class(config_json)?;
    let (config_text, bytes, extra) = match &training.adapter {
        TrainedAdapter::PrefixTuning(prefix) => prefix.to_files(&class).map_err(|e| e.to_string())?,
        TrainedAdapter::Bottleneck(bottleneck) => {
            let (text, bytes) = bottleneck.to_files(&training.layer_path()).map_err(|e| e.to_string())?;
            (text, bytes, None)
        }
    };
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    fs::write(out.join(CONFIG_FILE), config_text).map_err(|e| format!("cannot write {CONFIG_FILE}: {e}"))?;
    fs::write(out.join(WEIGHTS_FILE), bytes).map_err(|e| format!("cannot write {WEIGHTS_FILE}: {e}"))?;
    if let Some(encoder) = extra {
        fs::write(out.join(ENCODER_FILE), encoder).map_err(|e| format!("cannot write {ENCODER_FILE}: {e}"))?;
    }
    Ok(())
}

/// `lora train --corpus --method prefix|bottleneck`: a fresh prefix-tuning or
/// bottleneck adapter trained like LoRA (same batches, AdamW, clipping).
fn train_other(args: &TrainArgs, config_json: &str, store: &WeightStore, data: (&[u32], &GradInput), run: (u64, f64, usize)) -> Result<(), String> {
    let ((train_ids, val), (steps, lr, batch)) = (data, run);
    let mut rng = Rng::new(args.settings.seed);
    let loaded = CausalLm::load(config_json, store).map_err(|e| e.to_string())?;
    let stack = loaded.stack();
    let (layers, attn) = (stack.blocks.len(), stack.blocks.first().map(|b| &b.attn).ok_or("the model has no layer")?);
    let width = stack.embed.weight.dim().1;
    let adapter = match args.method {
        Method::Prefix => {
            let token_dim = attn.num_kv_heads * attn.head_dim;
            let config = PrefixTuningConfig {
                num_virtual_tokens: args.num_virtual_tokens,
                token_dim,
                num_attention_heads: attn.num_kv_heads,
                num_layers: layers,
                prefix_projection: args.prefix_projection,
                encoder_hidden_size: args.encoder_hidden_size.unwrap_or(token_dim),
            };
            TrainedAdapter::PrefixTuning(PrefixTuningAdapter::init(config, &mut rng).map_err(|e| e.to_string())?)
        }
        Method::Bottleneck | Method::Lora => {
            let config = BottleneckConfig {
                bottleneck_size: args.bottleneck_size,
                non_linearity: args.non_linearity.clone(),
                num_layers: layers,
                hidden_size: width,
            };
            TrainedAdapter::Bottleneck(BottleneckAdapter::init(config, &mut rng).map_err(|e| e.to_string())?)
        }
    };
    let mut training = AdapterTraining::new(adapter, config_json, store).map_err(|e| e.to_string())?;
    let val_before = training.loss(val).map_err(|e| e.to_string())?;
    let mut rng = Rng::new(args.settings.seed ^ 0x5eed);
    let (mut tokens, mut targets) = (Vec::new(), Vec::new());
    let mut last = f64::NAN;
    for step in 1..=steps {
        sample_batch(&mut rng, train_ids, batch, args.context, &mut tokens, &mut targets).map_err(|e| e.to_string())?;
        let input = GradInput { input_ids: tokens.chunks_exact(args.context).map(<[u32]>::to_vec).collect(), labels: None, attention_mask: None };
        last = training.step(&input, lr, Some(1.0)).map_err(|e| e.to_string())?.loss;
        if step % 10 == 0 || step == steps {
            eprintln!("step {step}/{steps}: loss {last:.4}");
        }
    }
    let val_after = training.loss(val).map_err(|e| e.to_string())?;
    write_trained(&training, config_json, Path::new(&args.out))?;
    println!(
        "{}",
        serde_json::json!({
            "method": match args.method { Method::Prefix => "prefix", _ => "bottleneck" },
            "steps": steps,
            "trainable_parameters": training.num_trainable(),
            "last_train_loss": last,
            "val_loss_before": val_before,
            "val_loss_after": val_after,
            "out": args.out,
        })
    );
    Ok(())
}

/// `lora train --data/--builtin`: the shared fine-tuning recipe, with the
/// held-out prompts answered greedily before and after.
fn train_instructions(args: &TrainArgs, config_json: String, store: WeightStore, tokenizer: Tokenizer) -> Result<(), String> {
    let data = match &args.data {
        Some(path) => {
            let text = fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            FinetuneData::Examples(llmlab_core::instruction::data::parse(&text).map_err(|e| e.to_string())?)
        }
        None => FinetuneData::Builtin,
    };
    let defaults = FinetuneSettings::default();
    let a = &args.settings;
    if a.rslora || a.dropout != 0.0 || !a.init_lora_weights {
        return Err("--rslora, --dropout and --init-lora-weights false apply to a corpus run only".into());
    }
    let settings = FinetuneSettings {
        r: a.r,
        alpha: a.alpha,
        targets: a.targets.clone().or(defaults.targets),
        steps: args.steps.map_or(Ok(defaults.steps), u32::try_from).map_err(|_| "--steps is too large".to_string())?,
        lr: args.lr.unwrap_or(defaults.lr),
        batch: args.batch.unwrap_or(defaults.batch),
        seed: a.seed,
        method: match args.method {
            Method::Lora => FinetuneMethod::Lora,
            Method::Prefix => {
                if args.prefix_projection && args.encoder_hidden_size.is_some() {
                    return Err("--encoder-hidden-size applies to a corpus run only (the recipe uses the prefix's width)".into());
                }
                FinetuneMethod::Prefix { num_virtual_tokens: args.num_virtual_tokens, projection: args.prefix_projection }
            }
            Method::Bottleneck => FinetuneMethod::Bottleneck { size: args.bottleneck_size, non_linearity: args.non_linearity.clone() },
        },
    };
    let mut run = Finetune::new(settings, &data, &config_json, store, tokenizer).map_err(|e| e.to_string())?;
    let before = run.held_out_answers().map_err(|e| e.to_string())?;
    let mut losses = Vec::with_capacity(run.settings.steps as usize);
    while !run.is_done() {
        losses.push(run.step().map_err(|e| e.to_string())?.loss);
        if run.step % 10 == 0 || run.is_done() {
            eprintln!("step {}/{}: loss {:.4}", run.step, run.settings.steps, losses[losses.len() - 1]);
        }
    }
    let after = run.held_out_answers().map_err(|e| e.to_string())?;
    match &run.training {
        RunTraining::Lora(training) => write_adapter(&training.adapter, &config_json, Path::new(&args.out))?,
        RunTraining::Other(training) => write_trained(training, &config_json, Path::new(&args.out))?,
    }
    let held_out: Vec<Value> = run
        .held_out
        .iter()
        .enumerate()
        .map(|(i, e)| serde_json::json!({ "prompt": e.prompt, "expected": e.expected(), "before": before.answers[i], "after": after.answers[i] }))
        .collect();
    println!(
        "{}",
        serde_json::json!({
            "steps": run.step,
            "targets": run.settings.targets.clone().unwrap_or_else(|| default_targets(run.model_type()).to_string()),
            "trainable_parameters": run.trainable_parameters(),
            "base_parameters": run.base_parameters(),
            "first_train_loss": losses.first(),
            "last_train_loss": losses.last(),
            "held_out_loss_before": before.loss,
            "held_out_loss_after": after.loss,
            "held_out_correct_before": before.correct,
            "held_out_correct_after": after.correct,
            "held_out": held_out,
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
