//! Protocol of the metrics and perplexity (issue #6) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "evaluate"` tag, e.g.
//! `{"kind":"evaluate","op":"score",...}`.
//!
//! - [`EvaluateRequest::Score`]: corpus BLEU (full breakdown), chrF, chrF++
//!   and ROUGE (per line and mean) of a hypothesis file against one or more
//!   reference files, as `llmlab score` computes them.
//! - [`EvaluateRequest::Align`]: the ROUGE-L longest common subsequence of
//!   one (reference, hypothesis) pair, as pieces of text to highlight.
//! - [`EvaluateRequest::Perplexity`]: perplexity of a text under the loaded
//!   model with HF's sliding window, streaming `Progress` per window.

use serde::{Deserialize, Serialize};

/// Options of a scoring run (the Evaluate tab's settings).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ScoreSettings {
    /// sacrebleu tokenizer: `13a`, `none`, `intl`, `char` or `zh`.
    pub tokenize: String,
    /// BLEU smoothing: `exp`, `floor`, `add-k` or `none`.
    pub smooth_method: String,
    /// Smoothing value; `None` takes sacrebleu's default for the method.
    pub smooth_value: Option<f64>,
    /// Lowercase before BLEU and chrF.
    pub lowercase: bool,
    /// ROUGE types (`rouge1`..`rouge9`, `rougeL`, `rougeLsum`).
    pub rouge_types: Vec<String>,
    /// Porter-stem ROUGE tokens longer than 3 characters.
    pub stem: bool,
}

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EvaluateRequest {
    /// Score a corpus. Texts hold one segment per line (split on `\n`, a
    /// final newline does not start a segment), like the CLI's files.
    Score {
        /// Hypotheses, one per line.
        hypotheses: String,
        /// Reference sets, each with one reference per hypothesis line.
        references: Vec<String>,
        /// Metric options.
        settings: ScoreSettings,
    },
    /// The ROUGE-L alignment of one pair.
    Align {
        /// The reference (rouge-score's `target`).
        target: String,
        /// The hypothesis (rouge-score's `prediction`).
        prediction: String,
        /// Porter-stem tokens as the score does.
        stem: bool,
    },
    /// Perplexity of `text` under the loaded model.
    Perplexity {
        /// The text, tokenized with the model's tokenizer.
        text: String,
        /// Window length; 0 takes the model's context.
        max_length: u32,
        /// Step between windows; 0 takes `max_length` (no overlap).
        stride: u32,
    },
}

/// Corpus BLEU with everything sacrebleu reports.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BleuView {
    /// BLEU in `[0, 100]`.
    pub score: f64,
    /// Matched n-grams per order 1..4.
    pub counts: Vec<f64>,
    /// Hypothesis n-grams per order.
    pub totals: Vec<f64>,
    /// Smoothed precisions in percent.
    pub precisions: Vec<f64>,
    /// Brevity penalty.
    pub bp: f64,
    /// `hyp_len / ref_len`.
    pub ratio: f64,
    /// Hypothesis length `c` in tokens.
    pub hyp_len: u64,
    /// Effective reference length `r` (closest reference per segment).
    pub ref_len: u64,
}

/// One ROUGE score.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq)]
pub struct RougeView {
    /// Overlap over the hypothesis' size.
    pub precision: f64,
    /// Overlap over the reference's size.
    pub recall: f64,
    /// Harmonic mean.
    pub fmeasure: f64,
}

/// A stretch of text and whether it is a token of the LCS.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Piece {
    /// The original characters.
    pub text: String,
    /// Part of the longest common subsequence.
    pub lcs: bool,
}

/// One token of the perplexity text with its surprise.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct SurpriseToken {
    /// The token's text.
    pub text: String,
    /// `-log2 p(token | context)`; `None` for the first token and tokens a
    /// stride skips (nothing predicts them).
    pub bits: Option<f64>,
}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum EvaluateResponse {
    /// Answer to [`EvaluateRequest::Score`].
    Scored {
        /// Segments scored.
        lines: usize,
        /// Reference sets used.
        reference_sets: usize,
        /// Corpus BLEU.
        bleu: BleuView,
        /// Corpus chrF (sacrebleu's `CHRF()`).
        chrf: f64,
        /// Corpus chrF++ (`CHRF(word_order=2)`).
        chrf_plus_plus: f64,
        /// ROUGE type names, in the order of the scores below.
        rouge_types: Vec<String>,
        /// Mean over lines of each type's scores (as `llmlab score rouge`).
        rouge_mean: Vec<RougeView>,
        /// Per line, per type (against the first reference set).
        rouge_per_line: Vec<Vec<RougeView>>,
        /// Worker time in milliseconds.
        millis: f64,
    },
    /// Answer to [`EvaluateRequest::Align`].
    Aligned {
        /// The reference cut into pieces.
        target: Vec<Piece>,
        /// The hypothesis cut into pieces.
        prediction: Vec<Piece>,
        /// Length of the LCS in tokens.
        lcs_len: usize,
        /// Tokens of the reference.
        target_tokens: usize,
        /// Tokens of the hypothesis.
        prediction_tokens: usize,
        /// rougeL of the pair.
        score: RougeView,
    },
    /// Answer to [`EvaluateRequest::Perplexity`].
    Perplexity {
        /// `exp(nll)`.
        ppl: f64,
        /// Mean NLL per scored token, in nats.
        nll: f64,
        /// Tokens the mean is over (HF's `n_tokens`).
        tokens: usize,
        /// Total NLL in bits over the text's characters.
        bits_per_char: f64,
        /// Every token with its surprise.
        surprise: Vec<SurpriseToken>,
        /// Windows the model ran on.
        windows: usize,
        /// Window length used.
        max_length: usize,
        /// Stride used.
        stride: usize,
        /// Worker time in milliseconds.
        millis: f64,
    },
}

impl EvaluateResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_tagged_by_op() {
        let request = EvaluateRequest::Perplexity { text: "hi".into(), max_length: 0, stride: 0 };
        let json = serde_json::to_string(&request).unwrap();
        assert_eq!(json, r#"{"op":"perplexity","text":"hi","max_length":0,"stride":0}"#);
        assert_eq!(serde_json::from_str::<EvaluateRequest>(&json).unwrap(), request);
    }
}
