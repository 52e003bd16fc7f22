//! `llmlab mlm-mask` and `llmlab span-corrupt`: one batch of a pre-training
//! objective exactly as the model would see it, printed as
//! `{"input_ids": [[..]], "labels": [[..]]}` (`-100` = not predicted).
//!
//! ```text
//! llmlab mlm-mask --model DIR --ids 2,7,9,3;2,8,3,0 [--seed S | --decisions FILE]
//!     [--mlm-probability 0.15] [--mask-replace-prob 0.8] [--random-replace-prob 0.1]
//! llmlab span-corrupt --model DIR --ids 5,6,7,8,9 (--noise-mask 0,1,1,0,0 | --seed S)
//!     [--noise-density 0.15] [--mean-span 3]
//! ```
//!
//! `DIR/tokenizer.json` names the special tokens (never masked), `[MASK]` and
//! the number of ids (random replacements; T5's sentinels count down from
//! the last one); span corruption's EOS is `eos_token_id` of `DIR/config.json`.
//! `--decisions` reads the collator's random draws from a JSON file
//! (`{"masked","replaced","random": [[u32 uniforms]], "random_words": [[ids]]}`)
//! instead of drawing them, so that the very same draws can be given to
//! transformers. The logic lives in `llmlab_core::objectives`.

use std::path::Path;

use llmlab_core::models::gradients::parse_rows;
use llmlab_core::objectives::mlm_masking::{mask_tokens, MaskDecisions, MlmConfig};
use llmlab_core::objectives::span_corruption::{random_spans_noise_mask, span_corrupt};
use llmlab_core::objectives::{mask_token_id, special_ids};
use llmlab_core::rng::Rng;
use llmlab_core::tokenizers::Tokenizer;

/// Arguments of `llmlab mlm-mask`.
#[derive(clap::Args)]
pub struct MlmArgs {
    /// Model directory with tokenizer.json.
    #[arg(long)]
    model: String,
    /// Token ids, rows of a batch separated by `;` (equal lengths).
    #[arg(long)]
    ids: String,
    /// Seed of the random draws.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// JSON file with the draws to use instead of drawing them.
    #[arg(long)]
    decisions: Option<String>,
    /// Fraction of non-special tokens selected.
    #[arg(long, default_value_t = 0.15)]
    mlm_probability: f64,
    /// Of the selected, the fraction that becomes [MASK].
    #[arg(long, default_value_t = 0.8)]
    mask_replace_prob: f64,
    /// Of the selected, the fraction that becomes a random token.
    #[arg(long, default_value_t = 0.1)]
    random_replace_prob: f64,
}

/// Arguments of `llmlab span-corrupt`.
#[derive(clap::Args)]
pub struct SpanArgs {
    /// Model directory with tokenizer.json and config.json.
    #[arg(long)]
    model: String,
    /// Token ids, rows of a batch separated by `;` (equal lengths).
    #[arg(long)]
    ids: String,
    /// Noise mask with the shape of --ids (1 = hidden); default: drawn with --seed.
    #[arg(long)]
    noise_mask: Option<String>,
    /// Seed of the drawn noise masks.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Fraction of tokens hidden.
    #[arg(long, default_value_t = 0.15)]
    noise_density: f64,
    /// Mean length of a hidden span.
    #[arg(long, default_value_t = 3.0)]
    mean_span: f64,
}

fn tokenizer(dir: &str) -> Result<Tokenizer, String> {
    let path = Path::new(dir).join("tokenizer.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Tokenizer::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn token_rows(text: &str, vocab: usize) -> Result<Vec<Vec<u32>>, String> {
    parse_rows(text, "ids")
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|row| {
            row.into_iter()
                .map(|v| u32::try_from(v).ok().filter(|&id| (id as usize) < vocab).ok_or(format!("ids: {v} is not an id of the {vocab}-token vocabulary")))
                .collect()
        })
        .collect()
}

/// Runs `llmlab mlm-mask`.
pub fn run_mlm(args: MlmArgs) -> Result<(), String> {
    let tok = tokenizer(&args.model)?;
    let vocab = tok.vocab_size();
    let ids = token_rows(&args.ids, vocab)?;
    let specials = special_ids(&tok);
    let special: Vec<Vec<bool>> = ids.iter().map(|r| r.iter().map(|id| specials.contains(id)).collect()).collect();
    let decisions = match &args.decisions {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| format!("{file}: {e}"))?;
            serde_json::from_str::<MaskDecisions>(&text).map_err(|e| format!("{file}: {e}"))?
        }
        None => MaskDecisions::draw(&mut Rng::new(args.seed), ids.len(), ids.first().map_or(0, Vec::len), vocab),
    };
    let config = MlmConfig {
        mlm_probability: args.mlm_probability,
        mask_replace_prob: args.mask_replace_prob,
        random_replace_prob: args.random_replace_prob,
    };
    let batch = mask_tokens(&ids, &special, &decisions, mask_token_id(&tok).map_err(|e| e.to_string())?, &config)
        .map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string(&batch).map_err(|e| e.to_string())?);
    Ok(())
}

/// Runs `llmlab span-corrupt`.
pub fn run_span(args: SpanArgs) -> Result<(), String> {
    let tok = tokenizer(&args.model)?;
    let vocab = tok.vocab_size();
    let config_path = Path::new(&args.model).join("config.json");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(&config_path).map_err(|e| format!("{}: {e}", config_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", config_path.display()))?;
    let eos = config["eos_token_id"].as_u64().and_then(|v| u32::try_from(v).ok()).ok_or("config.json has no eos_token_id")?;
    let ids = token_rows(&args.ids, vocab)?;
    let noise: Vec<Vec<bool>> = match &args.noise_mask {
        Some(text) => parse_rows(text, "noise_mask")
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|row| row.into_iter().map(|v| match v {
                0 | 1 => Ok(v == 1),
                _ => Err(format!("noise_mask: {v} is not 0 or 1")),
            }).collect())
            .collect::<Result<_, _>>()?,
        None => {
            let mut rng = Rng::new(args.seed);
            ids.iter()
                .map(|r| random_spans_noise_mask(r.len(), args.noise_density, args.mean_span, &mut rng))
                .collect::<Result<_, _>>()
                .map_err(|e| e.to_string())?
        }
    };
    let batch = span_corrupt(&ids, &noise, vocab, eos).map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string(&batch).map_err(|e| e.to_string())?);
    Ok(())
}
