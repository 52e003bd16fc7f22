//! # Data processing: from raw web text to a training corpus
//!
//! A pre-training corpus is mostly what was thrown away. The pipeline taught
//! here runs in this order, one file per stage:
//!
//! 1. [`normalize`]: one spelling per text. Unicode normal forms (NFC, NFKC,
//!    NFD, NFKD), control and invisible characters removed, line endings
//!    unified, whitespace collapsed, and optionally UTF-8 that was read as
//!    Latin-1 / Windows-1252 ("mojibake", `Ã©` for `é`) repaired. Two texts
//!    that differ only in such details are the same text afterwards, which is
//!    what lets the next stages find duplicates.
//! 2. [`exact_dedup`]: whole documents by the hash of their normalized text,
//!    then lines repeated from earlier documents (boilerplate).
//! 3. near-dedup: [`minhash`] signatures of each document's word shingles
//!    estimate Jaccard similarity; [`lsh`] bands the signatures so that only
//!    documents sharing a band become candidate pairs, and union-find keeps
//!    one document per cluster. Both are exact to `datasketch`, down to its
//!    NumPy random permutations ([`mt19937`]).
//! 4. [`quality`]: datatrove 0.10.1's Gopher quality and repetition, C4 and
//!    FineWeb filters drop pages that are not running prose, each with the
//!    name of the rule, at datatrove's default thresholds or others. Words and
//!    sentences are split by a reproduction of spaCy 3.8's blank English
//!    tokenizer and sentencizer (what datatrove uses for English), equal to it
//!    on every fixture string.
//! 5. [`pii`]: e-mail addresses and public IP addresses are replaced,
//!    exactly as datatrove's `PIIFormatter`; [`pii_numbers`] finds payment
//!    cards (Luhn), IBANs (mod 97) and phone numbers, measured on a labelled set.
//!
//! [`pipeline`] chains the stages over a stream of documents (text, JSONL,
//! several files, fed in chunks) and reports what each one removed and why.

use alloc::string::String;
use core::fmt;

pub mod exact_dedup;
pub mod lsh;
pub mod minhash;
pub mod mt19937;
pub mod normalize;
pub mod pii;
pub mod pii_numbers;
pub mod pipeline;
pub mod quality;
mod python_word_chars;

/// What can go wrong in the data pipeline.
#[derive(Clone, Debug, PartialEq)]
pub enum DataError {
    /// A setting outside its range (e.g. a threshold outside `[0, 1]`, zero permutations).
    Setting(String),
    /// Arrays that must have the same length do not (e.g. permutation `a` and `b`, or a signature and `num_perm`).
    Shape(String),
    /// A size that would need more memory than the pipeline allows.
    TooLarge(String),
    /// Input that cannot be read (e.g. a JSONL line that is not an object with a `"text"` string).
    Input(String),
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Setting(msg) => write!(f, "invalid setting: {msg}"),
            Self::Shape(msg) => write!(f, "shape mismatch: {msg}"),
            Self::TooLarge(msg) => write!(f, "too large: {msg}"),
            Self::Input(msg) => write!(f, "unreadable input: {msg}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for DataError {}
