//! `torch.nn.utils.prune.l1_unstructured`: zero the smallest weights of one tensor.
//!
//! The importance of a weight is its magnitude `|w|`. With `k` the count
//! from the amount ([`Amount::count`]), the mask is all ones except at the
//! `k` indices `torch.topk(|w|.view(-1), k, largest=False)` returns: the
//! smallest magnitudes, and among equal magnitudes the ones torch's kernel
//! happens to select ([`topk_indices`]). Only the flat order of the tensor
//! matters, so the shape does not.

use super::topk::topk_indices;
use super::{Amount, PruneError};
use alloc::vec;
use alloc::vec::Vec;

/// The keep-mask (`true` = kept) of `weights` (any shape, flattened
/// row-major) after pruning `amount` of its entries by smallest `|w|`.
pub fn l1_unstructured(weights: &[f32], amount: Amount) -> Result<Vec<bool>, PruneError> {
    let count = amount.count(weights.len())?;
    let magnitudes: Vec<f32> = weights.iter().map(|w| w.abs()).collect();
    Ok(mask_smallest(&magnitudes, count))
}

/// All-true mask with the `count` smallest `importance` entries (torch's choice among ties) set false.
pub(crate) fn mask_smallest(importance: &[f32], count: usize) -> Vec<bool> {
    let mut mask = vec![true; importance.len()];
    for i in topk_indices(importance, count, false) {
        mask[i] = false;
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prunes_the_smallest_magnitudes() {
        let w = [0.5, -0.1, 2.0, 0.05, -3.0, 0.2];
        let mask = l1_unstructured(&w, Amount::Fraction(0.5)).unwrap();
        assert_eq!(mask, vec![true, false, true, false, true, false]);
        assert_eq!(l1_unstructured(&w, Amount::Count(0)).unwrap(), vec![true; 6]);
        assert_eq!(l1_unstructured(&w, Amount::Count(6)).unwrap(), vec![false; 6]);
        assert!(l1_unstructured(&w, Amount::Count(7)).is_err());
    }
}
