//! Transformer building blocks, one small module per idea.
//!
//! Conventions used throughout (they match the curriculum's notation):
//! - `B` batch, `T` new (query) positions, `S` key positions (past + new),
//!   `C` model width, `H` query heads, `Hkv` key/value heads, `D` head width.
//! - Activations of a whole batch are kept as a 2-D `(B*T, C)` matrix, rows
//!   ordered batch-major, so that every linear layer is one matrix product.
//! - Weights are immutable after loading and usually borrowed from the
//!   checkpoint in their stored dtype ([`storage`]); everything mutable
//!   during decoding lives in [`kv_cache::KvCache`].
//! - Training uses the same layers: each has `forward_train`/`backward`, and
//!   `params_mut` (on the layer) / `tensors_mut` (on its gradient) list the
//!   parameter tensors in one fixed order, so an optimiser can walk weights
//!   and gradients side by side ([`TensorMut`]).

pub mod activation;
pub mod attention;
pub mod block_dot;
pub mod blocks;
pub mod bottleneck;
pub mod cross_entropy;
pub mod distillation_loss;
pub mod embedding;
pub mod ffn;
pub mod gemm;
#[cfg(test)]
pub mod gradcheck;
pub mod kv_cache;
pub mod linear;
pub mod math;
pub mod moe;
pub mod norm;
pub mod positional;
pub mod storage;

use alloc::vec::Vec;
use core::fmt;
use core::ops::Range;
use ndarray::{ArrayView2, ArrayViewMut2, Axis, Slice};

// Slicing helpers. ndarray's `s![]` macro expands to `#[allow(unsafe_code)]`,
// which this crate's `#![forbid(unsafe_code)]` rejects, so sub-blocks are
// taken with `slice_axis` instead.

/// `x[rows, cols]` of a 2-D view.
pub fn block<'a>(x: ArrayView2<'a, f32>, rows: Range<usize>, cols: Range<usize>) -> ArrayView2<'a, f32> {
    let mut v = x;
    v.slice_axis_inplace(Axis(0), Slice::from(rows));
    v.slice_axis_inplace(Axis(1), Slice::from(cols));
    v
}

/// Mutable `x[rows, cols]` of a 2-D view.
pub fn block_mut<'a>(x: ArrayViewMut2<'a, f32>, rows: Range<usize>, cols: Range<usize>) -> ArrayViewMut2<'a, f32> {
    let mut v = x;
    v.slice_axis_inplace(Axis(0), Slice::from(rows));
    v.slice_axis_inplace(Axis(1), Slice::from(cols));
    v
}

/// One parameter tensor (or its gradient) as a flat row-major slice.
#[derive(Debug)]
pub struct TensorMut<'a> {
    /// The values.
    pub values: &'a mut [f32],
    /// True for 2-D tensors (weight matrices, embedding tables), false for
    /// biases and norm gains: AdamW decays only the former, as nanoGPT does.
    pub matrix: bool,
}

/// Appends an owned, contiguous array's values to `out` (a fresh or
/// computed array always is; anything else is skipped).
pub(crate) fn push_array<'a, D: ndarray::Dimension>(out: &mut Vec<TensorMut<'a>>, array: &'a mut ndarray::Array<f32, D>) {
    let matrix = array.ndim() >= 2;
    if let Some(values) = array.as_slice_mut() {
        out.push(TensorMut { values, matrix });
    }
}

/// Errors raised while running a layer on concrete inputs.
#[derive(Clone, Debug, PartialEq)]
pub enum NnError {
    /// A token id is not a row of the embedding table.
    TokenOutOfRange { id: u32, vocab_size: usize },
    /// A position is past the end of a learned position table.
    PositionOutOfRange { position: usize, max_positions: usize },
    /// Two inputs disagree on a dimension (the message names them).
    ShapeMismatch(&'static str),
    /// The activation name is not one this crate implements.
    UnknownActivation(alloc::string::String),
}

impl fmt::Display for NnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NnError::TokenOutOfRange { id, vocab_size } => {
                write!(f, "token id {id} is out of range for a vocabulary of {vocab_size}")
            }
            NnError::PositionOutOfRange { position, max_positions } => write!(
                f,
                "position {position} is past the model's {max_positions} learned positions"
            ),
            NnError::ShapeMismatch(what) => write!(f, "shape mismatch: {what}"),
            NnError::UnknownActivation(name) => write!(f, "unknown activation function '{name}'"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NnError {}
