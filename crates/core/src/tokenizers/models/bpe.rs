//! Byte-Pair Encoding (GPT-2 byte-level, and SentencePiece-style with byte fallback).
//!
//! A word starts as one symbol per character. Merges are ranked by the order
//! training learned them; the lowest-ranked adjacent pair is merged first.
//! A priority queue of candidate pairs (rank, position) makes this
//! O(n log n) per word instead of rescanning the word after each merge, and
//! a cache of already-seen words skips the work for repeated words.
//!
//! Two queues give the same pop order (lowest rank, then leftmost):
//! - short words: one binary heap of candidates (as HF);
//! - long words (a megabyte without a space): a binary heap of a
//!   million candidates is dominated by cache misses (each pop walks ~20
//!   random levels), so candidates go into one bucket per rank instead; a
//!   bucket is sorted by position once, when its rank comes up, and then
//!   walks the word left to right. Only the distinct ranks sit in a heap.

use super::super::error::TokenizerError;
use super::super::json::{self, Obj};
use super::Token;
use alloc::collections::BinaryHeap;
use core::cmp::Reverse;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cell::RefCell;
use core::cmp::Ordering;
use hashbrown::HashMap;
use serde_json::{json, Map, Value};

/// Words longer than this (bytes) are not cached (as HF).
const CACHE_MAX_WORD_BYTES: usize = 256;
/// Most words kept in the cache.
const CACHE_CAPACITY: usize = 10_000;
/// Words with at least this many initial symbols use the per-rank bucket
/// queue (below it the heap is faster: no per-word map to build).
const BUCKET_QUEUE_MIN_SYMBOLS: usize = 1024;

/// A BPE model.
#[derive(Debug)]
pub struct Bpe {
    /// token -> id
    pub vocab: HashMap<String, u32>,
    /// id -> token
    pub vocab_r: HashMap<u32, String>,
    /// (left id, right id) -> (rank, merged id)
    pub merges: HashMap<(u32, u32), (u32, u32)>,
    /// The merges in rank order, as written (for saving and teaching).
    pub merge_list: Vec<(String, String)>,
    /// Token for characters not in the vocabulary (none: they are dropped).
    pub unk_token: Option<String>,
    /// Prefix of non-initial symbols (`##` for WordPiece-style BPE).
    pub continuing_subword_prefix: Option<String>,
    /// Suffix of the last symbol of a word (`</w>`).
    pub end_of_word_suffix: Option<String>,
    /// Consecutive unknown characters become one unknown token.
    pub fuse_unk: bool,
    /// Unknown characters become `<0xXX>` byte tokens when those exist.
    pub byte_fallback: bool,
    /// A word that is in the vocabulary is emitted whole, without merging.
    pub ignore_merges: bool,
    /// `<0xXX>` token ids, when `byte_fallback` is set.
    byte_ids: Option<[u32; 256]>,
    /// Word -> (id, byte length) of its tokens.
    cache: RefCell<HashMap<String, Vec<(u32, u32)>>>,
}

impl Clone for Bpe {
    fn clone(&self) -> Self {
        Self {
            vocab: self.vocab.clone(),
            vocab_r: self.vocab_r.clone(),
            merges: self.merges.clone(),
            merge_list: self.merge_list.clone(),
            unk_token: self.unk_token.clone(),
            continuing_subword_prefix: self.continuing_subword_prefix.clone(),
            end_of_word_suffix: self.end_of_word_suffix.clone(),
            fuse_unk: self.fuse_unk,
            byte_fallback: self.byte_fallback,
            ignore_merges: self.ignore_merges,
            byte_ids: self.byte_ids,
            cache: RefCell::new(HashMap::new()),
        }
    }
}

/// One step of a merge replay (for teaching).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeStep {
    /// The merged pair.
    pub pair: (String, String),
    /// Its rank (0 = learned first).
    pub rank: u32,
    /// The word's symbols after this merge.
    pub symbols: Vec<String>,
}

/// One symbol of a word being merged, linked to its live neighbours. 16
/// bytes, so that a long word's symbols stay as cache-friendly as possible.
#[derive(Debug, Clone, Copy)]
struct Symbol {
    id: u32,
    /// Index of the previous live symbol (-1: none).
    prev: i32,
    /// Index of the next live symbol (-1: none).
    next: i32,
    /// Length in bytes of the text it covers (0 = merged away).
    len: u32,
}

