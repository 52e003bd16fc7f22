//! ROUGE (Lin, 2004) exactly as Google's rouge-score 0.1.2 computes it.
//!
//! `RougeScorer(types, use_stemmer).score(target, prediction)`:
//! - tokenizer: `text.lower()`, every run of characters outside `[a-z0-9]`
//!   becomes a space, split, and (with the stemmer) NLTK's Porter stem of
//!   every token longer than 3 characters;
//! - `rougeN`: clipped n-gram overlap, precision over the prediction's
//!   n-grams and recall over the target's;
//! - `rougeL`: longest common subsequence of the two token sequences;
//! - `rougeLsum`: summary-level LCS: texts split into sentences on `\n`, for
//!   each target sentence the union of its LCS with every prediction
//!   sentence, each token counted at most as often as it occurs in both.
//!
//! F-measure is `2 p r / (p + r)`, 0 when both are 0.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;
use hashbrown::HashMap;

use super::ngrams::{pack, Interner, MAX_PACKED_ORDER};
use super::porter;

/// One ROUGE variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RougeType {
    /// `rouge1` .. `rouge9`: n-gram overlap of order n.
    N(u8),
    /// `rougeL`: sentence-level LCS over the whole texts.
    L,
    /// `rougeLsum`: summary-level union LCS over newline-separated sentences.
    LSum,
}

/// What can go wrong when configuring ROUGE.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RougeError {
    /// A type name that rouge-score rejects (e.g. `rouge0`, `rougeX`).
    InvalidType(String),
}

impl fmt::Display for RougeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidType(name) => {
                write!(f, "invalid rouge type {name:?} (expected rouge1..rouge9, rougeL or rougeLsum)")
            }
        }
    }
}

impl FromStr for RougeType {
    type Err = RougeError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "rougeL" => Ok(Self::L),
            "rougeLsum" => Ok(Self::LSum),
            _ => match name.strip_prefix("rouge").map(str::as_bytes) {
                Some(&[d]) if (b'1'..=b'9').contains(&d) => Ok(Self::N(d - b'0')),
                _ => Err(RougeError::InvalidType(name.into())),
            },
        }
    }
}

impl fmt::Display for RougeType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::N(n) => write!(f, "rouge{n}"),
            Self::L => write!(f, "rougeL"),
            Self::LSum => write!(f, "rougeLsum"),
        }
    }
}

/// rouge-score's `Score` tuple.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RougeScore {
    /// Overlap over the prediction's size.
    pub precision: f64,
    /// Overlap over the target's size.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub fmeasure: f64,
}

impl RougeScore {
    /// `scoring.fmeasure`, operation for operation.
    fn from_pr(precision: f64, recall: f64) -> Self {
        let fmeasure = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
        Self { precision, recall, fmeasure }
    }
}

/// One token of rouge-score's tokenizer, with where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RougeToken {
    /// The token as compared (lowercased, maybe stemmed).
    pub text: String,
    /// Byte range of the token's characters in the original text.
    pub start: usize,
    /// End of that byte range (exclusive).
    pub end: usize,
}

/// rouge-score's `tokenize(text, stemmer)` with byte spans into `text`.
pub fn tokenize(text: &str, use_stemmer: bool) -> Vec<RougeToken> {
    let mut tokens = Vec::new();
    for_each_raw_token(text, |raw, start, end| {
        let token = if use_stemmer && raw.len() > 3 { porter::stem(raw) } else { String::from(raw) };
        if !token.is_empty() {
            tokens.push(RougeToken { text: token, start, end });
        }
    });
    tokens
}

