//! Fast n-gram counting on interned token ids.
//!
//! The Python references count n-grams as tuples of strings in a `Counter`.
//! Here each distinct token gets a small integer id once, and an n-gram of up
//! to four tokens is packed into one `u128` (32 bits per token, id + 1 so
//! that the unused high lanes stay zero and n-grams of different orders
//! never collide). Counting is then hashing of plain integers.

use alloc::string::String;
use alloc::vec::Vec;
use hashbrown::HashMap;

/// The highest n-gram order a packed key holds.
pub const MAX_PACKED_ORDER: usize = 4;

/// Maps token strings to dense ids, shared by all segments of a corpus.
#[derive(Default, Debug, Clone)]
pub struct Interner {
    ids: HashMap<String, u32>,
}

impl Interner {
    /// A new, empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// The id of `token`, assigning the next free id on first sight.
    pub fn id(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        // Saturating keeps ids distinct up to u32::MAX - 1 tokens, far beyond
        // what fits in memory as strings anyway.
        let id = u32::try_from(self.ids.len()).unwrap_or(u32::MAX - 1);
        self.ids.insert(String::from(token), id);
        id
    }

    /// Interns every token of `tokens` into `out` (cleared first).
    pub fn ids_into<'a>(&mut self, tokens: impl Iterator<Item = &'a str>, out: &mut Vec<u32>) {
        out.clear();
        out.extend(tokens.map(|t| self.id(t)));
    }
}

/// Packs `ids` (at most [`MAX_PACKED_ORDER`] of them) into one key.
#[inline]
pub fn pack(ids: &[u32]) -> u128 {
    ids.iter().fold(0u128, |key, &id| (key << 32) | (u128::from(id) + 1))
}

/// The order (number of tokens) of a packed key.
#[inline]
pub fn order_of(key: u128) -> usize {
    (128 - key.leading_zeros() as usize).div_ceil(32)
}

/// Counts every n-gram of order `1..=max_order` of `ids` into `counts`
/// (cleared first).
pub fn count_word_ngrams(ids: &[u32], max_order: usize, counts: &mut HashMap<u128, u32>) {
    counts.clear();
    let max_order = max_order.min(MAX_PACKED_ORDER);
    for n in 1..=max_order {
        for window in ids.windows(n) {
            *counts.entry(pack(window)).or_insert(0) += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_keys_keep_order_and_identity() {
        assert_eq!(order_of(pack(&[0])), 1);
        assert_eq!(order_of(pack(&[7, 0])), 2);
        assert_eq!(order_of(pack(&[u32::MAX - 1, 1, 2, 3])), 4);
        assert_ne!(pack(&[0, 1]), pack(&[1]));
        assert_ne!(pack(&[1, 0]), pack(&[0, 1]));
    }

    #[test]
    fn counts_all_orders() {
        let mut interner = Interner::new();
        let mut ids = Vec::new();
        interner.ids_into("a b a b".split(' '), &mut ids);
        let mut counts = HashMap::new();
        count_word_ngrams(&ids, 4, &mut counts);
        assert_eq!(counts[&pack(&[ids[0], ids[1]])], 2);
        assert_eq!(counts.values().sum::<u32>(), 4 + 3 + 2 + 1);
    }
}
