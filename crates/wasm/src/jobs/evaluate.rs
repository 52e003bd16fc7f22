//! Worker jobs of the evaluate area: each request of
//! [`crate::protocol::evaluate`] runs here, off the UI thread.
//!
//! Scoring follows `llmlab score` exactly (same core scorers, same segment
//! splitting), so the tab's numbers are the CLI's and therefore sacrebleu's
//! and rouge-score's. Long corpora are scored in chunks of lines with a
//! checkpoint between chunks; perplexity checkpoints between model windows.
//! Every size is checked before anything is allocated for it.

use crate::protocol::evaluate::{
    BleuView, EvaluateRequest, EvaluateResponse, Piece, RougeView, ScoreSettings, SurpriseToken,
};
use crate::protocol::Response;
use crate::runtime::{checkpoint, now_millis, post, Cancelled};
use llmlab_core::metrics::bleu::{compute_bleu, BleuConfig, BleuScorer, BleuStats, SmoothMethod};
use llmlab_core::metrics::bleu_tokenizers::BleuTokenizer;
use llmlab_core::metrics::chrf::{chrf_f_score, ChrfConfig, ChrfScorer, ChrfStats};
use llmlab_core::metrics::perplexity::{windows, PerplexityAccumulator};
use llmlab_core::metrics::rouge::{self, RougeScore, RougeScorer, RougeToken, RougeType};
use llmlab_core::models::AnyModel;

/// Largest corpus (hypotheses + all references), in bytes.
pub const MAX_CORPUS_BYTES: usize = 64 * 1024 * 1024;
/// Most segments per corpus.
pub const MAX_LINES: usize = 200_000;
/// Most reference sets.
pub const MAX_REFERENCE_SETS: usize = 16;
/// Most ROUGE tokens per text for the alignment view: its LCS table has
/// `(n + 1) * (m + 1)` cells.
pub const MAX_ALIGN_TOKENS: usize = 3000;
/// Longest perplexity text, in characters.
pub const MAX_PERPLEXITY_CHARS: usize = 200_000;
/// Most tokens scored for perplexity.
pub const MAX_PERPLEXITY_TOKENS: usize = 50_000;
/// Lines scored between two checkpoints.
const LINES_PER_CHUNK: usize = 2000;

/// Run one request of this area for job `id`. Long loops call
/// `crate::runtime::checkpoint(id).await?` between chunks so the job can be
/// cancelled and the worker stays responsive to messages.
pub async fn run(id: u32, request: EvaluateRequest) -> Result<Response, Cancelled> {
    let result = match request {
        EvaluateRequest::Score { hypotheses, references, settings } => {
            score(id, &hypotheses, &references, &settings).await?
        }
        EvaluateRequest::Align { target, prediction, stem } => align(&target, &prediction, stem),
        EvaluateRequest::Perplexity { text, max_length, stride } => {
            perplexity(id, &text, max_length as usize, stride as usize).await?
        }
    };
    Ok(match result {
        Ok(response) => Response::Evaluate(response),
        Err(message) => Response::Error { message },
    })
}

/// Segments of a text the way the CLI reads a file: split on `\n`, a final
/// newline does not start an extra segment, `\r` stays.
pub fn split_segments(text: &str) -> Vec<&str> {
    if text.is_empty() {
        return Vec::new();
    }
    text.strip_suffix('\n').unwrap_or(text).split('\n').collect()
}

/// BLEU options from the tab's settings, as `llmlab score bleu` builds them.
fn bleu_config(settings: &ScoreSettings) -> Result<BleuConfig, String> {
    let tokenizer: BleuTokenizer =
        settings.tokenize.parse().map_err(|e| format!("{e} (choose 13a, none, intl, char or zh)"))?;
    let smooth_method: SmoothMethod = settings.smooth_method.parse().map_err(|e| format!("{e}"))?;
    if let Some(v) = settings.smooth_value {
        if !v.is_finite() || v < 0.0 {
            return Err(format!("The smoothing value must be a finite number ≥ 0, not {v}."));
        }
    }
    Ok(BleuConfig {
        tokenizer,
        lowercase: settings.lowercase,
        smooth_method,
        smooth_value: settings.smooth_value,
        effective_order: false,
    })
}