/// Calls `emit(token, start, end)` for each `[a-z0-9]+` run of the
/// lowercased text; `start..end` is the byte range in the original text.
///
/// Of all non-ASCII characters only two lowercase (in Python 3.11) to
/// something containing `[a-z0-9]`: U+0130 'İ' to "i\u{307}" (an 'i' then a
/// separator) and U+212A KELVIN SIGN to 'k'; `metrics_unicode_tables.py`
/// checks this. Every other non-ASCII character separates tokens.
fn for_each_raw_token(text: &str, mut emit: impl FnMut(&str, usize, usize)) {
    // Fast path: every non-ASCII byte separates tokens, until one of the two
    // special characters shows up; from the start of the token it could join,
    // the general path takes over (tokens never span a separator, so starting
    // there is the same as starting at the beginning).
    let bytes = text.as_bytes();
    let mut lowered = String::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            if bytes[i] >= 0x80 && is_special_at(bytes, i) {
                return for_each_raw_token_special(text, i, emit);
            }
            i += 1;
            continue;
        }
        let start = i;
        let mut has_upper = false;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            has_upper |= bytes[i].is_ascii_uppercase();
            i += 1;
        }
        if i < bytes.len() && bytes[i] >= 0x80 && is_special_at(bytes, i) {
            return for_each_raw_token_special(text, start, emit);
        }
        let run = &text[start..i];
        if has_upper {
            lowered.clear();
            lowered.push_str(run);
            lowered.make_ascii_lowercase();
            emit(&lowered, start, i);
        } else {
            emit(run, start, i);
        }
    }
}

/// [`for_each_raw_token`] followed by interning, for scoring without the
/// stemmer: each token's interner key is built (lowercased) while scanning,
/// so no token string is made. `b | 0x20` lowercases an ASCII letter and
/// leaves a digit as it is.
fn intern_raw_tokens(text: &str, ids: &mut Interner, out: &mut Vec<u32>) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_alphanumeric() {
            if bytes[i] >= 0x80 && is_special_at(bytes, i) {
                return for_each_raw_token_special(text, i, |raw, _, _| out.push(ids.id(raw)));
            }
            i += 1;
            continue;
        }
        let start = i;
        let mut key = 0u128;
        while i < bytes.len() && bytes[i].is_ascii_alphanumeric() {
            if i - start < 15 {
                key |= u128::from(bytes[i] | 0x20) << (8 * (i - start));
            }
            i += 1;
        }
        if i < bytes.len() && bytes[i] >= 0x80 && is_special_at(bytes, i) {
            return for_each_raw_token_special(text, start, |raw, _, _| out.push(ids.id(raw)));
        }
        let len = i - start;
        let id = if len <= 15 {
            ids.id_short_key(key | ((len as u128) << 120))
        } else {
            ids.id(&text[start..i].to_ascii_lowercase())
        };
        out.push(id);
    }
}

/// Whether U+0130 (`C4 B0`) or U+212A (`E2 84 AA`) starts at byte `i`
/// (both lead bytes never occur inside another character).
#[inline]
fn is_special_at(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        Some(0xC4) => bytes.get(i + 1) == Some(&0xB0),
        Some(0xE2) => bytes.get(i + 1..i + 3) == Some(&[0x84, 0xAA][..]),
        _ => false,
    }
}

/// [`for_each_raw_token`] for text containing U+212A or U+0130, from byte
/// `from` (a character boundary where no token is in progress).
fn for_each_raw_token_special(text: &str, from: usize, mut emit: impl FnMut(&str, usize, usize)) {
    let bytes = text.as_bytes();
    let mut current = String::new();
    let mut start = from;
    let mut i = from;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii() {
            let l = b.to_ascii_lowercase();
            if l.is_ascii_lowercase() || l.is_ascii_digit() {
                if current.is_empty() {
                    start = i;
                }
                current.push(char::from(l));
            } else if !current.is_empty() {
                emit(&current, start, i);
                current.clear();
            }
            i += 1;
            continue;
        }
        let c = text.get(i..).and_then(|rest| rest.chars().next()).unwrap_or(char::REPLACEMENT_CHARACTER);
        let width = c.len_utf8();
        match c {
            '\u{212A}' => {
                if current.is_empty() {
                    start = i;
                }
                current.push('k');
            }
            '\u{130}' => {
                if current.is_empty() {
                    start = i;
                }
                current.push('i');
                emit(&current, start, i + width);
                current.clear();
            }
            _ => {
                if !current.is_empty() {
                    emit(&current, start, i);
                    current.clear();
                }
            }
        }
        i += width;
    }
    if !current.is_empty() {
        emit(&current, start, text.len());
    }
}

