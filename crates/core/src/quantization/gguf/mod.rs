//! GGUF, the single-file model format of llama.cpp (version 3).
//!
//! ```text
//! "GGUF"  u32 version (3)  u64 tensor_count  u64 metadata_kv_count
//! metadata: kv_count × (string key, u32 value_type, value)
//! tensor infos: tensor_count × (string name, u32 n_dims, n_dims × u64 ne, u32 ggml_type, u64 offset)
//! zero padding up to a multiple of `general.alignment` (default 32)
//! tensor data: each tensor at data_start + offset, offsets multiples of the alignment
//! ```
//!
//! All integers are little-endian; a string is a u64 byte length and UTF-8
//! bytes. Dimensions are listed innermost first (`ne[0]` is the length of a
//! row, the axis blocks run along), the reverse of the `(rows, cols)` order
//! PyTorch and numpy use; [`TensorInfo::shape`] gives the latter.
//!
//! - [`gguf_values`]: the 13 metadata value types and their encoding.
//! - [`gguf_reader`]: a defensive parser — every count, length, offset and
//!   dimension product is checked against the bytes that remain before
//!   anything is allocated, and tensors must be aligned, in range and
//!   non-overlapping.
//! - [`gguf_writer`]: writes the same layout as `gguf-py`'s `GGUFWriter`
//!   (header, metadata in insertion order, tensor infos, padding after the
//!   infos and after every tensor), so equal inputs give equal bytes.
//! - [`gguf_model`]: a GPT-2 or Llama GGUF as an HF `config.json` and f32 weights.

pub mod gguf_model;
pub mod gguf_reader;
pub mod gguf_values;
pub mod gguf_writer;

pub use gguf_reader::{GgufFile, TensorInfo};
pub use gguf_values::{GgufArray, GgufValue, ValueType};
pub use gguf_writer::GgufWriter;

use super::GgmlType;
use alloc::string::String;
use core::fmt;

/// The four bytes every GGUF file starts with.
pub const MAGIC: [u8; 4] = *b"GGUF";
/// The version this crate writes.
pub const VERSION: u32 = 3;
/// Tensor data alignment when `general.alignment` is absent.
pub const DEFAULT_ALIGNMENT: usize = 32;
/// Most dimensions a ggml tensor has (`GGML_MAX_DIMS`).
pub const MAX_DIMS: usize = 4;
/// How deeply metadata arrays may nest (an array of arrays is depth 2).
pub const MAX_ARRAY_DEPTH: usize = 4;
/// The metadata key that sets the alignment.
pub const ALIGNMENT_KEY: &str = "general.alignment";

/// Why a GGUF file could not be read or written.
#[derive(Clone, Debug, PartialEq)]
pub enum GgufError {
    /// The file ends before a field it must contain.
    UnexpectedEnd {
        /// The field being read.
        what: &'static str,
        /// Its byte offset.
        offset: usize,
    },
    /// The file does not start with `GGUF`.
    BadMagic([u8; 4]),
    /// The version is not 2 or 3 (version 1 used 32-bit counts).
    UnsupportedVersion(u32),
    /// A count (tensors, metadata entries) is larger than the rest of the file could hold.
    CountTooLarge {
        /// Which count.
        what: &'static str,
        /// The count in the file.
        count: u64,
        /// Bytes left after it.
        remaining: usize,
    },
    /// A string's length is larger than the rest of the file.
    StringTooLong {
        /// The length in the file.
        len: u64,
        /// Bytes left after it.
        remaining: usize,
    },
    /// A string is not UTF-8.
    InvalidUtf8 {
        /// Offset of the string's bytes.
        offset: usize,
    },
    /// A metadata value type id outside 0..=12.
    UnknownValueType(u32),
    /// Arrays nest deeper than [`MAX_ARRAY_DEPTH`].
    ArrayTooDeep,
    /// Two metadata entries have the same key.
    DuplicateKey(String),
    /// A bool is neither 0 nor 1.
    InvalidBool {
        /// Offset of the byte.
        offset: usize,
    },
    /// `general.alignment` is not a u32 power of two.
    BadAlignment,
    /// A tensor has more than [`MAX_DIMS`] dimensions.
    TooManyDims {
        /// Tensor name.
        name: String,
        /// Its `n_dims`.
        n_dims: u32,
    },
    /// A tensor's element count or byte size overflows (or a dimension exceeds `i64::MAX`).
    DimensionOverflow {
        /// Tensor name.
        name: String,
    },
    /// A tensor's ggml type id is not one ggml defines.
    UnknownTensorType {
        /// Tensor name.
        name: String,
        /// The type id.
        id: u32,
    },
    /// A tensor uses a ggml type this crate does not decode.
    UnsupportedTensorType {
        /// Tensor name.
        name: String,
        /// The type's ggml name.
        type_name: &'static str,
    },
    /// A tensor's row length is not a multiple of its type's block size.
    PartialBlockRow {
        /// Tensor name.
        name: String,
        /// Row length (`ne[0]`).
        row: u64,
        /// The type's block size.
        block: usize,
    },
    /// A tensor's data offset is not a multiple of the alignment.
    MisalignedOffset {
        /// Tensor name.
        name: String,
        /// Its offset.
        offset: u64,
        /// The alignment.
        alignment: usize,
    },
    /// A tensor's data runs past the end of the file.
    TensorOutOfRange {
        /// Tensor name.
        name: String,
        /// Its offset in the data section.
        offset: u64,
        /// Its byte size.
        size: u64,
        /// Bytes in the data section.
        data_len: usize,
    },
    /// Two tensors' data overlap.
    OverlappingTensors {
        /// The tensor that starts first.
        first: String,
        /// The tensor that starts inside it.
        second: String,
    },
    /// Two tensors have the same name.
    DuplicateTensor(String),
    /// No tensor has this name.
    MissingTensor(String),
    /// A metadata key the model needs is missing (or not a number).
    MissingMetadata(String),
    /// `general.architecture` is not one this crate runs from GGUF (gpt2, llama).
    UnsupportedArchitecture(String),
    /// A tensor name the architecture does not use.
    UnexpectedTensor(String),
    /// Bytes given to the writer do not match the tensor's shape and type.
    TensorSizeMismatch {
        /// Tensor name.
        name: String,
        /// Bytes the shape and type imply (`None`: not a whole number of blocks).
        expected: Option<usize>,
        /// Bytes given.
        found: usize,
    },
}

