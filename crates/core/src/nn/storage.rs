//! Weight storage that is either owned or a view into a checkpoint's bytes.
//!
//! A safetensors file is the tensors' raw little-endian values laid end to
//! end, so a model can run on the file itself instead of a copy of it: the
//! native CLI memory-maps the file, the browser keeps the downloaded buffer,
//! and [`Storage`] points into those shared bytes.
//!
//! - f32 tensors are used in place (reinterpreted with `bytemuck`, which
//!   checks alignment; safetensors pads its header so data starts 8-aligned).
//! - f16 and bf16 tensors stay in their stored width; the matmul kernels in
//!   [`super::linear`] widen one row or block at a time inside the kernel.
//! - Block-quantized tensors (GGUF's Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q6_K,
//!   Q4_K) stay in their blocks: the byte range is checked to be whole blocks
//!   and every block's f16 scales finite before use, rows are decoded one
//!   block at a time with [`crate::quantization::dequantize_block`] (the
//!   decoder that equals `gguf.quants`), and the matmul kernels in
//!   [`super::linear`] take dot products block by block.
//! - Owned f32 is for weights made in memory (tests, llama2.c, training) and
//!   is the fallback copy when bytes are misaligned or the host is big-endian.
//!
//! A [`Matrix`] adds a shape to a [`Storage`]: a row-major block of the
//! stored tensor (offset, rows, columns, row stride), optionally read as its
//! transpose. That is enough to use GPT-2's `Conv1D` weights, which are
//! stored `(in, out)`, and the q/k/v thirds of its fused `c_attn`, without
//! transposing or splitting them on load.
//!
//! Training needs owned, mutable f32 master weights: [`Matrix::make_mut`]
//! copies on first write (into the standard `(rows, cols)` layout) and leaves
//! the checkpoint bytes untouched.

use super::linear::Activations;
use crate::quantization::{dequantize_block, GgmlType};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::OnceCell;
use core::fmt;
use core::ops::Range;
use half::slice::HalfFloatSliceExt;
use half::{bf16, f16};
use ndarray::{Array2, ArrayView2, ShapeBuilder};

/// The bytes of one checkpoint file, shared by every tensor view into it
/// (a `Vec<u8>`, or a memory map provided by the native CLI). The bytes must
/// not change while views exist.
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Element type of borrowed storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dtype {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16 (the top half of an f32).
    Bf16,
    /// Blocks of a GGUF block-quantized type (Q8_0, Q4_0, …).
    Quantized(GgmlType),
}

impl Dtype {
    /// Bytes per element, or per block for a block-quantized type.
    pub fn size(self) -> usize {
        match self {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::Bf16 => 2,
            Dtype::Quantized(ty) => ty.type_size(),
        }
    }

    /// Values per block (1 for the plain types).
    pub fn block_len(self) -> usize {
        match self {
            Dtype::F32 | Dtype::F16 | Dtype::Bf16 => 1,
            Dtype::Quantized(ty) => ty.block_size(),
        }
    }
}

/// A validated, aligned byte range of shared bytes.
#[derive(Clone)]
pub struct ByteSpan {
    bytes: SharedBytes,
    range: Range<usize>,
}

impl ByteSpan {
    /// The bytes, or an empty slice if the owner no longer has them (the
    /// range was checked when the span was made).
    fn bytes(&self) -> &[u8] {
        (*self.bytes).as_ref().get(self.range.clone()).unwrap_or(&[])
    }
}

impl fmt::Debug for ByteSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ByteSpan({:?})", self.range)
    }
}

/// Values of a tensor, owned or borrowed from a checkpoint.
#[derive(Clone, Debug)]
pub enum Storage {
    /// f32 values in memory.
    Owned(Vec<f32>),
    /// Little-endian f32 used in place.
    F32(ByteSpan),
    /// Little-endian f16 kept as f16.
    F16(ByteSpan),
    /// Little-endian bf16 kept as bf16.
    Bf16(ByteSpan),
    /// Whole blocks of a block-quantized type, kept quantized.
    Quantized(GgmlType, ByteSpan),
}

