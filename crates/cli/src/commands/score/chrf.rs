//! `llmlab score chrf`: sacrebleu's `corpus_chrf` (chrF, or chrF++ with
//! `--word-order 2`).

use std::path::PathBuf;

use llmlab_core::metrics::chrf::{corpus_chrf, sentence_chrfs, ChrfConfig, CHAR_ORDER};
use serde_json::json;

use super::{print_lines, read_text, split_segments};

/// Arguments of `llmlab score chrf`.
#[derive(clap::Args)]
pub struct Args {
    /// Hypotheses, one segment per line.
    #[arg(long)]
    hyp: PathBuf,
    /// References, one segment per line; repeat for several references.
    #[arg(long = "ref", required = true)]
    refs: Vec<PathBuf>,
    /// Word n-gram order: 0 for chrF, 2 for chrF++.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    word_order: u8,
    /// Case-insensitive chrF.
    #[arg(long)]
    lowercase: bool,
    /// One score per hypothesis line, as JSON lines.
    #[arg(long)]
    sentence: bool,
}

/// Scores the files and prints the JSON.
pub fn run(args: Args) -> Result<(), String> {
    let config = ChrfConfig { word_order: usize::from(args.word_order), lowercase: args.lowercase };
    let hyp_text = read_text(&args.hyp)?;
    let ref_texts = args.refs.iter().map(|p| read_text(p)).collect::<Result<Vec<_>, _>>()?;
    let hyps = split_segments(&hyp_text);
    let refs: Vec<Vec<&str>> = ref_texts.iter().map(|t| split_segments(t)).collect();
    let describe = |score: f64| {
        json!({ "score": score, "char_order": CHAR_ORDER, "word_order": config.word_order, "beta": 2 })
    };
    if args.sentence {
        let scores = sentence_chrfs(&hyps, &refs, &config).map_err(|e| e.to_string())?;
        print_lines(scores.into_iter().map(describe))
    } else {
        let score = corpus_chrf(&hyps, &refs, &config).map_err(|e| e.to_string())?;
        print_lines([describe(score)])
    }
}
