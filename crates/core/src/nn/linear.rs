//! `y = x·Wᵀ + b`, the layer that holds almost all of a transformer's weights.
//!
//! The weight is a [`Matrix`]: logically `(out, in)` like PyTorch's
//! `nn.Linear`, stored either that way or as its `(in, out)` transpose
//! (GPT-2's `Conv1D`), in f32, f16 or bf16, owned or borrowed from the
//! checkpoint (see [`super::storage`]). Nothing is transposed or widened on
//! load; the kernels read the stored layout directly:
//!
//! - Decode (one token, so `x` has one row; up to [`STREAMING_MAX_ROWS`]):
//!   the weight is streamed from memory exactly once, which is what bounds
//!   decode speed. Stored `(out, in)`: one contiguous dot product per output.
//!   Stored `(in, out)`: `y += x[k]·W[k, :]` over eight stored rows at a
//!   time, so `y` stays in L1. f16/bf16 rows are widened into a small
//!   scratch buffer just before use.
//! - Prompts (more rows): f32 goes through `ndarray`'s blocked GEMM, which
//!   packs either layout itself; f16/bf16 weights are widened
//!   [`WIDEN_BLOCK`] outputs at a time and multiplied block by block.
//!
//! - Block-quantized weights (GGUF's Q8_0, Q4_0, …, kept in their blocks):
//!   decode goes block by block, never through an f32 copy of the matrix,
//!   in one of two [`Activations`] modes. `F32` decodes each weight row into
//!   a scratch row and takes the same f32 dot product as for f32 weights, so
//!   the logits are those of the dequantized model. `Q8` (the default)
//!   quantizes each activation row to Q8_0 once and takes integer dot
//!   products block by block ([`super::block_dot`], llama.cpp's
//!   `vec_dot_q4_0_q8_0`/`vec_dot_q8_0_q8_0`). Prompts decode
//!   [`WIDEN_BLOCK`] rows at a time into a scratch block and use the GEMM,
//!   as for f16.
//!
//! Backward (training): for `y = x·Wᵀ + b` and an output gradient `dy`,
//! `dx = dy·W`, `dW += dyᵀ·x`, `db += Σ_rows dy`. Both products go through
//! the same blocked GEMM as the prompt path (on the weight's logical
//! `(out, in)` f32 view).

use super::block_dot::{self, Q8Row};
use super::storage::{Dtype, Matrix, QuantizedRows};
use super::{push_array, TensorMut};
use alloc::vec;
use alloc::vec::Vec;
use super::gemm::{gemm, matmul};
use ndarray::{Array1, Array2, ArrayView2, Axis, Slice};

/// Rows up to this count use the streaming kernel (each weight row is read
/// once and reused from L1 for every input row); more rows use the packed
/// GEMM, whose packing cost is then amortised.
pub const STREAMING_MAX_ROWS: usize = 8;

/// Outputs widened at a time by the GEMM path for f16/bf16 weights: `(256, in)`
/// f32 (768 KB for GPT-2 small) instead of the whole tensor.
pub const WIDEN_BLOCK: usize = 256;

/// How the decode kernel treats activations multiplied with block-quantized
/// weights (other storage ignores it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Activations {
    /// f32 activations times weight blocks decoded to f32: the dequantized model's values.
    F32,
    /// Activations quantized to Q8_0 per row, integer dot products per block (faster, approximate).
    #[default]
    Q8,
}

impl Activations {
    /// `f32` or `q8`.
    pub fn name(self) -> &'static str {
        match self {
            Activations::F32 => "f32",
            Activations::Q8 => "q8",
        }
    }

    /// The mode named `name` (`f32` or `q8`, case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        [Activations::F32, Activations::Q8].into_iter().find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

/// A dense layer with optional bias.
#[derive(Clone, Debug)]
pub struct Linear {
    /// Logically `(out, in)`.
    pub weight: Matrix,
    /// `(out)`.
    pub bias: Option<Array1<f32>>,
}

impl Linear {
    /// Wraps an owned `(out, in)` weight and optional `(out)` bias.
    pub fn new(weight: Array2<f32>, bias: Option<Array1<f32>>) -> Self {
        Self { weight: Matrix::from(weight), bias }
    }

