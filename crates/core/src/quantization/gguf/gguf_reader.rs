//! Reading GGUF files defensively.
//!
//! A GGUF header is a chain of lengths and counts that a hostile file can set
//! to anything. Before anything is allocated, each is checked against the
//! bytes that remain: a count of `n` entries needs at least `n` times the
//! smallest entry's size, a string of length `n` needs `n` bytes. Tensor
//! dimensions are multiplied with overflow checks (and each must fit in an
//! `i64`, as ggml's `ne` does), a tensor may have at most four, its ggml
//! type must be one this crate decodes (others are refused by name), its
//! offset must be aligned and its bytes inside the file, and no two tensors
//! may overlap. The parser keeps offsets, not copies: tensor bytes are
//! borrowed from the file with [`GgufFile::tensor_bytes`].

use super::gguf_values::{GgufArray, GgufValue, ValueType};
use super::{tensor_byte_size, GgufError, ALIGNMENT_KEY, DEFAULT_ALIGNMENT, MAGIC, MAX_ARRAY_DEPTH, MAX_DIMS};
use crate::quantization::{dequantize, unsupported_ggml_type_name, GgmlType};
use alloc::collections::BTreeSet;
use alloc::string::String;
use alloc::vec::Vec;

/// Fewest bytes one metadata entry takes (empty key, type id, one-byte value).
const MIN_KV_BYTES: usize = 8 + 4 + 1;
/// Fewest bytes one tensor info takes (empty name, `n_dims`, type, offset).
const MIN_TENSOR_INFO_BYTES: usize = 8 + 4 + 4 + 8;

/// One tensor's entry in the header.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    /// The tensor's name (`blk.0.attn_q.weight`).
    pub name: String,
    /// Dimensions innermost first, as stored (`ne`).
    pub dims: Vec<u64>,
    /// Element type.
    pub ty: GgmlType,
    /// Offset of its data from the start of the data section.
    pub offset: u64,
    /// Bytes of data.
    pub size: u64,
}

impl TensorInfo {
    /// Dimensions outermost first (PyTorch / numpy order).
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }

    /// Number of values.
    pub fn element_count(&self) -> u64 {
        self.dims.iter().product()
    }
}