/// What the Evaluate tab highlights for ROUGE-L: both texts' tokens (with
/// their byte spans in the original texts) and which of them form the LCS.
#[derive(Clone, Debug, PartialEq)]
pub struct RougeLAlignment {
    /// Tokens of the target (reference) text.
    pub target: Vec<RougeToken>,
    /// Tokens of the prediction.
    pub prediction: Vec<RougeToken>,
    /// (target token index, prediction token index) of each LCS token, in order.
    pub pairs: Vec<(usize, usize)>,
    /// The rougeL score of the pair.
    pub score: RougeScore,
}

/// Tokenizes both texts as rouge-score does and reads out the LCS that
/// rouge-score's backtracking finds (for rougeL over the whole texts).
pub fn rouge_l_alignment(target: &str, prediction: &str, use_stemmer: bool) -> RougeLAlignment {
    let target_tokens = tokenize(target, use_stemmer);
    let prediction_tokens = tokenize(prediction, use_stemmer);
    let t: Vec<&str> = target_tokens.iter().map(|x| x.text.as_str()).collect();
    let p: Vec<&str> = prediction_tokens.iter().map(|x| x.text.as_str()).collect();
    let pairs = lcs_alignment(&t, &p);
    let score = if t.is_empty() || p.is_empty() {
        RougeScore::default()
    } else {
        RougeScore::from_pr(pairs.len() as f64 / p.len() as f64, pairs.len() as f64 / t.len() as f64)
    };
    RougeLAlignment { target: target_tokens, prediction: prediction_tokens, pairs, score }
}

/// The ROUGE-L alignment of two token sequences, for display: pairs of
/// (target index, prediction index) on the LCS rouge-score reads out.
pub fn lcs_alignment<T: PartialEq>(target: &[T], prediction: &[T]) -> Vec<(usize, usize)> {
    let table = lcs_table(target, prediction);
    let cols = prediction.len() + 1;
    let (mut i, mut j) = (target.len(), prediction.len());
    let mut pairs = Vec::new();
    while i > 0 && j > 0 {
        if target[i - 1] == prediction[j - 1] {
            pairs.push((i - 1, j - 1));
            i -= 1;
            j -= 1;
        } else if table[i * cols + j - 1] > table[(i - 1) * cols + j] {
            j -= 1;
        } else {
            i -= 1;
        }
    }
    pairs.reverse();
    pairs
}

/// rouge-score's `_lcs_table`, flattened: `(rows + 1) x (cols + 1)`.
fn lcs_table<T: PartialEq>(target: &[T], prediction: &[T]) -> Vec<u32> {
    let cols = prediction.len() + 1;
    let mut table = alloc::vec![0u32; (target.len() + 1) * cols];
    for i in 1..=target.len() {
        for j in 1..=prediction.len() {
            table[i * cols + j] = if target[i - 1] == prediction[j - 1] {
                table[(i - 1) * cols + j - 1] + 1
            } else {
                table[(i - 1) * cols + j].max(table[i * cols + j - 1])
            };
        }
    }
    table
}

/// Length of the LCS by the bit-parallel algorithm of Allison & Dix (1986)
/// / Hyyrö (2004): one bit per prediction position, `ceil(m / 64)` words per
/// target token instead of `m` table cells. Token ids must be dense (below
/// `vocab`), which the per-pair interner guarantees.
///
/// With `M[t]` the positions where the prediction has token `t`, each target
/// token updates `V <- (V + (V & M[t])) | (V & !M[t])`; the LCS length is
/// the number of zero bits of `V` among the first `m`.
fn lcs_length(target: &[u32], prediction: &[u32], vocab: usize, masks: &mut Vec<u64>, v: &mut Vec<u64>) -> u32 {
    let words = prediction.len().div_ceil(64);
    masks.clear();
    masks.resize(vocab * words, 0);
    for (j, &t) in prediction.iter().enumerate() {
        if let Some(word) = masks.get_mut(t as usize * words + j / 64) {
            *word |= 1u64 << (j % 64);
        }
    }
    v.clear();
    v.resize(words, !0u64);
    for &t in target {
        let Some(m) = masks.get(t as usize * words..(t as usize + 1) * words) else { continue };
        let mut carry = 0u64;
        for (vk, &mk) in v.iter_mut().zip(m) {
            let u = *vk & mk;
            let (sum, c1) = vk.overflowing_add(u);
            let (sum, c2) = sum.overflowing_add(carry);
            carry = u64::from(c1 || c2);
            *vk = sum | (*vk & !mk);
        }
    }
    let mut lcs = 0;
    for (k, &vk) in v.iter().enumerate() {
        let bits = (prediction.len() - k * 64).min(64);
        let valid = if bits == 64 { !0u64 } else { (1u64 << bits) - 1 };
        lcs += (!vk & valid).count_ones();
    }
    lcs
}

