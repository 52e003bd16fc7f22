//! BLEU (Papineni et al., 2002) exactly as sacrebleu 2.x computes it.
//!
//! Pipeline per segment, as in `sacrebleu.metrics.bleu.BLEU`:
//! lowercase (optional) -> `rstrip()` -> tokenizer -> word split -> all
//! n-grams of order 1..=4. References of a segment are merged by taking, per
//! n-gram, the maximum count over references; the reference length used for
//! the brevity penalty is the closest one to the hypothesis length (the
//! shorter on ties). Segment statistics are summed over the corpus and turned
//! into a score by [`compute_bleu`], whose float operations follow
//! sacrebleu's `compute_bleu` in the same order so the result is bit-equal.

use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;
use hashbrown::HashMap;

use super::bleu_tokenizers::BleuTokenizer;
use super::math;
use super::ngrams::{count_word_ngrams, order_of, Interner};
use super::pytext::{py_lower, py_rstrip};

/// sacrebleu's default (and our only) maximum n-gram order.
pub const MAX_NGRAM_ORDER: usize = 4;

/// `my_log(0)` in sacrebleu: the log of a zero precision is floored.
const LOG_ZERO: f64 = -9_999_999_999.0;

/// Smoothing methods of Chen & Cherry (2014) as sacrebleu names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SmoothMethod {
    /// `none`: no smoothing.
    None,
    /// `floor`: a zero count becomes `smooth_value` (default 0.1).
    Floor,
    /// `add-k`: add `smooth_value` (default 1) to counts and totals of n > 1.
    AddK,
    /// `exp`: NIST geometric smoothing (mteval-v13a), sacrebleu's default.
    #[default]
    Exp,
}

impl SmoothMethod {
    /// sacrebleu's `SMOOTH_DEFAULTS`.
    pub fn default_value(self) -> Option<f64> {
        match self {
            Self::Floor => Some(0.1),
            Self::AddK => Some(1.0),
            Self::None | Self::Exp => None,
        }
    }
}

impl FromStr for SmoothMethod {
    type Err = BleuError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "none" => Ok(Self::None),
            "floor" => Ok(Self::Floor),
            "add-k" => Ok(Self::AddK),
            "exp" => Ok(Self::Exp),
            other => Err(BleuError::UnknownSmoothMethod(other.into())),
        }
    }
}

/// What can go wrong when scoring BLEU.
#[derive(Clone, Debug, PartialEq)]
pub enum BleuError {
    /// The smoothing method is not one of exp, floor, add-k, none.
    UnknownSmoothMethod(alloc::string::String),
    /// No reference stream was given.
    NoReferences,
    /// A reference stream does not have one segment per hypothesis.
    LengthMismatch {
        /// Number of hypotheses.
        hypotheses: usize,
        /// Number of segments of the offending reference stream.
        references: usize,
    },
}

impl fmt::Display for BleuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownSmoothMethod(name) => {
                write!(f, "unknown smooth method {name:?} (expected exp, floor, add-k or none)")
            }
            Self::NoReferences => write!(f, "at least one reference stream is required"),
            Self::LengthMismatch { hypotheses, references } => write!(
                f,
                "a reference stream has {references} segments but there are {hypotheses} hypotheses"
            ),
        }
    }
}

/// The options of sacrebleu's `BLEU(...)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BleuConfig {
    /// `tokenize`: 13a by default.
    pub tokenizer: BleuTokenizer,
    /// `lowercase`: case-insensitive BLEU.
    pub lowercase: bool,
    /// `smooth_method`: exp by default.
    pub smooth_method: SmoothMethod,
    /// `smooth_value`: `None` means the method's default.
    pub smooth_value: Option<f64>,
    /// `effective_order`: ignore orders with no n-grams (sentence BLEU).
    pub effective_order: bool,
}

impl Default for BleuConfig {
    fn default() -> Self {
        Self {
            tokenizer: BleuTokenizer::default(),
            lowercase: false,
            smooth_method: SmoothMethod::Exp,
            smooth_value: None,
            effective_order: false,
        }
    }
}

impl BleuConfig {
    /// The defaults of `sacrebleu.sentence_bleu`: as corpus BLEU but with
    /// effective order on.
    pub fn sentence() -> Self {
        Self { effective_order: true, ..Self::default() }
    }
}

/// The sufficient statistics of BLEU; they add up over segments.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BleuStats {
    /// Hypothesis length in tokens.
    pub hyp_len: u64,
    /// Closest reference length in tokens.
    pub ref_len: u64,
    /// Clipped n-gram matches per order.
    pub correct: [u64; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams per order.
    pub total: [u64; MAX_NGRAM_ORDER],
}

