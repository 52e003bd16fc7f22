//! `llmlab bench-tokenize --tokenizer tokenizer.json --text FILE [--whole] [--repeat N]`
//!
//! Encode throughput in MB/s on one thread. By default every line is one
//! `encode` call (like a batch of documents); `--whole` encodes the file as
//! a single string (used for the adversarial growth curve).

use std::time::Instant;

/// Arguments of `llmlab bench-tokenize`.
#[derive(clap::Args)]
pub struct Args {
    /// Path to an HF tokenizer.json.
    #[arg(long)]
    tokenizer: String,
    /// Text file to encode.
    #[arg(long)]
    text: String,
    /// Encode the whole file as one string instead of line by line.
    #[arg(long)]
    whole: bool,
    /// Repeat the measurement and keep the best run.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// Measure and print `{"mb_per_s":..,"bytes":..,"tokens":..,"seconds":..}`.
pub fn run(args: Args) -> Result<(), String> {
    let tokenizer = super::tokenize::load(&args.tokenizer)?;
    let text = std::fs::read_to_string(&args.text).map_err(|e| format!("cannot read {}: {e}", args.text))?;
    let pieces: Vec<&str> = if args.whole { vec![text.as_str()] } else { text.split_inclusive('\n').collect() };
    let mut best = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..args.repeat.max(1) {
        let start = Instant::now();
        tokens = 0;
        for p in &pieces {
            tokens += tokenizer.encode(p, false).map_err(|e| e.to_string())?.len();
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    let mb = text.len() as f64 / 1e6;
    println!(
        "{}",
        serde_json::json!({"mb_per_s": mb / best, "bytes": text.len(), "tokens": tokens, "seconds": best})
    );
    Ok(())
}