    /// Wraps a logically `(out, in)` weight of any storage.
    pub fn from_matrix(weight: Matrix, bias: Option<Array1<f32>>) -> Self {
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

    /// Appends the weight (made owned f32 `(out, in)`, see
    /// [`Matrix::make_mut`]) and the bias to `out`.
    pub fn params_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        out.push(TensorMut { values: self.weight.make_mut(), matrix: true });
        if let Some(bias) = self.bias.as_mut() {
            push_array(out, bias);
        }
    }

    /// `x: (N, in) -> (N, out)`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        let mut y = matmul_weight(x, &self.weight);
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
        gemm(1.0, dy.t(), x, 1.0, grad.weight.view_mut()); // (out, in)
        if let Some(db) = grad.bias.as_mut() {
            *db += &dy.sum_axis(Axis(0));
        }
        matmul(dy, self.weight.view()) // (N, out)·(out, in)
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

    /// A copy of `layer`'s parameters in the gradient's layout (so that one
    /// name table can name parameters and gradients alike).
    pub fn of(layer: &Linear) -> Self {
        Self { weight: layer.weight.view().to_owned(), bias: layer.bias.clone() }
    }

    /// Appends the tensors in [`Linear::params_mut`]'s order.
    pub fn tensors_mut<'a>(&'a mut self, out: &mut Vec<TensorMut<'a>>) {
        push_array(out, &mut self.weight);
        if let Some(bias) = self.bias.as_mut() {
            push_array(out, bias);
        }
    }
}

/// `x·wᵀ` for a weight of any storage: `x: (N, K)`, `w: (M, K)` logically ->
/// `(N, M)`, choosing the kernel by `N`, layout and dtype.
pub fn matmul_weight(x: ArrayView2<f32>, w: &Matrix) -> Array2<f32> {
    if let Some(rows) = w.quantized_rows() {
        return if x.nrows() <= STREAMING_MAX_ROWS { streaming_quantized(x, w, &rows) } else { gemm_widened(x, w) };
    }
    let is_f32 = w.storage().dtype() == Dtype::F32;
    match (x.nrows() <= STREAMING_MAX_ROWS, w.is_transposed()) {
        (true, false) if is_f32 => matmul_t(x, w.view()),
        (true, false) => streaming_rows_widened(x, w),
        (true, true) => streaming_stored_columns(x, w),
        (false, _) if is_f32 => matmul(x, w.view().t()),
        (false, _) => gemm_widened(x, w),
    }
}

/// Rows of `x` as contiguous slices (borrowed when they already are).
fn contiguous_rows<'a>(x: &'a ArrayView2<f32>) -> Vec<alloc::borrow::Cow<'a, [f32]>> {
    x.axis_iter(Axis(0))
        .map(|row| match row.to_slice() {
            Some(s) => alloc::borrow::Cow::Borrowed(s),
            None => alloc::borrow::Cow::Owned(row.to_vec()),
        })
        .collect()
}

/// Streaming kernel for a block-quantized weight stored `(M, K)`: each row
/// is read once, as blocks, and dotted with every row of `x` — after
/// decoding it into a scratch row ([`Activations::F32`], or a type without
/// an integer kernel), or as integers against `x` quantized to Q8_0.
fn streaming_quantized(x: ArrayView2<f32>, w: &Matrix, rows: &QuantizedRows) -> Array2<f32> {
    let (m, k) = (rows.rows, rows.cols);
    let x_rows = contiguous_rows(&x);
    let mut y = Array2::<f32>::zeros((x.nrows(), m)); // (N, M)
    if w.activations() == Activations::Q8 && block_dot::has_integer_kernel(rows.ty) {
        let xq: Vec<Q8Row> = x_rows.iter().map(|r| Q8Row::quantize(r)).collect();
        for j in 0..m {
            let row = rows.row(j);
            for (i, xq) in xq.iter().enumerate() {
                y[[i, j]] = block_dot::dot_q8(rows.ty, row, xq);
            }
        }
    } else {
        let mut scratch = vec![0.0f32; k];
        for j in 0..m {
            w.widen_stored_row(j, 0, &mut scratch);
            for (i, x_row) in x_rows.iter().enumerate() {
                y[[i, j]] = dot(x_row, &scratch);
            }
        }
    }
    y
}