/// Why bytes could not be viewed as a tensor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageError {
    /// The byte range does not lie inside the bytes.
    OutOfBounds {
        /// Requested range.
        start: usize,
        /// Requested end (exclusive).
        end: usize,
        /// Length of the bytes.
        len: usize,
    },
    /// The range's length is not a whole number of elements.
    PartialElement {
        /// Length of the range in bytes.
        len: usize,
        /// Bytes per element.
        size: usize,
    },
    /// A value (or a block's scale) is NaN or infinite.
    NonFinite,
    /// The type is not a block-quantized one (use [`Storage::from_bytes`]).
    NotBlockQuantized(GgmlType),
}

/// Whether reinterpreting little-endian bytes in place gives the right values.
const LITTLE_ENDIAN: bool = cfg!(target_endian = "little");

impl Storage {
    /// Views `bytes[range]` as `dtype` values, or copies them into owned f32
    /// when they cannot be used in place (misaligned, or a big-endian host).
    /// Checks the range against the bytes and every value for finiteness.
    pub fn from_bytes(bytes: SharedBytes, range: Range<usize>, dtype: Dtype) -> Result<Self, StorageError> {
        if let Dtype::Quantized(ty) = dtype {
            return Self::from_block_bytes(bytes, range, ty);
        }
        let all = (*bytes).as_ref();
        let Some(raw) = all.get(range.clone()) else {
            return Err(StorageError::OutOfBounds { start: range.start, end: range.end, len: all.len() });
        };
        if raw.len() % dtype.size() != 0 {
            return Err(StorageError::PartialElement { len: raw.len(), size: dtype.size() });
        }
        let finite = match dtype {
            // Exponent bits all ones means infinity or NaN.
            Dtype::F32 => {
                raw.chunks_exact(4).all(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]) & 0x7f80_0000 != 0x7f80_0000)
            }
            Dtype::F16 => raw.chunks_exact(2).all(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7c00 != 0x7c00),
            Dtype::Bf16 => raw.chunks_exact(2).all(|c| u16::from_le_bytes([c[0], c[1]]) & 0x7f80 != 0x7f80),
            Dtype::Quantized(_) => false,
        };
        if !finite {
            return Err(StorageError::NonFinite);
        }
        let in_place = LITTLE_ENDIAN
            && match dtype {
                Dtype::F32 => bytemuck::try_cast_slice::<u8, f32>(raw).is_ok(),
                Dtype::F16 => bytemuck::try_cast_slice::<u8, f16>(raw).is_ok(),
                Dtype::Bf16 => bytemuck::try_cast_slice::<u8, bf16>(raw).is_ok(),
                Dtype::Quantized(_) => false,
            };
        if !in_place {
            return Ok(Storage::Owned(widen_le_bytes(raw, dtype)));
        }
        let span = ByteSpan { bytes, range };
        Ok(match dtype {
            Dtype::F32 => Storage::F32(span),
            Dtype::F16 => Storage::F16(span),
            Dtype::Bf16 => Storage::Bf16(span),
            Dtype::Quantized(ty) => Storage::Quantized(ty, span),
        })
    }

    /// Views `bytes[range]` as whole blocks of the block-quantized `ty`,
    /// in place (blocks are read byte by byte, so no alignment is needed).
    /// Checks the range against the bytes, its length against the block
    /// size, and every block's scales for finiteness, so that every decoded
    /// value is finite.
    pub fn from_block_bytes(bytes: SharedBytes, range: Range<usize>, ty: GgmlType) -> Result<Self, StorageError> {
        if !ty.is_block_quantized() {
            return Err(StorageError::NotBlockQuantized(ty));
        }
        let all = (*bytes).as_ref();
        let Some(raw) = all.get(range.clone()) else {
            return Err(StorageError::OutOfBounds { start: range.start, end: range.end, len: all.len() });
        };
        if raw.len() % ty.type_size() != 0 {
            return Err(StorageError::PartialElement { len: raw.len(), size: ty.type_size() });
        }
        let offsets = ty.scale_offsets();
        let finite = raw.chunks_exact(ty.type_size()).all(|block| {
            offsets.iter().all(|&o| match block.get(o..o + 2) {
                Some(&[a, b]) => u16::from_le_bytes([a, b]) & 0x7c00 != 0x7c00,
                _ => false,
            })
        });
        if !finite {
            return Err(StorageError::NonFinite);
        }
        Ok(Storage::Quantized(ty, ByteSpan { bytes, range }))
    }

    /// The stored element type (`F32` for owned values).
    pub fn dtype(&self) -> Dtype {
        match self {
            Storage::Owned(_) | Storage::F32(_) => Dtype::F32,
            Storage::F16(_) => Dtype::F16,
            Storage::Bf16(_) => Dtype::Bf16,
            Storage::Quantized(ty, _) => Dtype::Quantized(*ty),
        }
    }

    /// The block type and bytes of block-quantized storage.
    pub fn quantized_bytes(&self) -> Option<(GgmlType, &[u8])> {
        match self {
            Storage::Quantized(ty, span) => Some((*ty, span.bytes())),
            _ => None,
        }
    }

    /// Whether the values live in checkpoint bytes rather than an owned buffer.
    pub fn is_borrowed(&self) -> bool {
        !matches!(self, Storage::Owned(_))
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Storage::Owned(v) => v.len(),
            Storage::F32(s) => s.range.len() / 4,
            Storage::F16(s) | Storage::Bf16(s) => s.range.len() / 2,
            Storage::Quantized(ty, s) => s.range.len() / ty.type_size() * ty.block_size(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as an f32 slice, when they are stored as f32.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match self {
            Storage::Owned(v) => Some(v),
            Storage::F32(s) => bytemuck::try_cast_slice(s.bytes()).ok(),
            Storage::F16(_) | Storage::Bf16(_) | Storage::Quantized(..) => None,
        }
    }

    /// Stored bytes (memory the storage accounts for, owned or borrowed).
    pub fn byte_len(&self) -> usize {
        let dtype = self.dtype();
        self.len() / dtype.block_len() * dtype.size()
    }

    /// Widens `out.len()` values starting at element `start` into `out`.
    /// Elements past the end are left untouched.
    pub fn widen_into(&self, start: usize, out: &mut [f32]) {
        let end = start.saturating_add(out.len());
        match self {
            Storage::Owned(_) | Storage::F32(_) => {
                if let Some(src) = self.as_f32().and_then(|v| v.get(start..end.min(v.len()))) {
                    out[..src.len()].copy_from_slice(src);
                }
            }
            Storage::F16(s) => {
                if let Ok(all) = bytemuck::try_cast_slice::<u8, f16>(s.bytes()) {
                    if let Some(src) = all.get(start..end.min(all.len())) {
                        // Whole-slice conversion: F16C vector instructions when the CPU has them.
                        src.convert_to_f32_slice(&mut out[..src.len()]);
                    }
                }
            }
            Storage::Bf16(s) => {
                if let Ok(all) = bytemuck::try_cast_slice::<u8, bf16>(s.bytes()) {
                    if let Some(src) = all.get(start..end.min(all.len())) {
                        // bf16 is the top half of an f32: a shift, which vectorises.
                        out.iter_mut().zip(src).for_each(|(o, v)| *o = f32::from_bits(u32::from(v.to_bits()) << 16));
                    }
                }
            }
            Storage::Quantized(ty, s) => widen_blocks(*ty, s.bytes(), start, out),
        }
    }
}

