//! chrF (Popović, 2015) and chrF++ (Popović, 2017) exactly as sacrebleu 2.x.
//!
//! Per segment, `sacrebleu.metrics.chrf.CHRF` with its defaults
//! (`char_order=6`, `beta=2`, `whitespace=False`, `eps_smoothing=False`):
//! character n-grams of order 1..=6 over the segment with all whitespace
//! removed, plus (chrF++, `word_order=2`) word uni/bigrams after splitting a
//! single leading or trailing ASCII punctuation mark off each word. For every
//! order the statistics are `[hyp n-grams, ref n-grams, clipped matches]`; of
//! several references the one with the best segment F-score is kept. Corpus
//! statistics are summed and turned into an F-beta over the precision and
//! recall averaged across the orders that have both hypothesis and reference
//! n-grams ("effective order").

use alloc::vec::Vec;
use hashbrown::HashMap;

use super::bleu::BleuError;
use super::ngrams::{pack, Interner};
use super::pytext::{is_py_whitespace, py_lower, py_split};

/// sacrebleu's `CHRF.CHAR_ORDER`.
pub const CHAR_ORDER: usize = 6;
/// sacrebleu's `CHRF.BETA`.
pub const BETA: u32 = 2;
/// Bits per character in a packed character n-gram (every code point + 1 fits).
const CHAR_BITS: u32 = 21;
/// chrF++'s word order, the largest `word_order` supported.
pub const MAX_WORD_ORDER: usize = 2;

/// `string.punctuation`, which chrF++ splits off word edges.
fn is_ascii_punct(c: char) -> bool {
    c.is_ascii_punctuation()
}

/// The options of sacrebleu's `CHRF(...)` that the playground exposes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ChrfConfig {
    /// `word_order`: 0 for chrF, 2 for chrF++.
    pub word_order: usize,
    /// `lowercase`: case-insensitive.
    pub lowercase: bool,
}

impl ChrfConfig {
    /// chrF++ (`word_order = 2`).
    pub fn plus_plus() -> Self {
        Self { word_order: 2, lowercase: false }
    }

    fn orders(&self) -> usize {
        CHAR_ORDER + self.word_order.min(MAX_WORD_ORDER)
    }
}

/// One order's `[hypothesis n-grams, reference n-grams, matches]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OrderStats {
    /// n-grams in the hypothesis (0 when the reference has none).
    pub hyp: u64,
    /// n-grams in the reference.
    pub reference: u64,
    /// Clipped matches.
    pub matched: u64,
}

/// chrF statistics: character orders first, then word orders.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChrfStats {
    /// One entry per order (6 character orders + `word_order` word orders).
    pub orders: Vec<OrderStats>,
}

impl ChrfStats {
    /// Adds another segment's statistics (corpus chrF sums them).
    pub fn add(&mut self, other: &ChrfStats) {
        if self.orders.len() < other.orders.len() {
            self.orders.resize(other.orders.len(), OrderStats::default());
        }
        for (mine, theirs) in self.orders.iter_mut().zip(&other.orders) {
            mine.hyp += theirs.hyp;
            mine.reference += theirs.reference;
            mine.matched += theirs.matched;
        }
    }
}

/// sacrebleu's `CHRF._compute_f_score` without eps smoothing (the default),
/// in the same float operation order.
pub fn chrf_f_score(stats: &ChrfStats) -> f64 {
    let factor = f64::from(BETA * BETA);
    let (mut avg_prec, mut avg_rec) = (0.0f64, 0.0f64);
    let mut effective_order = 0u32;
    for order in &stats.orders {
        if order.hyp > 0 && order.reference > 0 {
            avg_prec += order.matched as f64 / order.hyp as f64;
            avg_rec += order.matched as f64 / order.reference as f64;
            effective_order += 1;
        }
    }
    if effective_order == 0 {
        return 0.0;
    }
    avg_prec /= f64::from(effective_order);
    avg_rec /= f64::from(effective_order);
    if avg_prec + avg_rec != 0.0 {
        let mut score = (1.0 + factor) * avg_prec * avg_rec;
        score /= (factor * avg_prec) + avg_rec;
        100.0 * score
    } else {
        0.0
    }
}