/// Scores (target, prediction) pairs, caching stems and reusing buffers.
#[derive(Debug, Clone)]
pub struct RougeScorer {
    types: Vec<RougeType>,
    use_stemmer: bool,
    /// Raw tokens of the current pair.
    raw_ids: Interner,
    /// Raw token id -> id of its (stemmed) form, for the current pair.
    form_of_raw: Vec<u32>,
    /// Stemmed forms of the current pair, so tokens with one stem share an id.
    form_ids: Interner,
    /// Porter stems of every token seen (stemming is the slow part).
    stems: HashMap<String, String>,
    target: Vec<u32>,
    prediction: Vec<u32>,
    /// Match masks and state of the bit-parallel LCS.
    row_a: Vec<u64>,
    row_b: Vec<u64>,
    /// Sorted packed bigrams of the target and the prediction.
    target_bigrams: Vec<u64>,
    prediction_bigrams: Vec<u64>,
    /// Sorted packed 3- and 4-grams of the target and the prediction.
    target_grams: Vec<u128>,
    prediction_grams: Vec<u128>,
    unigram_counts: Vec<u32>,
}

impl RougeScorer {
    /// `RougeScorer(rouge_types, use_stemmer)`.
    pub fn new(types: Vec<RougeType>, use_stemmer: bool) -> Self {
        Self {
            types,
            use_stemmer,
            raw_ids: Interner::new(),
            form_of_raw: Vec::new(),
            form_ids: Interner::new(),
            stems: HashMap::new(),
            target: Vec::new(),
            prediction: Vec::new(),
            row_a: Vec::new(),
            row_b: Vec::new(),
            target_bigrams: Vec::new(),
            prediction_bigrams: Vec::new(),
            target_grams: Vec::new(),
            prediction_grams: Vec::new(),
            unigram_counts: Vec::new(),
        }
    }

    /// The types this scorer reports, in order.
    pub fn types(&self) -> &[RougeType] {
        &self.types
    }

    /// Tokenizes `text` into ids (cleared first).
    fn token_ids_into(&mut self, text: &str, out: &mut Vec<u32>) {
        out.clear();
        if !self.use_stemmer {
            return intern_raw_tokens(text, &mut self.raw_ids, out);
        }
        let use_stemmer = self.use_stemmer;
        let (raw_ids, form_of_raw, form_ids, stems) =
            (&mut self.raw_ids, &mut self.form_of_raw, &mut self.form_ids, &mut self.stems);
        for_each_raw_token(text, |raw, _, _| {
            let raw_id = raw_ids.id(raw);
            if !use_stemmer {
                out.push(raw_id);
                return;
            }
            let id = match form_of_raw.get(raw_id as usize) {
                Some(&id) => id,
                None => {
                    let id = if raw.len() > 3 {
                        if !stems.contains_key(raw) {
                            stems.insert(String::from(raw), porter::stem(raw));
                        }
                        form_ids.id(stems.get(raw).map_or(raw, String::as_str))
                    } else {
                        form_ids.id(raw)
                    };
                    form_of_raw.push(id);
                    id
                }
            };
            out.push(id);
        });
    }

