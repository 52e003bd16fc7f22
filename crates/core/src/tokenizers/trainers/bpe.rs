//! BPE training, merge for merge the same as HF's `BpeTrainer`.
//!
//! 1. Count the pre-tokenized words of the corpus.
//! 2. Vocabulary = special tokens, then the alphabet (chars sorted by code
//!    point, optionally limited to the most frequent ones).
//! 3. Count every adjacent symbol pair, weighted by word frequency.
//! 4. Repeatedly merge the most frequent pair (ties: the pair of smaller
//!    ids first), update the pair counts of the words it occurs in, until the
//!    vocabulary is full or the best pair is rarer than `min_frequency`.
//!
//! The priority queue holds (count, pair, word positions) entries that may go
//! stale; a popped entry whose count changed is pushed back with the new count,
//! exactly like HF, so ties and the rare repeated merge happen as there.

use super::super::error::TokenizerError;
use alloc::collections::{BTreeMap, BinaryHeap};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cmp::Ordering;
use hashbrown::{HashMap, HashSet};

/// Settings of the BPE trainer (HF's `BpeTrainer` arguments).
#[derive(Debug, Clone)]
pub struct BpeTrainerConfig {
    /// Target vocabulary size (special tokens and alphabet included).
    pub vocab_size: usize,
    /// A pair must occur at least this many times to be merged.
    pub min_frequency: u64,
    /// Tokens put first in the vocabulary.
    pub special_tokens: Vec<String>,
    /// Keep only the most frequent chars of the alphabet.
    pub limit_alphabet: Option<usize>,
    /// Chars always in the alphabet (e.g. the 256 byte-level chars).
    pub initial_alphabet: Vec<char>,
    /// Prefix of non-initial symbols (`##` for WordPiece).
    pub continuing_subword_prefix: Option<String>,
    /// Suffix of word-final symbols (`</w>`).
    pub end_of_word_suffix: Option<String>,
    /// Longest token, in chars.
    pub max_token_length: Option<usize>,
}

impl Default for BpeTrainerConfig {
    fn default() -> Self {
        Self {
            vocab_size: 30_000,
            min_frequency: 0,
            special_tokens: Vec::new(),
            limit_alphabet: None,
            initial_alphabet: Vec::new(),
            continuing_subword_prefix: None,
            end_of_word_suffix: None,
            max_token_length: None,
        }
    }
}

/// What training produced.
#[derive(Debug, Clone)]
pub struct BpeTrained {
    /// token -> id
    pub vocab: HashMap<String, u32>,
    /// The merges in rank order (each pair once, at its last rank, as HF saves them).
    pub merges: Vec<(String, String)>,
}

type Pair = (u32, u32);

#[derive(Debug, PartialEq, Eq)]
struct Merge {
    pair: Pair,
    count: u64,
    pos: Vec<usize>,
}

impl Ord for Merge {
    fn cmp(&self, other: &Self) -> Ordering {
        // Highest count first, then the smallest pair.
        self.count.cmp(&other.count).then_with(|| other.pair.cmp(&self.pair))
    }
}

