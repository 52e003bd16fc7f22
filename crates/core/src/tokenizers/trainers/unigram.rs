//! Unigram training (SentencePiece's EM algorithm, simplified).
//!
//! 1. Seed pieces: every char, plus the most frequent substrings of the
//!    words (up to `max_piece_length` chars), scored by log frequency.
//! 2. EM: expected piece counts from the forward-backward algorithm over each
//!    word's lattice of possible pieces; new scores = digamma(count) -
//!    digamma(total) (the Bayesian update SentencePiece uses).
//! 3. Prune: drop the pieces whose removal costs the least likelihood (the
//!    difference between the piece and its best segmentation without it,
//!    times its expected count), shrinking by `shrinking_factor` per round,
//!    until `vocab_size` is reached. Single chars are always kept.
//!
//! This follows HF's `UnigramTrainer` closely but not bit for bit (its seed
//! uses a suffix array); the saved model loads in HF and encodes identically.

use super::super::error::TokenizerError;
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use hashbrown::HashMap;

/// Settings of the Unigram trainer (HF's `UnigramTrainer` arguments).
#[derive(Debug, Clone)]
pub struct UnigramTrainerConfig {
    /// Target vocabulary size, special tokens included.
    pub vocab_size: usize,
    /// Tokens put first in the vocabulary (score 0).
    pub special_tokens: Vec<String>,
    /// The unknown token (must be one of `special_tokens` to be used).
    pub unk_token: Option<String>,
    /// Longest piece, in chars.
    pub max_piece_length: usize,
    /// Fraction of pieces kept at each pruning round.
    pub shrinking_factor: f64,
    /// EM iterations between prunings.
    pub n_sub_iterations: usize,
    /// Most seed pieces.
    pub seed_size: usize,
}

impl Default for UnigramTrainerConfig {
    fn default() -> Self {
        Self {
            vocab_size: 8000,
            special_tokens: Vec::new(),
            unk_token: None,
            max_piece_length: 16,
            shrinking_factor: 0.75,
            n_sub_iterations: 2,
            seed_size: 100_000,
        }
    }
}

/// ψ(x), the digamma function (recurrence then asymptotic series).
fn digamma(mut x: f64) -> f64 {
    let mut result = 0.0;
    while x < 6.0 {
        result -= 1.0 / x;
        x += 1.0;
    }
    let f = 1.0 / (x * x);
    result + libm::log(x) - 0.5 / x
        - f * (1.0 / 12.0 - f * (1.0 / 120.0 - f * (1.0 / 252.0 - f * (1.0 / 240.0 - f / 132.0))))
}

fn log_sum_exp(a: f64, b: f64) -> f64 {
    if a == f64::NEG_INFINITY {
        return b;
    }
    if b == f64::NEG_INFINITY {
        return a;
    }
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    hi + libm::log1p(libm::exp(lo - hi))
}

/// Char boundary byte offsets of `w` (including 0 and len).
fn boundaries(w: &str) -> Vec<usize> {
    let mut b: Vec<usize> = w.char_indices().map(|(i, _)| i).collect();
    b.push(w.len());
    b
}

struct Model {
    pieces: Vec<(String, f64)>,
    index: HashMap<String, usize>,
    max_len: usize,
}

impl Model {
    fn new(pieces: Vec<(String, f64)>, max_len: usize) -> Self {
        let index = pieces.iter().enumerate().map(|(i, (p, _))| (p.clone(), i)).collect();
        Self { pieces, index, max_len }
    }

    /// Pieces of `w` as (start boundary index, end boundary index, piece id).
    fn lattice(&self, w: &str, b: &[usize]) -> Vec<(usize, usize, usize)> {
        let mut edges = Vec::new();
        for s in 0..b.len() - 1 {
            for e in s + 1..b.len().min(s + 1 + self.max_len) {
                if let Some(&id) = self.index.get(&w[b[s]..b[e]]) {
                    edges.push((s, e, id));
                }
            }
        }
        edges
    }