    /// `RougeScorer.score(target, prediction)`: one score per type, in order.
    pub fn score(&mut self, target: &str, prediction: &str) -> Vec<RougeScore> {
        // Token ids are local to one pair (see `Interner`).
        self.raw_ids.clear();
        self.form_of_raw.clear();
        self.form_ids.clear();
        let mut target_ids = core::mem::take(&mut self.target);
        let mut prediction_ids = core::mem::take(&mut self.prediction);
        self.token_ids_into(target, &mut target_ids);
        self.token_ids_into(prediction, &mut prediction_ids);
        let types = core::mem::take(&mut self.types);
        let scores = types
            .iter()
            .map(|rouge_type| match *rouge_type {
                RougeType::N(n) => self.score_ngrams(&target_ids, &prediction_ids, usize::from(n)),
                RougeType::L => self.score_lcs(&target_ids, &prediction_ids),
                RougeType::LSum => self.score_summary_lcs(target, prediction),
            })
            .collect();
        self.types = types;
        self.target = target_ids;
        self.prediction = prediction_ids;
        scores
    }

    /// `_score_ngrams(_create_ngrams(target, n), _create_ngrams(prediction, n))`.
    fn score_ngrams(&mut self, target: &[u32], prediction: &[u32], n: usize) -> RougeScore {
        let intersection = if n == 1 {
            // Unigrams: ids are dense per pair, so count in arrays.
            let vocab = target.iter().chain(prediction).max().map_or(0, |&m| m as usize + 1);
            self.unigram_counts.clear();
            self.unigram_counts.resize(2 * vocab, 0);
            let (in_target, in_prediction) = self.unigram_counts.split_at_mut(vocab);
            target.iter().for_each(|&t| in_target[t as usize] += 1);
            prediction.iter().for_each(|&t| in_prediction[t as usize] += 1);
            in_target.iter().zip(in_prediction.iter()).map(|(&a, &b)| u64::from(a.min(b))).sum()
        } else if n == 2 {
            // A line has few n-grams: sorting them and merging is cheaper
            // than two hash maps, and counts the same clipped overlap.
            let bigram = |w: &[u32]| (u64::from(w[0]) << 32) | u64::from(w[1]);
            sorted_grams(target, 2, bigram, &mut self.target_bigrams);
            sorted_grams(prediction, 2, bigram, &mut self.prediction_bigrams);
            sorted_overlap(&self.target_bigrams, &self.prediction_bigrams)
        } else if n <= MAX_PACKED_ORDER {
            sorted_grams(target, n, pack, &mut self.target_grams);
            sorted_grams(prediction, n, pack, &mut self.prediction_grams);
            sorted_overlap(&self.target_grams, &self.prediction_grams)
        } else {
            let mut target_counts: HashMap<&[u32], u32> = HashMap::new();
            let mut prediction_counts: HashMap<&[u32], u32> = HashMap::new();
            target.windows(n).for_each(|w| *target_counts.entry(w).or_insert(0) += 1);
            prediction.windows(n).for_each(|w| *prediction_counts.entry(w).or_insert(0) += 1);
            overlap(&target_counts, &prediction_counts)
        };
        let target_total = target.len().saturating_sub(n - 1).max(1);
        let prediction_total = prediction.len().saturating_sub(n - 1).max(1);
        RougeScore::from_pr(intersection as f64 / prediction_total as f64, intersection as f64 / target_total as f64)
    }

    /// `_score_lcs(target, prediction)`.
    fn score_lcs(&mut self, target: &[u32], prediction: &[u32]) -> RougeScore {
        if target.is_empty() || prediction.is_empty() {
            return RougeScore::default();
        }
        let vocab = target.iter().chain(prediction).max().map_or(0, |&m| m as usize + 1);
        let lcs = lcs_length(target, prediction, vocab, &mut self.row_a, &mut self.row_b);
        RougeScore::from_pr(f64::from(lcs) / prediction.len() as f64, f64::from(lcs) / target.len() as f64)
    }

