//! `llmlab bench-tokenize --tokenizer tokenizer.json --text FILE [--whole] [--repeat N]`
//! `llmlab bench-tokenize --tokenizer tokenizer.json --growth [--text FILE] [--repeat N]`
//!
//! Encode throughput in MB/s on one thread. By default every line is one
//! `encode` call (like a batch of documents); `--whole` encodes the file as
//! a single string. `--growth` prints the growth curve (10 KB, 100 KB, 1 MB,
//! µs per byte, each input one string) for adversarial input: random letters
//! without a space, one repeated char, and (with `--text`) normal text.
//! Linear time shows as a flat µs/byte column.

use llmlab_core::rng::Rng;
use llmlab_core::tokenizers::Tokenizer;
use std::time::Instant;

/// Arguments of `llmlab bench-tokenize`.
#[derive(clap::Args)]
pub struct Args {
    /// Path to an HF tokenizer.json.
    #[arg(long)]
    tokenizer: String,
    /// Text file to encode (for `--growth`: the "normal text" input, repeated to size).
    #[arg(long, required_unless_present = "growth")]
    text: Option<String>,
    /// Encode the whole file as one string instead of line by line.
    #[arg(long)]
    whole: bool,
    /// Print the growth curve on adversarial input instead.
    #[arg(long)]
    growth: bool,
    /// Repeat the measurement and keep the best run.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
}

/// Best time over `repeat` runs of encoding every piece; also the token count.
fn best_seconds(tokenizer: &Tokenizer, pieces: &[&str], repeat: usize) -> Result<(f64, usize), String> {
    let mut best = f64::INFINITY;
    let mut tokens = 0;
    for _ in 0..repeat.max(1) {
        let start = Instant::now();
        tokens = 0;
        for p in pieces {
            tokens += tokenizer.encode(p, false).map_err(|e| e.to_string())?.len();
        }
        best = best.min(start.elapsed().as_secs_f64());
    }
    Ok((best, tokens))
}

/// The first `bytes` bytes of `unit` repeated (cut at a char boundary).
fn repeat_to(unit: &str, bytes: usize) -> String {
    let mut s = unit.repeat(bytes / unit.len().max(1) + 1);
    let mut cut = bytes.min(s.len());
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    s.truncate(cut);
    s
}

/// Measure and print `{"mb_per_s":..,"bytes":..,"tokens":..,"seconds":..}`,
/// or with `--growth` one JSON line per (input, size).
pub fn run(args: Args) -> Result<(), String> {
    let tokenizer = super::tokenize::load(&args.tokenizer)?;
    let text = match &args.text {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?),
        None => None,
    };
    if args.growth {
        return growth(&tokenizer, text.as_deref(), args.repeat);
    }
    let text = text.unwrap_or_default();
    let pieces: Vec<&str> = if args.whole { vec![text.as_str()] } else { text.split_inclusive('\n').collect() };
    let (best, tokens) = best_seconds(&tokenizer, &pieces, args.repeat)?;
    let mb = text.len() as f64 / 1e6;
    println!("{}", serde_json::json!({"mb_per_s": mb / best, "bytes": text.len(), "tokens": tokens, "seconds": best}));
    Ok(())
}

fn growth(tokenizer: &Tokenizer, normal: Option<&str>, repeat: usize) -> Result<(), String> {
    const SIZES: [usize; 3] = [10_000, 100_000, 1_000_000];
    let mut rng = Rng::new(0);
    let letters: String = (0..SIZES[2]).map(|_| char::from(b'a' + rng.below(26) as u8)).collect();
    let mut inputs: Vec<(&str, String)> =
        vec![("random_letters_no_spaces", letters), ("one_repeated_char", "a".repeat(SIZES[2]))];
    if let Some(t) = normal.filter(|t| !t.is_empty()) {
        inputs.push(("normal_text", repeat_to(t, SIZES[2])));
    }
    for (kind, full) in &inputs {
        let mut per_byte = Vec::new();
        for &n in &SIZES {
            let s = repeat_to(full, n);
            let (seconds, tokens) = best_seconds(tokenizer, &[s.as_str()], repeat)?;
            let us_per_byte = seconds * 1e6 / s.len() as f64;
            per_byte.push(us_per_byte);
            println!(
                "{}",
                serde_json::json!({"input": kind, "bytes": s.len(), "tokens": tokens, "seconds": seconds, "us_per_byte": us_per_byte})
            );
        }
        println!("{}", serde_json::json!({"input": kind, "us_per_byte_1mb_over_10kb": per_byte[2] / per_byte[0]}));
    }
    Ok(())
}
