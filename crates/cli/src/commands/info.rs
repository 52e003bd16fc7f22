//! `llmlab info --model DIR`: the checkpoint's config and its parameter
//! counts (embeddings, attention, FFN, norms, head), as JSON. Also checks
//! that the weights load, and reports how many values they hold.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::models::{self, llama2c, params};
use std::path::Path;

/// Arguments of `llmlab info`.
#[derive(clap::Args)]
pub struct Args {
    /// Model directory (config.json + safetensors) or llama2.c .bin file.
    #[arg(long)]
    model: String,
}

/// Prints the config and parameter breakdown.
pub fn run(args: Args) -> Result<(), String> {
    let (config_json, stored) = match load_checkpoint(Path::new(&args.model)).map_err(|e| e.to_string())? {
        Checkpoint::HuggingFace { config_json, store } => {
            models::load(&config_json, &store).map_err(|e| e.to_string())?;
            let stored: usize = store.tensors.values().map(|t| t.shape.iter().product::<usize>()).sum();
            (config_json, stored)
        }
        Checkpoint::Llama2c(bytes) => {
            let model = llama2c::load(&bytes).map_err(|e| e.to_string())?;
            let c = &model.config;
            let json = serde_json::json!({
                "model_type": "llama", "vocab_size": c.vocab_size, "hidden_size": c.hidden_size,
                "intermediate_size": c.intermediate_size, "num_hidden_layers": c.num_hidden_layers,
                "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
                "max_position_embeddings": c.max_position_embeddings, "rms_norm_eps": c.rms_norm_eps,
                "tie_word_embeddings": c.tie_word_embeddings,
            });
            (json.to_string(), 0)
        }
    };
    let (family, breakdown) = params::from_config_json(&config_json).map_err(|e| e.to_string())?;
    let config: serde_json::Value = serde_json::from_str(&config_json).map_err(|e| e.to_string())?;
    let mut out = serde_json::json!({
        "model_type": family,
        "config": config,
        "parameters": {
            "embeddings": breakdown.embeddings,
            "attention": breakdown.attention,
            "ffn": breakdown.ffn,
            "norms": breakdown.norms,
            "head": breakdown.head,
            "total": breakdown.total(),
        },
    });
    if stored > 0 {
        out["stored_values"] = serde_json::json!(stored);
    }
    println!("{out}");
    Ok(())
}
