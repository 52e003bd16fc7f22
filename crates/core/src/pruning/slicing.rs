//! Slicing checkpoint tensors.