/// The n-grams of one segment, every order in one map (packed keys of
/// different orders never collide), with the n-gram total per order.
#[derive(Debug, Clone, Default)]
struct SegmentNgrams {
    chars: HashMap<u128, u32>,
    words: HashMap<u128, u32>,
    /// Total n-grams per order (chars, then words).
    totals: Vec<u64>,
}

/// Extracts chrF n-grams, reusing buffers.
#[derive(Debug, Clone, Default)]
pub struct ChrfScorer {
    config: ChrfConfig,
    interner: Interner,
    chars: Vec<u32>,
    word_ids: Vec<u32>,
    hyp: SegmentNgrams,
    reference: SegmentNgrams,
}

impl ChrfScorer {
    /// A scorer for `config`.
    pub fn new(config: ChrfConfig) -> Self {
        Self { config, ..Self::default() }
    }

    /// Fills `target` with the n-grams of `segment`.
    fn extract(
        config: &ChrfConfig,
        interner: &mut Interner,
        chars: &mut Vec<u32>,
        word_ids: &mut Vec<u32>,
        segment: &str,
        target: &mut SegmentNgrams,
    ) {
        let lowered;
        let text = if config.lowercase {
            lowered = py_lower(segment);
            lowered.as_str()
        } else {
            segment
        };
        target.chars.clear();
        target.words.clear();
        target.totals.clear();
        // Character n-grams over the text without whitespace, each char + 1.
        chars.clear();
        chars.extend(text.chars().filter(|&c| !is_py_whitespace(c)).map(|c| c as u32 + 1));
        for n in 1..=CHAR_ORDER {
            let count = chars.len().saturating_sub(n - 1);
            target.totals.push(count as u64);
            for window in chars.windows(n) {
                let key = window.iter().fold(0u128, |k, &c| (k << CHAR_BITS) | u128::from(c));
                *target.chars.entry(key).or_insert(0) += 1;
            }
        }
        let word_order = config.word_order.min(MAX_WORD_ORDER);
        if word_order > 0 {
            word_ids.clear();
            for word in py_split(text) {
                let mut it = word.chars();
                let (first, last) = (it.next(), it.next_back());
                match (first, last) {
                    // len(w) >= 2 and the last char is punctuation: 'w[:-1]', 'w[-1]'.
                    (Some(_), Some(l)) if is_ascii_punct(l) => {
                        let cut = word.len() - l.len_utf8();
                        word_ids.push(interner.id(&word[..cut]));
                        word_ids.push(interner.id(&word[cut..]));
                    }
                    (Some(f), Some(_)) if is_ascii_punct(f) => {
                        let cut = f.len_utf8();
                        word_ids.push(interner.id(&word[..cut]));
                        word_ids.push(interner.id(&word[cut..]));
                    }
                    _ => word_ids.push(interner.id(word)),
                }
            }
            for n in 1..=word_order {
                target.totals.push(word_ids.len().saturating_sub(n - 1) as u64);
                for window in word_ids.windows(n) {
                    *target.words.entry(pack(window)).or_insert(0) += 1;
                }
            }
        }
    }

    /// Clipped matches per order between hypothesis and reference maps.
    fn matches(hyp: &HashMap<u128, u32>, reference: &HashMap<u128, u32>, order_of: impl Fn(u128) -> usize, out: &mut [u64]) {
        let (small, large) = if hyp.len() <= reference.len() { (hyp, reference) } else { (reference, hyp) };
        for (key, &count) in small {
            if let Some(&other) = large.get(key) {
                if let Some(slot) = out.get_mut(order_of(*key)) {
                    *slot += u64::from(count.min(other));
                }
            }
        }
    }