/// Streaming kernel for an f16/bf16 weight stored `(M, K)`: each stored row
/// is widened into one scratch row, then dotted with every row of `x`.
fn streaming_rows_widened(x: ArrayView2<f32>, w: &Matrix) -> Array2<f32> {
    let (m, k) = w.stored_dim();
    let x_rows = contiguous_rows(&x);
    let mut y = Array2::<f32>::zeros((x.nrows(), m));
    let mut scratch = vec![0.0f32; k];
    for j in 0..m {
        w.widen_stored_row(j, 0, &mut scratch);
        for (i, x_row) in x_rows.iter().enumerate() {
            y[[i, j]] = dot(x_row, &scratch);
        }
    }
    y
}

/// Streaming kernel for a weight stored `(K, M)` (the transpose of the
/// logical `(M, K)`): `y[i, :] += Σₖ x[i, k]·W[k, :]`, eight stored rows per
/// pass over `y[i, :]`. Each stored row is read once (widened first when
/// f16/bf16).
fn streaming_stored_columns(x: ArrayView2<f32>, w: &Matrix) -> Array2<f32> {
    const GROUP: usize = 8;
    let (k_len, m) = w.stored_dim();
    let n = x.nrows();
    let x_rows = contiguous_rows(&x);
    let mut y = vec![0.0f32; n * m]; // (N, M) row-major
    let widen = w.storage().dtype() != Dtype::F32;
    let mut scratch = if widen { vec![0.0f32; GROUP * m] } else { Vec::new() };
    let mut k0 = 0;
    while k0 < k_len {
        let group = GROUP.min(k_len - k0);
        if widen {
            for (t, chunk) in scratch.chunks_exact_mut(m.max(1)).take(group).enumerate() {
                w.widen_stored_row(k0 + t, 0, chunk);
            }
        }
        let row = |t: usize| -> &[f32] {
            if widen {
                scratch.get(t * m..(t + 1) * m).unwrap_or(&[])
            } else {
                w.stored_row_f32(k0 + t).unwrap_or(&[])
            }
        };
        for (x_row, y_row) in x_rows.iter().zip(y.chunks_exact_mut(m.max(1))) {
            let a = |t: usize| x_row.get(k0 + t).copied().unwrap_or(0.0);
            if group == GROUP {
                let (a0, a1, a2, a3) = (a(0), a(1), a(2), a(3));
                let (a4, a5, a6, a7) = (a(4), a(5), a(6), a(7));
                let rows = [row(0), row(1), row(2), row(3), row(4), row(5), row(6), row(7)];
                // One common length lets the compiler drop the bounds checks and vectorise.
                let len = rows.iter().map(|r| r.len()).fold(y_row.len(), usize::min);
                let [r0, r1, r2, r3, r4, r5, r6, r7] = rows.map(|r| &r[..len]);
                for (j, yv) in y_row[..len].iter_mut().enumerate() {
                    let lo = a0 * r0[j] + a1 * r1[j] + a2 * r2[j] + a3 * r3[j];
                    let hi = a4 * r4[j] + a5 * r5[j] + a6 * r6[j] + a7 * r7[j];
                    *yv += lo + hi;
                }
            } else {
                for t in 0..group {
                    let at = a(t);
                    y_row.iter_mut().zip(row(t)).for_each(|(yv, r)| *yv += at * r);
                }
            }
        }
        k0 += group;
    }
    Array2::from_shape_vec((n, m), y).unwrap_or_else(|_| Array2::zeros((n, m)))
}