    /// `_summary_level_lcs` over the newline-separated sentences.
    fn score_summary_lcs(&mut self, target: &str, prediction: &str) -> RougeScore {
        let sentences = |scorer: &mut Self, text: &str| -> Vec<Vec<u32>> {
            text.split('\n')
                .filter(|s| !s.is_empty())
                .map(|s| {
                    let mut ids = Vec::new();
                    scorer.token_ids_into(s, &mut ids);
                    ids
                })
                .collect()
        };
        let reference = sentences(self, target);
        let candidate = sentences(self, prediction);
        if reference.is_empty() || candidate.is_empty() {
            return RougeScore::default();
        }
        let m: usize = reference.iter().map(Vec::len).sum();
        let n: usize = candidate.iter().map(Vec::len).sum();
        if m == 0 || n == 0 {
            return RougeScore::default();
        }
        let mut counts_reference: HashMap<u32, u32> = HashMap::new();
        let mut counts_candidate: HashMap<u32, u32> = HashMap::new();
        reference.iter().flatten().for_each(|&t| *counts_reference.entry(t).or_insert(0) += 1);
        candidate.iter().flatten().for_each(|&t| *counts_candidate.entry(t).or_insert(0) += 1);
        let mut hits = 0u64;
        let mut union: Vec<usize> = Vec::new();
        for sentence in &reference {
            // `_union_lcs`: sorted union of the LCS indices into `sentence`.
            union.clear();
            for c in &candidate {
                union.extend(lcs_alignment(sentence, c).into_iter().map(|(i, _)| i));
            }
            union.sort_unstable();
            union.dedup();
            for &i in &union {
                let token = sentence[i];
                let (Some(in_candidate), Some(in_reference)) =
                    (counts_candidate.get_mut(&token), counts_reference.get_mut(&token))
                else {
                    continue;
                };
                if *in_candidate > 0 && *in_reference > 0 {
                    hits += 1;
                    *in_candidate -= 1;
                    *in_reference -= 1;
                }
            }
        }
        RougeScore::from_pr(hits as f64 / n as f64, hits as f64 / m as f64)
    }
}

/// The n-grams of order `n` of `ids`, each packed into one key by `key`,
/// sorted into `out` (cleared first).
fn sorted_grams<K: Ord>(ids: &[u32], n: usize, key: impl Fn(&[u32]) -> K, out: &mut Vec<K>) {
    out.clear();
    out.extend(ids.windows(n).map(key));
    out.sort_unstable();
}

/// `sum(min(count_a[g], count_b[g]))` over two sorted multisets: a merge
/// pairs equal keys one to one.
fn sorted_overlap<K: Ord>(a: &[K], b: &[K]) -> u64 {
    let (mut i, mut j, mut matched) = (0, 0, 0u64);
    while let (Some(x), Some(y)) = (a.get(i), b.get(j)) {
        match x.cmp(y) {
            core::cmp::Ordering::Less => i += 1,
            core::cmp::Ordering::Greater => j += 1,
            core::cmp::Ordering::Equal => {
                matched += 1;
                i += 1;
                j += 1;
            }
        }
    }
    matched
}