impl core::ops::AddAssign for BleuStats {
    fn add_assign(&mut self, other: Self) {
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
        for n in 0..MAX_NGRAM_ORDER {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
    }
}

/// A BLEU score with everything sacrebleu's `BLEUScore` reports.
#[derive(Clone, Debug, PartialEq)]
pub struct BleuScore {
    /// BLEU in `[0, 100]`.
    pub score: f64,
    /// Matches per order (for add-k, including the added k for n > 1, as
    /// sacrebleu reports them).
    pub counts: [f64; MAX_NGRAM_ORDER],
    /// Hypothesis n-grams per order (add-k: including k for n > 1).
    pub totals: [f64; MAX_NGRAM_ORDER],
    /// Precisions in percent per order.
    pub precisions: [f64; MAX_NGRAM_ORDER],
    /// Brevity penalty.
    pub bp: f64,
    /// `hyp_len / ref_len` (0 when there is no reference token).
    pub ratio: f64,
    /// Total hypothesis length.
    pub hyp_len: u64,
    /// Total (closest) reference length.
    pub ref_len: u64,
}

/// sacrebleu's `BLEU.compute_bleu`, operation for operation.
pub fn compute_bleu(stats: &BleuStats, config: &BleuConfig) -> BleuScore {
    let smooth_value = config.smooth_value.or(config.smooth_method.default_value()).unwrap_or(0.0);
    let (sys_len, ref_len) = (stats.hyp_len, stats.ref_len);
    let mut counts = stats.correct.map(|c| c as f64);
    let mut totals = stats.total.map(|t| t as f64);
    let mut precisions = [0.0f64; MAX_NGRAM_ORDER];
    let ratio = if ref_len > 0 { sys_len as f64 / ref_len as f64 } else { 0.0 };

    let mut bp = 1.0;
    if sys_len < ref_len {
        bp = if sys_len > 0 { math::exp(1.0 - ref_len as f64 / sys_len as f64) } else { 0.0 };
    }
    let finish = |score, counts, totals, precisions| BleuScore {
        score,
        counts,
        totals,
        precisions,
        bp,
        ratio,
        hyp_len: sys_len,
        ref_len,
    };
    // sacrebleu #141: no match at all is a zero score, unsmoothed.
    if stats.correct.iter().all(|&c| c == 0) {
        return finish(0.0, counts, totals, precisions);
    }

    let mut smooth_mteval = 1.0f64;
    let mut eff_order = MAX_NGRAM_ORDER;
    for n in 0..MAX_NGRAM_ORDER {
        if config.smooth_method == SmoothMethod::AddK && n > 0 {
            counts[n] += smooth_value;
            totals[n] += smooth_value;
        }
        if totals[n] == 0.0 {
            break;
        }
        if config.effective_order {
            eff_order = n + 1;
        }
        if counts[n] == 0.0 {
            match config.smooth_method {
                SmoothMethod::Exp => {
                    smooth_mteval *= 2.0;
                    precisions[n] = 100.0 / (smooth_mteval * totals[n]);
                }
                SmoothMethod::Floor => precisions[n] = 100.0 * smooth_value / totals[n],
                SmoothMethod::AddK | SmoothMethod::None => {}
            }
        } else {
            precisions[n] = 100.0 * counts[n] / totals[n];
        }
    }
    // Python's sum() over floats: plain left-to-right addition.
    let mut log_sum = 0.0f64;
    for &p in &precisions[..eff_order] {
        log_sum += if p == 0.0 { LOG_ZERO } else { math::log(p) };
    }
    let score = bp * math::exp(log_sum / eff_order as f64);
    finish(score, counts, totals, precisions)
}

/// sacrebleu's `_get_closest_ref_len`: the reference length closest to the
/// hypothesis length, the shorter one on ties.
fn closest_ref_len(hyp_len: u64, ref_lens: &[u64]) -> u64 {
    let mut best: Option<(u64, u64)> = None;
    for &len in ref_lens {
        let diff = hyp_len.abs_diff(len);
        best = match best {
            Some((best_diff, best_len)) if diff > best_diff || (diff == best_diff && len >= best_len) => {
                Some((best_diff, best_len))
            }
            _ => Some((diff, len)),
        };
    }
    best.map_or(0, |(_, len)| len)
}

/// Computes segment statistics, reusing its buffers across segments.
#[derive(Debug, Clone)]
pub struct BleuScorer {
    config: BleuConfig,
    interner: Interner,
    ids: Vec<u32>,
    ref_lens: Vec<u64>,
    ref_counts: HashMap<u128, u32>,
    one_ref_counts: HashMap<u128, u32>,
    hyp_counts: HashMap<u128, u32>,
}

impl BleuScorer {
    /// A scorer for `config`.
    pub fn new(config: BleuConfig) -> Self {
        Self {
            config,
            interner: Interner::new(),
            ids: Vec::new(),
            ref_lens: Vec::new(),
            ref_counts: HashMap::new(),
            one_ref_counts: HashMap::new(),
            hyp_counts: HashMap::new(),
        }
    }

    /// The configuration this scorer uses.
    pub fn config(&self) -> &BleuConfig {
        &self.config
    }

    /// `BLEU._preprocess_segment`: the tokenized form of a segment.
    pub fn preprocess(&self, segment: &str) -> alloc::string::String {
        if self.config.lowercase {
            self.config.tokenizer.tokenize(py_rstrip(&py_lower(segment)))
        } else {
            self.config.tokenizer.tokenize(py_rstrip(segment))
        }
    }

