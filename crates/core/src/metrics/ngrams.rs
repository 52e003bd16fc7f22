//! Fast n-gram counting on interned token ids.
//!
//! The Python references count n-grams as tuples of strings in a `Counter`.
//! Here each distinct token gets a small integer id once, and an n-gram of up
//! to four tokens is packed into one `u128` (32 bits per token, id + 1 so
//! that the unused high lanes stay zero and n-grams of different orders
//! never collide). Counting is then hashing of plain integers.

use alloc::vec::Vec;
use hashbrown::HashMap;

/// The highest n-gram order a packed key holds.
pub const MAX_PACKED_ORDER: usize = 4;

/// Maps token strings to dense ids. Scorers clear it for every segment: a
/// small map stays in cache, where one for a whole corpus's vocabulary would
/// miss on most lookups.
///
/// Tokens of up to 15 bytes (nearly all of them) are looked up by their bytes
/// packed into a `u128` together with their length, which is exact and
/// avoids hashing and comparing strings; longer tokens use a string map.
#[derive(Default, Debug, Clone)]
pub struct Interner {
    short: HashMap<u128, u32>,
    long: HashMap<Vec<u8>, u32>,
}

/// The exact `u128` key of a token of at most 15 bytes.
#[inline]
fn short_key(bytes: &[u8]) -> Option<u128> {
    if bytes.len() > 15 {
        return None;
    }
    // Byte i goes to bits 8i..8i+8 (as `u128::from_le_bytes` would put it),
    // the length to the top byte; a loop, not a memcpy call, for 1..15 bytes.
    let mut key = (bytes.len() as u128) << 120;
    for (i, &b) in bytes.iter().enumerate() {
        key |= u128::from(b) << (8 * i);
    }
    Some(key)
}

impl Interner {
    /// A new, empty interner.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets every token (keeping the allocations).
    pub fn clear(&mut self) {
        self.short.clear();
        self.long.clear();
    }

    /// How many distinct tokens have ids.
    pub fn len(&self) -> usize {
        self.short.len() + self.long.len()
    }

    /// Whether no token has an id yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The id of `token`, assigning the next free id on first sight.
    #[inline]
    pub fn id(&mut self, token: &str) -> u32 {
        self.id_bytes(token.as_bytes())
    }

    /// [`Interner::id`] for a token given as bytes.
    #[inline]
    pub fn id_bytes(&mut self, token: &[u8]) -> u32 {
        // Saturating keeps ids distinct up to u32::MAX - 1 tokens, far beyond
        // what fits in memory as strings anyway.
        let next = u32::try_from(self.len()).unwrap_or(u32::MAX - 1);
        match short_key(token) {
            Some(key) => *self.short.entry(key).or_insert(next),
            None => {
                if let Some(&id) = self.long.get(token) {
                    return id;
                }
                self.long.insert(token.to_vec(), next);
                next
            }
        }
    }

    /// [`Interner::id`] of a token of at most 15 bytes whose key the caller
    /// built: byte `i` at bits `8i..8i+8`, the length in the top byte.
    #[inline]
    pub fn id_short_key(&mut self, key: u128) -> u32 {
        let next = u32::try_from(self.len()).unwrap_or(u32::MAX - 1);
        *self.short.entry(key).or_insert(next)
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
    fn short_and_long_tokens_get_distinct_stable_ids() {
        let mut interner = Interner::new();
        let words = ["a", "a\0", "abcdefghijklmno", "abcdefghijklmnop", "abcdefghijklmnopq", ""];
        let ids: Vec<u32> = words.iter().map(|w| interner.id(w)).collect();
        assert_eq!(ids, [0, 1, 2, 3, 4, 5]);
        let again: Vec<u32> = words.iter().map(|w| interner.id(w)).collect();
        let key = words[1].bytes().enumerate().fold(2u128 << 120, |k, (i, b)| k | u128::from(b) << (8 * i));
        assert_eq!(interner.id_short_key(key), 1);
        assert_eq!(again, ids);
        assert_eq!(interner.len(), 6);
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