    /// Adds `count` × the expected piece counts of `w` to `expected`; returns log Z.
    fn expected_counts(&self, w: &str, count: f64, expected: &mut [f64]) -> f64 {
        let b = boundaries(w);
        let n = b.len() - 1;
        let edges = self.lattice(w, &b);
        let mut alpha = alloc::vec![f64::NEG_INFINITY; n + 1];
        let mut beta = alloc::vec![f64::NEG_INFINITY; n + 1];
        alpha[0] = 0.0;
        beta[n] = 0.0;
        // edges are sorted by start, so alpha can be filled in start order
        for &(s, e, id) in &edges {
            alpha[e] = log_sum_exp(alpha[e], alpha[s] + self.pieces[id].1);
        }
        for &(s, e, id) in edges.iter().rev() {
            beta[s] = log_sum_exp(beta[s], beta[e] + self.pieces[id].1);
        }
        let z = alpha[n];
        if z == f64::NEG_INFINITY {
            return z;
        }
        for &(s, e, id) in &edges {
            let p = libm::exp(alpha[s] + self.pieces[id].1 + beta[e] - z);
            expected[id] += count * p;
        }
        z
    }

    /// Best segmentation score of `w` without using piece `skip`.
    fn best_without(&self, w: &str, skip: usize) -> f64 {
        let b = boundaries(w);
        let n = b.len() - 1;
        let mut best = alloc::vec![f64::NEG_INFINITY; n + 1];
        best[0] = 0.0;
        for (s, e, id) in self.lattice(w, &b) {
            if id != skip && best[s] > f64::NEG_INFINITY {
                let cand = best[s] + self.pieces[id].1;
                if cand > best[e] {
                    best[e] = cand;
                }
            }
        }
        best[n]
    }
}

