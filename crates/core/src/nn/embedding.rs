//! Lookup tables: token ids (or positions, or segment ids) to vectors.

use super::NnError;
use ndarray::{Array2, Axis};

/// A `(num_embeddings, dim)` table.
#[derive(Clone, Debug)]
pub struct Embedding {
    /// `(num_embeddings, dim)`.
    pub weight: Array2<f32>,
}

impl Embedding {
    /// Wraps a table.
    pub fn new(weight: Array2<f32>) -> Self {
        Self { weight }
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
            let mut row = row;
            row.assign(&self.weight.row(index));
        }
        Ok(out)
    }

    /// Like [`forward`](Self::forward) for positions of a learned position table.
    pub fn forward_positions(&self, positions: &[usize]) -> Result<Array2<f32>, NnError> {
        let mut out = Array2::<f32>::zeros((positions.len(), self.dim()));
        for (mut row, &position) in out.axis_iter_mut(Axis(0)).zip(positions) {
            if position >= self.num_embeddings() {
                return Err(NnError::PositionOutOfRange { position, max_positions: self.num_embeddings() });
            }
            row.assign(&self.weight.row(position));
        }
        Ok(out)
    }
}
