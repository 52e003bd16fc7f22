//! [`Weights`]: a prefix-scoped view of a [`WeightStore`], like candle's
//! `VarBuilder`. `weights.pp("h").pp(3).get2("attn.c_attn.weight", (c, 3*c))`
//! reads `h.3.attn.c_attn.weight` and checks its shape. Matrices come out
//! as [`Matrix`] views into the checkpoint's bytes ([`Weights::matrix`]);
//! vectors (biases, norm gains: a few KB) as owned `Array1`s.
//!
//! Every view made from one root shares a record of the names it read, so a
//! loader can finish with [`Weights::check_all_used`]: a checkpoint tensor
//! that the model never read is an error naming it, not silently dropped.

use super::safetensors::WeightStore;
use super::LoadError;
use crate::nn::storage::Matrix;
use alloc::collections::BTreeSet;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use core::cell::RefCell;
use ndarray::{Array1, Array2};

/// A view of the store under a name prefix.
#[derive(Clone, Debug)]
pub struct Weights<'a> {
    store: &'a WeightStore,
    prefix: String,
    /// Full names read so far through this root and its sub-views.
    used: Rc<RefCell<BTreeSet<String>>>,
}

impl<'a> Weights<'a> {
    /// The root view (no prefix).
    pub fn new(store: &'a WeightStore) -> Self {
        Self { store, prefix: String::new(), used: Rc::default() }
    }

    /// The view under `prefix.name` ("push prefix"); accepts numbers for layer indices.
    pub fn pp(&self, name: impl core::fmt::Display) -> Self {
        let prefix = if self.prefix.is_empty() { name.to_string() } else { format!("{}.{}", self.prefix, name) };
        Self { store: self.store, prefix, used: Rc::clone(&self.used) }
    }

    /// Errors with the first (sorted) store tensor that no view of this root
    /// has read and that `ignored` does not accept (buffers Hugging Face
    /// itself stores and ignores, tied duplicates).
    pub fn check_all_used(&self, ignored: impl Fn(&str) -> bool) -> Result<(), LoadError> {
        let used = self.used.borrow();
        let mut names: alloc::vec::Vec<&String> = self.store.tensors.keys().collect();
        names.sort();
        match names.into_iter().find(|n| !used.contains(n.as_str()) && !ignored(n)) {
            Some(name) => Err(LoadError::UnusedTensor(name.clone())),
            None => Ok(()),
        }
    }

    /// Full name of `name` under this prefix.
    pub fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{}", self.prefix, name)
        }
    }

    /// Whether `name` exists under this prefix.
    pub fn contains(&self, name: &str) -> bool {
        self.store.tensors.contains_key(&self.path(name))
    }

    /// The underlying store.
    pub fn store(&self) -> &'a WeightStore {
        self.store
    }

    /// Full name of `name`, after checking that its shape is `expected`.
    fn checked_name(&self, name: &str, expected: &[usize]) -> Result<String, LoadError> {
        let full = self.path(name);
        let found = self.store.shape(&full).ok_or_else(|| LoadError::MissingTensor(full.clone()))?;
        if found != expected {
            return Err(LoadError::ShapeMismatch { name: full, expected: expected.to_vec(), found: found.to_vec() });
        }
        self.used.borrow_mut().insert(full.clone());
        Ok(full)
    }

    fn checked(&self, name: &str, expected: &[usize]) -> Result<alloc::vec::Vec<f32>, LoadError> {
        self.store.to_f32(&self.checked_name(name, expected)?)
    }

    /// A 2-D tensor of exactly `(rows, cols)` in its stored dtype, viewing
    /// the checkpoint's bytes (no copy when they are aligned).
    pub fn matrix(&self, name: &str, (rows, cols): (usize, usize)) -> Result<Matrix, LoadError> {
        let full = self.checked_name(name, &[rows, cols])?;
        self.store.matrix(&full, (rows, cols))
    }

    /// A 1-D tensor of exactly `len` values.
    pub fn get1(&self, name: &str, len: usize) -> Result<Array1<f32>, LoadError> {
        Ok(Array1::from(self.checked(name, &[len])?))
    }

    /// A 2-D tensor of exactly `(rows, cols)`.
    pub fn get2(&self, name: &str, (rows, cols): (usize, usize)) -> Result<Array2<f32>, LoadError> {
        let values = self.checked(name, &[rows, cols])?;
        Array2::from_shape_vec((rows, cols), values).map_err(|e| LoadError::Safetensors(format!("{name}: {e}")))
    }

    /// Like [`get1`](Self::get1) but `None` when absent (optional biases).
    pub fn get1_opt(&self, name: &str, len: usize) -> Result<Option<Array1<f32>>, LoadError> {
        if self.contains(name) {
            self.get1(name, len).map(Some)
        } else {
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn prefixes_compose_and_shapes_are_checked() {
        let mut store = WeightStore::new();
        store.insert_f32("h.0.w", vec![2, 3], vec![0.0; 6]);
        let w = Weights::new(&store);
        assert!(w.pp("h").pp(0).get2("w", (2, 3)).is_ok());
        assert!(matches!(w.pp("h").pp(0).get2("w", (3, 2)), Err(LoadError::ShapeMismatch { .. })));
        assert!(matches!(w.pp("h").pp(1).get1("w", 6), Err(LoadError::MissingTensor(_))));
        assert_eq!(w.pp("h.0").matrix("w", (2, 3)).unwrap().dim(), (2, 3));
        assert!(matches!(w.pp("h.0").matrix("w", (6, 1)), Err(LoadError::ShapeMismatch { .. })));
    }

    #[test]
    fn an_unread_tensor_is_named_unless_ignored() {
        let mut store = WeightStore::new();
        store.insert_f32("a", vec![1], vec![0.0]);
        store.insert_f32("h.0.extra", vec![1], vec![0.0]);
        let w = Weights::new(&store);
        assert!(w.pp("h").pp(0).contains("extra")); // looking is not using
        w.get1("a", 1).unwrap();
        assert_eq!(w.check_all_used(|_| false), Err(LoadError::UnusedTensor("h.0.extra".into())));
        assert_eq!(w.check_all_used(|n| n.ends_with(".extra")), Ok(()));
    }
}
