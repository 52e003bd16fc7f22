//! Lookup tables: token ids (or positions, or segment ids) to vectors.
//!
//! The table may be borrowed from the checkpoint and stored in f16/bf16
//! (see [`super::storage`]); only the looked-up rows are widened.
//!
//! Backward: a lookup copies row `id` to the output, so the gradient of the
//! table is the output gradient scattered back, `dW[id] += dy[row]`
//! (a token that occurs twice collects both rows).

use super::storage::Matrix;
use super::NnError;
use ndarray::{Array2, ArrayView2, Axis};

/// A `(num_embeddings, dim)` table.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// `(num_embeddings, dim)`, stored row-major (not transposed).
    pub weight: Matrix,
}

impl Embedding {
    /// Wraps an owned table.
    pub fn new(weight: Array2<f32>) -> Self {
        Self { weight: Matrix::from(weight) }
    }

    /// Wraps a table of any storage; a transposed matrix is read as its
    /// logical `(num_embeddings, dim)` rows.
    pub fn from_matrix(weight: Matrix) -> Self {
        Self { weight }
    }

    /// Copies table row `index` into `out` (`dim` values).
    fn read_row(&self, index: usize, out: ndarray::ArrayViewMut1<f32>) {
        let mut out = out;
        match out.as_slice_mut() {
            Some(slice) if !self.weight.is_transposed() => self.weight.widen_stored_row(index, 0, slice),
            _ => out.assign(&self.weight.view().row(index)),
        }
    }

    /// Rows in the table.
    pub fn num_embeddings(&self) -> usize {
        self.weight.nrows()
    }

    /// Width of each vector.
    pub fn dim(&self) -> usize {
        self.weight.ncols()
    }

    /// `ids: (N) -> (N, dim)`; an id outside the table is an error, not a panic.
    pub fn forward(&self, ids: &[u32]) -> Result<Array2<f32>, NnError> {
        let mut out = Array2::<f32>::zeros((ids.len(), self.dim()));
        for (row, &id) in out.axis_iter_mut(Axis(0)).zip(ids) {
            let index = id as usize;
            if index >= self.num_embeddings() {
                return Err(NnError::TokenOutOfRange { id, vocab_size: self.num_embeddings() });
            }
            self.read_row(index, row);
        }
        Ok(out)
    }

    /// Like [`forward`](Self::forward) for positions of a learned position table.
    pub fn forward_positions(&self, positions: &[usize]) -> Result<Array2<f32>, NnError> {
        let mut out = Array2::<f32>::zeros((positions.len(), self.dim()));
        for (row, &position) in out.axis_iter_mut(Axis(0)).zip(positions) {
            if position >= self.num_embeddings() {
                return Err(NnError::PositionOutOfRange { position, max_positions: self.num_embeddings() });
            }
            self.read_row(position, row);
        }
        Ok(out)
    }

    /// Backward of [`forward`](Self::forward) (or of
    /// [`forward_positions`](Self::forward_positions) with positions as
    /// `ids`): adds row `i` of `dy: (N, dim)` to row `ids[i]` of
    /// `grad: (num_embeddings, dim)`.
    pub fn backward(&self, ids: &[usize], dy: ArrayView2<f32>, grad: &mut Array2<f32>) -> Result<(), NnError> {
        if dy.nrows() != ids.len() || grad.dim() != self.weight.dim() {
            return Err(NnError::ShapeMismatch("embedding backward: ids, output gradient and table gradient"));
        }
        for (&id, row) in ids.iter().zip(dy.axis_iter(Axis(0))) {
            if id >= self.num_embeddings() {
                return Err(NnError::PositionOutOfRange { position: id, max_positions: self.num_embeddings() });
            }
            let mut target = grad.row_mut(id);
            target += &row;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn backward_scatters_rows_and_sums_repeats() {
        let table = Embedding::new(Array2::zeros((4, 2)));
        let mut grad = Array2::zeros((4, 2));
        table.backward(&[1, 3, 1], array![[1.0, 2.0], [3.0, 4.0], [10.0, 20.0]].view(), &mut grad).unwrap();
        assert_eq!(grad, array![[0.0, 0.0], [11.0, 22.0], [0.0, 0.0], [3.0, 4.0]]);
        assert!(table.backward(&[4], array![[1.0, 1.0]].view(), &mut grad).is_err());
    }
}