    /// The statistics of one hypothesis against its best reference.
    pub fn segment_stats<'r>(&mut self, hypothesis: &str, references: impl IntoIterator<Item = &'r str>) -> ChrfStats {
        let orders = self.config.orders();
        self.interner.clear();
        Self::extract(&self.config, &mut self.interner, &mut self.chars, &mut self.word_ids, hypothesis, &mut self.hyp);
        let mut best: Option<(f64, ChrfStats)> = None;
        let mut matched = alloc::vec![0u64; orders];
        for reference in references {
            Self::extract(&self.config, &mut self.interner, &mut self.chars, &mut self.word_ids, reference, &mut self.reference);
            matched.iter_mut().for_each(|m| *m = 0);
            let char_order = |key: u128| (128 - key.leading_zeros()).div_ceil(CHAR_BITS) as usize - 1;
            Self::matches(&self.hyp.chars, &self.reference.chars, char_order, &mut matched[..CHAR_ORDER]);
            let word_order = |key: u128| (128 - key.leading_zeros()).div_ceil(32) as usize - 1;
            Self::matches(&self.hyp.words, &self.reference.words, word_order, &mut matched[CHAR_ORDER..]);
            let stats = ChrfStats {
                orders: (0..orders)
                    .map(|i| {
                        let reference = self.reference.totals.get(i).copied().unwrap_or(0);
                        let hyp = self.hyp.totals.get(i).copied().unwrap_or(0);
                        // `hyp_count if ref_ngrams else 0`
                        OrderStats { hyp: if reference > 0 { hyp } else { 0 }, reference, matched: matched[i] }
                    })
                    .collect(),
            };
            let f = chrf_f_score(&stats);
            if best.as_ref().is_none_or(|(best_f, _)| f > *best_f) {
                best = Some((f, stats));
            }
        }
        best.map(|(_, stats)| stats).unwrap_or_else(|| ChrfStats { orders: alloc::vec![OrderStats::default(); orders] })
    }
}

/// `sacrebleu.corpus_chrf(hypotheses, references, ...)`; `references[k][i]`
/// is the k-th reference of segment i. Returns the score in `[0, 100]`.
pub fn corpus_chrf<S: AsRef<str>>(hypotheses: &[S], references: &[Vec<S>], config: &ChrfConfig) -> Result<f64, BleuError> {
    super::bleu::check_streams(hypotheses.len(), references)?;
    let mut scorer = ChrfScorer::new(*config);
    let mut total = ChrfStats { orders: alloc::vec![OrderStats::default(); config.orders()] };
    for (i, hypothesis) in hypotheses.iter().enumerate() {
        let refs = references.iter().filter_map(|stream| stream.get(i)).map(|s| s.as_ref());
        total.add(&scorer.segment_stats(hypothesis.as_ref(), refs));
    }
    Ok(chrf_f_score(&total))
}

/// `CHRF(...).sentence_score(hypothesis, references)` for every segment.
pub fn sentence_chrfs<S: AsRef<str>>(hypotheses: &[S], references: &[Vec<S>], config: &ChrfConfig) -> Result<Vec<f64>, BleuError> {
    super::bleu::check_streams(hypotheses.len(), references)?;
    let mut scorer = ChrfScorer::new(*config);
    Ok(hypotheses
        .iter()
        .enumerate()
        .map(|(i, hypothesis)| {
            let refs = references.iter().filter_map(|stream| stream.get(i)).map(|s| s.as_ref());
            chrf_f_score(&scorer.segment_stats(hypothesis.as_ref(), refs))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn chrf_matches_sacrebleu_example() {
        let hyps = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."];
        let refs = vec![
            vec!["The dog bit the man.", "It was not unexpected.", "The man bit him first."],
            vec!["The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."],
        ];
        let chrf = corpus_chrf(&hyps, &refs, &ChrfConfig::default()).unwrap();
        let chrf_pp = corpus_chrf(&hyps, &refs, &ChrfConfig::plus_plus()).unwrap();
        // Printed by sacrebleu 2.6.0.
        assert!((chrf - 59.72751782684763).abs() < 1e-12, "{chrf}");
        assert!((chrf_pp - 59.15310444399262).abs() < 1e-12, "{chrf_pp}");
    }
}
