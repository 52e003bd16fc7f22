//! MinHash: a short signature whose agreement estimates Jaccard similarity.
//!
//! Near-duplicate documents share most of their *shingles*. Here a shingle
//! is a word n-gram ([`word_shingles`]: the text split on Unicode
//! whitespace, every run of `n` consecutive words joined by one space; a
//! text of fewer than `n` words is one shingle). The Jaccard similarity of
//! two shingle sets, `|A ∩ B| / |A ∪ B|`, is the probability that a random
//! permutation of all shingles ranks the same element first in both. MinHash
//! keeps, for each of `num_perm` random permutations, the least permuted
//! hash of the set; the fraction of positions where two signatures agree
//! ([`jaccard`]) estimates the similarity with standard error about
//! `1/sqrt(num_perm)`.
//!
//! Everything is exact to `datasketch.MinHash` (version 2.0.0):
//!
//! - a shingle's hash is [`sha1_hash32`]: the first 4 bytes of SHA-1 of its
//!   UTF-8 bytes, read little-endian;
//! - permutations are drawn from `numpy.random.RandomState(seed)`
//!   ([`super::mt19937`]) exactly as datasketch draws them, per [`Scheme`];
//! - they can also be injected ([`Permutations::from_arrays`]), as
//!   datasketch's `permutations=(a, b)` argument.

use alloc::string::String;
use alloc::vec::Vec;

use super::mt19937::RandomState;
use super::DataError;

/// `2^61 - 1`, the Mersenne prime of the legacy scheme.
pub const MERSENNE_PRIME: u64 = (1 << 61) - 1;
/// The largest hash value, and the value of an empty set's signature.
pub const MAX_HASH: u64 = (1 << 32) - 1;
/// The most permutations accepted (datasketch has no limit; this bounds memory).
pub const MAX_NUM_PERM: usize = 1 << 16;

/// How a permutation maps a 32-bit hash `h` (datasketch's `scheme`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    /// datasketch 2.0's default: `h` is first mixed by MurmurHash3's 32-bit
    /// finalizer, then `a*h + b mod 2^32` with `a` odd (a bijection).
    /// Draws: `a = randint(0, 2^31, num_perm, uint32) * 2 + 1`, then
    /// `b = randint(0, 2^32, num_perm, uint32)`.
    Affine32,
    /// The only scheme before datasketch 2.0: universal hashing
    /// `((a*h + b) mod (2^61 - 1)) & (2^32 - 1)`, where `a*h + b` wraps at
    /// 2^64 as NumPy's `uint64` does. Draws, interleaved per permutation:
    /// `a = randint(1, 2^61 - 1, uint64)`, `b = randint(0, 2^61 - 1, uint64)`.
    Legacy,
}

impl Scheme {
    /// Parses `affine32` or `legacy`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "affine32" => Some(Self::Affine32),
            "legacy" => Some(Self::Legacy),
            _ => None,
        }
    }
}

/// The `num_perm` permutations `(a_k, b_k)` of a MinHash.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Permutations {
    /// How `(a, b)` are applied.
    pub scheme: Scheme,
    /// `(num_perm,)` multipliers.
    pub a: Vec<u64>,
    /// `(num_perm,)` offsets.
    pub b: Vec<u64>,
}

fn check_num_perm(num_perm: usize) -> Result<(), DataError> {
    if num_perm == 0 {
        return Err(DataError::Setting("num_perm must be at least 1".into()));
    }
    if num_perm > MAX_NUM_PERM {
        return Err(DataError::TooLarge(alloc::format!("num_perm {num_perm} exceeds {MAX_NUM_PERM}")));
    }
    Ok(())
}

impl Permutations {
    /// The permutations of `MinHash(num_perm, seed, scheme)`.
    pub fn from_seed(scheme: Scheme, num_perm: usize, seed: u32) -> Result<Self, DataError> {
        check_num_perm(num_perm)?;
        let mut gen = RandomState::new(seed);
        let (mut a, mut b) = (Vec::with_capacity(num_perm), Vec::with_capacity(num_perm));
        let empty = || DataError::Setting("empty randint range".into());
        match scheme {
            Scheme::Legacy => {
                for _ in 0..num_perm {
                    a.push(gen.randint_u64(1, MERSENNE_PRIME).ok_or_else(empty)?);
                    b.push(gen.randint_u64(0, MERSENNE_PRIME).ok_or_else(empty)?);
                }
            }
            Scheme::Affine32 => {
                for _ in 0..num_perm {
                    let half = gen.randint_u32(0, 1 << 31).ok_or_else(empty)?;
                    a.push(u64::from(half.wrapping_mul(2).wrapping_add(1)));
                }
                for _ in 0..num_perm {
                    b.push(u64::from(gen.randint_u32(0, 1 << 32).ok_or_else(empty)?));
                }
            }
        }
        Ok(Self { scheme, a, b })
    }

