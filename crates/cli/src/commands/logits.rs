//! `llmlab logits --model DIR [--adapter ADIR] (--ids 1,2,3 | --text T) [--decoder-ids ..] [--all-positions]`:
//! runs a checkpoint once and prints `{"logits": [[..], ..]}` (one row per
//! position; by default only the last). For T5 the logits are the
//! decoder's; `--decoder-ids` defaults to `[decoder_start_token_id]`.
//! `DIR` holds `config.json` + `model.safetensors` (or a sharded index), or
//! is a llama2.c `.bin` file. With `--adapter` (a peft LoRA or prefix-tuning
//! directory, or a bottleneck adapter, told apart by `peft_type`) the logits
//! are the adapted model's (`PeftModel`'s for peft's types). With `--router-logits` (a mixture of
//! experts: Mixtral, Qwen2-MoE) the output also has `"router_logits"`: for
//! each sparse layer, the router's logits `(T, E)` at every position, as
//! transformers' `output_router_logits=True` returns them.
//! A `.gguf` file runs with its block-quantized matrices kept quantized;
//! `--activations f32` multiplies them with f32 activations (the logits of
//! the dequantized model), `q8` (the default) quantizes activations to Q8_0
//! for integer dot products in decode.

use super::adapter::Adapter;
use llmlab_core::loading::fs::{load_checkpoint_with_options, Checkpoint, LoadOptions};
use llmlab_core::nn::linear::Activations;
use llmlab_core::models::{self, AnyModel};
use ndarray::{Array2, Axis};
use std::path::Path;

/// Arguments of `llmlab logits`.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (config.json + safetensors) or llama2.c .bin file.
    #[arg(long)]
    model: String,
    /// Comma-separated input token ids.
    #[arg(long, conflicts_with = "text")]
    ids: Option<String>,
    /// Input text, tokenized with DIR/tokenizer.json (special tokens added).
    #[arg(long)]
    text: Option<String>,
    /// Comma-separated decoder input ids (encoder-decoder models only).
    #[arg(long)]
    decoder_ids: Option<String>,
    /// Print logits for every position instead of only the last.
    #[arg(long)]
    all_positions: bool,
    /// Adapter directory (peft LoRA or prefix tuning, or bottleneck) applied to the model.
    #[arg(long)]
    adapter: Option<String>,
    /// Also print each mixture-of-experts layer's router logits (every position).
    #[arg(long)]
    router_logits: bool,
    /// Activations against quantized GGUF weights: q8 (integer dot products) or f32 (the dequantized model's logits).
    #[arg(long, default_value = "q8")]
    activations: String,
}

/// Parses `--activations`.
pub fn parse_activations(name: &str) -> Result<Activations, String> {
    Activations::from_name(name).ok_or_else(|| format!("unknown --activations '{name}' (f32 or q8)"))
}

/// Loads whatever model `path` holds, its safetensors memory-mapped; a GGUF
/// file's quantized matrices stay quantized (default activations).
pub fn load_model(path: &Path) -> Result<AnyModel, String> {
    load_model_with(path, LoadOptions::quantized(Activations::default()))
}

/// [`load_model`] with `options`.
pub fn load_model_with(path: &Path, options: LoadOptions) -> Result<AnyModel, String> {
    match load_checkpoint_with_options(path, &crate::mmap::map_file, options).map_err(|e| e.to_string())? {
        Checkpoint::HuggingFace { config_json, store } => models::load(&config_json, &store).map_err(|e| e.to_string()),
        Checkpoint::Llama2c(bytes) => {
            Ok(AnyModel::Causal(Box::new(models::llama2c::load(&bytes).map_err(|e| e.to_string())?)))
        }
    }
}

/// Parses `1,2,3`.
pub fn parse_ids(text: &str) -> Result<Vec<u32>, String> {
    text.split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().map_err(|_| format!("'{s}' is not a token id")))
        .collect()
}

fn tokenize(model_path: &Path, text: &str) -> Result<(Vec<u32>, Vec<u32>), String> {
    let dir = if model_path.is_dir() { model_path.to_path_buf() } else { model_path.parent().unwrap_or(Path::new(".")).to_path_buf() };
    let tokenizer_path = dir.join("tokenizer.json");
    let json = std::fs::read_to_string(&tokenizer_path)
        .map_err(|e| format!("--text needs {} ({e}); pass --ids instead", tokenizer_path.display()))?;
    let tokenizer = llmlab_core::tokenizers::Tokenizer::from_json(&json).map_err(|e| e.to_string())?;
    let encoding = tokenizer.encode(text, true).map_err(|e| e.to_string())?;
    Ok((encoding.ids, encoding.type_ids))
}