/// GEMM for f16/bf16 weights: [`WIDEN_BLOCK`] logical rows of `w` at a
/// time are widened to f32 and multiplied, so the whole tensor never exists
/// in f32.
fn gemm_widened(x: ArrayView2<f32>, w: &Matrix) -> Array2<f32> {
    let (m, k) = w.dim();
    let mut y = Array2::<f32>::zeros((x.nrows(), m));
    let mut j0 = 0;
    while j0 < m {
        let jb = WIDEN_BLOCK.min(m - j0);
        let block_t: Array2<f32> = if w.is_transposed() {
            // Stored (K, M): widen columns j0..j0+jb of every stored row -> (K, jb).
            let mut block = Array2::<f32>::zeros((k, jb));
            for (r, row) in block.rows_mut().into_iter().enumerate() {
                if let Some(slice) = row.into_slice() {
                    w.widen_stored_row(r, j0, slice);
                }
            }
            block
        } else {
            // Stored (M, K): widen rows j0..j0+jb -> (jb, K), used transposed.
            let mut block = Array2::<f32>::zeros((jb, k));
            for (r, row) in block.rows_mut().into_iter().enumerate() {
                if let Some(slice) = row.into_slice() {
                    w.widen_stored_row(j0 + r, 0, slice);
                }
            }
            block.reversed_axes()
        };
        y.slice_axis_mut(Axis(1), Slice::from(j0..j0 + jb)).assign(&matmul(x, block_t.view()));
        j0 += jb;
    }
    y
}

/// `x·wᵀ`: `x: (N, K)`, `w: (M, K)` -> `(N, M)`, choosing the kernel by `N`.
pub fn matmul_t(x: ArrayView2<f32>, w: ArrayView2<f32>) -> Array2<f32> {
    if x.nrows() <= STREAMING_MAX_ROWS {
        streaming_matmul_t(x, w)
    } else {
        matmul(x, w.t())
    }
}

/// `x·wᵀ` for few rows of `x`: for every row of `w` (read once, contiguous)
/// take its dot product with each row of `x`. `x: (N, K)`, `w: (M, K)` ->
/// `(N, M)`.
pub fn streaming_matmul_t(x: ArrayView2<f32>, w: ArrayView2<f32>) -> Array2<f32> {
    let n = x.nrows();
    let m = w.nrows();
    let mut y = Array2::<f32>::zeros((n, m));
    let x_rows = contiguous_rows(&x);
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

    /// An owned `(rows, cols)` matrix and the same values as f16 bytes.
    fn f16_pair(rows: usize, cols: usize) -> (Array2<f32>, crate::nn::storage::Storage) {
        let w = Array2::from_shape_fn((rows, cols), |(i, j)| ((i * 5 + j * 3) % 13) as f32 * 0.125 - 0.75);
        let bytes: Vec<u8> = w.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect();
        let storage = crate::nn::storage::Storage::from_bytes(
            alloc::sync::Arc::new(bytes),
            0..rows * cols * 2,
            crate::nn::storage::Dtype::F16,
        )
        .unwrap();
        (w, storage)
    }

    #[test]
    fn f16_and_transposed_weights_match_owned_f32_in_every_kernel() {
        // (37, 53) logical weights, stored as (37, 53) f16 and as (53, 37) transposed,
        // f32 and f16; `WIDEN_BLOCK` is crossed by a 300-output layer.
        for (out_f, in_f) in [(37usize, 53usize), (300, 19)] {
            let (w, f16_storage) = f16_pair(out_f, in_f);
            let (w_t, f16_t_storage) = f16_pair(in_f, out_f);
            let cases = [
                (w.clone(), Matrix::new(f16_storage, (out_f, in_f)).unwrap()),
                (w_t.t().to_owned(), Matrix::new(f16_t_storage, (in_f, out_f)).unwrap().transposed()),
                (w_t.t().to_owned(), Matrix::from(w_t.clone()).transposed()),
            ];
            let x = Array2::from_shape_fn((12, in_f), |(i, j)| ((i + 2 * j) % 5) as f32 - 2.0);
            for (reference, matrix) in &cases {
                assert_eq!(matrix.dim(), (out_f, in_f));
                for rows in [1usize, 3, 12] {
                    let x = x.slice_axis(Axis(0), Slice::from(..rows));
                    let expected = x.dot(&reference.t());
                    let got = matmul_weight(x, matrix);
                    let maxdiff = (&got - &expected).iter().fold(0.0f32, |m, d| m.max(d.abs()));
                    assert!(maxdiff < 1e-4, "rows {rows}, transposed {}: maxdiff {maxdiff}", matrix.is_transposed());
                }
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        use crate::nn::gradcheck::{check_gradient, random_vec};
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
