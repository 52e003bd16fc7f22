//! `llmlab score rouge`: rouge-score's `RougeScorer(types, use_stemmer)
//! .score(target, prediction)` for every line of a JSON Lines file.
//!
//! Output: `{"per_line":[{"rouge1":{"precision":..,"recall":..,"fmeasure":..},..},..],"mean":{..}}`
//! where `mean` is the arithmetic mean of each value over the lines. The
//! per-line objects are streamed as they are computed.

use std::io::Write;
use std::path::PathBuf;

use llmlab_core::metrics::rouge::{RougeScore, RougeScorer, RougeType};

use super::read_text;

/// Arguments of `llmlab score rouge`.
#[derive(clap::Args)]
pub struct Args {
    /// One `{"target": "...", "prediction": "..."}` object per line.
    #[arg(long)]
    jsonl: PathBuf,
    /// Comma-separated ROUGE types: rouge1..rouge9, rougeL, rougeLsum.
    #[arg(long, default_value = "rouge1,rouge2,rougeL,rougeLsum")]
    types: String,
    /// Porter-stem tokens longer than 3 characters (NLTK's stemmer).
    #[arg(long)]
    stem: bool,
}

/// One input line (borrowing the text when it has no JSON escapes).
#[derive(serde::Deserialize)]
struct Pair<'a> {
    #[serde(borrow)]
    target: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    prediction: std::borrow::Cow<'a, str>,
}

/// Writes `"name":{"precision":p,"recall":r,"fmeasure":f}`, the floats in
/// serde_json's shortest round-trip form. `prefix` is `"name":{"precision":`
/// (made once per type, not formatted per line).
fn write_score(out: &mut impl Write, prefix: &[u8], score: &RougeScore) -> std::io::Result<()> {
    out.write_all(prefix)?;
    serde_json::to_writer(&mut *out, &score.precision)?;
    out.write_all(b",\"recall\":")?;
    serde_json::to_writer(&mut *out, &score.recall)?;
    out.write_all(b",\"fmeasure\":")?;
    serde_json::to_writer(&mut *out, &score.fmeasure)?;
    out.write_all(b"}")
}

/// Scores every pair and prints per-line scores and their means.
pub fn run(args: Args) -> Result<(), String> {
    let mut types: Vec<RougeType> = Vec::new();
    for name in args.types.split(',') {
        let rouge_type = name.trim().parse::<RougeType>().map_err(|e| e.to_string())?;
        // rouge-score returns a dict: a repeated type appears once.
        if !types.contains(&rouge_type) {
            types.push(rouge_type);
        }
    }
    let names: Vec<Vec<u8>> = types.iter().map(|t| format!("\"{t}\":{{\"precision\":").into_bytes()).collect();
    let text = read_text(&args.jsonl)?;
    let mut scorer = RougeScorer::new(types.clone(), args.stem);
    let mut sums = vec![[0.0f64; 3]; types.len()];
    let mut lines = 0usize;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let io = |e: std::io::Error| e.to_string();
    out.write_all(b"{\"per_line\":[").map_err(io)?;
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let pair: Pair = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", number + 1))?;
        let scores = scorer.score(&pair.target, &pair.prediction);
        out.write_all(if lines == 0 { b"{" } else { b",{" }).map_err(io)?;
        for (k, ((name, score), sum)) in names.iter().zip(&scores).zip(sums.iter_mut()).enumerate() {
            if k > 0 {
                out.write_all(b",").map_err(io)?;
            }
            write_score(&mut out, name, score).map_err(io)?;
            sum[0] += score.precision;
            sum[1] += score.recall;
            sum[2] += score.fmeasure;
        }
        out.write_all(b"}").map_err(io)?;
        lines += 1;
    }
    out.write_all(b"],\"mean\":{").map_err(io)?;
    if lines > 0 {
        let count = lines as f64;
        for (k, (name, sum)) in names.iter().zip(&sums).enumerate() {
            if k > 0 {
                out.write_all(b",").map_err(io)?;
            }
            let mean = RougeScore { precision: sum[0] / count, recall: sum[1] / count, fmeasure: sum[2] / count };
            write_score(&mut out, name, &mean).map_err(io)?;
        }
    }
    out.write_all(b"}}\n").map_err(io)?;
    out.flush().map_err(io)
}
