//! `torch.nn.utils.prune.ln_structured(module, name, amount, n, dim)`:
//! zero whole channels (rows, columns, ...) with the smallest L_n norm.
//!
//! A channel is one index along `dim`; its norm is taken over every other
//! dimension (`torch.linalg.vector_norm(t, ord=n, dim=others)`). For a
//! `Linear` weight `(out, in)`, `dim = 0` ranks output neurons (rows) and
//! `dim = 1` input features (columns); GPT-2's `Conv1D` stores `(in, out)`,
//! so there the roles swap. With `k` channels to prune, torch *keeps* the
//! `size − k` largest norms (`torch.topk(norm, size − k, largest=True)`),
//! so among tied norms it is the kept set that topk decides.

use super::topk::topk_indices;
use super::{Amount, PruneError};
use alloc::format;
use alloc::string::ToString;
use alloc::vec;
use alloc::vec::Vec;

/// The `ord` of the vector norm.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NormOrder {
    /// `(Σ |x|^p)^(1/p)` for a finite, non-zero `p` (`1` = L1, `2` = L2 = `fro`).
    P(f64),
    /// `p = 0`: the number of non-zero entries.
    Zero,
    /// `p = inf`: the largest `|x|`.
    Max,
    /// `p = -inf`: the smallest `|x|`.
    Min,
}

impl NormOrder {
    /// Reads `1`, `2`, `3.5`, `0`, `inf`, `-inf` or `fro` (= 2).
    pub fn parse(text: &str) -> Result<Self, PruneError> {
        match text.trim() {
            "inf" => Ok(NormOrder::Max),
            "-inf" => Ok(NormOrder::Min),
            "fro" => Ok(NormOrder::P(2.0)),
            other => match other.parse::<f64>() {
                Ok(p) if p == 0.0 => Ok(NormOrder::Zero),
                Ok(p) if p.is_finite() => Ok(NormOrder::P(p)),
                _ => Err(PruneError::BadNormOrder(other.to_string())),
            },
        }
    }

    /// The norm of `values`, in f64 and then rounded to torch's f32 result.
    pub fn norm(self, values: impl Iterator<Item = f32>) -> f32 {
        let magnitudes = values.map(|v| f64::from(v.abs()));
        let norm = match self {
            NormOrder::Zero => magnitudes.filter(|&m| m != 0.0).count() as f64,
            NormOrder::Max => magnitudes.fold(0.0, f64::max),
            NormOrder::Min => magnitudes.fold(f64::INFINITY, f64::min),
            NormOrder::P(p) if p == 1.0 => magnitudes.sum(),
            NormOrder::P(p) if p == 2.0 => libm::sqrt(magnitudes.map(|m| m * m).sum()),
            NormOrder::P(p) => libm::pow(magnitudes.map(|m| libm::pow(m, p)).sum(), 1.0 / p),
        };
        norm as f32
    }
}

/// The keep-mask (`true` = kept) of a tensor of `shape` (row-major `weights`)
/// after pruning `amount` of its channels along `dim` (negative counts from
/// the end) by smallest L_n norm. Also returns the kept channel indices.
pub fn ln_structured(
    weights: &[f32],
    shape: &[usize],
    amount: Amount,
    n: NormOrder,
    dim: i64,
) -> Result<(Vec<bool>, Vec<usize>), PruneError> {
    let rank = shape.len();
    if rank < 2 {
        return Err(PruneError::NotStructured { rank });
    }
    let axis = if dim < 0 { dim + rank as i64 } else { dim };
    if axis < 0 || axis >= rank as i64 {
        return Err(PruneError::DimOutOfRange { dim, rank });
    }
    let axis = axis as usize;
    if shape.iter().product::<usize>() != weights.len() {
        return Err(PruneError::ShapeMismatch(format!("{} values for shape {shape:?}", weights.len())));
    }
    let channels = shape[axis];
    let stride: usize = shape[axis + 1..].iter().product();
    let channel_of = |flat: usize| (flat / stride) % channels;
    let count = amount.count(channels)?;
    if count == 0 {
        return Ok((vec![true; weights.len()], (0..channels).collect()));
    }
    let norms: Vec<f32> = (0..channels) // (channels,)
        .map(|c| n.norm(weights.iter().enumerate().filter(|(i, _)| channel_of(*i) == c).map(|(_, &w)| w)))
        .collect();
    let mut kept = topk_indices(&norms, channels - count, true);
    let mut keep_channel = vec![false; channels];
    for &c in &kept {
        keep_channel[c] = true;
    }
    kept.sort_unstable();
    let mask = (0..weights.len()).map(|i| keep_channel[channel_of(i)]).collect();
    Ok((mask, kept))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_columns_by_norm() {
        // (3, 2): row norms L1 = 3, 0.5, 7; column norms L1 = 4.5, 6.
        let w = [1.0, 2.0, 0.5, 0.0, 3.0, 4.0];
        let (mask, kept) = ln_structured(&w, &[3, 2], Amount::Count(1), NormOrder::P(1.0), 0).unwrap();
        assert_eq!(kept, vec![0, 2]);
        assert_eq!(mask, vec![true, true, false, false, true, true]);
        let (mask, kept) = ln_structured(&w, &[3, 2], Amount::Fraction(0.5), NormOrder::P(1.0), -1).unwrap();
        assert_eq!(kept, vec![1]);
        assert_eq!(mask, vec![false, true, false, true, false, true]);
        assert!(ln_structured(&w, &[6], Amount::Count(1), NormOrder::P(2.0), 0).is_err());
        assert!(ln_structured(&w, &[3, 2], Amount::Count(1), NormOrder::P(2.0), 2).is_err());
    }

    #[test]
    fn norm_orders() {
        let v = [3.0f32, -4.0, 0.0];
        assert_eq!(NormOrder::P(2.0).norm(v.iter().copied()), 5.0);
        assert_eq!(NormOrder::Max.norm(v.iter().copied()), 4.0);
        assert_eq!(NormOrder::Min.norm(v.iter().copied()), 0.0);
        assert_eq!(NormOrder::Zero.norm(v.iter().copied()), 2.0);
        assert_eq!(NormOrder::parse("fro"), Ok(NormOrder::P(2.0)));
        assert!(NormOrder::parse("nuc").is_err());
    }
}
