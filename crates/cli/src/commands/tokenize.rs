//! `llmlab tokenize --tokenizer tokenizer.json [--no-special-tokens] [--pair TEXT] < text`
//!
//! Encodes the whole of stdin (exact bytes, trailing newline included) and
//! prints `{"ids":[..],"tokens":[..],"offsets":[[start,end],..]}` with
//! character offsets, like Python `tokenizers`' `encode`.

use llmlab_core::tokenizers::{Encoding, Tokenizer};
use std::io::Read;

/// Arguments of `llmlab tokenize`.
#[derive(clap::Args)]
pub struct Args {
    /// Path to an HF tokenizer.json.
    #[arg(long)]
    tokenizer: String,
    /// Do not add the post-processor's special tokens ([CLS], <s>...).
    #[arg(long)]
    no_special_tokens: bool,
    /// Second sentence of a pair (then `type_ids` is printed too). May start with `-`.
    #[arg(long, allow_hyphen_values = true)]
    pair: Option<String>,
}

/// Loads a tokenizer.json file.
pub fn load(path: &str) -> Result<Tokenizer, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    Tokenizer::from_json(&text).map_err(|e| format!("{path}: {e}"))
}

/// The JSON line for an encoding, keys in the documented order.
pub fn encoding_json(enc: &Encoding, with_type_ids: bool) -> String {
    let offsets: Vec<[usize; 2]> = enc.offsets.iter().map(|&(s, e)| [s, e]).collect();
    let mut out = format!(
        "{{\"ids\":{},\"tokens\":{},\"offsets\":{}",
        serde_json::to_string(&enc.ids).unwrap_or_default(),
        serde_json::to_string(&enc.tokens).unwrap_or_default(),
        serde_json::to_string(&offsets).unwrap_or_default()
    );
    if with_type_ids {
        out.push_str(&format!(",\"type_ids\":{}", serde_json::to_string(&enc.type_ids).unwrap_or_default()));
    }
    out.push('}');
    out
}

/// Encode stdin and print the JSON.
pub fn run(args: Args) -> Result<(), String> {
    let tokenizer = load(&args.tokenizer)?;
    let mut bytes = Vec::new();
    std::io::stdin().read_to_end(&mut bytes).map_err(|e| format!("cannot read stdin: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| "stdin is not valid UTF-8".to_string())?;
    let add_special = !args.no_special_tokens;
    let enc = match &args.pair {
        Some(pair) => tokenizer.encode_pair(&text, pair, add_special),
        None => tokenizer.encode(&text, add_special),
    }
    .map_err(|e| e.to_string())?;
    println!("{}", encoding_json(&enc, args.pair.is_some()));
    Ok(())
}