impl fmt::Display for GgufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GgufError::UnexpectedEnd { what, offset } => write!(f, "the file ends inside {what} (at byte {offset})"),
            GgufError::BadMagic(m) => write!(f, "not a GGUF file (starts with {m:02x?}, not \"GGUF\")"),
            GgufError::UnsupportedVersion(v) => write!(f, "GGUF version {v} is not supported (2 and 3 are)"),
            GgufError::CountTooLarge { what, count, remaining } => {
                write!(f, "{what} count {count} cannot fit in the {remaining} bytes that remain")
            }
            GgufError::StringTooLong { len, remaining } => {
                write!(f, "string length {len} is longer than the {remaining} bytes that remain")
            }
            GgufError::InvalidUtf8 { offset } => write!(f, "string at byte {offset} is not UTF-8"),
            GgufError::UnknownValueType(t) => write!(f, "unknown metadata value type {t}"),
            GgufError::ArrayTooDeep => write!(f, "metadata arrays nest deeper than {MAX_ARRAY_DEPTH}"),
            GgufError::DuplicateKey(k) => write!(f, "metadata key '{k}' appears twice"),
            GgufError::InvalidBool { offset } => write!(f, "bool at byte {offset} is neither 0 nor 1"),
            GgufError::BadAlignment => write!(f, "{ALIGNMENT_KEY} must be a u32 power of two"),
            GgufError::TooManyDims { name, n_dims } => write!(f, "tensor '{name}' has {n_dims} dimensions (at most {MAX_DIMS})"),
            GgufError::DimensionOverflow { name } => write!(f, "tensor '{name}': dimensions overflow"),
            GgufError::UnknownTensorType { name, id } => write!(f, "tensor '{name}' has unknown ggml type {id}"),
            GgufError::UnsupportedTensorType { name, type_name } => {
                write!(f, "tensor '{name}' has ggml type {type_name}, which is not supported")
            }
            GgufError::PartialBlockRow { name, row, block } => {
                write!(f, "tensor '{name}': row of {row} values is not a multiple of the block size {block}")
            }
            GgufError::MisalignedOffset { name, offset, alignment } => {
                write!(f, "tensor '{name}': offset {offset} is not a multiple of the alignment {alignment}")
            }
            GgufError::TensorOutOfRange { name, offset, size, data_len } => {
                write!(f, "tensor '{name}': {size} bytes at offset {offset} run past the {data_len}-byte data section")
            }
            GgufError::OverlappingTensors { first, second } => write!(f, "tensors '{first}' and '{second}' overlap"),
            GgufError::DuplicateTensor(n) => write!(f, "tensor '{n}' appears twice"),
            GgufError::MissingTensor(n) => write!(f, "no tensor '{n}'"),
            GgufError::MissingMetadata(k) => write!(f, "metadata '{k}' is missing"),
            GgufError::UnsupportedArchitecture(a) => write!(f, "GGUF architecture '{a}' cannot be loaded (gpt2 and llama can)"),
            GgufError::UnexpectedTensor(n) => write!(f, "tensor '{n}' is not part of this architecture"),
            GgufError::TensorSizeMismatch { name, expected, found } => match expected {
                Some(e) => write!(f, "tensor '{name}': {found} bytes given, its shape and type need {e}"),
                None => write!(f, "tensor '{name}': its shape is not a whole number of blocks of its type"),
            },
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for GgufError {}

/// Bytes a tensor of GGUF dimensions `dims` (innermost first) and type `ty`
/// takes, checking the row against the block size and every product for overflow.
pub fn tensor_byte_size(name: &str, dims: &[u64], ty: GgmlType) -> Result<u64, GgufError> {
    let overflow = || GgufError::DimensionOverflow { name: name.into() };
    let mut elements: u64 = 1;
    for &d in dims {
        if d > i64::MAX as u64 {
            return Err(overflow());
        }
        elements = elements.checked_mul(d).ok_or_else(overflow)?;
    }
    if elements > i64::MAX as u64 {
        return Err(overflow());
    }
    let row = dims.first().copied().unwrap_or(1);
    let block = ty.block_size() as u64;
    if row % block != 0 {
        return Err(GgufError::PartialBlockRow { name: name.into(), row, block: ty.block_size() });
    }
    (elements / block).checked_mul(ty.type_size() as u64).ok_or_else(overflow)
}