/// Runs `args` and prints the logits.
pub fn run(args: Args) -> Result<(), String> {
    let path = Path::new(&args.model);
    let (ids, type_ids) = match (&args.ids, &args.text) {
        (Some(ids), _) => (parse_ids(ids)?, Vec::new()),
        (None, Some(text)) => tokenize(path, text)?,
        (None, None) => return Err("pass --ids or --text".into()),
    };
    if ids.is_empty() {
        return Err("the input has no tokens".into());
    }
    let model = match &args.adapter {
        Some(adapter) => match super::adapter::read(Path::new(adapter))? {
            Adapter::Lora(_) => {
                let (config_json, store) = super::lora::load_adapted(path, Path::new(adapter))?;
                models::load(&config_json, &store).map_err(|e| e.to_string())?
            }
            other => {
                if args.router_logits {
                    return Err("--router-logits: prefix and bottleneck adapters run on GPT-2 or Llama, which have no router".into());
                }
                let (config_json, store) = super::lora::read_checkpoint(path)?;
                let logits = match other {
                    Adapter::PrefixTuning(prefix) => prefix.logits(&config_json, &store, &[ids], None),
                    Adapter::Bottleneck(bottleneck) => bottleneck.logits(&config_json, &store, &[ids], None),
                    Adapter::Lora(_) => unreachable!("matched above"),
                }
                .map_err(|e| e.to_string())?; // (T, V)
                print_logits(&logits, args.all_positions);
                return Ok(());
            }
        },
        None => load_model_with(path, LoadOptions::quantized(parse_activations(&args.activations)?))?,
    };
    let router_layers = match &model {
        AnyModel::Causal(m) if args.router_logits => m.router_logits(&ids).map_err(|e| e.to_string())?,
        _ => Vec::new(),
    };
    let logits: Array2<f32> = match &model {
        AnyModel::Causal(m) => m.forward(&ids, None).map_err(|e| e.to_string())?,
        AnyModel::Masked(m) => {
            let types = if type_ids.len() == ids.len() { Some(vec![type_ids]) } else { None };
            let out = m.forward_batch(&[ids], types.as_deref(), None).map_err(|e| e.to_string())?;
            out.index_axis_move(Axis(0), 0)
        }
        AnyModel::Seq2Seq(m) => {
            let decoder_ids = match &args.decoder_ids {
                Some(d) => parse_ids(d)?,
                None => vec![m.decoder_start_token_id()],
            };
            if decoder_ids.is_empty() {
                return Err("--decoder-ids is empty".into());
            }
            let encoded = m.encode(&[ids], None).map_err(|e| e.to_string())?;
            let out = m.decode(&[decoder_ids], &encoded, None).map_err(|e| e.to_string())?;
            out.index_axis_move(Axis(0), 0)
        }
    };
    if !args.router_logits {
        print_logits(&logits, args.all_positions);
        return Ok(());
    }
    let rows = logit_rows(&logits, args.all_positions);
    if router_layers.is_empty() {
        return Err(format!("--router-logits: '{}' has no mixture-of-experts layer", model.model_type()));
    }
    let router: Vec<Vec<Vec<f32>>> =
        router_layers.iter().map(|layer| layer.axis_iter(Axis(0)).map(|r| r.to_vec()).collect()).collect(); // (L, T, E)
    println!("{}", serde_json::json!({ "logits": rows, "router_logits": router }));
    Ok(())
}

/// The rows printed: every position's, or only the last.
fn logit_rows(logits: &Array2<f32>, all_positions: bool) -> Vec<Vec<f32>> {
    if all_positions {
        logits.axis_iter(Axis(0)).map(|r| r.to_vec()).collect()
    } else {
        logits.axis_iter(Axis(0)).last().map(|r| vec![r.to_vec()]).unwrap_or_default()
    }
}

/// Prints `{"logits": rows}` for `logits: (T, V)`.
fn print_logits(logits: &Array2<f32>, all_positions: bool) {
    println!("{}", serde_json::json!({ "logits": logit_rows(logits, all_positions) }));
}