/// ROUGE types from names; a repeated type counts once (rouge-score keys a dict).
fn rouge_types(names: &[String]) -> Result<Vec<RougeType>, String> {
    let mut types = Vec::new();
    for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
        let t: RougeType = name.parse().map_err(|e| format!("{e}"))?;
        if !types.contains(&t) {
            types.push(t);
        }
    }
    if types.is_empty() {
        return Err("Choose at least one ROUGE type (e.g. rouge1,rouge2,rougeL).".into());
    }
    Ok(types)
}

fn rouge_view(score: &RougeScore) -> RougeView {
    RougeView { precision: score.precision, recall: score.recall, fmeasure: score.fmeasure }
}

/// Corpus scoring state: BLEU and chrF sufficient statistics (they add up
/// over segments) and ROUGE per line. Feed lines in order with
/// [`CorpusScorer::add_lines`], then [`CorpusScorer::finish`].
pub struct CorpusScorer<'a> {
    hypotheses: Vec<&'a str>,
    references: Vec<Vec<&'a str>>,
    bleu_config: BleuConfig,
    bleu: BleuScorer,
    bleu_stats: BleuStats,
    chrf: ChrfScorer,
    chrf_stats: ChrfStats,
    chrf_pp: ChrfScorer,
    chrf_pp_stats: ChrfStats,
    rouge: RougeScorer,
    rouge_per_line: Vec<Vec<RougeView>>,
    next_line: usize,
}

impl<'a> CorpusScorer<'a> {
    /// Validates sizes and options; nothing is scored yet.
    pub fn new(hypotheses: &'a str, references: &'a [String], settings: &ScoreSettings) -> Result<Self, String> {
        let bytes = hypotheses.len() + references.iter().map(String::len).sum::<usize>();
        if bytes > MAX_CORPUS_BYTES {
            return Err(format!(
                "The corpus is {:.1} MB; the limit in the browser is {} MB.",
                bytes as f64 / 1e6,
                MAX_CORPUS_BYTES / (1024 * 1024)
            ));
        }
        if references.is_empty() {
            return Err("Add at least one reference set.".into());
        }
        if references.len() > MAX_REFERENCE_SETS {
            return Err(format!("{} reference sets; the limit is {MAX_REFERENCE_SETS}.", references.len()));
        }
        let bleu_config = bleu_config(settings)?;
        let types = rouge_types(&settings.rouge_types)?;
        // Count lines before splitting, so the vectors below are bounded.
        let count = |t: &str| t.bytes().filter(|&b| b == b'\n').count();
        if count(hypotheses) > MAX_LINES || references.iter().any(|r| count(r) > MAX_LINES) {
            return Err(format!("More than {MAX_LINES} lines: split the corpus."));
        }
        let hyps = split_segments(hypotheses);
        if hyps.is_empty() {
            return Err("There are no hypotheses: paste or upload one segment per line.".into());
        }
        let mut refs = Vec::with_capacity(references.len());
        for (k, text) in references.iter().enumerate() {
            let set = split_segments(text);
            if set.len() != hyps.len() {
                return Err(format!(
                    "Reference set {} has {} lines but there are {} hypotheses: each set needs one reference per hypothesis line.",
                    k + 1,
                    set.len(),
                    hyps.len()
                ));
            }
            refs.push(set);
        }
        Ok(Self {
            rouge_per_line: Vec::with_capacity(hyps.len()),
            hypotheses: hyps,
            references: refs,
            bleu: BleuScorer::new(bleu_config),
            bleu_config,
            bleu_stats: BleuStats::default(),
            chrf: ChrfScorer::new(ChrfConfig { word_order: 0, lowercase: settings.lowercase }),
            chrf_stats: ChrfStats::default(),
            chrf_pp: ChrfScorer::new(ChrfConfig { word_order: 2, lowercase: settings.lowercase }),
            chrf_pp_stats: ChrfStats::default(),
            rouge: RougeScorer::new(types, settings.stem),
            next_line: 0,
        })
    }

    /// Number of segments.
    pub fn lines(&self) -> usize {
        self.hypotheses.len()
    }

    /// Lines scored so far.
    pub fn done(&self) -> usize {
        self.next_line
    }