/// A parsed GGUF header: metadata, tensor infos and where the data starts.
#[derive(Clone, Debug, PartialEq)]
pub struct GgufFile {
    /// Format version (2 or 3).
    pub version: u32,
    /// Metadata entries in file order.
    pub metadata: Vec<(String, GgufValue)>,
    /// Tensor infos in file order.
    pub tensors: Vec<TensorInfo>,
    /// Data alignment (`general.alignment`, default 32).
    pub alignment: usize,
    /// Absolute offset of the data section.
    pub data_start: usize,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], GgufError> {
        let end = self.pos.checked_add(n).ok_or(GgufError::UnexpectedEnd { what, offset: self.pos })?;
        let slice = self.bytes.get(self.pos..end).ok_or(GgufError::UnexpectedEnd { what, offset: self.pos })?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], GgufError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A count of entries of at least `min_size` bytes each, proven to fit in what remains.
    fn count(&mut self, what: &'static str, min_size: usize) -> Result<usize, GgufError> {
        let count = self.u64(what)?;
        let remaining = self.remaining();
        let fits = usize::try_from(count).ok().and_then(|c| c.checked_mul(min_size)).is_some_and(|need| need <= remaining);
        if !fits {
            return Err(GgufError::CountTooLarge { what, count, remaining });
        }
        Ok(count as usize)
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let len = self.u64("a string length")?;
        let remaining = self.remaining();
        if len > remaining as u64 {
            return Err(GgufError::StringTooLong { len, remaining });
        }
        let offset = self.pos;
        let bytes = self.take(len as usize, "a string")?;
        core::str::from_utf8(bytes).map(String::from).map_err(|_| GgufError::InvalidUtf8 { offset })
    }

    fn bool(&mut self) -> Result<bool, GgufError> {
        let offset = self.pos;
        match self.array::<1>("a bool")? {
            [0] => Ok(false),
            [1] => Ok(true),
            _ => Err(GgufError::InvalidBool { offset }),
        }
    }

    fn value_type(&mut self) -> Result<ValueType, GgufError> {
        let id = self.u32("a value type")?;
        ValueType::from_id(id).ok_or(GgufError::UnknownValueType(id))
    }

    fn value(&mut self, ty: ValueType, depth: usize) -> Result<GgufValue, GgufError> {
        const W: &str = "a metadata value";
        Ok(match ty {
            ValueType::U8 => GgufValue::U8(u8::from_le_bytes(self.array(W)?)),
            ValueType::I8 => GgufValue::I8(i8::from_le_bytes(self.array(W)?)),
            ValueType::U16 => GgufValue::U16(u16::from_le_bytes(self.array(W)?)),
            ValueType::I16 => GgufValue::I16(i16::from_le_bytes(self.array(W)?)),
            ValueType::U32 => GgufValue::U32(u32::from_le_bytes(self.array(W)?)),
            ValueType::I32 => GgufValue::I32(i32::from_le_bytes(self.array(W)?)),
            ValueType::F32 => GgufValue::F32(f32::from_le_bytes(self.array(W)?)),
            ValueType::Bool => GgufValue::Bool(self.bool()?),
            ValueType::String => GgufValue::String(self.string()?),
            ValueType::Array => GgufValue::Array(self.array_value(depth + 1)?),
            ValueType::U64 => GgufValue::U64(u64::from_le_bytes(self.array(W)?)),
            ValueType::I64 => GgufValue::I64(i64::from_le_bytes(self.array(W)?)),
            ValueType::F64 => GgufValue::F64(f64::from_le_bytes(self.array(W)?)),
        })
    }

    fn array_value(&mut self, depth: usize) -> Result<GgufArray, GgufError> {
        if depth > MAX_ARRAY_DEPTH {
            return Err(GgufError::ArrayTooDeep);
        }
        let ty = self.value_type()?;
        let n = self.count("array element", ty.min_size())?;
        const W: &str = "an array element";
        macro_rules! numbers {
            ($variant:ident, $t:ty) => {{
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(<$t>::from_le_bytes(self.array(W)?));
                }
                GgufArray::$variant(v)
            }};
        }
        Ok(match ty {
            ValueType::U8 => GgufArray::U8(self.take(n, W)?.to_vec()),
            ValueType::I8 => numbers!(I8, i8),
            ValueType::U16 => numbers!(U16, u16),
            ValueType::I16 => numbers!(I16, i16),
            ValueType::U32 => numbers!(U32, u32),
            ValueType::I32 => numbers!(I32, i32),
            ValueType::F32 => numbers!(F32, f32),
            ValueType::U64 => numbers!(U64, u64),
            ValueType::I64 => numbers!(I64, i64),
            ValueType::F64 => numbers!(F64, f64),
            ValueType::Bool => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.bool()?);
                }
                GgufArray::Bool(v)
            }
            ValueType::String => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.string()?);
                }
                GgufArray::String(v)
            }
            ValueType::Array => {
                let mut v = Vec::with_capacity(n);
                for _ in 0..n {
                    v.push(self.array_value(depth + 1)?);
                }
                GgufArray::Array(v)
            }
        })
    }
}