    /// Injected permutations (datasketch's `permutations=(a, b)`): equal
    /// lengths; for [`Scheme::Affine32`] every value fits 32 bits and every
    /// `a` is odd, as datasketch checks.
    pub fn from_arrays(scheme: Scheme, a: Vec<u64>, b: Vec<u64>) -> Result<Self, DataError> {
        if a.len() != b.len() {
            return Err(DataError::Shape(alloc::format!("{} values of a but {} of b", a.len(), b.len())));
        }
        check_num_perm(a.len())?;
        if scheme == Scheme::Affine32 {
            if a.iter().chain(&b).any(|&v| v > MAX_HASH) {
                return Err(DataError::Setting("affine32 permutation parameters must fit 32 bits".into()));
            }
            if a.iter().any(|&v| v & 1 == 0) {
                return Err(DataError::Setting("all affine32 `a` parameters must be odd".into()));
            }
        }
        Ok(Self { scheme, a, b })
    }

    /// The number of permutations (the signature length).
    pub fn len(&self) -> usize {
        self.a.len()
    }

    /// True when there are no permutations (never, for validated ones).
    pub fn is_empty(&self) -> bool {
        self.a.is_empty()
    }
}

/// datasketch's `sha1_hash32`: the first 4 bytes of SHA-1, little-endian.
pub fn sha1_hash32(data: &[u8]) -> u32 {
    let digest = sha1_smol::Sha1::from(data).digest().bytes();
    u32::from_le_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// MurmurHash3's 32-bit finalizer (`fmix32`), a bijection that spreads the bits.
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The MinHash signature of a set given by its elements' bytes (duplicates
/// do not matter): `(num_perm,)` values, each `<= MAX_HASH`; an empty set
/// gives `MAX_HASH` everywhere, as datasketch's fresh MinHash.
pub fn signature<'a>(perms: &Permutations, elements: impl IntoIterator<Item = &'a [u8]>) -> Vec<u64> {
    let mut sig = alloc::vec![MAX_HASH; perms.len()];
    for element in elements {
        let hv = sha1_hash32(element);
        update(perms, &mut sig, hv);
    }
    sig
}

/// Folds one element's 32-bit hash `hv` into `sig` (datasketch's `update`).
pub fn update(perms: &Permutations, sig: &mut [u64], hv: u32) {
    match perms.scheme {
        Scheme::Legacy => {
            let h = u64::from(hv);
            for ((s, &a), &b) in sig.iter_mut().zip(&perms.a).zip(&perms.b) {
                let phv = (a.wrapping_mul(h).wrapping_add(b) % MERSENNE_PRIME) & MAX_HASH;
                *s = (*s).min(phv);
            }
        }
        Scheme::Affine32 => {
            let h = fmix32(hv);
            for ((s, &a), &b) in sig.iter_mut().zip(&perms.a).zip(&perms.b) {
                // a and b fit 32 bits (validated); the map is mod 2^32
                let phv = (a as u32).wrapping_mul(h).wrapping_add(b as u32);
                *s = (*s).min(u64::from(phv));
            }
        }
    }
}

/// The word n-grams of `text`: words are the pieces between Unicode
/// whitespace; each shingle is `n` consecutive words joined by one space.
/// A text of fewer than `n` words (but at least one) is a single shingle;
/// an empty text has none. `n = 0` is treated as 1.
pub fn word_shingles(text: &str, n: usize) -> Vec<String> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let n = n.max(1);
    if words.is_empty() {
        return Vec::new();
    }
    if words.len() < n {
        return alloc::vec![words.join(" ")];
    }
    words.windows(n).map(|w| w.join(" ")).collect()
}

/// The estimated Jaccard similarity: the fraction of equal positions
/// (datasketch's `MinHash.jaccard`); `None` when the lengths differ or are 0.
pub fn jaccard(a: &[u64], b: &[u64]) -> Option<f64> {
    if a.len() != b.len() || a.is_empty() {
        return None;
    }
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    Some(equal as f64 / a.len() as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_hash32_is_the_little_endian_prefix_of_sha1() {
        // sha1("abc") = a9993e36...; little-endian 0x363e99a9
        assert_eq!(sha1_hash32(b"abc"), 0x363e_99a9);
    }

    #[test]
    fn identical_sets_have_identical_signatures_and_jaccard_one() {
        for scheme in [Scheme::Legacy, Scheme::Affine32] {
            let perms = Permutations::from_seed(scheme, 64, 1).unwrap();
            let x = signature(&perms, [&b"a"[..], b"b", b"c"]);
            let y = signature(&perms, [&b"c"[..], b"a", b"b", b"a"]);
            assert_eq!(x, y);
            assert_eq!(jaccard(&x, &y), Some(1.0));
            assert!(x.iter().all(|&v| v <= MAX_HASH));
        }
    }

    #[test]
    fn shingles_are_word_ngrams() {
        assert_eq!(word_shingles("a b  c\td", 3), ["a b c", "b c d"]);
        assert_eq!(word_shingles("a b", 3), ["a b"]);
        assert!(word_shingles(" \n", 3).is_empty());
    }

    #[test]
    fn injected_permutations_are_validated() {
        assert!(Permutations::from_arrays(Scheme::Legacy, alloc::vec![1, 2], alloc::vec![3]).is_err());
        assert!(Permutations::from_arrays(Scheme::Affine32, alloc::vec![2], alloc::vec![3]).is_err());
        assert!(Permutations::from_arrays(Scheme::Affine32, alloc::vec![1 << 33 | 1], alloc::vec![3]).is_err());
        assert!(Permutations::from_arrays(Scheme::Affine32, alloc::vec![3], alloc::vec![3]).is_ok());
    }
}