    /// Scores up to `count` more lines; returns how many it scored.
    pub fn add_lines(&mut self, count: usize) -> usize {
        let end = (self.next_line + count).min(self.hypotheses.len());
        for i in self.next_line..end {
            let hypothesis = self.hypotheses[i];
            let refs = || self.references.iter().filter_map(|set| set.get(i).copied());
            self.bleu_stats += self.bleu.segment_stats(hypothesis, refs());
            self.chrf_stats.add(&self.chrf.segment_stats(hypothesis, refs()));
            self.chrf_pp_stats.add(&self.chrf_pp.segment_stats(hypothesis, refs()));
            // ROUGE compares with one reference: the first set.
            let target = self.references.first().and_then(|set| set.get(i).copied()).unwrap_or("");
            let scores = self.rouge.score(target, hypothesis);
            self.rouge_per_line.push(scores.iter().map(rouge_view).collect());
        }
        let added = end - self.next_line;
        self.next_line = end;
        added
    }

    /// The corpus scores (call after every line is added).
    pub fn finish(self, millis: f64) -> EvaluateResponse {
        let bleu = compute_bleu(&self.bleu_stats, &self.bleu_config);
        let types = self.rouge.types();
        let lines = self.rouge_per_line.len();
        let mut sums = vec![[0.0f64; 3]; types.len()];
        for line in &self.rouge_per_line {
            for (sum, score) in sums.iter_mut().zip(line) {
                sum[0] += score.precision;
                sum[1] += score.recall;
                sum[2] += score.fmeasure;
            }
        }
        // The CLI's mean: sum in line order, then divide.
        let count = lines.max(1) as f64;
        let rouge_mean =
            sums.iter().map(|s| RougeView { precision: s[0] / count, recall: s[1] / count, fmeasure: s[2] / count }).collect();
        EvaluateResponse::Scored {
            lines,
            reference_sets: self.references.len(),
            bleu: BleuView {
                score: bleu.score,
                counts: bleu.counts.to_vec(),
                totals: bleu.totals.to_vec(),
                precisions: bleu.precisions.to_vec(),
                bp: bleu.bp,
                ratio: bleu.ratio,
                hyp_len: bleu.hyp_len,
                ref_len: bleu.ref_len,
            },
            chrf: chrf_f_score(&self.chrf_stats),
            chrf_plus_plus: chrf_f_score(&self.chrf_pp_stats),
            rouge_types: types.iter().map(ToString::to_string).collect(),
            rouge_mean,
            rouge_per_line: self.rouge_per_line,
            millis,
        }
    }
}

/// Scores a whole corpus at once (no progress): the browser test's entry.
pub fn score_corpus(hypotheses: &str, references: &[String], settings: &ScoreSettings) -> Result<EvaluateResponse, String> {
    let started = now_millis();
    let mut scorer = CorpusScorer::new(hypotheses, references, settings)?;
    let lines = scorer.lines();
    scorer.add_lines(lines);
    Ok(scorer.finish(now_millis() - started))
}

async fn score(
    id: u32,
    hypotheses: &str,
    references: &[String],
    settings: &ScoreSettings,
) -> Result<Result<EvaluateResponse, String>, Cancelled> {
    let started = now_millis();
    let mut scorer = match CorpusScorer::new(hypotheses, references, settings) {
        Ok(s) => s,
        Err(message) => return Ok(Err(message)),
    };
    let lines = scorer.lines();
    while scorer.add_lines(LINES_PER_CHUNK) > 0 {
        if scorer.done() < lines {
            let message = format!("Scored {} of {lines} lines", scorer.done());
            post(id, Response::Progress { fraction: scorer.done() as f64 / lines as f64, message });
            checkpoint(id).await?;
        }
    }
    Ok(Ok(scorer.finish(now_millis() - started)))
}

/// Cuts `text` into pieces at the tokens' byte spans, marking LCS tokens.
fn pieces(text: &str, tokens: &[RougeToken], in_lcs: &[bool]) -> Vec<Piece> {
    let mut out = Vec::with_capacity(2 * tokens.len() + 1);
    let mut at = 0;
    for (token, &lcs) in tokens.iter().zip(in_lcs) {
        if token.start < at {
            continue; // never expected: spans are increasing
        }
        if let Some(gap) = text.get(at..token.start).filter(|g| !g.is_empty()) {
            out.push(Piece { text: gap.into(), lcs: false });
        }
        if let Some(word) = text.get(token.start..token.end) {
            out.push(Piece { text: word.into(), lcs });
            at = token.end;
        }
    }
    if let Some(rest) = text.get(at..).filter(|r| !r.is_empty()) {
        out.push(Piece { text: rest.into(), lcs: false });
    }
    out
}

