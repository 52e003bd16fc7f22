//! The one matrix multiply every layer uses.
//!
//! All the heavy lifting of a transformer step is `C += A·B` on row-major f32
//! buffers. We wrap ndarray's `general_mat_mul` (which dispatches to the
//! `matrixmultiply` crate's packed, SIMD sgemm) so that layers can pass plain
//! slices plus shapes, and transposes are free stride changes instead of
//! copies.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, ShapeBuilder};

use super::TrainError;

/// A read-only matrix described on a flat slice: `rows × cols`, with
/// `row_stride` elements between consecutive rows (columns are contiguous),
/// optionally read transposed.
#[derive(Clone, Copy)]
pub struct Mat<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub row_stride: usize,
    /// Read as the transpose (`cols × rows`) of the stored matrix.
    pub transposed: bool,
}

impl<'a> Mat<'a> {
    /// A dense row-major `rows × cols` matrix.
    pub fn new(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Self { data, rows, cols, row_stride: cols, transposed: false }
    }

    /// A `rows × cols` block whose rows are `row_stride` apart (a column
    /// slice of a wider matrix, e.g. one attention head inside `(T, 3C)`).
    pub fn strided(data: &'a [f32], rows: usize, cols: usize, row_stride: usize) -> Self {
        Self { data, rows, cols, row_stride, transposed: false }
    }

    /// The same storage read as its transpose.
    pub fn t(self) -> Self {
        Self { transposed: !self.transposed, ..self }
    }

    fn view(self) -> Result<ArrayView2<'a, f32>, TrainError> {
        let needed = needed_len(self.rows, self.cols, self.row_stride);
        let data = self.data.get(..needed).ok_or(TrainError::Shape("matrix operand shorter than its shape"))?;
        let v = ArrayView2::from_shape((self.rows, self.cols).strides((self.row_stride, 1)), data)
            .map_err(|_| TrainError::Shape("matrix operand has an invalid shape"))?;
        Ok(if self.transposed { v.reversed_axes() } else { v })
    }
}

fn needed_len(rows: usize, cols: usize, row_stride: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * row_stride + cols
    }
}

/// `out = alpha · a·b + beta · out`, where `out` is `rows × cols` with rows
/// `out_stride` apart. Shapes must agree: `a` is `(rows, k)`, `b` is `(k, cols)`
/// after any transposes.
pub fn gemm(
    a: Mat<'_>,
    b: Mat<'_>,
    out: &mut [f32],
    out_rows: usize,
    out_cols: usize,
    out_stride: usize,
    alpha: f32,
    beta: f32,
) -> Result<(), TrainError> {
    let a = a.view()?;
    let b = b.view()?;
    if a.nrows() != out_rows || b.ncols() != out_cols || a.ncols() != b.nrows() {
        return Err(TrainError::Shape("matrix product shapes do not agree"));
    }
    let needed = needed_len(out_rows, out_cols, out_stride);
    let out = out.get_mut(..needed).ok_or(TrainError::Shape("matrix output shorter than its shape"))?;
    let mut c = ArrayViewMut2::from_shape((out_rows, out_cols).strides((out_stride, 1)), out)
        .map_err(|_| TrainError::Shape("matrix output has an invalid shape"))?;
    general_mat_mul(alpha, &a, &b, beta, &mut c);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_and_strided_products_match_naive_loops() {
        // a is (2,3) stored inside a (2,4) buffer; b is stored as (2,3) and read transposed.
        let a = [1.0, 2.0, 3.0, 99.0, 4.0, 5.0, 6.0, 99.0];
        let b = [1.0, 0.0, -1.0, 2.0, 1.0, 0.5];
        let mut out = [1.0f32; 4];
        gemm(Mat::strided(&a, 2, 3, 4), Mat::new(&b, 2, 3).t(), &mut out, 2, 2, 2, 1.0, 1.0).unwrap();
        // row0·b0 = 1-3 = -2, row0·b1 = 2+2+1.5 = 5.5, row1·b0 = 4-6 = -2, row1·b1 = 8+5+3 = 16
        assert_eq!(out, [-1.0, 6.5, -1.0, 17.0]);
    }

    #[test]
    fn mismatched_shapes_are_an_error_not_a_panic() {
        let a = [0.0f32; 6];
        let mut out = [0.0f32; 4];
        assert!(gemm(Mat::new(&a, 2, 3), Mat::new(&a, 2, 3), &mut out, 2, 2, 2, 1.0, 0.0).is_err());
        assert!(gemm(Mat::new(&a[..5], 2, 3), Mat::new(&a, 3, 2), &mut out, 2, 2, 2, 1.0, 0.0).is_err());
    }
}