/// `sum(min(target[g], prediction[g]) for g in target)`.
fn overlap<K: core::hash::Hash + Eq>(target: &HashMap<K, u32>, prediction: &HashMap<K, u32>) -> u64 {
    target.iter().map(|(gram, &count)| u64::from(count.min(prediction.get(gram).copied().unwrap_or(0)))).sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn tokenizer_matches_rouge_score() {
        let texts: Vec<String> = tokenize("The QUICK-brown fox's 3rd İnning, KELVIN", true).into_iter().map(|t| t.text).collect();
        // rouge_score.tokenize.tokenize(text, PorterStemmer())
        assert_eq!(texts, ["the", "quick", "brown", "fox", "s", "3rd", "i", "nning", "kelvin"]);
        // The special characters join the token before them wherever they occur.
        let texts: Vec<String> = tokenize("ab dé\u{212A}x zz\u{212A} İ\u{212A}\u{212A}q", false).into_iter().map(|t| t.text).collect();
        assert_eq!(texts, ["ab", "d", "kx", "zzk", "i", "kkq"]);
        let spans: Vec<(usize, usize)> = tokenize("ab zz\u{212A}", false).into_iter().map(|t| (t.start, t.end)).collect();
        assert_eq!(spans, [(0, 2), (3, 8)]);
    }

    #[test]
    fn readme_example_matches_rouge_score() {
        let mut scorer = RougeScorer::new(vec![RougeType::N(1), RougeType::L], false);
        let scores = scorer.score("The quick brown fox jumps over the lazy dog", "The quick brown dog jumps on the log.");
        // Printed by rouge-score 0.1.2.
        assert_eq!(scores[0], RougeScore { precision: 0.75, recall: 0.6666666666666666, fmeasure: 0.7058823529411765 });
        assert_eq!(scores[1], RougeScore { precision: 0.625, recall: 0.5555555555555556, fmeasure: 0.5882352941176471 });
    }

    #[test]
    fn bit_parallel_lcs_matches_the_table() {
        let mut rng = crate::rng::Rng::new(7);
        let (mut masks, mut v) = (Vec::new(), Vec::new());
        for _ in 0..300 {
            let vocab = 1 + (rng.next_u32() % 6) as usize;
            let len = |rng: &mut crate::rng::Rng| (rng.next_u32() % 150) as usize;
            let (n, m) = (len(&mut rng), len(&mut rng));
            let a: Vec<u32> = (0..n).map(|_| rng.next_u32() % vocab as u32).collect();
            let b: Vec<u32> = (0..m).map(|_| rng.next_u32() % vocab as u32).collect();
            let table = lcs_table(&a, &b);
            let expected = table.last().copied().unwrap_or(0);
            assert_eq!(lcs_length(&a, &b, vocab, &mut masks, &mut v), expected, "{a:?} {b:?}");
        }
    }

    #[test]
    fn alignment_marks_the_lcs_and_agrees_with_the_score() {
        let target = "The quick brown fox jumps over the lazy dog";
        let prediction = "The quick brown dog jumps on the log.";
        let alignment = rouge_l_alignment(target, prediction, false);
        let words: Vec<&str> = alignment.pairs.iter().map(|&(i, _)| alignment.target[i].text.as_str()).collect();
        assert_eq!(words, ["the", "quick", "brown", "jumps", "the"]);
        let (i, j) = alignment.pairs[3];
        assert_eq!(&target[alignment.target[i].start..alignment.target[i].end], "jumps");
        assert_eq!(&prediction[alignment.prediction[j].start..alignment.prediction[j].end], "jumps");
        let mut scorer = RougeScorer::new(vec![RougeType::L], false);
        assert_eq!(alignment.score, scorer.score(target, prediction)[0]);
    }

    #[test]
    fn fused_interning_equals_tokenize_then_intern() {
        let pieces = ["a", "B", "7", " ", "é", "\u{212A}", "\u{130}", "-", "xyzXYZ0123456789", "日", "Qq"];
        let mut rng = crate::rng::Rng::new(5);
        for _ in 0..500 {
            let text: String = (0..rng.next_u32() % 30).map(|_| pieces[(rng.next_u32() % 11) as usize]).collect();
            let (mut fused, mut reference) = (Interner::new(), Interner::new());
            let mut got = Vec::new();
            intern_raw_tokens(&text, &mut fused, &mut got);
            let want: Vec<u32> = tokenize(&text, false).iter().map(|t| reference.id(&t.text)).collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn sorted_merge_overlap_equals_clipped_counts() {
        let mut rng = crate::rng::Rng::new(11);
        for _ in 0..200 {
            let a: Vec<u32> = (0..rng.next_u32() % 40).map(|_| rng.next_u32() % 4).collect();
            let b: Vec<u32> = (0..rng.next_u32() % 40).map(|_| rng.next_u32() % 4).collect();
            for n in 2..=4 {
                let mut counts_a: HashMap<&[u32], u32> = HashMap::new();
                let mut counts_b: HashMap<&[u32], u32> = HashMap::new();
                a.windows(n).for_each(|w| *counts_a.entry(w).or_insert(0) += 1);
                b.windows(n).for_each(|w| *counts_b.entry(w).or_insert(0) += 1);
                let (mut sa, mut sb) = (Vec::new(), Vec::new());
                sorted_grams(&a, n, pack, &mut sa);
                sorted_grams(&b, n, pack, &mut sb);
                assert_eq!(sorted_overlap(&sa, &sb), overlap(&counts_a, &counts_b), "{a:?} {b:?} n={n}");
            }
        }
    }

    #[test]
    fn parses_types_like_rouge_score() {
        assert_eq!("rouge9".parse::<RougeType>(), Ok(RougeType::N(9)));
        assert!("rouge0".parse::<RougeType>().is_err());
        assert!("rouge10".parse::<RougeType>().is_err());
        assert_eq!("rougeLsum".parse::<RougeType>(), Ok(RougeType::LSum));
    }
}