/// Trains a Unigram vocabulary on word counts: returns (piece, score) in id
/// order and the unknown token's id.
pub fn train_unigram(
    word_counts: &BTreeMap<String, u64>,
    cfg: &UnigramTrainerConfig,
) -> Result<(Vec<(String, f64)>, Option<usize>), TokenizerError> {
    let max_len = cfg.max_piece_length.max(1);
    // Seeds: chars (always kept) and frequent substrings.
    let mut chars: HashMap<char, u64> = HashMap::new();
    let mut subs: HashMap<String, u64> = HashMap::new();
    for (w, &count) in word_counts {
        let b = boundaries(w);
        for c in w.chars() {
            *chars.entry(c).or_default() += count;
        }
        for s in 0..b.len() - 1 {
            for e in s + 2..b.len().min(s + 1 + max_len) {
                *subs.entry(w[b[s]..b[e]].to_string()).or_default() += count;
            }
        }
    }
    if chars.is_empty() {
        return Err(TokenizerError::Training("no text to train on".into()));
    }
    let mut seeds: Vec<(String, u64)> = subs.into_iter().filter(|(_, n)| *n >= 2).collect();
    seeds.sort_by(|a, b| {
        let sa = a.1 * a.0.chars().count() as u64;
        let sb = b.1 * b.0.chars().count() as u64;
        sb.cmp(&sa).then_with(|| a.0.cmp(&b.0))
    });
    seeds.truncate(cfg.seed_size);
    let mut char_list: Vec<(char, u64)> = chars.into_iter().collect();
    char_list.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let n_chars = char_list.len();
    let mut pieces: Vec<(String, f64)> = Vec::new();
    let total: f64 = char_list.iter().map(|c| c.1 as f64).sum::<f64>() + seeds.iter().map(|s| s.1 as f64).sum::<f64>();
    let log_total = libm::log(total);
    for (c, n) in &char_list {
        pieces.push((c.to_string(), libm::log(*n as f64) - log_total));
    }
    for (s, n) in &seeds {
        pieces.push((s.clone(), libm::log(*n as f64) - log_total));
    }

    let specials: Vec<&String> = cfg.special_tokens.iter().collect();
    let desired = cfg.vocab_size.saturating_sub(specials.len()).max(n_chars);
    let words: Vec<(&String, f64)> = word_counts.iter().map(|(w, &c)| (w, c as f64)).collect();
    let mut model = Model::new(pieces, max_len);
    loop {
        for _ in 0..cfg.n_sub_iterations.max(1) {
            let mut expected = alloc::vec![0.0f64; model.pieces.len()];
            for (w, c) in &words {
                model.expected_counts(w, *c, &mut expected);
            }
            // M-step: keep chars, drop pieces that are (almost) never used.
            let mut kept: Vec<(String, f64)> = Vec::with_capacity(model.pieces.len());
            let mut kept_counts: Vec<f64> = Vec::with_capacity(model.pieces.len());
            for (i, (p, _)) in model.pieces.iter().enumerate() {
                if i < n_chars || expected[i] >= 0.5 {
                    kept.push((p.clone(), 0.0));
                    kept_counts.push(expected[i].max(1e-10));
                }
            }
            let sum: f64 = kept_counts.iter().sum();
            let log_sum = digamma(sum);
            for (piece, &n) in kept.iter_mut().zip(&kept_counts) {
                piece.1 = digamma(n) - log_sum;
            }
            model = Model::new(kept, max_len);
        }
        if model.pieces.len() <= desired {
            break;
        }
        // Prune: loss of removing each multi-char piece.
        let mut expected = alloc::vec![0.0f64; model.pieces.len()];
        for (w, c) in &words {
            model.expected_counts(w, *c, &mut expected);
        }
        let mut losses: Vec<(f64, usize)> = Vec::new();
        for i in n_chars..model.pieces.len() {
            let (p, score) = &model.pieces[i];
            let alt = model.best_without(p, i);
            losses.push((expected[i] * (score - alt), i));
        }
        losses.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(core::cmp::Ordering::Equal).then(a.1.cmp(&b.1)));
        let target = desired.max((model.pieces.len() as f64 * cfg.shrinking_factor) as usize);
        let keep_multi = target.saturating_sub(n_chars);
        let mut keep: Vec<bool> = alloc::vec![false; model.pieces.len()];
        keep[..n_chars].iter_mut().for_each(|k| *k = true);
        for &(_, i) in losses.iter().take(keep_multi) {
            keep[i] = true;
        }
        let pieces: Vec<(String, f64)> =
            model.pieces.iter().zip(&keep).filter(|(_, &k)| k).map(|(p, _)| p.clone()).collect();
        model = Model::new(pieces, max_len);
    }

    // Final vocabulary: specials (score 0), then pieces by decreasing score.
    let mut final_pieces: Vec<(String, f64)> = Vec::new();
    for s in &specials {
        final_pieces.push(((*s).clone(), 0.0));
    }
    let mut rest: Vec<(String, f64)> =
        model.pieces.into_iter().filter(|(p, _)| !cfg.special_tokens.contains(p)).collect();
    rest.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap_or(core::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    final_pieces.extend(rest);
    let unk_id = cfg.unk_token.as_ref().and_then(|u| final_pieces.iter().position(|(p, _)| p == u));
    if cfg.unk_token.is_some() && unk_id.is_none() {
        return Err(TokenizerError::Training("the unknown token must be one of the special tokens".into()));
    }
    Ok((final_pieces, unk_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digamma_matches_known_values() {
        assert!((digamma(1.0) + 0.5772156649).abs() < 1e-9);
        assert!((digamma(10.0) - 2.2517525891).abs() < 1e-9);
    }

    #[test]
    fn learns_frequent_words() {
        let mut wc = BTreeMap::new();
        wc.insert("▁hello".to_string(), 50);
        wc.insert("▁help".to_string(), 20);
        wc.insert("▁world".to_string(), 40);
        let cfg = UnigramTrainerConfig {
            vocab_size: 20,
            special_tokens: alloc::vec!["<unk>".into()],
            unk_token: Some("<unk>".into()),
            ..Default::default()
        };
        let (pieces, unk) = train_unigram(&wc, &cfg).unwrap();
        assert_eq!(unk, Some(0));
        assert!(pieces.len() <= 20 || pieces.len() == 1 + 10);
        assert!(pieces.iter().any(|(p, _)| p.chars().count() > 1));
    }
}
