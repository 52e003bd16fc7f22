//! `llmlab score bleu`: sacrebleu's `corpus_bleu` / `sentence_bleu`.

use std::path::PathBuf;

use llmlab_core::metrics::bleu::{corpus_bleu, sentence_bleus, BleuConfig, BleuScore, SmoothMethod};
use llmlab_core::metrics::bleu_tokenizers::BleuTokenizer;
use serde_json::json;

use super::{print_lines, read_text, split_segments};

/// Arguments of `llmlab score bleu`.
#[derive(clap::Args)]
pub struct Args {
    /// Hypotheses, one segment per line.
    #[arg(long)]
    hyp: PathBuf,
    /// References, one segment per line; repeat for several references.
    #[arg(long = "ref", required = true)]
    refs: Vec<PathBuf>,
    /// Tokenizer: 13a, none, intl, char or zh.
    #[arg(long, default_value = "13a")]
    tokenize: String,
    /// Smoothing: exp, floor, add-k or none.
    #[arg(long, default_value = "exp")]
    smooth_method: String,
    /// Smoothing value for floor (default 0.1) and add-k (default 1).
    #[arg(long)]
    smooth_value: Option<f64>,
    /// Case-insensitive BLEU.
    #[arg(long)]
    lowercase: bool,
    /// One sentence BLEU (effective order on) per hypothesis line, as JSON lines.
    #[arg(long)]
    sentence: bool,
}

/// The JSON object of one score.
fn to_json(score: &BleuScore) -> serde_json::Value {
    json!({
        "score": score.score,
        "counts": score.counts,
        "totals": score.totals,
        "precisions": score.precisions,
        "bp": score.bp,
        "ratio": score.ratio,
        "hyp_len": score.hyp_len,
        "ref_len": score.ref_len,
    })
}

/// Scores the files and prints the JSON.
pub fn run(args: Args) -> Result<(), String> {
    let tokenizer: BleuTokenizer = args.tokenize.parse().map_err(|e| format!("{e}"))?;
    let smooth_method: SmoothMethod = args.smooth_method.parse().map_err(|e| format!("{e}"))?;
    let config = BleuConfig {
        tokenizer,
        lowercase: args.lowercase,
        smooth_method,
        smooth_value: args.smooth_value,
        effective_order: args.sentence,
    };
    let hyp_text = read_text(&args.hyp)?;
    let ref_texts = args.refs.iter().map(|p| read_text(p)).collect::<Result<Vec<_>, _>>()?;
    let hyps = split_segments(&hyp_text);
    let refs: Vec<Vec<&str>> = ref_texts.iter().map(|t| split_segments(t)).collect();
    if args.sentence {
        let scores = sentence_bleus(&hyps, &refs, &config).map_err(|e| e.to_string())?;
        print_lines(scores.iter().map(to_json))
    } else {
        let score = corpus_bleu(&hyps, &refs, &config).map_err(|e| e.to_string())?;
        print_lines([to_json(&score)])
    }
}
