//! `torch.nn.utils.prune.global_unstructured(params, pruning_method=L1Unstructured, amount=..)`.
//!
//! Instead of pruning every layer by the same share, all the listed tensors
//! are ranked together: torch concatenates their magnitudes
//! (`parameters_to_vector`, in the order the parameters are listed) and
//! prunes the smallest `k` of the whole vector, where `k` comes from the
//! amount and the *total* number of weights. A layer whose weights are
//! small loses more of them. The order of the list matters only for ties,
//! through the positions topk sees.

use super::l1_unstructured::mask_smallest;
use super::{Amount, PruneError};
use alloc::vec::Vec;

/// One keep-mask per tensor (`true` = kept), pruning `amount` of all the
/// `tensors`' entries together by smallest `|w|`.
pub fn global_unstructured(tensors: &[&[f32]], amount: Amount) -> Result<Vec<Vec<bool>>, PruneError> {
    let magnitudes: Vec<f32> = tensors.iter().flat_map(|t| t.iter().map(|w| w.abs())).collect(); // (Σ numel,)
    let count = amount.count(magnitudes.len())?;
    let flat = mask_smallest(&magnitudes, count);
    let mut masks = Vec::with_capacity(tensors.len());
    let mut start = 0;
    for t in tensors {
        masks.push(flat[start..start + t.len()].to_vec());
        start += t.len();
    }
    Ok(masks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ranking_across_tensors() {
        let small = [0.1f32, 0.2, 0.3];
        let large = [1.0f32, 2.0, 0.15];
        let masks = global_unstructured(&[&small, &large], Amount::Fraction(0.5)).unwrap();
        assert_eq!(masks, vec![vec![false, false, true], vec![true, true, false]]);
    }
}
