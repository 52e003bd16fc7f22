//! `llmlab score rouge`: rouge-score's `RougeScorer(types, use_stemmer)
//! .score(target, prediction)` for every line of a JSON Lines file.

use std::path::PathBuf;

use llmlab_core::metrics::rouge::{RougeScore, RougeScorer, RougeType};
use serde_json::{json, Map, Value};

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

/// One input line.
#[derive(serde::Deserialize)]
struct Pair {
    target: String,
    prediction: String,
}

fn score_json(score: &RougeScore) -> Value {
    json!({ "precision": score.precision, "recall": score.recall, "fmeasure": score.fmeasure })
}

/// Scores every pair and prints per-line scores and their means.
pub fn run(args: Args) -> Result<(), String> {
    let types = args
        .types
        .split(',')
        .map(|name| name.trim().parse::<RougeType>().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let text = read_text(&args.jsonl)?;
    let mut scorer = RougeScorer::new(types.clone(), args.stem);
    let mut per_line = Vec::new();
    let mut sums = vec![[0.0f64; 3]; types.len()];
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let pair: Pair = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", number + 1))?;
        let scores = scorer.score(&pair.target, &pair.prediction);
        let mut object = Map::new();
        for ((rouge_type, score), sum) in types.iter().zip(&scores).zip(sums.iter_mut()) {
            object.insert(rouge_type.to_string(), score_json(score));
            sum[0] += score.precision;
            sum[1] += score.recall;
            sum[2] += score.fmeasure;
        }
        per_line.push(Value::Object(object));
    }
    let mut mean = Map::new();
    if !per_line.is_empty() {
        let count = per_line.len() as f64;
        for (rouge_type, sum) in types.iter().zip(&sums) {
            let average = RougeScore { precision: sum[0] / count, recall: sum[1] / count, fmeasure: sum[2] / count };
            mean.insert(rouge_type.to_string(), score_json(&average));
        }
    }
    super::print_lines([json!({ "per_line": per_line, "mean": mean })])
}