/// The ROUGE-L alignment of one pair, as highlighted pieces.
pub fn align(target: &str, prediction: &str, stem: bool) -> Result<EvaluateResponse, String> {
    // Count tokens first: the alignment table is quadratic.
    let (t, p) = (rouge::tokenize(target, false).len(), rouge::tokenize(prediction, false).len());
    if t > MAX_ALIGN_TOKENS || p > MAX_ALIGN_TOKENS {
        return Err(format!(
            "The alignment view is limited to {MAX_ALIGN_TOKENS} words per line (this pair has {t} and {p})."
        ));
    }
    let alignment = rouge::rouge_l_alignment(target, prediction, stem);
    let mut target_lcs = vec![false; alignment.target.len()];
    let mut prediction_lcs = vec![false; alignment.prediction.len()];
    for &(i, j) in &alignment.pairs {
        if let (Some(a), Some(b)) = (target_lcs.get_mut(i), prediction_lcs.get_mut(j)) {
            *a = true;
            *b = true;
        }
    }
    Ok(EvaluateResponse::Aligned {
        target: pieces(target, &alignment.target, &target_lcs),
        prediction: pieces(prediction, &alignment.prediction, &prediction_lcs),
        lcs_len: alignment.pairs.len(),
        target_tokens: alignment.target.len(),
        prediction_tokens: alignment.prediction.len(),
        score: rouge_view(&alignment.score),
    })
}

