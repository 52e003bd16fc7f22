//! Evaluation metrics with reference parity: BLEU and chrF as sacrebleu 2.x
//! computes them, ROUGE as Google's rouge-score 0.1.2 does.
//!
//! "Parity" is the point: every quirk of the Python references (their
//! whitespace and lowercase rules, their regex tokenizers, their float
//! operation order) is reproduced so scores agree to the last bit, not just
//! to the printed digits. `tests/metrics_parity.rs` checks thousands of
//! randomized cases against values the references produced.
//!
//! - [`bleu`] + [`bleu_tokenizers`]: corpus/sentence BLEU, 5 tokenizers,
//!   4 smoothing methods.
//! - [`chrf`]: chrF and chrF++.
//! - [`rouge`] + [`porter`]: ROUGE-N, ROUGE-L, ROUGE-Lsum with NLTK's Porter
//!   stemmer.
//! - [`perplexity`]: HF's sliding-window perplexity, per-token NLL, bits/char.
//! - [`pytext`]: Python `str` semantics (split, strip, lower).

pub mod bleu;
pub mod bleu_tokenizers;
pub mod chrf;
mod math;
pub mod ngrams;
pub mod perplexity;
pub mod porter;
pub mod pytext;
pub mod rouge;
mod unicode_tables;
