//! `llmlab lora init|merge`: create a LoRA adapter for a checkpoint, or fold
//! one into its weights. The adapter files are peft's
//! (`adapter_config.json`, `adapter_model.safetensors`); everything else
//! (init, merge, the file format) lives in `llmlab_core::adapters::lora`.
//! [`load_adapted`] also serves `llmlab logits --adapter` and
//! `llmlab grad --adapter`.

use std::fs;
use std::path::Path;

use llmlab_core::adapters::lora::{LoraAdapter, LoraConfig, TargetModules, CONFIG_FILE, WEIGHTS_FILE};
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
}

#[derive(clap::Args)]
struct InitArgs {
    /// Hugging Face model directory (GPT-2 or Llama).
    #[arg(long)]
    model: String,
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

fn init(args: InitArgs) -> Result<(), String> {
    let (config_json, store) = read_checkpoint(Path::new(&args.model))?;
    let (model_type, class) = model_type_and_class(&config_json)?;
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
    let adapter = LoraAdapter::init(config, &store, &model_type, &mut Rng::new(args.seed)).map_err(|e| e.to_string())?;
    let (config_text, bytes) = adapter.to_files(&class).map_err(|e| e.to_string())?;
    let out = Path::new(&args.out);
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    fs::write(out.join(CONFIG_FILE), config_text).map_err(|e| format!("cannot write {CONFIG_FILE}: {e}"))?;
    fs::write(out.join(WEIGHTS_FILE), bytes).map_err(|e| format!("cannot write {WEIGHTS_FILE}: {e}"))?;
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

/// Runs `args`.
pub fn run(args: Args) -> Result<(), String> {
    match args.action {
        Action::Init(a) => init(a),
        Action::Merge(a) => merge(a),
    }
}
