//! Locality-sensitive hashing of MinHash signatures: candidate pairs
//! without comparing every pair, then one kept document per cluster.
//!
//! A signature of `num_perm` values is cut into `b` bands of `r` rows
//! (`b * r <= num_perm`; the remaining values are unused). Two documents
//! become a *candidate pair* when all `r` values of at least one band are
//! equal. If their Jaccard similarity is `s`, that happens with probability
//! `1 - (1 - s^r)^b`, an S-curve whose steep part sits near the threshold.
//! `datasketch.MinHashLSH(threshold, num_perm, weights=(0.5, 0.5))` picks
//! `(b, r)` minimising
//!
//! ```text
//! w_fp * ∫_0^t 1 - (1 - s^r)^b ds   +   w_fn * ∫_t^1 (1 - s^r)^b ds
//! ```
//!
//! (the area of false positives below the threshold and of false negatives
//! above it), trying every `b` in `1..=num_perm` and `r` in
//! `1..=num_perm / b` and keeping the first strict minimum. datasketch
//! integrates with SciPy's `quad` (QUADPACK); here [`integrate`] is
//! adaptive 21-point Gauss–Kronrod (QUADPACK's `qk21` rule) with bisection
//! to a relative accuracy of about 1e-13 (absolute 1e-16), well below the gaps between the
//! best and second-best `(b, r)` (the parity fixture records them), so the
//! same `(b, r)` is chosen.
//!
//! Candidate pairs are then merged by union-find: each connected group of
//! documents is a cluster, and the document with the smallest index is the
//! one kept.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use super::DataError;

/// The largest `num_perm` for which [`optimal_params`] searches (the search
/// integrates about `num_perm * ln(num_perm)` curves).
pub const MAX_SEARCH_NUM_PERM: usize = 4096;

/// Bands and rows per band.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LshParams {
    /// Number of bands `b`.
    pub bands: usize,
    /// Rows (signature values) per band `r`.
    pub rows: usize,
}

// QUADPACK's qk21: Kronrod nodes on [-1, 1] (non-negative half), their
// weights, and the weights of the embedded 10-point Gauss rule (odd nodes),
// with QUADPACK's published digits.
#[allow(clippy::excessive_precision)]
const XGK: [f64; 11] = [
    0.995657163025808080735527280689003,
    0.973906528517171720077964012084452,
    0.930157491355708226001207180059508,
    0.865063366688984510732096688423493,
    0.780817726586416897063717578345042,
    0.679409568299024406234327365114874,
    0.562757134668604683339000099272694,
    0.433395394129247190799265943165784,
    0.294392862701460198131126603103866,
    0.148874338981631210884826001129720,
    0.000000000000000000000000000000000,
];
#[allow(clippy::excessive_precision)]
const WGK: [f64; 11] = [
    0.011694638867371874278064396062192,
    0.032558162307964727478818972459390,
    0.054755896574351996031381300244580,
    0.075039674810919952767043140916190,
    0.093125454583697605535065465083366,
    0.109387158802297641899210590325805,
    0.123491976262065851077600525614358,
    0.134709217311473325928054001771707,
    0.142775938577060080797094273138717,
    0.147739104901338491374841515972068,
    0.149445554002916905664936468389821,
];
#[allow(clippy::excessive_precision)]
const WG: [f64; 5] = [
    0.066671344308688137593568809893332,
    0.149451349150580593145776339657697,
    0.219086362515982043995534934228163,
    0.269266719309996355091226921569469,
    0.295524224714752870173892994651338,
];

/// The 21-point Kronrod estimate of `∫_lo^hi f` and its difference to the
/// embedded 10-point Gauss estimate.
fn kronrod21(f: &impl Fn(f64) -> f64, lo: f64, hi: f64) -> (f64, f64) {
    let center = 0.5 * (lo + hi);
    let half = 0.5 * (hi - lo);
    let fc = f(center);
    let mut kronrod = fc * WGK[10];
    let mut gauss = 0.0;
    for (j, (&x, &w)) in XGK.iter().zip(&WGK).take(10).enumerate() {
        let pair = f(center - half * x) + f(center + half * x);
        kronrod += w * pair;
        if j % 2 == 1 {
            gauss += WG[j / 2] * pair;
        }
    }
    (kronrod * half, (kronrod - gauss) * half)
}

