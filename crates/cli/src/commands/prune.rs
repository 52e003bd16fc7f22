//! `llmlab prune --model DIR --method l1-unstructured|global-l1|ln-structured|heads|neurons --amount X [--n N --dim D] --out DIR`:
//! prunes a GPT-2 or Llama checkpoint as `torch.nn.utils.prune` would
//! (masks identical, ties included) or removes whole heads / FFN neurons,
//! and writes a Hugging Face checkpoint: `model.safetensors` (f32; pruned
//! weights zeroed, or removed for heads/neurons), `config.json` (sizes
//! rewritten when the matrices shrink) and the directory's other files
//! (tokenizer, generation config) copied as they are.
//!
//! `--amount` follows Python's types: `3` is a count, `0.3` (or `1.0`) a
//! fraction of the units (weights, channels, heads per layer, neurons per
//! layer), rounded half-to-even as torch does. `--n` is the norm order of
//! `ln-structured` (a number, `inf`, `-inf`, `fro`; default 2) and `--dim`
//! the channel dimension of the stored tensor (default 0; GPT-2's Conv1D
//! weights are stored `(in, out)`). Prints the achieved sparsity and sizes
//! as JSON. The algorithms live in `llmlab_core::pruning`.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::pruning::{prune_checkpoint, Amount, Method};
use std::fs;
use std::path::Path;

/// Arguments of `llmlab prune`.
#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face model directory (GPT-2 or Llama).
    #[arg(long)]
    model: String,
    /// l1-unstructured, global-l1, ln-structured, heads or neurons.
    #[arg(long)]
    method: String,
    /// How much to prune: an integer count (`3`) or a fraction (`0.3`).
    #[arg(long)]
    amount: String,
    /// ln-structured: the norm order (number, inf, -inf, fro).
    #[arg(long, allow_hyphen_values = true)]
    n: Option<String>,
    /// ln-structured: the channel dimension of each stored weight (negative counts from the end).
    #[arg(long, allow_hyphen_values = true)]
    dim: Option<i64>,
    /// Output directory for the pruned checkpoint.
    #[arg(long)]
    out: String,
}

/// Runs `args`.
pub fn run(args: Args) -> Result<(), String> {
    let model = Path::new(&args.model);
    let (config_json, store) = match load_checkpoint(model).map_err(|e| e.to_string())? {
        Checkpoint::HuggingFace { config_json, store } => (config_json, store),
        Checkpoint::Llama2c(_) => return Err("prune needs a Hugging Face checkpoint directory, not a llama2.c .bin".into()),
    };
    if (args.n.is_some() || args.dim.is_some()) && args.method != "ln-structured" {
        return Err("--n and --dim only apply to --method ln-structured".into());
    }
    let method = Method::parse(&args.method, args.n.as_deref(), args.dim).map_err(|e| e.to_string())?;
    let amount = Amount::parse(&args.amount).map_err(|e| e.to_string())?;
    let pruned = prune_checkpoint(&config_json, &store, method, amount).map_err(|e| e.to_string())?;
    let views: Vec<(String, Vec<usize>, &[f32])> = pruned.tensors.iter().map(|t| (t.name.clone(), t.shape.clone(), &t.data[..])).collect();
    let bytes = llmlab_core::train::checkpoint::write_tensors(&views).map_err(|e| e.to_string())?;
    let out = Path::new(&args.out);
    fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for entry in fs::read_dir(model).map_err(|e| format!("cannot list {}: {e}", model.display()))? {
        let path = entry.map_err(|e| e.to_string())?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let is_weights = name.ends_with(".safetensors") || name == "model.safetensors.index.json" || name == "config.json";
        if path.is_file() && !is_weights {
            fs::copy(&path, out.join(name)).map_err(|e| format!("cannot copy {}: {e}", path.display()))?;
        }
    }
    fs::write(out.join("config.json"), &pruned.config_json).map_err(|e| format!("cannot write config.json: {e}"))?;
    fs::write(out.join("model.safetensors"), bytes).map_err(|e| format!("cannot write model.safetensors: {e}"))?;
    let mut report = pruned.report.to_json();
    if let Some(object) = report.as_object_mut() {
        object.insert("method".into(), args.method.clone().into());
        object.insert("amount".into(), args.amount.clone().into());
        object.insert("file_bytes".into(), (views.iter().map(|(_, _, d)| d.len() * 4).sum::<usize>()).into());
        object.insert("out".into(), args.out.clone().into());
    }
    println!("{report}");
    Ok(())
}