impl PartialOrd for Merge {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// A word being merged: symbol ids and their lengths in chars.
struct Word {
    ids: Vec<u32>,
    lens: Vec<usize>,
}

impl Word {
    /// Replaces every `(c1, c2)` by `new`; returns the pair count changes.
    fn merge(&mut self, c1: u32, c2: u32, new: u32, max_len: usize) -> Vec<(Pair, i64)> {
        let mut changes = Vec::new();
        let mut i = 0;
        while i < self.ids.len() {
            if self.ids[i] == c1 && i + 1 < self.ids.len() && self.ids[i + 1] == c2 {
                let new_len = self.lens[i] + self.lens[i + 1];
                if i > 0 {
                    changes.push(((self.ids[i - 1], c1), -1));
                    if self.lens[i - 1] + new_len < max_len {
                        changes.push(((self.ids[i - 1], new), 1));
                    }
                }
                self.ids[i] = new;
                self.lens[i] = new_len;
                self.ids.remove(i + 1);
                self.lens.remove(i + 1);
                if i + 1 < self.ids.len() {
                    changes.push(((c2, self.ids[i + 1]), -1));
                    if self.lens[i + 1] + new_len < max_len {
                        changes.push(((new, self.ids[i + 1]), 1));
                    }
                }
            }
            i += 1;
        }
        changes
    }
}

fn sorted_unique(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v.dedup();
    v
}

/// Trains BPE on word counts.
pub fn train_bpe(word_counts: &BTreeMap<String, u64>, cfg: &BpeTrainerConfig) -> Result<BpeTrained, TokenizerError> {
    let mut word_to_id: HashMap<String, u32> = HashMap::new();
    let mut id_to_word: Vec<String> = Vec::new();
    let add = |w: &str, word_to_id: &mut HashMap<String, u32>, id_to_word: &mut Vec<String>| -> u32 {
        if let Some(&id) = word_to_id.get(w) {
            return id;
        }
        id_to_word.push(w.to_string());
        let id = (id_to_word.len() - 1) as u32;
        word_to_id.insert(w.to_string(), id);
        id
    };
    for s in &cfg.special_tokens {
        add(s, &mut word_to_id, &mut id_to_word);
    }

    // Alphabet: every char weighted by word frequency; initial chars always kept.
    let mut alphabet: HashMap<char, u64> = HashMap::new();
    for (word, &count) in word_counts {
        for c in word.chars() {
            *alphabet.entry(c).or_default() += count;
        }
    }
    for &c in &cfg.initial_alphabet {
        alphabet.insert(c, u64::MAX);
    }
    let mut kept: Vec<(char, u64)> = alphabet.into_iter().collect();
    if let Some(limit) = cfg.limit_alphabet {
        let to_remove = kept.len().saturating_sub(limit);
        if to_remove > 0 {
            kept.sort_unstable_by_key(|&(c, n)| (n, c));
            kept.drain(..to_remove);
        }
    }
    kept.sort_unstable_by_key(|&(c, _)| c as u32);
    let mut buf = [0u8; 4];
    for (c, _) in &kept {
        add(c.encode_utf8(&mut buf), &mut word_to_id, &mut id_to_word);
    }

    // Words as symbol ids (chars outside the alphabet are dropped, as HF).
    let mut words: Vec<Word> = Vec::with_capacity(word_counts.len());
    let mut counts: Vec<u64> = Vec::with_capacity(word_counts.len());
    let mut piece = String::new();
    for (word, &count) in word_counts {
        let mut w = Word { ids: Vec::new(), lens: Vec::new() };
        let n = word.chars().count();
        for (i, c) in word.chars().enumerate() {
            if !word_to_id.contains_key(c.encode_utf8(&mut buf) as &str) {
                continue;
            }
            piece.clear();
            if i > 0 {
                if let Some(p) = &cfg.continuing_subword_prefix {
                    piece.push_str(p);
                }
            }
            piece.push(c);
            if i + 1 == n {
                if let Some(s) = &cfg.end_of_word_suffix {
                    piece.push_str(s);
                }
            }
            let id = add(&piece, &mut word_to_id, &mut id_to_word);
            w.ids.push(id);
            w.lens.push(1);
        }
        words.push(w);
        counts.push(count);
    }

    // Pair counts and where each pair occurs.
    let mut pair_counts: HashMap<Pair, i64> = HashMap::new();
    let mut where_to_update: HashMap<Pair, Vec<usize>> = HashMap::new();
    for (i, w) in words.iter().enumerate() {
        for win in w.ids.windows(2) {
            let pair = (win[0], win[1]);
            *pair_counts.entry(pair).or_default() += counts[i] as i64;
            where_to_update.entry(pair).or_default().push(i);
        }
    }
    let mut queue: BinaryHeap<Merge> = BinaryHeap::new();
    for (pair, pos) in where_to_update.drain() {
        let count = pair_counts.get(&pair).copied().unwrap_or(0);
        if count > 0 {
            queue.push(Merge { pair, count: count as u64, pos: sorted_unique(pos) });
        }
    }

    let max_len = cfg.max_token_length.unwrap_or(usize::MAX);
    let mut merges: Vec<(Pair, u32)> = Vec::new();
    while word_to_id.len() < cfg.vocab_size {
        let Some(mut top) = queue.pop() else { break };
        let current = pair_counts.get(&top.pair).copied().unwrap_or(0).max(0) as u64;
        if top.count != current {
            top.count = current;
            queue.push(top);
            continue;
        }
        if top.count < 1 || cfg.min_frequency > top.count {
            break;
        }
        let part_a = id_to_word[top.pair.0 as usize].clone();
        let mut part_b = id_to_word[top.pair.1 as usize].as_str();
        if let Some(p) = &cfg.continuing_subword_prefix {
            if let Some(rest) = part_b.strip_prefix(p.as_str()) {
                part_b = rest;
            }
        }
        let mut new_token = part_a;
        new_token.push_str(part_b);
        let new_id = add(&new_token, &mut word_to_id, &mut id_to_word);
        merges.push((top.pair, new_id));

        let mut touched: HashSet<usize> = HashSet::new();
        for &i in &top.pos {
            touched.insert(i);
            for (pair, change) in words[i].merge(top.pair.0, top.pair.1, new_id, max_len) {
                *pair_counts.entry(pair).or_default() += change * counts[i] as i64;
                if change > 0 {
                    where_to_update.entry(pair).or_default().push(i);
                }
            }
        }
        for (pair, pos) in where_to_update.drain() {
            let count = pair_counts.get(&pair).copied().unwrap_or(0);
            if count > 0 {
                queue.push(Merge { pair, count: count as u64, pos: sorted_unique(pos) });
            }
        }
    }

    // HF stores merges in a map: a pair merged twice keeps its last rank.
    let mut last_rank: HashMap<Pair, usize> = HashMap::new();
    for (rank, (pair, _)) in merges.iter().enumerate() {
        last_rank.insert(*pair, rank);
    }
    let merge_strings: Vec<(String, String)> = merges
        .iter()
        .enumerate()
        .filter(|(rank, (pair, _))| last_rank.get(pair) == Some(rank))
        .map(|(_, (pair, _))| (id_to_word[pair.0 as usize].clone(), id_to_word[pair.1 as usize].clone()))
        .collect();
    if word_to_id.is_empty() {
        return Err(TokenizerError::Training("empty vocabulary: no text and no special tokens".into()));
    }
    Ok(BpeTrained { vocab: word_to_id, merges: merge_strings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_pair_first() {
        let mut wc = BTreeMap::new();
        wc.insert("abab".to_string(), 3);
        wc.insert("ab".to_string(), 1);
        wc.insert("cd".to_string(), 2);
        let cfg = BpeTrainerConfig { vocab_size: 6, ..Default::default() };
        let t = train_bpe(&wc, &cfg).unwrap();
        assert_eq!(t.merges[0], ("a".to_string(), "b".to_string()));
        assert_eq!(t.merges[1], ("ab".to_string(), "ab".to_string()));
        assert_eq!(t.vocab.len(), 6);
    }
}
