//! `y = x·Wᵀ + b`, the layer that holds almost all of a transformer's weights.
//!
//! The weight is stored like PyTorch's `nn.Linear`: `(out, in)`, one output
//! row after another. That layout makes the decode step (one token, so `x`
//! is a single row) a sequence of contiguous dot products that stream the
//! weight from memory exactly once, which is what bounds decode speed.
//! Prompts (many rows) go through `ndarray`'s blocked matrix product.
//!
//! Backward (training): for `y = x·Wᵀ + b` and an output gradient `dy`,
//! `dx = dy·W`, `dW += dyᵀ·x`, `db += Σ_rows dy`. Both products go through
//! the same blocked GEMM as the prompt path.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array1, Array2, ArrayView2, Axis};

/// Rows up to this count use the streaming kernel (each weight row is read
/// once and reused from L1 for every input row); more rows use the packed
/// GEMM, whose packing cost is then amortised.
const STREAMING_MAX_ROWS: usize = 8;

/// A dense layer with optional bias.
#[derive(Clone, Debug)]
pub struct Linear {
    /// `(out, in)`.
    pub weight: Array2<f32>,
    /// `(out)`.
    pub bias: Option<Array1<f32>>,
}

impl Linear {
    /// Wraps an `(out, in)` weight and optional `(out)` bias.
    pub fn new(weight: Array2<f32>, bias: Option<Array1<f32>>) -> Self {
        Self { weight, bias }
    }

    /// Input width.
    pub fn in_features(&self) -> usize {
        self.weight.ncols()
    }

    /// Output width.
    pub fn out_features(&self) -> usize {
        self.weight.nrows()
    }

    /// Number of parameters (weight plus bias).
    pub fn num_params(&self) -> usize {
        self.weight.len() + self.bias.as_ref().map_or(0, |b| b.len())
    }

    /// `x: (N, in) -> (N, out)`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut y = matmul_t(x, self.weight.view());
        if let Some(bias) = &self.bias {
            y += bias;
        }
        y
    }

    /// Backward of [`forward`](Self::forward): `x: (N, in)` is the saved
    /// input, `dy: (N, out)` the output gradient. Adds `dyᵀ·x` to
    /// `grad.weight` and the column sums of `dy` to `grad.bias`, and returns
    /// `dx: (N, in)`.
    pub fn backward(&self, x: ArrayView2<f32>, dy: ArrayView2<f32>, grad: &mut LinearGrad) -> Array2<f32> {
        general_mat_mul(1.0, &dy.t(), &x, 1.0, &mut grad.weight); // (out, in)
        if let Some(db) = grad.bias.as_mut() {
            *db += &dy.sum_axis(Axis(0));
        }
        dy.dot(&self.weight.view()) // (N, out)·(out, in)
    }
}

/// Gradients of one [`Linear`], kept apart from the (immutable) weights.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearGrad {
    /// `(out, in)`.
    pub weight: Array2<f32>,
    /// `(out)`, present when the layer has a bias.
    pub bias: Option<Array1<f32>>,
}

impl LinearGrad {
    /// Zero gradients shaped like `layer`.
    pub fn zeros(layer: &Linear) -> Self {
        Self {
            weight: Array2::zeros((layer.out_features(), layer.in_features())),
            bias: layer.bias.as_ref().map(|b| Array1::zeros(b.len())),
        }
    }
}

/// `x·wᵀ`: `x: (N, K)`, `w: (M, K)` -> `(N, M)`, choosing the kernel by `N`.
pub fn matmul_t(x: ArrayView2<f32>, w: ArrayView2<f32>) -> Array2<f32> {
    if x.nrows() <= STREAMING_MAX_ROWS {
        streaming_matmul_t(x, w)
    } else {
        x.dot(&w.t())
    }
}

/// `x·wᵀ` for few rows of `x`: for every row of `w` (read once, contiguous)
/// take its dot product with each row of `x`. `x: (N, K)`, `w: (M, K)` ->
/// `(N, M)`.
pub fn streaming_matmul_t(x: ArrayView2<f32>, w: ArrayView2<f32>) -> Array2<f32> {
    let n = x.nrows();
    let m = w.nrows();
    let mut y = Array2::<f32>::zeros((n, m));
    let x_rows: alloc::vec::Vec<alloc::borrow::Cow<[f32]>> = x
        .axis_iter(Axis(0))
        .map(|row| match row.to_slice() {
            Some(s) => alloc::borrow::Cow::Borrowed(s),
            None => alloc::borrow::Cow::Owned(row.to_vec()),
        })
        .collect();
    for (j, w_row) in w.axis_iter(Axis(0)).enumerate() {
        let w_row: alloc::borrow::Cow<[f32]> = match w_row.to_slice() {
            Some(s) => alloc::borrow::Cow::Borrowed(s),
            None => alloc::borrow::Cow::Owned(w_row.to_vec()),
        };
        for (i, x_row) in x_rows.iter().enumerate() {
            y[[i, j]] = dot(x_row, &w_row);
        }
    }
    y
}

/// Dot product of the common prefix of `a` and `b`. Uses the wasm SIMD128
/// kernel when the crate is compiled with `-C target-feature=+simd128` (the
/// browser worker), otherwise [`dot_scalar`]. Both add in the same order, so
/// they give bit-identical results.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        dot_simd128(a, b)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        dot_scalar(a, b)
    }
}