/// Most symbols in one word (indices are `i32`).
const MAX_WORD_SYMBOLS: usize = i32::MAX as usize;

/// Appends a symbol linked after the last one.
fn push_symbol(symbols: &mut Vec<Symbol>, id: u32, len: usize) -> Result<(), TokenizerError> {
    let idx = i32::try_from(symbols.len()).map_err(|_| TokenizerError::InputTooLarge(MAX_WORD_SYMBOLS))?;
    let len = u32::try_from(len).map_err(|_| TokenizerError::InputTooLarge(len))?;
    if let Some(last) = symbols.last_mut() {
        last.next = idx;
    }
    symbols.push(Symbol { id, prev: idx - 1, next: -1, len });
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
struct Candidate {
    pos: usize,
    rank: u32,
    new_id: u32,
}

impl Ord for Candidate {
    // Reversed so that BinaryHeap (a max-heap) pops the lowest rank, then the
    // leftmost position, as HF does.
    fn cmp(&self, other: &Self) -> Ordering {
        other.rank.cmp(&self.rank).then_with(|| other.pos.cmp(&self.pos))
    }
}

impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// The merge candidates of one word, popped lowest rank first, then leftmost.
trait MergeQueue {
    fn push(&mut self, candidate: Candidate);
    fn pop(&mut self) -> Option<Candidate>;
}

impl MergeQueue for BinaryHeap<Candidate> {
    fn push(&mut self, candidate: Candidate) {
        BinaryHeap::push(self, candidate);
    }
    fn pop(&mut self) -> Option<Candidate> {
        BinaryHeap::pop(self)
    }
}

/// The candidates of one rank. Every candidate of a rank has the same merged
/// id: a rank is the index of one merge, and `Bpe::merges` keeps one rank per
/// pair, so a rank names exactly one pair.
#[derive(Debug, Default)]
struct Bucket {
    new_id: u32,
    /// Positions queued before this rank came up (sorted when it does).
    positions: Vec<u32>,
    /// Next unread index of `positions`, once sorted.
    next: usize,
    /// Whether `positions` has been sorted and is being read.
    started: bool,
    /// Positions queued while this rank is being read (rare: a merge whose
    /// result forms a pair of the same or a lower rank).
    late: BinaryHeap<Reverse<u32>>,
}

impl Bucket {
    fn is_empty(&self) -> bool {
        self.next >= self.positions.len() && self.late.is_empty()
    }
}

/// One bucket per rank plus a heap of the ranks that have candidates.
#[derive(Debug, Default)]
struct RankBuckets {
    /// rank -> index in `buckets`
    index: HashMap<u32, usize>,
    buckets: Vec<Bucket>,
    /// Ranks whose bucket is not empty, each once.
    ranks: BinaryHeap<Reverse<u32>>,
}

impl MergeQueue for RankBuckets {
    fn push(&mut self, c: Candidate) {
        let next_index = self.buckets.len();
        let i = *self.index.entry(c.rank).or_insert(next_index);
        if i == next_index {
            self.buckets.push(Bucket { new_id: c.new_id, ..Bucket::default() });
        }
        let Some(b) = self.buckets.get_mut(i) else { return };
        if b.is_empty() {
            self.ranks.push(Reverse(c.rank));
        }
        if b.started {
            b.late.push(Reverse(c.pos as u32));
        } else {
            b.positions.push(c.pos as u32);
        }
    }

    fn pop(&mut self) -> Option<Candidate> {
        let &Reverse(rank) = self.ranks.peek()?;
        let b = self.index.get(&rank).and_then(|&i| self.buckets.get_mut(i))?;
        if !b.started {
            b.positions.sort_unstable();
            b.started = true;
        }
        let from_sorted = b.positions.get(b.next).copied();
        let from_late = b.late.peek().map(|r| r.0);
        let pos = match (from_sorted, from_late) {
            (Some(s), Some(l)) if l < s => b.late.pop().map(|r| r.0),
            (Some(s), _) => {
                b.next += 1;
                Some(s)
            }
            (None, Some(_)) => b.late.pop().map(|r| r.0),
            (None, None) => None,
        }?;
        let new_id = b.new_id;
        if b.is_empty() {
            // Reset for candidates of this rank that later merges may create.
            b.positions.clear();
            b.next = 0;
            b.started = false;
            self.ranks.pop();
        }
        Some(Candidate { pos: pos as usize, rank, new_id })
    }
}

impl Bpe {
    /// Builds the model, checking that every merge names known tokens.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        vocab: HashMap<String, u32>,
        merge_list: Vec<(String, String)>,
        unk_token: Option<String>,
        continuing_subword_prefix: Option<String>,
        end_of_word_suffix: Option<String>,
        fuse_unk: bool,
        byte_fallback: bool,
        ignore_merges: bool,
    ) -> Result<Self, TokenizerError> {
        let mut vocab_r = HashMap::with_capacity(vocab.len());
        for (token, &id) in &vocab {
            vocab_r.entry(id).or_insert_with(|| token.clone());
        }
        let prefix_len = continuing_subword_prefix.as_ref().map_or(0, String::len);
        let mut merges = HashMap::with_capacity(merge_list.len());
        let mut merged = String::new();
        for (rank, (a, b)) in merge_list.iter().enumerate() {
            let unknown = |t: &String| TokenizerError::UnknownToken { context: "model.merges", token: t.clone() };
            let a_id = *vocab.get(a).ok_or_else(|| unknown(a))?;
            let b_id = *vocab.get(b).ok_or_else(|| unknown(b))?;
            let b_rest = b.get(prefix_len..).ok_or_else(|| unknown(b))?;
            merged.clear();
            merged.push_str(a);
            merged.push_str(b_rest);
            let new_id = *vocab.get(&merged).ok_or_else(|| unknown(&merged))?;
            merges.insert((a_id, b_id), (rank as u32, new_id));
        }
        let byte_ids = if byte_fallback {
            let mut ids = [0u32; 256];
            let mut all = true;
            for (b, slot) in ids.iter_mut().enumerate() {
                match vocab.get(&format!("<0x{b:02X}>")) {
                    Some(&id) => *slot = id,
                    None => all = false,
                }
            }
            // Partial byte tables are handled per char below; keep what exists.
            if all {
                Some(ids)
            } else {
                None
            }
        } else {
            None
        };
        Ok(Self {
            vocab,
            vocab_r,
            merges,
            merge_list,
            unk_token,
            continuing_subword_prefix,
            end_of_word_suffix,
            fuse_unk,
            byte_fallback,
            ignore_merges,
            byte_ids,
            cache: RefCell::new(HashMap::new()),
        })
    }

    /// Reads `{"type": "BPE", "vocab": {..}, "merges": [..], ..}`.
    pub fn from_json(o: &Obj, path: &str) -> Result<Self, TokenizerError> {
        let vocab = super::read_vocab_map(o, path)?;
        let merges_json = json::req_array(o, "merges", path)?;
        let mut merge_list = Vec::with_capacity(merges_json.len());
        for (i, m) in merges_json.iter().enumerate() {
            let pair = match m {
                Value::String(s) => {
                    let mut parts = s.split(' ');
                    match (parts.next(), parts.next(), parts.next()) {
                        (Some(a), Some(b), None) => (a.to_string(), b.to_string()),
                        _ => {
                            return Err(TokenizerError::Invalid {
                                path: format!("{path}.merges[{i}]"),
                                reason: format!("merge `{s}` is not two tokens separated by one space"),
                            })
                        }
                    }
                }
                Value::Array(a) if a.len() == 2 => match (a[0].as_str(), a[1].as_str()) {
                    (Some(x), Some(y)) => (x.to_string(), y.to_string()),
                    _ => return Err(json::field_err(path, &format!("merges[{i}]"), "a pair of strings")),
                },
                _ => return Err(json::field_err(path, &format!("merges[{i}]"), "\"a b\" or [\"a\", \"b\"]")),
            };
            merge_list.push(pair);
        }
        if let Some(d) = o.get("dropout") {
            if !d.is_null() && d.as_f64() != Some(0.0) {
                return Err(json::unsupported("BPE option", "dropout"));
            }
        }
        Self::new(
            vocab,
            merge_list,
            json::opt_str(o, "unk_token", path)?.map(str::to_string),
            json::opt_str(o, "continuing_subword_prefix", path)?.map(str::to_string),
            json::opt_str(o, "end_of_word_suffix", path)?.map(str::to_string),
            json::bool_or(o, "fuse_unk", path, false)?,
            json::bool_or(o, "byte_fallback", path, false)?,
            json::bool_or(o, "ignore_merges", path, false)?,
        )
    }

    /// The tokenizer.json form (merges as `[a, b]` pairs, as HF 0.20+ writes).
    pub fn to_json(&self) -> Value {
        json!({
            "type": "BPE",
            "dropout": null,
            "unk_token": self.unk_token,
            "continuing_subword_prefix": self.continuing_subword_prefix,
            "end_of_word_suffix": self.end_of_word_suffix,
            "fuse_unk": self.fuse_unk,
            "byte_fallback": self.byte_fallback,
            "ignore_merges": self.ignore_merges,
            "vocab": super::vocab_to_json(&self.vocab),
            "merges": self.merge_list.iter().map(|(a, b)| json!([a, b])).collect::<Vec<_>>(),
        })
    }

    /// The initial symbols of a word: one per char (with prefix/suffix), or
    /// byte tokens / unknown tokens for chars outside the vocabulary.
    fn initial_symbols(&self, word: &str) -> Result<Vec<Symbol>, TokenizerError> {
        let mut symbols: Vec<Symbol> = Vec::with_capacity(word.len());
        let push = push_symbol;
        let mut unk: Option<(u32, usize)> = None;
        let mut scratch = String::new();
        let n_chars_end = word.len();
        for (i, c) in word.char_indices() {
            let byte_len = c.len_utf8();
            let is_first = i == 0;
            let is_last = i + byte_len == n_chars_end;
            let piece = &word[i..i + byte_len];
            let lookup: &str = if (!is_first && self.continuing_subword_prefix.is_some())
                || (is_last && self.end_of_word_suffix.is_some())
            {
                scratch.clear();
                if !is_first {
                    if let Some(p) = &self.continuing_subword_prefix {
                        scratch.push_str(p);
                    }
                }
                scratch.push_str(piece);
                if is_last {
                    if let Some(s) = &self.end_of_word_suffix {
                        scratch.push_str(s);
                    }
                }
                &scratch
            } else {
                piece
            };
            if let Some(&id) = self.vocab.get(lookup) {
                if let Some((unk_id, unk_len)) = unk.take() {
                    push(&mut symbols, unk_id, unk_len)?;
                }
                push(&mut symbols, id, byte_len)?;
                continue;
            }
            if self.byte_fallback {
                // HF looks the bytes of the (prefixed) lookup string up.
                let ids: Option<Vec<u32>> = match &self.byte_ids {
                    Some(table) => Some(lookup.bytes().map(|b| table[b as usize]).collect()),
                    None => lookup.bytes().map(|b| self.vocab.get(&format!("<0x{b:02X}>")).copied()).collect(),
                };
                if let Some(ids) = ids {
                    // (HF does not flush a pending unknown token here.)
                    for id in ids {
                        push(&mut symbols, id, 1)?;
                    }
                    continue;
                }
            }
            if let Some(unk_token) = &self.unk_token {
                let unk_id = *self
                    .vocab
                    .get(unk_token)
                    .ok_or_else(|| TokenizerError::UnknownToken { context: "model.unk_token", token: unk_token.clone() })?;
                unk = match unk {
                    Some((id, len)) if self.fuse_unk => Some((id, len + byte_len)),
                    Some((id, len)) => {
                        push(&mut symbols, id, len)?;
                        Some((unk_id, byte_len))
                    }
                    None => Some((unk_id, byte_len)),
                };
            }
        }
        if let Some((unk_id, unk_len)) = unk {
            push(&mut symbols, unk_id, unk_len)?;
        }
        Ok(symbols)
    }

    /// Applies the merges in rank order. `on_merge(pos, rank, symbols)` is
    /// called after each merge (for the replay).
    fn merge_all<F: FnMut(&[Symbol], usize, u32)>(&self, symbols: &mut [Symbol], on_merge: F) {
        if symbols.len() >= BUCKET_QUEUE_MIN_SYMBOLS {
            self.merge_with(symbols, RankBuckets::default(), on_merge);
        } else {
            self.merge_with(symbols, BinaryHeap::with_capacity(symbols.len()), on_merge);
        }
    }

    /// [`Self::merge_all`] with a given queue (both give the same merges).
    fn merge_with<Q: MergeQueue, F: FnMut(&[Symbol], usize, u32)>(
        &self,
        symbols: &mut [Symbol],
        mut queue: Q,
        mut on_merge: F,
    ) {
        for i in 0..symbols.len().saturating_sub(1) {
            if let Some(&(rank, new_id)) = self.merges.get(&(symbols[i].id, symbols[i + 1].id)) {
                queue.push(Candidate { pos: i, rank, new_id });
            }
        }
        while let Some(top) = queue.pop() {
            let cur = symbols[top.pos];
            if cur.len == 0 || cur.next < 0 {
                continue;
            }
            let next_pos = cur.next as usize;
            let Some(&right) = symbols.get(next_pos) else { continue };
            // Skip stale entries: the pair may have changed since it was queued.
            match self.merges.get(&(cur.id, right.id)) {
                Some(&(_, new_id)) if new_id == top.new_id => {}
                _ => continue,
            }
            symbols[top.pos].id = top.new_id;
            symbols[top.pos].len += right.len;
            symbols[top.pos].next = right.next;
            symbols[next_pos].len = 0;
            if right.next >= 0 && (right.next as usize) < symbols.len() {
                symbols[right.next as usize].prev = top.pos as i32;
            }
            on_merge(symbols, top.pos, top.rank);
            let current = symbols[top.pos];
            if current.prev >= 0 {
                let prev = current.prev as usize;
                if let Some(&(rank, new_id)) = self.merges.get(&(symbols[prev].id, current.id)) {
                    queue.push(Candidate { pos: prev, rank, new_id });
                }
            }
            if current.next >= 0 && (current.next as usize) < symbols.len() {
                let next = current.next as usize;
                if let Some(&(rank, new_id)) = self.merges.get(&(current.id, symbols[next].id)) {
                    queue.push(Candidate { pos: top.pos, rank, new_id });
                }
            }
        }
    }

    /// (id, byte length) of the tokens of one word.
    pub(crate) fn word_pieces(&self, word: &str) -> Result<Vec<(u32, u32)>, TokenizerError> {
        if let Some(hit) = self.cache.borrow().get(word) {
            return Ok(hit.clone());
        }
        let mut symbols = self.initial_symbols(word)?;
        self.merge_all(&mut symbols, |_, _, _| {});
        let pieces: Vec<(u32, u32)> =
            symbols.iter().filter(|s| s.len > 0).map(|s| (s.id, s.len)).collect();
        if word.len() < CACHE_MAX_WORD_BYTES {
            let mut cache = self.cache.borrow_mut();
            if cache.len() < CACHE_CAPACITY {
                cache.insert(word.to_string(), pieces.clone());
            }
        }
        Ok(pieces)
    }

    /// Tokenizes one pre-tokenized word.
    pub fn tokenize(&self, word: &str) -> Result<Vec<Token>, TokenizerError> {
        if word.is_empty() {
            return Ok(Vec::new());
        }
        if self.ignore_merges {
            if let Some(&id) = self.vocab.get(word) {
                return Ok(alloc::vec![Token { id, value: word.to_string(), offsets: (0, word.len()) }]);
            }
        }
        let pieces = self.word_pieces(word)?;
        let mut offset = 0usize;
        let mut out = Vec::with_capacity(pieces.len());
        for (id, len) in pieces {
            let value = self.vocab_r.get(&id).cloned().unwrap_or_default();
            out.push(Token { id, value, offsets: (offset, offset + len as usize) });
            offset += len as usize;
        }
        Ok(out)
    }

    /// The merges applied to `word`, step by step (for teaching).
    pub fn replay(&self, word: &str) -> Result<Vec<MergeStep>, TokenizerError> {
        let mut symbols = self.initial_symbols(word)?;
        let mut steps = Vec::new();
        let name = |id: u32| self.vocab_r.get(&id).cloned().unwrap_or_default();
        let mut before: Vec<Symbol> = symbols.clone();
        self.merge_all(&mut symbols, |syms, pos, rank| {
            let left = before[pos].id;
            let right_pos = before[pos].next;
            let right = if right_pos >= 0 { before[right_pos as usize].id } else { left };
            let live: Vec<String> = syms.iter().filter(|s| s.len > 0).map(|s| name(s.id)).collect();
            steps.push(MergeStep { pair: (name(left), name(right)), rank, symbols: live });
            before = syms.to_vec();
        });
        Ok(steps)
    }

    /// Writes the vocabulary into a JSON map (for `to_json`).
    pub fn vocab_json(&self) -> Map<String, Value> {
        match super::vocab_to_json(&self.vocab) {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Bpe {
        let mut vocab = HashMap::new();
        for (i, t) in ["a", "b", "c", "ab", "abc"].iter().enumerate() {
            vocab.insert(t.to_string(), i as u32);
        }
        let merges = alloc::vec![("a".into(), "b".into()), ("ab".into(), "c".into())];
        Bpe::new(vocab, merges, None, None, None, false, false, false).unwrap()
    }

    #[test]
    fn merges_by_rank() {
        let bpe = toy();
        let ids: Vec<u32> = bpe.tokenize("abcab").unwrap().iter().map(|t| t.id).collect();
        assert_eq!(ids, [4, 3]);
    }

    #[test]
    fn replay_lists_steps() {
        let steps = toy().replay("abc").unwrap();
        assert_eq!(steps.len(), 2);
        assert_eq!(steps[0].pair, ("a".to_string(), "b".to_string()));
        assert_eq!(steps[1].symbols, ["abc"]);
    }

    /// Both queues must merge identically, also for merge tables whose
    /// ranks do not follow the order tokens were built in (a merge creating
    /// a pair of lower rank than itself, which trained tables never have).
    #[test]
    fn bucket_queue_merges_like_the_heap() {
        let mut rng = crate::rng::Rng::new(7);
        let letters = ["a", "b", "c", "d"];
        let mut vocab = HashMap::new();
        let mut merges: Vec<(String, String)> = Vec::new();
        for l in letters {
            vocab.insert(l.to_string(), vocab.len() as u32);
        }
        // Random merges between existing tokens, in a shuffled rank order.
        let mut tokens: Vec<String> = letters.iter().map(|l| l.to_string()).collect();
        while merges.len() < 60 {
            let a = tokens[rng.below(tokens.len() as u64) as usize].clone();
            let b = tokens[rng.below(tokens.len() as u64) as usize].clone();
            let merged = format!("{a}{b}");
            if merged.len() > 6 || vocab.contains_key(&merged) {
                continue;
            }
            vocab.insert(merged.clone(), vocab.len() as u32);
            tokens.push(merged);
            merges.push((a, b));
        }
        for i in (1..merges.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            merges.swap(i, j);
        }
        let bpe = Bpe::new(vocab, merges, None, None, None, false, false, false).unwrap();
        for len in [1usize, 2, 3, 17, 300, 2000] {
            for alphabet in [1usize, 2, 4] {
                let word: String = (0..len).map(|_| letters[rng.below(alphabet as u64) as usize]).collect();
                let run = |use_buckets: bool| {
                    let mut symbols = bpe.initial_symbols(&word).unwrap();
                    let mut steps = Vec::new();
                    let record = |_: &[Symbol], pos: usize, rank: u32| steps.push((pos, rank));
                    if use_buckets {
                        bpe.merge_with(&mut symbols, RankBuckets::default(), record);
                    } else {
                        bpe.merge_with(&mut symbols, BinaryHeap::new(), record);
                    }
                    let ids: Vec<u32> = symbols.iter().filter(|s| s.len > 0).map(|s| s.id).collect();
                    (ids, steps)
                };
                assert_eq!(run(true), run(false), "word of {len} chars over {alphabet} letters");
            }
        }
    }

    #[test]
    fn unknown_merge_token_is_an_error() {
        let mut vocab = HashMap::new();
        vocab.insert("a".to_string(), 0);
        let r = Bpe::new(vocab, alloc::vec![("a".into(), "z".into())], None, None, None, false, false, false);
        assert!(matches!(r, Err(TokenizerError::UnknownToken { .. })));
    }
}
