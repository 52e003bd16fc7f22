//! Writing GGUF files in `gguf-py`'s `GGUFWriter` layout.
//!
//! Header, metadata entries in the order they were added, tensor infos in
//! the order tensors were added (offsets cumulative, each tensor's size
//! rounded up to the alignment), zero padding to the alignment, then each
//! tensor's bytes followed by padding to the alignment. The alignment is
//! `general.alignment` when that key holds a u32 power of two, else 32.
//! (`GGUFWriter` starts with `general.architecture`; add it first for
//! byte-identical output.)

use super::gguf_values::{encode_string, GgufValue};
use super::{tensor_byte_size, GgufError, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, VERSION};
use crate::quantization::GgmlType;
use alloc::string::String;
use alloc::vec::Vec;

/// A GGUF file being assembled in memory.
#[derive(Clone, Debug, Default)]
pub struct GgufWriter {
    metadata: Vec<(String, GgufValue)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

impl GgufWriter {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces, keeping its position) metadata entry `key`.
    pub fn add_metadata(&mut self, key: &str, value: GgufValue) {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value,
            None => self.metadata.push((key.into(), value)),
        }
    }

    /// Adds tensor `name` of `shape` (outermost first, PyTorch order) holding
    /// `bytes` already encoded as `ty`.
    pub fn add_tensor(&mut self, name: &str, shape: &[usize], ty: GgmlType, bytes: Vec<u8>) -> Result<(), GgufError> {
        if self.tensors.iter().any(|(n, ..)| n == name) {
            return Err(GgufError::DuplicateTensor(name.into()));
        }
        if shape.len() > super::MAX_DIMS {
            return Err(GgufError::TooManyDims { name: name.into(), n_dims: shape.len() as u32 });
        }
        let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        let expected = match tensor_byte_size(name, &dims, ty) {
            Ok(size) => usize::try_from(size).ok(),
            Err(GgufError::PartialBlockRow { .. }) => None,
            Err(e) => return Err(e),
        };
        if expected != Some(bytes.len()) {
            return Err(GgufError::TensorSizeMismatch { name: name.into(), expected, found: bytes.len() });
        }
        self.tensors.push((name.into(), dims, ty, bytes));
        Ok(())
    }

    /// The data alignment in force.
    pub fn alignment(&self) -> usize {
        match self.metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            Some((_, GgufValue::U32(a))) if a.is_power_of_two() => *a as usize,
            _ => DEFAULT_ALIGNMENT,
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let alignment = self.alignment();
        let mut out = Vec::new();
        out.extend_from_slice(&MAGIC);
        out.extend_from_slice(&VERSION.to_le_bytes());
        out.extend_from_slice(&(self.tensors.len() as u64).to_le_bytes());
        out.extend_from_slice(&(self.metadata.len() as u64).to_le_bytes());
        for (key, value) in &self.metadata {
            encode_string(key, &mut out);
            out.extend_from_slice(&value.value_type().id().to_le_bytes());
            value.encode(&mut out);
        }
        let mut offset = 0u64;
        for (name, dims, ty, bytes) in &self.tensors {
            encode_string(name, &mut out);
            out.extend_from_slice(&(dims.len() as u32).to_le_bytes());
            dims.iter().for_each(|d| out.extend_from_slice(&d.to_le_bytes()));
            out.extend_from_slice(&ty.id().to_le_bytes());
            out.extend_from_slice(&offset.to_le_bytes());
            offset += bytes.len().next_multiple_of(alignment) as u64;
        }
        out.resize(out.len().next_multiple_of(alignment), 0);
        for (_, _, _, bytes) in &self.tensors {
            out.extend_from_slice(bytes);
            out.resize(out.len().next_multiple_of(alignment), 0);
        }
        out
    }
}
