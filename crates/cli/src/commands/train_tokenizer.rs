//! `llmlab train-tokenizer --model bpe|wordpiece|unigram --vocab-size N
//!  [--min-frequency F] [--special-tokens a,b] --output tokenizer.json FILE...`
//!
//! Trains with HF's default pipeline for the family (bpe: GPT-2 byte-level;
//! wordpiece: BERT uncased; unigram: SentencePiece `▁` Metaspace), reading
//! the files line by line with their line endings as HF's `train(files)` does,
//! and writes an HF-loadable tokenizer.json. Also spelled `tokenize-train`
//! with `--corpus FILE` / `--out PATH`.

use llmlab_core::tokenizers::trainers::{add_bert_processor, default_pipeline};

/// Arguments of `llmlab train-tokenizer`.
#[derive(clap::Args)]
pub struct Args {
    /// Model family: bpe, wordpiece or unigram.
    #[arg(long)]
    model: String,
    /// Target vocabulary size (special tokens included).
    #[arg(long)]
    vocab_size: usize,
    /// Minimum pair frequency for a merge (BPE / WordPiece).
    #[arg(long, default_value_t = 0)]
    min_frequency: u64,
    /// Comma-separated special tokens, put first in the vocabulary.
    #[arg(long, default_value = "")]
    special_tokens: String,
    /// Where to write tokenizer.json.
    #[arg(long, alias = "out")]
    output: String,
    /// Training text file(s) (also accepted as `--corpus FILE`).
    #[arg(long = "corpus")]
    corpus: Vec<String>,
    /// Training text files.
    files: Vec<String>,
}

/// Train and save.
pub fn run(args: Args) -> Result<(), String> {
    let mut specials: Vec<String> =
        args.special_tokens.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect();
    if args.model == "unigram" && specials.is_empty() {
        // Without an unknown token a Unigram model cannot encode unseen chars.
        specials.push("<unk>".to_string());
    }
    if args.model == "wordpiece" && specials.is_empty() {
        specials.push("[UNK]".to_string());
    }
    let files: Vec<&String> = args.corpus.iter().chain(args.files.iter()).collect();
    if files.is_empty() {
        return Err("no training file given".into());
    }
    let mut texts = Vec::with_capacity(files.len());
    for f in &files {
        texts.push(std::fs::read_to_string(f).map_err(|e| format!("cannot read {f}: {e}"))?);
    }
    let (mut tok, spec) =
        default_pipeline(&args.model, args.vocab_size, args.min_frequency, specials).map_err(|e| e.to_string())?;
    let lines = texts.iter().flat_map(|t| t.split_inclusive('\n'));
    tok.train(lines, &spec).map_err(|e| e.to_string())?;
    if args.model == "wordpiece" {
        add_bert_processor(&mut tok);
    }
    std::fs::write(&args.output, tok.to_json()).map_err(|e| format!("cannot write {}: {e}", args.output))?;
    println!("{}", serde_json::json!({ "output": args.output, "vocab_size": tok.vocab_size(), "model": args.model }));
    Ok(())
}