    /// Interns the tokens of `segment` into `self.ids`.
    fn load_ids(&mut self, segment: &str) {
        let lowered;
        let text = if self.config.lowercase {
            lowered = py_lower(segment);
            py_rstrip(&lowered)
        } else {
            py_rstrip(segment)
        };
        self.ids.clear();
        let (interner, ids) = (&mut self.interner, &mut self.ids);
        self.config.tokenizer.for_each_token(text, |token| ids.push(interner.id_bytes(token)));
    }

    /// The statistics of one hypothesis against its references.
    pub fn segment_stats<'r>(&mut self, hypothesis: &str, references: impl IntoIterator<Item = &'r str>) -> BleuStats {
        self.interner.clear();
        self.ref_counts.clear();
        self.ref_lens.clear();
        for reference in references {
            self.load_ids(reference);
            self.ref_lens.push(self.ids.len() as u64);
            count_word_ngrams(&self.ids, MAX_NGRAM_ORDER, &mut self.one_ref_counts);
            for (&key, &count) in &self.one_ref_counts {
                let merged = self.ref_counts.entry(key).or_insert(0);
                *merged = (*merged).max(count);
            }
        }
        self.load_ids(hypothesis);
        let hyp_len = self.ids.len() as u64;
        count_word_ngrams(&self.ids, MAX_NGRAM_ORDER, &mut self.hyp_counts);
        let mut stats = BleuStats { hyp_len, ref_len: closest_ref_len(hyp_len, &self.ref_lens), ..BleuStats::default() };
        for (&key, &count) in &self.hyp_counts {
            let n = order_of(key) - 1;
            stats.total[n] += u64::from(count);
            if let Some(&ref_count) = self.ref_counts.get(&key) {
                stats.correct[n] += u64::from(count.min(ref_count));
            }
        }
        stats
    }
}

/// Checks that every reference stream has one segment per hypothesis.
pub(crate) fn check_streams<S: AsRef<str>>(hypotheses: usize, references: &[Vec<S>]) -> Result<(), BleuError> {
    if references.is_empty() {
        return Err(BleuError::NoReferences);
    }
    match references.iter().find(|stream| stream.len() != hypotheses) {
        Some(stream) => Err(BleuError::LengthMismatch { hypotheses, references: stream.len() }),
        None => Ok(()),
    }
}

/// `sacrebleu.corpus_bleu(hypotheses, references)`: `references[k][i]` is
/// the k-th reference of segment i.
pub fn corpus_bleu<S: AsRef<str>>(hypotheses: &[S], references: &[Vec<S>], config: &BleuConfig) -> Result<BleuScore, BleuError> {
    check_streams(hypotheses.len(), references)?;
    let mut scorer = BleuScorer::new(*config);
    let mut total = BleuStats::default();
    for (i, hypothesis) in hypotheses.iter().enumerate() {
        let refs = references.iter().filter_map(|stream| stream.get(i)).map(|s| s.as_ref());
        total += scorer.segment_stats(hypothesis.as_ref(), refs);
    }
    Ok(compute_bleu(&total, config))
}

/// `BLEU(...).sentence_score(hypothesis, references)` for every segment
/// (with [`BleuConfig::sentence`] this is `sacrebleu.sentence_bleu`).
pub fn sentence_bleus<S: AsRef<str>>(hypotheses: &[S], references: &[Vec<S>], config: &BleuConfig) -> Result<Vec<BleuScore>, BleuError> {
    check_streams(hypotheses.len(), references)?;
    let mut scorer = BleuScorer::new(*config);
    let mut scores = Vec::with_capacity(hypotheses.len());
    for (i, hypothesis) in hypotheses.iter().enumerate() {
        let refs = references.iter().filter_map(|stream| stream.get(i)).map(|s| s.as_ref());
        let stats = scorer.segment_stats(hypothesis.as_ref(), refs);
        scores.push(compute_bleu(&stats, config));
    }
    Ok(scores)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn corpus_bleu_matches_sacrebleu_example() {
        // sacrebleu's README example; values printed by sacrebleu 2.6.0.
        let hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
        let refs = vec![
            vec!["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
            vec!["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
        ];
        let score = corpus_bleu(&hyps, &refs, &BleuConfig::default()).unwrap();
        assert!((score.score - 48.530827009929865).abs() < 1e-12, "{}", score.score);
        assert_eq!(score.counts, [14.0, 7.0, 5.0, 3.0]);
        assert_eq!(score.hyp_len, 17);
        assert_eq!(score.ref_len, 18);
    }

    #[test]
    fn closest_ref_len_prefers_shorter_on_ties() {
        assert_eq!(closest_ref_len(5, &[7, 3, 6]), 6);
        assert_eq!(closest_ref_len(5, &[6, 4]), 4);
        assert_eq!(closest_ref_len(5, &[]), 0);
    }
}