/// `∫_lo^hi f`: adaptive 21-point Gauss–Kronrod, bisecting the interval
/// with the largest error estimate until the total estimate is below
/// `1e-13` relative (or `1e-16` absolute), at most 2000 intervals.
pub fn integrate(f: impl Fn(f64) -> f64, lo: f64, hi: f64) -> f64 {
    if lo == hi {
        return 0.0;
    }
    let (value, error) = kronrod21(&f, lo, hi);
    let mut intervals: Vec<(f64, f64, f64, f64)> = alloc::vec![(lo, hi, value, error.abs())];
    let (mut total, mut total_error) = (value, error.abs());
    while intervals.len() < 2000 && total_error > (1e-13 * total.abs()).max(1e-16) {
        let Some(worst) = intervals.iter().enumerate().max_by(|x, y| x.1 .3.total_cmp(&y.1 .3)).map(|(k, _)| k) else {
            break;
        };
        let (a, b, v, e) = intervals.swap_remove(worst);
        total -= v;
        total_error -= e;
        let mid = 0.5 * (a + b);
        for (x, y) in [(a, mid), (mid, b)] {
            let (v, e) = kronrod21(&f, x, y);
            intervals.push((x, y, v, e.abs()));
            total += v;
            total_error += e.abs();
        }
    }
    // Sum from the left for a result independent of the refinement order.
    intervals.sort_by(|x, y| x.0.total_cmp(&y.0));
    intervals.iter().map(|i| i.2).sum()
}

/// The probability mass of false positives: `∫_0^t 1 - (1 - s^r)^b ds`.
pub fn false_positive_probability(threshold: f64, bands: usize, rows: usize) -> f64 {
    let (b, r) = (bands as f64, rows as f64);
    integrate(|s| 1.0 - libm::pow(1.0 - libm::pow(s, r), b), 0.0, threshold)
}

/// The probability mass of false negatives: `∫_t^1 (1 - s^r)^b ds`
/// (written `1 - (1 - (1 - s^r)^b)` as datasketch does).
pub fn false_negative_probability(threshold: f64, bands: usize, rows: usize) -> f64 {
    let (b, r) = (bands as f64, rows as f64);
    integrate(|s| 1.0 - (1.0 - libm::pow(1.0 - libm::pow(s, r), b)), threshold, 1.0)
}

/// `datasketch.lsh._optimal_param`: the `(b, r)` minimising the weighted
/// false positive and false negative masses (first strict minimum in the
/// order `b = 1, 2, ...`, then `r = 1, 2, ...`).
pub fn optimal_params(threshold: f64, num_perm: usize, fp_weight: f64, fn_weight: f64) -> Result<LshParams, DataError> {
    if !(0.0..=1.0).contains(&threshold) {
        return Err(DataError::Setting(alloc::format!("threshold {threshold} must be in [0, 1]")));
    }
    if num_perm < 2 {
        return Err(DataError::Setting("LSH needs at least 2 permutations".into()));
    }
    if num_perm > MAX_SEARCH_NUM_PERM {
        return Err(DataError::TooLarge(alloc::format!("num_perm {num_perm} exceeds {MAX_SEARCH_NUM_PERM} for the (b, r) search")));
    }
    if !(0.0..=1.0).contains(&fp_weight) || !(0.0..=1.0).contains(&fn_weight) || fp_weight + fn_weight != 1.0 {
        return Err(DataError::Setting("weights must be in [0, 1] and sum to 1".into()));
    }
    let mut best = (f64::INFINITY, LshParams { bands: 0, rows: 0 });
    for b in 1..=num_perm {
        for r in 1..=num_perm / b {
            let error = false_positive_probability(threshold, b, r) * fp_weight + false_negative_probability(threshold, b, r) * fn_weight;
            if error < best.0 {
                best = (error, LshParams { bands: b, rows: r });
            }
        }
    }
    Ok(best.1)
}

/// The parameters `MinHashLSH(threshold, num_perm)` uses: [`optimal_params`]
/// with weights (0.5, 0.5), refused (as datasketch does) when fewer than 2 bands result.
pub fn lsh_params(threshold: f64, num_perm: usize) -> Result<LshParams, DataError> {
    let params = optimal_params(threshold, num_perm, 0.5, 0.5)?;
    if params.bands < 2 {
        return Err(DataError::Setting(alloc::format!("threshold {threshold} gives {} band(s); LSH needs at least 2", params.bands)));
    }
    Ok(params)
}

