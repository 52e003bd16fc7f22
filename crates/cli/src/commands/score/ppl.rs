//! `llmlab score ppl --model DIR --text FILE [--max-length N] [--stride S]`:
//! perplexity of a text file under a causal LM with HF's sliding-window
//! method (see `llmlab_core::metrics::perplexity`). The text is tokenized
//! with `DIR/tokenizer.json`, special tokens added as HF's `tokenizer(text)`
//! does. Prints `{"ppl":..,"nll":..,"tokens":..,"bits_per_char":..}`, `nll`
//! being the mean NLL (nats) per scored token.

use llmlab_core::metrics::perplexity::perplexity;
use llmlab_core::models::AnyModel;
use std::path::{Path, PathBuf};

use crate::commands::logits::load_model;

/// Arguments of `llmlab score ppl`.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (config.json + safetensors + tokenizer.json).
    #[arg(long)]
    model: PathBuf,
    /// UTF-8 text file, scored as one sequence.
    #[arg(long)]
    text: PathBuf,
    /// Window length; defaults to the model's context (1024 if it has no limit).
    #[arg(long)]
    max_length: Option<usize>,
    /// Step between window starts; defaults to max_length (no overlap).
    #[arg(long)]
    stride: Option<usize>,
}

/// Runs `args` and prints the JSON object.
pub fn run(args: Args) -> Result<(), String> {
    let text = super::read_text(&args.text)?;
    let dir = if args.model.is_dir() {
        args.model.clone()
    } else {
        args.model.parent().unwrap_or(Path::new(".")).to_path_buf()
    };
    let tokenizer_path = dir.join("tokenizer.json");
    let json = std::fs::read_to_string(&tokenizer_path)
        .map_err(|e| format!("perplexity needs {} ({e})", tokenizer_path.display()))?;
    let tokenizer =
        llmlab_core::tokenizers::Tokenizer::from_json(&json).map_err(|e| e.to_string())?;
    let ids = tokenizer
        .encode(&text, true)
        .map_err(|e| e.to_string())?
        .ids;
    let model = load_model(&args.model)?;
    let AnyModel::Causal(model) = model else {
        return Err("perplexity needs a causal (decoder-only) language model".into());
    };
    let limit = model.max_positions().unwrap_or(1024);
    let max_length = args.max_length.unwrap_or(limit);
    if max_length > limit {
        return Err(format!(
            "--max-length {max_length} exceeds the model's context of {limit} tokens"
        ));
    }
    let stride = args.stride.unwrap_or(max_length);
    let result = perplexity(&ids, max_length, stride, |window| {
        model.forward(window, None)
    })
    .map_err(|e| e.to_string())?;
    let characters = text.chars().count();
    println!(
        "{}",
        serde_json::json!({
            "ppl": result.ppl,
            "nll": result.nll,
            "tokens": result.tokens,
            "bits_per_char": result.bits_per_char(characters),
        })
    );
    Ok(())
}