/// Dot product with 16 independent accumulators, so the compiler vectorises
/// it and the additions do not wait on each other.
#[inline]
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 16;
    let len = a.len().min(b.len());
    let (a, b) = (&a[..len], &b[..len]);
    let mut acc = [0.0f32; LANES];
    let mut a_chunks = a.chunks_exact(LANES);
    let mut b_chunks = b.chunks_exact(LANES);
    for (ca, cb) in (&mut a_chunks).zip(&mut b_chunks) {
        for lane in 0..LANES {
            acc[lane] += ca[lane] * cb[lane];
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in a_chunks.remainder().iter().zip(b_chunks.remainder()) {
        tail += x * y;
    }
    // Pairwise reduction keeps the rounding error small.
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            acc[lane] += acc[lane + width];
        }
    }
    acc[0] + tail
}

/// [`dot_scalar`] written with wasm SIMD128 `f32x4` registers: the 16
/// accumulators are four vectors (lanes 0-3, 4-7, 8-11, 12-15) and the
/// reduction adds the same pairs in the same order, so the result is
/// bit-identical to the scalar kernel (wasm has no fused multiply-add to
/// change the rounding). Explicit vectors keep the kernel fast even in the
/// dev profile, where LLVM does not vectorise the scalar loop.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline]
pub fn dot_simd128(a: &[f32], b: &[f32]) -> f32 {
    use core::arch::wasm32::{f32x4, f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat};
    let len = a.len().min(b.len());
    let (a_blocks, a_rest) = a[..len].as_chunks::<16>();
    let (b_blocks, b_rest) = b[..len].as_chunks::<16>();
    let mut acc = [f32x4_splat(0.0); 4];
    for (ca, cb) in a_blocks.iter().zip(b_blocks) {
        for (k, acc_k) in acc.iter_mut().enumerate() {
            let o = 4 * k;
            let va = f32x4(ca[o], ca[o + 1], ca[o + 2], ca[o + 3]);
            let vb = f32x4(cb[o], cb[o + 1], cb[o + 2], cb[o + 3]);
            *acc_k = f32x4_add(*acc_k, f32x4_mul(va, vb));
        }
    }
    let mut tail = 0.0f32;
    for (x, y) in a_rest.iter().zip(b_rest) {
        tail += x * y;
    }
    // Scalar reduction order: lane l += lane l+8, then l += l+4, l += l+2, l += l+1.
    let half = f32x4_add(f32x4_add(acc[0], acc[2]), f32x4_add(acc[1], acc[3]));
    let pair0 = f32x4_extract_lane::<0>(half) + f32x4_extract_lane::<2>(half);
    let pair1 = f32x4_extract_lane::<1>(half) + f32x4_extract_lane::<3>(half);
    (pair0 + pair1) + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn streaming_and_gemm_paths_agree() {
        let w = Array2::from_shape_fn((37, 53), |(i, j)| ((i * 7 + j * 3) % 11) as f32 * 0.1 - 0.5);
        let b = Array1::from_shape_fn(37, |i| i as f32 * 0.01);
        let layer = Linear::new(w.clone(), Some(b.clone()));
        let x = Array2::from_shape_fn((12, 53), |(i, j)| ((i + 2 * j) % 5) as f32 - 2.0);
        let full = layer.forward(x.view());
        let expected = x.dot(&w.t()) + &b;
        for rows in [1usize, 3, 12] {
            let part = layer.forward(x.slice_axis(Axis(0), ndarray::Slice::from(..rows)));
            for i in 0..rows {
                for j in 0..37 {
                    assert!((part[[i, j]] - expected[[i, j]]).abs() < 1e-4);
                    assert!((full[[i, j]] - expected[[i, j]]).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        use crate::train::layers::gradcheck::{check_gradient, random_vec};
        let (n, k, m) = (3, 5, 4);
        let w = Array2::from_shape_vec((m, k), random_vec(m * k, 1)).unwrap();
        let b = Array1::from(random_vec(m, 2));
        let x = Array2::from_shape_vec((n, k), random_vec(n * k, 3)).unwrap();
        let r = Array2::from_shape_vec((n, m), random_vec(n * m, 4)).unwrap(); // loss = Σ r ⊙ y
        let layer = Linear::new(w.clone(), Some(b.clone()));
        let mut grad = LinearGrad::zeros(&layer);
        let dx = layer.backward(x.view(), r.view(), &mut grad);
        let loss = |layer: &Linear, x: &Array2<f32>| (layer.forward(x.view()) * &r).iter().map(|&v| f64::from(v)).sum::<f64>();
        check_gradient(x.as_slice().unwrap(), dx.as_slice().unwrap(), |p| {
            loss(&layer, &Array2::from_shape_vec((n, k), p.to_vec()).unwrap())
        });
        check_gradient(w.as_slice().unwrap(), grad.weight.as_slice().unwrap(), |p| {
            loss(&Linear::new(Array2::from_shape_vec((m, k), p.to_vec()).unwrap(), Some(b.clone())), &x)
        });
        check_gradient(b.as_slice().unwrap(), grad.bias.as_ref().unwrap().as_slice().unwrap(), |p| {
            loss(&Linear::new(w.clone(), Some(Array1::from(p.to_vec()))), &x)
        });
    }

    #[test]
    fn dot_handles_remainders() {
        let a: alloc::vec::Vec<f32> = (0..19).map(|i| i as f32).collect();
        let b = alloc::vec![1.0f32; 19];
        assert_eq!(dot(&a, &b), 171.0);
        let w = array![[1.0f32, 2.0], [3.0, 4.0]];
        let y = Linear::new(w, None).forward(array![[1.0f32, 1.0]].view());
        assert_eq!(y, array![[3.0f32, 7.0]]);
    }
}
