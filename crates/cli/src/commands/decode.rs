//! `llmlab decode --tokenizer tokenizer.json --ids 1,2,3 [--keep-special-tokens]`
//!
//! Prints `{"text":".."}`; special tokens are skipped by default, as HF's `decode`.

/// Arguments of `llmlab decode`.
#[derive(clap::Args)]
pub struct Args {
    /// Path to an HF tokenizer.json.
    #[arg(long)]
    tokenizer: String,
    /// Comma-separated token ids.
    #[arg(long, allow_hyphen_values = true)]
    ids: String,
    /// Keep special tokens in the text.
    #[arg(long)]
    keep_special_tokens: bool,
}

/// Decode and print.
pub fn run(args: Args) -> Result<(), String> {
    let tokenizer = super::tokenize::load(&args.tokenizer)?;
    let ids: Vec<u32> = args
        .ids
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().map_err(|_| format!("invalid id `{s}`")))
        .collect::<Result<_, _>>()?;
    let text = tokenizer.decode(&ids, !args.keep_special_tokens);
    println!("{}", serde_json::json!({ "text": text }));
    Ok(())
}
