//! Cutting rows and columns out of checkpoint tensors.
//!
//! Structured removal ([`super::heads`], [`super::neurons`]) ends in plain
//! indexing: a `Linear` weight `(out, in)` loses output rows or input
//! columns, a bias loses entries. The helpers keep the listed indices in
//! their order and build a new, smaller tensor.

use super::PruneError;
use crate::models::gradients::NamedTensor;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A checkpoint's tensors by name (row-major f32).
pub type TensorTable = BTreeMap<String, NamedTensor>;

/// The tensor `name`, or an error naming it.
pub fn get<'a>(table: &'a TensorTable, name: &str) -> Result<&'a NamedTensor, PruneError> {
    table.get(name).ok_or_else(|| PruneError::MissingTensor(name.into()))
}

/// `(rows, cols)` of a 2-D tensor.
pub fn dims2(t: &NamedTensor) -> Result<(usize, usize), PruneError> {
    match t.shape[..] {
        [rows, cols] => Ok((rows, cols)),
        _ => Err(PruneError::ShapeMismatch(format!("{} has shape {:?}, expected 2 dims", t.name, t.shape))),
    }
}

/// `t[rows, :]` of a 2-D tensor, or `t[rows]` of a 1-D one.
pub fn keep_rows(t: &NamedTensor, rows: &[usize]) -> Result<NamedTensor, PruneError> {
    let (count, width) = match t.shape[..] {
        [n] => (n, 1),
        [n, w] => (n, w),
        _ => return Err(PruneError::ShapeMismatch(format!("{} has shape {:?}, expected 1 or 2 dims", t.name, t.shape))),
    };
    let mut data = Vec::with_capacity(rows.len() * width);
    for &r in rows {
        if r >= count {
            return Err(PruneError::ShapeMismatch(format!("row {r} of {} with {count} rows", t.name)));
        }
        data.extend_from_slice(&t.data[r * width..(r + 1) * width]);
    }
    let mut shape = t.shape.clone();
    shape[0] = rows.len();
    Ok(NamedTensor { name: t.name.clone(), shape, data })
}

/// `t[:, cols]` of a 2-D tensor.
pub fn keep_columns(t: &NamedTensor, cols: &[usize]) -> Result<NamedTensor, PruneError> {
    let (rows, width) = dims2(t)?;
    if let Some(&c) = cols.iter().find(|&&c| c >= width) {
        return Err(PruneError::ShapeMismatch(format!("column {c} of {} with {width} columns", t.name)));
    }
    let mut data = Vec::with_capacity(rows * cols.len());
    for r in 0..rows {
        let row = &t.data[r * width..(r + 1) * width];
        data.extend(cols.iter().map(|&c| row[c]));
    }
    Ok(NamedTensor { name: t.name.clone(), shape: alloc::vec![rows, cols.len()], data })
}

/// Σ x² over the listed rows of a 2-D tensor, in f64.
pub fn rows_sum_of_squares(t: &NamedTensor, rows: core::ops::Range<usize>) -> Result<f64, PruneError> {
    let (count, width) = dims2(t)?;
    if rows.end > count {
        return Err(PruneError::ShapeMismatch(format!("rows {rows:?} of {} with {count} rows", t.name)));
    }
    Ok(t.data[rows.start * width..rows.end * width].iter().map(|&x| f64::from(x) * f64::from(x)).sum())
}

/// Σ x² over the listed columns of a 2-D tensor, in f64.
pub fn columns_sum_of_squares(t: &NamedTensor, cols: core::ops::Range<usize>) -> Result<f64, PruneError> {
    let (_, width) = dims2(t)?;
    if cols.end > width {
        return Err(PruneError::ShapeMismatch(format!("columns {cols:?} of {} with {width} columns", t.name)));
    }
    Ok(t.data.chunks_exact(width).flat_map(|row| row[cols.clone()].iter()).map(|&x| f64::from(x) * f64::from(x)).sum())
}

/// Replaces a tensor of the table by its sliced version (same name).
pub fn replace(table: &mut TensorTable, t: NamedTensor) {
    table.insert(t.name.clone(), t);
}

/// The units to keep: the `units − count` largest importances, chosen as
/// `torch.topk(importance, units − count, largest=True)` chooses, sorted.
pub fn kept_units(importance: &[f32], count: usize) -> Vec<usize> {
    let mut kept = super::topk::topk_indices(importance, importance.len().saturating_sub(count), true);
    kept.sort_unstable();
    kept
}

/// `0..n` without the sorted `kept` indices.
pub fn complement(n: usize, kept: &[usize]) -> Vec<usize> {
    (0..n).filter(|i| kept.binary_search(i).is_err()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_columns() {
        let t = NamedTensor { name: "w".into(), shape: alloc::vec![2, 3], data: alloc::vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0] };
        assert_eq!(keep_rows(&t, &[1]).unwrap().data, alloc::vec![4.0, 5.0, 6.0]);
        assert_eq!(keep_columns(&t, &[0, 2]).unwrap().data, alloc::vec![1.0, 3.0, 4.0, 6.0]);
        assert_eq!(columns_sum_of_squares(&t, 1..2).unwrap(), 29.0);
        assert_eq!(rows_sum_of_squares(&t, 0..1).unwrap(), 14.0);
        assert!(keep_columns(&t, &[3]).is_err());
        assert!(rows_sum_of_squares(&t, 1..3).is_err());
        assert!(columns_sum_of_squares(&t, 2..4).is_err());
        assert_eq!(complement(4, &[1, 2]), alloc::vec![0, 3]);
    }
}