async fn perplexity(
    id: u32,
    text: &str,
    max_length: usize,
    stride: usize,
) -> Result<Result<EvaluateResponse, String>, Cancelled> {
    let started = now_millis();
    let prepared = (|| {
        let characters = text.chars().count();
        if characters > MAX_PERPLEXITY_CHARS {
            return Err(format!(
                "The text has {characters} characters; the limit for perplexity here is {MAX_PERPLEXITY_CHARS}."
            ));
        }
        let loaded = crate::session::require()?;
        let tokenizer = loaded
            .tokenizer
            .as_ref()
            .ok_or("The loaded model has no tokenizer.json, so its text cannot be tokenized: load one with a tokenizer.")?;
        let encoding = tokenizer.encode(text, true).map_err(|e| format!("Tokenizing the text failed: {e}"))?;
        if encoding.ids.len() > MAX_PERPLEXITY_TOKENS {
            return Err(format!(
                "The text has {} tokens; the limit for perplexity here is {MAX_PERPLEXITY_TOKENS}.",
                encoding.ids.len()
            ));
        }
        let AnyModel::Causal(model) = &loaded.model else {
            return Err("Perplexity needs a causal (decoder-only) language model such as GPT-2 or Llama.".to_string());
        };
        let limit = model.max_positions().unwrap_or(1024);
        let max_length = if max_length == 0 { limit } else { max_length };
        if max_length > limit {
            return Err(format!("The window ({max_length}) exceeds the model's context of {limit} tokens."));
        }
        let stride = if stride == 0 { max_length } else { stride };
        let plan = windows(encoding.ids.len(), max_length, stride).map_err(|e| e.to_string())?;
        if let Some(&bad) = encoding.ids.iter().find(|&&i| i as usize >= model.vocab_size()) {
            return Err(format!("Token id {bad} is outside the model's vocabulary ({}).", model.vocab_size()));
        }
        Ok((loaded.clone(), encoding, characters, max_length, stride, plan))
    })();
    let (loaded, encoding, characters, max_length, stride, plan) = match prepared {
        Ok(p) => p,
        Err(message) => return Ok(Err(message)),
    };
    let AnyModel::Causal(model) = &loaded.model else {
        return Ok(Err("Perplexity needs a causal language model.".into()));
    };
    let mut accumulator = match PerplexityAccumulator::new(encoding.ids.clone()) {
        Ok(a) => a,
        Err(e) => return Ok(Err(format!("{e}"))),
    };
    let total = plan.len();
    for (k, window) in plan.iter().enumerate() {
        let Some(ids) = encoding.ids.get(window.begin..window.end) else {
            return Ok(Err("internal: a window lies outside the text".into()));
        };
        let logits = match model.forward(ids, None) {
            Ok(l) => l,
            Err(e) => return Ok(Err(format!("The model failed on window {}: {e}", k + 1))),
        };
        if let Err(e) = accumulator.add_window(*window, logits.view()) {
            return Ok(Err(format!("{e}")));
        }
        let message = format!("Window {} of {total} (tokens {}..{})", k + 1, window.begin, window.end);
        post(id, Response::Progress { fraction: (k + 1) as f64 / total as f64, message });
        checkpoint(id).await?;
    }
    let result = accumulator.finish();
    let chars: Vec<char> = text.chars().collect();
    let surprise = encoding
        .ids
        .iter()
        .enumerate()
        .map(|(i, &token)| {
            // The token's own characters when its offsets are valid, else its decoded form.
            let from_offsets = encoding
                .offsets
                .get(i)
                .filter(|(s, e)| s < e && *e <= chars.len())
                .map(|&(s, e)| chars[s..e].iter().collect::<String>());
            let text = from_offsets.unwrap_or_else(|| loaded.tokenizer.as_ref().map_or_else(String::new, |t| t.decode(&[token], false)));
            let bits = result.token_nll.get(i).copied().flatten().map(|nll| nll / core::f64::consts::LN_2);
            SurpriseToken { text, bits }
        })
        .collect();
    Ok(Ok(EvaluateResponse::Perplexity {
        ppl: result.ppl,
        nll: result.nll,
        tokens: result.tokens,
        bits_per_char: result.bits_per_char(characters),
        surprise,
        windows: total,
        max_length,
        stride,
        millis: now_millis() - started,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> ScoreSettings {
        ScoreSettings {
            tokenize: "13a".into(),
            smooth_method: "exp".into(),
            smooth_value: None,
            lowercase: false,
            rouge_types: vec!["rouge1".into(), "rougeL".into()],
            stem: false,
        }
    }

    #[test]
    fn pieces_cover_the_text_and_mark_the_lcs() {
        let EvaluateResponse::Aligned { target, prediction, lcs_len, .. } =
            align("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log.", false).unwrap()
        else {
            panic!("not aligned")
        };
        assert_eq!(lcs_len, 5);
        let joined: String = prediction.iter().map(|p| p.text.as_str()).collect();
        assert_eq!(joined, "The quick brown dog jumps on the log.");
        let marked: Vec<&str> = target.iter().filter(|p| p.lcs).map(|p| p.text.as_str()).collect();
        assert_eq!(marked, ["The", "quick", "brown", "jumps", "the"]);
    }

    #[test]
    fn mismatched_reference_sets_are_clear_errors() {
        let refs = vec!["a\nb\n".to_string()];
        let err = CorpusScorer::new("x\n", &refs, &settings()).err().unwrap();
        assert!(err.contains("has 2 lines but there are 1"), "{err}");
        let mut bad = settings();
        bad.tokenize = "moses".into();
        assert!(CorpusScorer::new("x", &["x".to_string()], &bad).is_err());
        bad = settings();
        bad.rouge_types = vec!["rouge0".into()];
        assert!(CorpusScorer::new("x", &["x".to_string()], &bad).is_err());
    }

    #[test]
    fn chunked_scoring_equals_the_core_corpus_functions() {
        // sacrebleu's README example, scored in chunks of one line.
        let hyps = "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n";
        let refs = vec![
            "The dog bit the man.\nIt was not unexpected.\nThe man bit him first.\n".to_string(),
            "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n".to_string(),
        ];
        let mut scorer = CorpusScorer::new(hyps, &refs, &settings()).unwrap();
        while scorer.add_lines(1) > 0 {}
        let EvaluateResponse::Scored { bleu, chrf, lines, .. } = scorer.finish(0.0) else { panic!() };
        assert_eq!(lines, 3);
        // Printed by sacrebleu 2.6.0.
        assert!((bleu.score - 48.530827009929865).abs() < 1e-12, "{}", bleu.score);
        let h = split_segments(hyps);
        let r: Vec<Vec<&str>> = refs.iter().map(|t| split_segments(t)).collect();
        let expected = llmlab_core::metrics::chrf::corpus_chrf(&h, &r, &ChrfConfig::default()).unwrap();
        assert_eq!(chrf, expected);
    }
}