/// Decodes values `start..start + out.len()` of whole `ty` blocks into `out`,
/// one block at a time (a block cut by either end is decoded into a scratch
/// block and the overlapping part copied).
fn widen_blocks(ty: GgmlType, bytes: &[u8], start: usize, out: &mut [f32]) {
    let (block_len, type_size) = (ty.block_size(), ty.type_size());
    let total = bytes.len() / type_size * block_len;
    let end = start.saturating_add(out.len()).min(total);
    let mut scratch = [0.0f32; crate::quantization::k_quants::QK_K];
    let mut pos = start;
    while pos < end {
        let b = pos / block_len;
        let in_block = pos - b * block_len;
        let take = (block_len - in_block).min(end - pos);
        let (Some(block), Some(dst)) = (bytes.get(b * type_size..(b + 1) * type_size), out.get_mut(pos - start..pos - start + take))
        else {
            return;
        };
        if in_block == 0 && take == block_len {
            dequantize_block(ty, block, dst);
        } else {
            let scratch = &mut scratch[..block_len];
            dequantize_block(ty, block, scratch);
            dst.copy_from_slice(&scratch[in_block..in_block + take]);
        }
        pos += take;
    }
}

/// Little-endian bytes of `dtype` values, widened to f32 one by one.
fn widen_le_bytes(raw: &[u8], dtype: Dtype) -> Vec<f32> {
    match dtype {
        Dtype::F32 => raw.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        Dtype::F16 => raw.chunks_exact(2).map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::Bf16 => raw.chunks_exact(2).map(|c| bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect(),
        Dtype::Quantized(ty) => crate::quantization::dequantize(raw, ty).unwrap_or_default(),
    }
}

/// A 2-D weight: a row-major block of a [`Storage`], read as stored or as
/// its transpose. Shapes reported by [`dim`](Self::dim) and
/// [`view`](Self::view) are logical (after the transpose).
#[derive(Clone, Debug)]
pub struct Matrix {
    data: Storage,
    /// Element index of stored `[0, 0]`.
    offset: usize,
    /// Stored rows.
    rows: usize,
    /// Stored columns.
    cols: usize,
    /// Elements from one stored row to the next (`>= cols`).
    stride: usize,
    /// Whether the logical matrix is the transpose of the stored block.
    transposed: bool,
    /// How the streaming kernel treats activations for quantized storage.
    activations: Activations,
    /// f32 copy of f16/bf16 storage, made on the first [`view`](Self::view).
    widened: OnceCell<Array2<f32>>,
}

impl From<Array2<f32>> for Matrix {
    fn from(array: Array2<f32>) -> Self {
        let (rows, cols) = array.dim();
        if array.is_standard_layout() {
            // Rows are contiguous, one after another, from the first element.
            let (values, offset) = array.into_raw_vec_and_offset();
            let mut m = Self::owned(values, rows, cols);
            m.offset = offset.unwrap_or(0);
            m
        } else {
            Self::owned(array.iter().copied().collect(), rows, cols)
        }
    }
}

impl Matrix {
    fn owned(values: Vec<f32>, rows: usize, cols: usize) -> Self {
        Self {
            data: Storage::Owned(values),
            offset: 0,
            rows,
            cols,
            stride: cols,
            transposed: false,
            activations: Activations::default(),
            widened: OnceCell::new(),
        }
    }

    /// A `(rows, cols)` row-major matrix over all of `data`; `None` unless
    /// `rows * cols` equals its length.
    pub fn new(data: Storage, (rows, cols): (usize, usize)) -> Option<Self> {
        (rows.checked_mul(cols)? == data.len()).then(|| Self {
            data,
            offset: 0,
            rows,
            cols,
            stride: cols,
            transposed: false,
            activations: Activations::default(),
            widened: OnceCell::new(),
        })
    }

    /// The same values read as the transpose (no data moves).
    pub fn transposed(mut self) -> Self {
        self.transposed = !self.transposed;
        self.widened = OnceCell::new();
        self
    }

    /// The stored columns `range` (logical rows when transposed), sharing the
    /// storage; `None` when the range is outside the block.
    pub fn stored_columns(&self, range: Range<usize>) -> Option<Self> {
        if range.start > range.end || range.end > self.cols {
            return None;
        }
        Some(Self {
            data: self.data.clone(),
            offset: self.offset + range.start,
            rows: self.rows,
            cols: range.len(),
            stride: self.stride,
            transposed: self.transposed,
            activations: self.activations,
            widened: OnceCell::new(),
        })
    }

    /// The logical rows `range`, sharing the storage (stored columns when
    /// transposed, stored rows otherwise); `None` when the range is outside.
    pub fn logical_rows(&self, range: Range<usize>) -> Option<Self> {
        if self.transposed {
            return self.stored_columns(range);
        }
        if range.start > range.end || range.end > self.rows {
            return None;
        }
        Some(Self {
            data: self.data.clone(),
            offset: self.offset + range.start * self.stride,
            rows: range.len(),
            cols: self.cols,
            stride: self.stride,
            transposed: false,
            activations: self.activations,
            widened: OnceCell::new(),
        })
    }

    /// The same matrix with quantized weights run under `activations` (no effect on other storage).
    pub fn with_activations(mut self, activations: Activations) -> Self {
        self.activations = activations;
        self
    }

    /// How the streaming kernel treats activations when the storage is block-quantized.
    pub fn activations(&self) -> Activations {
        self.activations
    }

    /// For block-quantized storage read as stored (not transposed) whose
    /// rows start on block boundaries: the type, the bytes of the `rows`
    /// stored rows (`row_bytes` each, `stride_bytes` apart) and `row_bytes`.
    pub fn quantized_rows(&self) -> Option<QuantizedRows<'_>> {
        let (ty, bytes) = self.data.quantized_bytes()?;
        let bl = ty.block_size();
        if self.transposed || self.offset % bl != 0 || self.stride % bl != 0 || self.cols % bl != 0 {
            return None;
        }
        let row_bytes = self.cols / bl * ty.type_size();
        let stride_bytes = self.stride / bl * ty.type_size();
        let start = self.offset / bl * ty.type_size();
        let needed = if self.rows == 0 { 0 } else { (self.rows - 1) * stride_bytes + row_bytes };
        let bytes = bytes.get(start..start.checked_add(needed)?)?;
        Some(QuantizedRows { ty, bytes, rows: self.rows, cols: self.cols, row_bytes, stride_bytes })
    }

    /// The storage.
    pub fn storage(&self) -> &Storage {
        &self.data
    }

    /// Whether the logical matrix is the stored block's transpose.
    pub fn is_transposed(&self) -> bool {
        self.transposed
    }

    /// Stored `(rows, cols)`.
    pub fn stored_dim(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// Logical `(rows, cols)`.
    pub fn dim(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    /// Logical rows.
    pub fn nrows(&self) -> usize {
        self.dim().0
    }

    /// Logical columns.
    pub fn ncols(&self) -> usize {
        self.dim().1
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.rows * self.cols
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stored row `r` as f32, when the storage is f32 (`None` for f16/bf16
    /// or a row outside the block).
    pub fn stored_row_f32(&self, r: usize) -> Option<&[f32]> {
        if r >= self.rows {
            return None;
        }
        let start = self.offset + r * self.stride;
        self.data.as_f32()?.get(start..start + self.cols)
    }

    /// Widens `out.len()` values of stored row `r`, from stored column
    /// `first_col` on, into `out`; values outside the block leave `out`
    /// untouched.
    pub fn widen_stored_row(&self, r: usize, first_col: usize, out: &mut [f32]) {
        if r < self.rows && first_col < self.cols {
            let n = out.len().min(self.cols - first_col);
            self.data.widen_into(self.offset + r * self.stride + first_col, &mut out[..n]);
        }
    }

    /// The stored block as an f32 view, when the storage is f32.
    fn stored_view_f32(&self) -> Option<ArrayView2<'_, f32>> {
        let values = self.data.as_f32()?;
        let needed = if self.rows == 0 || self.cols == 0 { 0 } else { (self.rows - 1) * self.stride + self.cols };
        let values = values.get(self.offset..self.offset.checked_add(needed)?)?;
        ArrayView2::from_shape((self.rows, self.cols).strides((self.stride, 1)), values).ok()
    }

    /// The logical matrix as an f32 view. f32 storage (owned or borrowed)
    /// is viewed in place; f16/bf16 storage is widened once, on the first
    /// call, into a copy kept with the matrix (inference kernels never call
    /// this for f16/bf16: they widen row by row instead).
    pub fn view(&self) -> ArrayView2<'_, f32> {
        let stored = match self.stored_view_f32() {
            Some(view) => view,
            None => self.widened.get_or_init(|| self.widen_stored()).view(),
        };
        if self.transposed {
            stored.reversed_axes()
        } else {
            stored
        }
    }

    /// The stored block widened to an owned f32 array.
    fn widen_stored(&self) -> Array2<f32> {
        let mut out = Array2::<f32>::zeros((self.rows, self.cols));
        for (r, row) in out.rows_mut().into_iter().enumerate() {
            if let Some(slice) = row.into_slice() {
                self.widen_stored_row(r, 0, slice);
            }
        }
        out
    }

    /// The logical matrix's values, row-major, made owned f32 on the first
    /// call (copy on first write: training's master weights). The checkpoint
    /// bytes are never written.
    pub fn make_mut(&mut self) -> &mut [f32] {
        let plain =
            matches!(self.data, Storage::Owned(_)) && !self.transposed && self.offset == 0 && self.stride == self.cols;
        if !plain {
            let (rows, cols) = self.dim();
            let values: Vec<f32> = self.view().iter().copied().collect();
            *self = Self::owned(values, rows, cols);
        }
        self.widened = OnceCell::new();
        let n = self.len();
        match &mut self.data {
            Storage::Owned(values) => {
                values.truncate(n);
                values.as_mut_slice()
            }
            Storage::F32(_) | Storage::F16(_) | Storage::Bf16(_) | Storage::Quantized(..) => &mut [],
        }
    }
}

/// The stored rows of a block-quantized [`Matrix`] (see [`Matrix::quantized_rows`]).
#[derive(Clone, Copy, Debug)]
pub struct QuantizedRows<'a> {
    /// Block type.
    pub ty: GgmlType,
    /// Bytes from the first row's first block to the last row's last block.
    pub bytes: &'a [u8],
    /// Stored rows.
    pub rows: usize,
    /// Values per row (a multiple of the block size).
    pub cols: usize,
    /// Bytes of one row's blocks.
    pub row_bytes: usize,
    /// Bytes from one row to the next.
    pub stride_bytes: usize,
}

impl<'a> QuantizedRows<'a> {
    /// The blocks of row `r` (empty outside the matrix).
    pub fn row(&self, r: usize) -> &'a [u8] {
        let start = r * self.stride_bytes;
        self.bytes.get(start..start + self.row_bytes).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn le_bytes_f32(values: &[f32]) -> SharedBytes {
        let mut bytes = Vec::new();
        for v in values {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        Arc::new(bytes)
    }

    #[test]
    fn f32_bytes_are_viewed_in_place_with_the_right_values() {
        let values: Vec<f32> = (0..6).map(|i| i as f32 * 0.5).collect();
        let storage = Storage::from_bytes(le_bytes_f32(&values), 0..24, Dtype::F32).unwrap();
        assert!(storage.is_borrowed() || !LITTLE_ENDIAN);
        let m = Matrix::new(storage, (2, 3)).unwrap();
        assert_eq!(m.view(), ArrayView2::from_shape((2, 3), &values).unwrap());
        assert_eq!(m.clone().transposed().view(), ArrayView2::from_shape((2, 3), &values).unwrap().t());
    }

    #[test]
    fn misaligned_bytes_fall_back_to_an_owned_copy() {
        let mut bytes = vec![0u8; 1];
        for v in [1.0f32, 2.0] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let shared: SharedBytes = Arc::new(bytes);
        // One of the two offsets is misaligned whatever the allocation's alignment.
        let a = Storage::from_bytes(shared.clone(), 1..9, Dtype::F32).unwrap();
        assert_eq!(a.as_f32(), Some(&[1.0f32, 2.0][..]));
    }

    #[test]
    fn ranges_outside_the_bytes_and_non_finite_values_are_errors() {
        let shared = le_bytes_f32(&[1.0, f32::NAN]);
        assert!(matches!(
            Storage::from_bytes(shared.clone(), 0..12, Dtype::F32),
            Err(StorageError::OutOfBounds { .. })
        ));
        assert_eq!(
            Storage::from_bytes(shared.clone(), 0..6, Dtype::F32).unwrap_err(),
            StorageError::PartialElement { len: 6, size: 4 }
        );
        assert_eq!(Storage::from_bytes(shared, 0..8, Dtype::F32).unwrap_err(), StorageError::NonFinite);
        let inf16: SharedBytes = Arc::new(f16::INFINITY.to_le_bytes().to_vec());
        assert_eq!(Storage::from_bytes(inf16, 0..2, Dtype::F16).unwrap_err(), StorageError::NonFinite);
    }

    #[test]
    fn f16_stays_f16_and_widens_per_row_and_on_view() {
        let values = [0.5f32, -1.25, 2.0, 3.5, 0.0, -0.125];
        let bytes: Vec<u8> = values.iter().flat_map(|v| f16::from_f32(*v).to_le_bytes()).collect();
        let storage = Storage::from_bytes(Arc::new(bytes), 0..12, Dtype::F16).unwrap();
        assert_eq!(storage.dtype(), if LITTLE_ENDIAN { Dtype::F16 } else { Dtype::F32 });
        let m = Matrix::new(storage, (2, 3)).unwrap();
        let mut row = [0.0f32; 3];
        m.widen_stored_row(1, 0, &mut row);
        assert_eq!(row, [3.5, 0.0, -0.125]);
        assert_eq!(m.view(), ArrayView2::from_shape((2, 3), &values[..]).unwrap());
    }

    #[test]
    fn column_blocks_of_a_transposed_matrix_are_its_row_blocks() {
        // Stored (2, 4) = [[0 1 2 3] [4 5 6 7]]; logical (4, 2); columns 2..4 -> logical rows 2..4.
        let values: Vec<f32> = (0..8).map(|i| i as f32).collect();
        let m = Matrix::from(Array2::from_shape_vec((2, 4), values).unwrap()).transposed();
        let part = m.stored_columns(2..4).unwrap();
        assert_eq!(part.dim(), (2, 2));
        assert_eq!(part.view(), ndarray::array![[2.0f32, 6.0], [3.0, 7.0]]);
        assert!(m.stored_columns(3..5).is_none());
    }

    #[test]
    fn make_mut_copies_on_first_write_and_leaves_the_bytes_alone() {
        let shared = le_bytes_f32(&[1.0, 2.0, 3.0, 4.0]);
        let storage = Storage::from_bytes(shared.clone(), 0..16, Dtype::F32).unwrap();
        let mut m = Matrix::new(storage, (2, 2)).unwrap().transposed();
        m.make_mut()[1] = 9.0;
        assert_eq!(m.view(), ndarray::array![[1.0f32, 9.0], [2.0, 4.0]]);
        assert!(!m.storage().is_borrowed());
        assert_eq!(&(*shared).as_ref()[8..12], &3.0f32.to_le_bytes());
    }
}