impl GgufFile {
    /// Parses and validates a whole GGUF file's header against its bytes.
    pub fn parse(bytes: &[u8]) -> Result<GgufFile, GgufError> {
        let mut c = Cursor { bytes, pos: 0 };
        let magic: [u8; 4] = c.array("the magic")?;
        if magic != MAGIC {
            return Err(GgufError::BadMagic(magic));
        }
        let version = c.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(GgufError::UnsupportedVersion(version));
        }
        let tensor_count = c.u64("the tensor count")?;
        let kv_count = c.count("metadata entry", MIN_KV_BYTES)?;
        let mut metadata = Vec::with_capacity(kv_count);
        let mut keys = BTreeSet::new();
        for _ in 0..kv_count {
            let key = c.string()?;
            let ty = c.value_type()?;
            let value = c.value(ty, 0)?;
            if !keys.insert(key.clone()) {
                return Err(GgufError::DuplicateKey(key));
            }
            metadata.push((key, value));
        }
        let remaining = c.remaining();
        let tensor_count = usize::try_from(tensor_count)
            .ok()
            .filter(|n| n.checked_mul(MIN_TENSOR_INFO_BYTES).is_some_and(|need| need <= remaining))
            .ok_or(GgufError::CountTooLarge { what: "tensor", count: tensor_count, remaining })?;
        let alignment = match metadata.iter().find(|(k, _)| k == ALIGNMENT_KEY) {
            None => DEFAULT_ALIGNMENT,
            Some((_, GgufValue::U32(a))) if a.is_power_of_two() => *a as usize,
            Some(_) => return Err(GgufError::BadAlignment),
        };
        let mut tensors = Vec::with_capacity(tensor_count);
        let mut names = BTreeSet::new();
        for _ in 0..tensor_count {
            let name = c.string()?;
            let n_dims = c.u32("a tensor's dimension count")?;
            if n_dims as usize > MAX_DIMS {
                return Err(GgufError::TooManyDims { name, n_dims });
            }
            let mut dims = Vec::with_capacity(n_dims as usize);
            for _ in 0..n_dims {
                dims.push(c.u64("a tensor dimension")?);
            }
            let type_id = c.u32("a tensor type")?;
            let ty = match GgmlType::from_id(type_id) {
                Some(ty) => ty,
                None => {
                    return Err(match unsupported_ggml_type_name(type_id) {
                        Some(type_name) => GgufError::UnsupportedTensorType { name, type_name },
                        None => GgufError::UnknownTensorType { name, id: type_id },
                    })
                }
            };
            let offset = c.u64("a tensor offset")?;
            let size = tensor_byte_size(&name, &dims, ty)?;
            if offset % alignment as u64 != 0 {
                return Err(GgufError::MisalignedOffset { name, offset, alignment });
            }
            if !names.insert(name.clone()) {
                return Err(GgufError::DuplicateTensor(name));
            }
            tensors.push(TensorInfo { name, dims, ty, offset, size });
        }
        let data_start = c.pos.checked_next_multiple_of(alignment).ok_or(GgufError::UnexpectedEnd { what: "padding", offset: c.pos })?;
        let data_len = bytes.len().saturating_sub(data_start);
        for t in &tensors {
            if t.offset.checked_add(t.size).is_none_or(|end| end > data_len as u64) {
                return Err(GgufError::TensorOutOfRange { name: t.name.clone(), offset: t.offset, size: t.size, data_len });
            }
        }
        let mut by_offset: Vec<&TensorInfo> = tensors.iter().filter(|t| t.size > 0).collect();
        by_offset.sort_by_key(|t| t.offset);
        for pair in by_offset.windows(2) {
            if let [a, b] = pair {
                if a.offset + a.size > b.offset {
                    return Err(GgufError::OverlappingTensors { first: a.name.clone(), second: b.name.clone() });
                }
            }
        }
        Ok(GgufFile { version, metadata, tensors, alignment, data_start })
    }

    /// The metadata value of `key`.
    pub fn get(&self, key: &str) -> Option<&GgufValue> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The tensor info named `name`.
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The stored bytes of tensor `name` within `bytes` (the file parsed).
    pub fn tensor_bytes<'a>(&self, bytes: &'a [u8], name: &str) -> Result<&'a [u8], GgufError> {
        let t = self.tensor(name).ok_or_else(|| GgufError::MissingTensor(name.into()))?;
        let out_of_range = || GgufError::TensorOutOfRange {
            name: name.into(),
            offset: t.offset,
            size: t.size,
            data_len: bytes.len().saturating_sub(self.data_start),
        };
        let start = usize::try_from(t.offset).ok().and_then(|o| o.checked_add(self.data_start)).ok_or_else(out_of_range)?;
        let end = usize::try_from(t.size).ok().and_then(|s| s.checked_add(start)).ok_or_else(out_of_range)?;
        bytes.get(start..end).ok_or_else(out_of_range)
    }

    /// Tensor `name` decoded to f32 (as `gguf.quants.dequantize`), row-major in [`TensorInfo::shape`] order.
    pub fn tensor_f32(&self, bytes: &[u8], name: &str) -> Result<Vec<f32>, GgufError> {
        let t = self.tensor(name).ok_or_else(|| GgufError::MissingTensor(name.into()))?;
        let data = self.tensor_bytes(bytes, name)?;
        // The size was validated against the type on parse, so this cannot fail.
        dequantize(data, t.ty).map_err(|_| GgufError::TensorSizeMismatch { name: name.into(), expected: None, found: data.len() })
    }
}
