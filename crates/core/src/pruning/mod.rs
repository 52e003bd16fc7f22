//! # Pruning: setting weights to zero, or removing them
//!
//! A trained network has many weights that barely matter. Pruning finds
//! them by an *importance* score and drops them:
//!
//! - **Unstructured** pruning zeroes single weights: the smallest `|w|`
//!   ([`l1_unstructured`], one tensor at a time; [`global_unstructured`],
//!   one ranking across every linear weight of the model, so layers with
//!   small weights lose more). The matrices keep their shape: the model is
//!   only smaller once stored sparse, and only faster with sparse kernels.
//! - **Structured** pruning removes whole rows or columns ([`ln_structured`]
//!   zeroes the channels with the smallest L_n norm), whole attention heads
//!   ([`heads`]) or FFN neurons ([`neurons`]). The last two really cut the
//!   matrices, so the pruned checkpoint is smaller and every matmul faster.
//!
//! The masks are exactly those of `torch.nn.utils.prune`, including which of
//! several equal weights is dropped: the amount is turned into a count the
//! way torch does ([`Amount::count`]), and the choice among ties is torch's
//! `topk` kernel replayed step by step ([`topk`]).

use alloc::string::String;
use core::fmt;

pub mod checkpoint;
pub mod global_unstructured;
pub mod heads;
pub mod l1_unstructured;
pub mod ln_structured;
pub mod neurons;
pub mod slicing;
pub mod topk;

pub use checkpoint::{prune_checkpoint, Method, PruneReport, PrunedCheckpoint};
pub use global_unstructured::global_unstructured;
pub use l1_unstructured::l1_unstructured;
pub use ln_structured::{ln_structured, NormOrder};

/// What can go wrong while pruning.
#[derive(Clone, Debug, PartialEq)]
pub enum PruneError {
    /// A fraction outside `[0, 1]` (or not a number) was given as the amount.
    FractionOutOfRange(f64),
    /// The amount asks to prune more units than the tensor has.
    CountExceedsSize {
        /// Units asked for.
        count: usize,
        /// Units available.
        size: usize,
    },
    /// The amount text is neither an integer count nor a fraction.
    BadAmount(String),
    /// Structured pruning needs a tensor with at least two dimensions.
    NotStructured {
        /// The tensor's rank.
        rank: usize,
    },
    /// The pruning dimension is not one of the tensor's.
    DimOutOfRange {
        /// The dimension asked for.
        dim: i64,
        /// The tensor's rank.
        rank: usize,
    },
    /// The norm order is not one torch's vector norm accepts here.
    BadNormOrder(String),
    /// Data and shape disagree, or tensors that must match do not.
    ShapeMismatch(String),
    /// The checkpoint lacks a tensor the method needs.
    MissingTensor(String),
    /// The model family or configuration is not supported by this method.
    Unsupported(String),
    /// The checkpoint's config or tensors could not be read.
    BadCheckpoint(String),
}

impl fmt::Display for PruneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PruneError::FractionOutOfRange(a) => write!(f, "amount {a} as a fraction must be between 0.0 and 1.0"),
            PruneError::CountExceedsSize { count, size } => {
                write!(f, "amount={count} should be smaller than the number of parameters to prune={size}")
            }
            PruneError::BadAmount(text) => {
                write!(f, "amount '{text}' is neither a count (an integer such as 3) nor a fraction (such as 0.3)")
            }
            PruneError::NotStructured { rank } => write!(f, "structured pruning needs a tensor of 2 or more dims, not {rank}"),
            PruneError::DimOutOfRange { dim, rank } => write!(f, "dim {dim} is out of range for a tensor of {rank} dims"),
            PruneError::BadNormOrder(n) => write!(f, "norm order '{n}' is not supported (a number, inf, -inf or fro)"),
            PruneError::ShapeMismatch(what) => write!(f, "shape mismatch: {what}"),
            PruneError::MissingTensor(name) => write!(f, "the checkpoint has no tensor {name}"),
            PruneError::Unsupported(what) => write!(f, "unsupported: {what}"),
            PruneError::BadCheckpoint(what) => write!(f, "cannot read the checkpoint: {what}"),
        }
    }
}

/// How much to prune, as torch takes it: a Python `float` is a fraction of
/// the units, a Python `int` an absolute count.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    /// A fraction in `[0, 1]` of the units (weights, channels, heads).
    Fraction(f64),
    /// An absolute number of units.
    Count(usize),
}

impl Amount {
    /// Reads the CLI's text: `3` is a count, `0.3` or `1.0` a fraction
    /// (a decimal point or exponent makes it a fraction, as in Python).
    pub fn parse(text: &str) -> Result<Self, PruneError> {
        let text = text.trim();
        let is_fraction = text.contains(['.', 'e', 'E']) || text.contains("inf") || text.contains("nan");
        let amount = if is_fraction {
            Amount::Fraction(text.parse::<f64>().map_err(|_| PruneError::BadAmount(text.into()))?)
        } else {
            Amount::Count(text.parse::<usize>().map_err(|_| PruneError::BadAmount(text.into()))?)
        };
        amount.validate()?;
        Ok(amount)
    }

    /// torch's `_validate_pruning_amount_init`: a fraction must lie in `[0, 1]`.
    pub fn validate(self) -> Result<(), PruneError> {
        match self {
            Amount::Fraction(a) if !(0.0..=1.0).contains(&a) => Err(PruneError::FractionOutOfRange(a)),
            _ => Ok(()),
        }
    }

    /// torch's `_compute_nparams_toprune` and `_validate_pruning_amount`:
    /// a count is taken as is, a fraction becomes `round(amount · size)` with
    /// Python's `round`, which sends halves to the even neighbour
    /// (`0.5 · 5 = 2.5 → 2`, `0.5 · 7 = 3.5 → 4`). The product is the f64
    /// one, so `0.3 · 10` is `3.0000000000000004 → 3`.
    pub fn count(self, size: usize) -> Result<usize, PruneError> {
        self.validate()?;
        let count = match self {
            Amount::Count(c) => c,
            Amount::Fraction(a) => libm::rint(a * size as f64) as usize,
        };
        if count > size {
            return Err(PruneError::CountExceedsSize { count, size });
        }
        Ok(count)
    }
}

/// The share of zeros in a mask (`true` = kept).
pub fn sparsity(mask: &[bool]) -> f64 {
    if mask.is_empty() {
        return 0.0;
    }
    mask.iter().filter(|&&keep| !keep).count() as f64 / mask.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amount_rounds_like_python() {
        assert_eq!(Amount::Fraction(0.5).count(5), Ok(2));
        assert_eq!(Amount::Fraction(0.5).count(7), Ok(4));
        assert_eq!(Amount::Fraction(0.3).count(10), Ok(3));
        assert_eq!(Amount::Fraction(1.0).count(4), Ok(4));
        assert_eq!(Amount::Count(4).count(4), Ok(4));
        assert_eq!(Amount::Count(5).count(4), Err(PruneError::CountExceedsSize { count: 5, size: 4 }));
        assert!(Amount::Fraction(1.5).count(4).is_err());
    }

    #[test]
    fn amount_text_follows_python_types() {
        assert_eq!(Amount::parse("3"), Ok(Amount::Count(3)));
        assert_eq!(Amount::parse("1.0"), Ok(Amount::Fraction(1.0)));
        assert_eq!(Amount::parse("0.25"), Ok(Amount::Fraction(0.25)));
        assert!(Amount::parse("-1").is_err());
        assert!(Amount::parse("2.5").is_err());
        assert!(Amount::parse("half").is_err());
    }
}