/// The candidate pairs `(i, j)`, `i < j`, sorted: documents whose
/// signatures agree on all rows of at least one band (band `k` is values
/// `k*r .. (k+1)*r`). Every signature must have `num_perm >= b*r` values
/// and all the same length.
pub fn candidate_pairs(signatures: &[Vec<u64>], params: LshParams) -> Result<Vec<(usize, usize)>, DataError> {
    let used = params.bands.checked_mul(params.rows).ok_or_else(|| DataError::Setting("b * r overflows".into()))?;
    if params.bands == 0 || params.rows == 0 {
        return Err(DataError::Setting("bands and rows must be at least 1".into()));
    }
    let len = signatures.first().map_or(used, Vec::len);
    if let Some((i, s)) = signatures.iter().enumerate().find(|(_, s)| s.len() != len) {
        return Err(DataError::Shape(alloc::format!("signature {i} has {} values, signature 0 has {len}", s.len())));
    }
    if used > len {
        return Err(DataError::Setting(alloc::format!("b * r = {used} exceeds the {len} values of a signature")));
    }
    let mut pairs = BTreeSet::new();
    for band in 0..params.bands {
        let range = band * params.rows..(band + 1) * params.rows;
        let mut buckets: BTreeMap<&[u64], Vec<usize>> = BTreeMap::new();
        for (doc, sig) in signatures.iter().enumerate() {
            if let Some(key) = sig.get(range.clone()) {
                buckets.entry(key).or_default().push(doc);
            }
        }
        for docs in buckets.values() {
            for (k, &i) in docs.iter().enumerate() {
                for &j in docs.iter().skip(k + 1) {
                    pairs.insert((i, j));
                }
            }
        }
    }
    Ok(pairs.into_iter().collect())
}

/// Union-find over `n` documents joined by `pairs`: `cluster[i]` is the
/// smallest document index of `i`'s connected group, so the kept documents
/// are those with `cluster[i] == i`. Pairs naming a document `>= n` are
/// an error.
pub fn clusters(n: usize, pairs: &[(usize, usize)]) -> Result<Vec<usize>, DataError> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]]; // path halving
            x = parent[x];
        }
        x
    }
    for &(i, j) in pairs {
        if i >= n || j >= n {
            return Err(DataError::Shape(alloc::format!("pair ({i}, {j}) names a document beyond the {n} given")));
        }
        let (ri, rj) = (root(&mut parent, i), root(&mut parent, j));
        // the smaller index becomes the root, so a root is its group's minimum
        if ri < rj {
            parent[rj] = ri;
        } else if rj < ri {
            parent[ri] = rj;
        }
    }
    Ok((0..n).map(|i| root(&mut parent, i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kronrod_integrates_polynomials_and_peaks() {
        assert!((integrate(|x| x * x, 0.0, 1.0) - 1.0 / 3.0).abs() < 1e-15);
        let high_degree = integrate(|x| libm::pow(x, 200.0), 0.0, 1.0);
        assert!((high_degree - 1.0 / 201.0).abs() < 1e-14, "{high_degree}");
    }

    #[test]
    fn optimal_params_fit_the_signature() {
        for (t, n) in [(0.5, 128), (0.9, 64), (0.1, 16)] {
            let p = optimal_params(t, n, 0.5, 0.5).unwrap();
            assert!(p.bands * p.rows <= n);
        }
        assert!(optimal_params(1.5, 128, 0.5, 0.5).is_err());
        assert!(optimal_params(0.5, 1, 0.5, 0.5).is_err());
    }

    #[test]
    fn identical_signatures_are_candidates_and_cluster_together() {
        let sigs = alloc::vec![alloc::vec![1, 2, 3, 4], alloc::vec![9, 9, 9, 9], alloc::vec![1, 2, 7, 7], alloc::vec![5, 5, 3, 4]];
        let pairs = candidate_pairs(&sigs, LshParams { bands: 2, rows: 2 }).unwrap();
        assert_eq!(pairs, [(0, 2), (0, 3)]);
        assert_eq!(clusters(4, &pairs).unwrap(), [0, 1, 0, 0]);
        assert!(clusters(2, &[(0, 2)]).is_err());
    }
}
