//! Safetensors checkpoints: `[u64 header length][JSON header][raw data]`.
//!
//! The header maps each tensor name to `{dtype, shape, data_offsets}`. Every
//! check happens before any tensor is converted: the header length against
//! the byte budget and the file length, the JSON, the offsets (contiguous,
//! in bounds, `shape × dtype size == byte length`, exact total length). Only
//! then does a [`WeightStore`] keep the file's bytes (shared: a `Vec<u8>` or
//! a memory map) and an index into them. A model asks for each tensor either
//! as a [`Storage`] view into those bytes ([`WeightStore::storage`], no copy)
//! or converted to owned f32 ([`WeightStore::to_f32`], for small tensors).

use super::LoadError;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use crate::nn::linear::Activations;
use crate::nn::storage::{self, Matrix, SharedBytes, Storage, StorageError};
use crate::quantization::GgmlType;
use alloc::sync::Arc;
use safetensors::{Dtype, SafeTensors};

/// Default limit on the JSON header (the safetensors crate's own cap).
pub const DEFAULT_HEADER_BUDGET: u64 = 100_000_000;

/// Element type of a stored tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoredDtype {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// bfloat16 (the top half of an f32).
    BF16,
}

impl StoredDtype {
    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            StoredDtype::F32 => 4,
            StoredDtype::F16 | StoredDtype::BF16 => 2,
        }
    }
}

/// Where a tensor's values are.
#[derive(Clone, Debug)]
pub enum TensorData {
    /// A byte range of one of the store's files.
    Bytes {
        /// Index into [`WeightStore::files`].
        file: usize,
        /// Absolute start offset in that file.
        start: usize,
        /// Absolute end offset (exclusive).
        end: usize,
        /// Element type.
        dtype: StoredDtype,
    },
    /// Values already in f32 (llama2.c checkpoints, tests).
    F32(Vec<f32>),
    /// Whole blocks of a block-quantized GGUF type in one of the store's
    /// files, kept quantized. Blocks run along the stored rows, which are
    /// the tensor's rows, or its columns when `transposed` (a GPT-2 `Conv1D`
    /// weight `(in, out)` stored as GGUF's `(out, in)`).
    Quantized {
        /// Index into [`WeightStore::files`].
        file: usize,
        /// Absolute start offset in that file.
        start: usize,
        /// Absolute end offset (exclusive).
        end: usize,
        /// Block type.
        ty: GgmlType,
        /// Whether the stored rows are the tensor's columns (2-D only).
        transposed: bool,
    },
}

/// A tensor's shape and data location.
#[derive(Clone, Debug)]
pub struct StoredTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// The values.
    pub data: TensorData,
}

/// All tensors of a checkpoint, by name.
#[derive(Clone, Default)]
pub struct WeightStore {
    /// Raw bytes of each loaded file.
    pub files: Vec<SharedBytes>,
    /// Name -> tensor.
    pub tensors: BTreeMap<String, StoredTensor>,
    /// How matrices of block-quantized tensors treat activations in the decode kernel.
    pub activations: Activations,
}

impl core::fmt::Debug for WeightStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("WeightStore")
            .field("files", &self.files.len())
            .field("tensors", &self.tensors)
            .field("activations", &self.activations)
            .finish()
    }
}

/// True when `bytes` start like a PyTorch checkpoint: a zip archive
/// (`torch.save` since 1.6) or a pickle stream (protocol 2-5, whose third
/// byte is an opcode, never 0 — which tells it apart from a llama2.c header).
pub fn looks_like_pickle(bytes: &[u8]) -> bool {
    match bytes {
        [b'P', b'K', 3, 4, ..] => true,
        [0x80, proto, op, ..] => (2..=5).contains(proto) && *op != 0,
        _ => false,
    }
}

impl WeightStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses one safetensors file and adds its tensors; the header may be
    /// at most `header_budget` bytes.
    pub fn add_safetensors(&mut self, bytes: Vec<u8>, header_budget: u64) -> Result<(), LoadError> {
        self.add_safetensors_shared(Arc::new(bytes), header_budget)
    }

    /// Like [`add_safetensors`](Self::add_safetensors) for bytes shared with
    /// the caller (a memory map): tensors will be views into them.
    pub fn add_safetensors_shared(&mut self, shared: SharedBytes, header_budget: u64) -> Result<(), LoadError> {
        let bytes: &[u8] = (*shared).as_ref();
        if looks_like_pickle(bytes) {
            return Err(LoadError::PickleRefused);
        }
        let Some(len_bytes) = bytes.get(..8) else {
            return Err(LoadError::TooShort { len: bytes.len() });
        };
        let mut len_array = [0u8; 8];
        len_array.copy_from_slice(len_bytes);
        let header_len = u64::from_le_bytes(len_array);
        let available = (bytes.len() - 8) as u64;
        if header_len > header_budget || header_len > available {
            return Err(LoadError::HeaderTooLarge { header_len, budget: header_budget.min(available) });
        }
        let (n, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| LoadError::Safetensors(format!("{e}")))?;
        let data_start = 8 + n;
        let file_index = self.files.len();
        let mut new_tensors = Vec::new();
        for (name, info) in metadata.tensors() {
            let dtype = match info.dtype {
                Dtype::F32 => StoredDtype::F32,
                Dtype::F16 => StoredDtype::F16,
                Dtype::BF16 => StoredDtype::BF16,
                other => return Err(LoadError::UnsupportedDtype { name, dtype: format!("{other:?}") }),
            };
            let (start, end) = info.data_offsets;
            let (start, end) = (data_start + start, data_start + end);
            // read_metadata already proved this; keep the invariant local.
            if end > bytes.len() || start > end {
                return Err(LoadError::Safetensors(format!("tensor '{name}' is out of bounds")));
            }
            if self.tensors.contains_key(&name) {
                return Err(LoadError::DuplicateTensor(name));
            }
            new_tensors.push((
                name,
                StoredTensor { shape: info.shape.clone(), data: TensorData::Bytes { file: file_index, start, end, dtype } },
            ));
        }
        self.files.push(shared);
        self.tensors.extend(new_tensors);
        Ok(())
    }

    /// Parses a single-file checkpoint.
    pub fn from_safetensors(bytes: Vec<u8>) -> Result<Self, LoadError> {
        let mut store = Self::new();
        store.add_safetensors(bytes, DEFAULT_HEADER_BUDGET)?;
        Ok(store)
    }

    /// Adds an f32 tensor (used by the llama2.c loader and tests).
    pub fn insert_f32(&mut self, name: &str, shape: Vec<usize>, values: Vec<f32>) {
        self.tensors.insert(name.to_string(), StoredTensor { shape, data: TensorData::F32(values) });
    }

    /// Adds a block-quantized tensor of HF shape `shape` whose blocks are
    /// `bytes[range]` of a file added with [`add_file`](Self::add_file).
    pub fn insert_quantized(&mut self, name: &str, shape: Vec<usize>, file: usize, range: core::ops::Range<usize>, ty: GgmlType, transposed: bool) {
        let data = TensorData::Quantized { file, start: range.start, end: range.end, ty, transposed };
        self.tensors.insert(name.to_string(), StoredTensor { shape, data });
    }

    /// Keeps `bytes` with the store (their tensors are added separately) and returns the file index.
    pub fn add_file(&mut self, bytes: SharedBytes) -> usize {
        self.files.push(bytes);
        self.files.len() - 1
    }

    /// The 2-D tensor `name` of shape `(rows, cols)` as a [`Matrix`] viewing
    /// the file's bytes: as stored, or a transposed view of a
    /// [`TensorData::Quantized`] tensor whose stored rows are its columns.
    /// Matrices of quantized tensors run with the store's [`activations`](Self::activations).
    pub fn matrix(&self, name: &str, (rows, cols): (usize, usize)) -> Result<Matrix, LoadError> {
        let storage = self.storage(name)?;
        let found = storage.len();
        let transposed = matches!(self.tensors.get(name), Some(StoredTensor { data: TensorData::Quantized { transposed: true, .. }, .. }));
        let matrix = if transposed {
            Matrix::new(storage, (cols, rows)).map(Matrix::transposed)
        } else {
            Matrix::new(storage, (rows, cols))
        };
        matrix.map(|m| m.with_activations(self.activations)).ok_or(LoadError::ShapeMismatch {
            name: name.to_string(),
            expected: alloc::vec![rows, cols],
            found: alloc::vec![found],
        })
    }

    /// Every tensor name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.tensors.keys().cloned().collect();
        names.sort();
        names
    }

    /// Shape of `name`, if present.
    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.tensors.get(name).map(|t| t.shape.as_slice())
    }

    /// The values of `name` in their stored dtype, as a view into the file's
    /// bytes when possible (see [`Storage::from_bytes`]): the byte range is
    /// checked against the file again and every value for finiteness.
    pub fn storage(&self, name: &str) -> Result<Storage, LoadError> {
        let tensor = self.tensors.get(name).ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        match &tensor.data {
            TensorData::F32(values) => {
                if values.iter().any(|v| !v.is_finite()) {
                    return Err(LoadError::NonFinite(name.to_string()));
                }
                Ok(Storage::Owned(values.clone()))
            }
            TensorData::Bytes { file, start, end, dtype } => {
                let bytes = self
                    .files
                    .get(*file)
                    .ok_or_else(|| LoadError::Safetensors(format!("tensor '{name}' refers to a missing file")))?;
                let dtype = match dtype {
                    StoredDtype::F32 => storage::Dtype::F32,
                    StoredDtype::F16 => storage::Dtype::F16,
                    StoredDtype::BF16 => storage::Dtype::Bf16,
                };
                Storage::from_bytes(bytes.clone(), *start..*end, dtype).map_err(|e| storage_error(name, e))
            }
            TensorData::Quantized { file, start, end, ty, .. } => {
                let bytes = self
                    .files
                    .get(*file)
                    .ok_or_else(|| LoadError::Safetensors(format!("tensor '{name}' refers to a missing file")))?;
                Storage::from_block_bytes(bytes.clone(), *start..*end, *ty).map_err(|e| storage_error(name, e))
            }
        }
    }

    /// The values of `name` as f32 (decoded and in the tensor's own layout
    /// when quantized), rejecting NaN and infinities.
    pub fn to_f32(&self, name: &str) -> Result<Vec<f32>, LoadError> {
        let tensor = self.tensors.get(name).ok_or_else(|| LoadError::MissingTensor(name.to_string()))?;
        let values = match &tensor.data {
            TensorData::Quantized { .. } => match tensor.shape.as_slice() {
                &[rows, cols] => self.matrix(name, (rows, cols))?.view().iter().copied().collect(),
                _ => {
                    let storage = self.storage(name)?;
                    let mut values = alloc::vec![0.0f32; storage.len()];
                    storage.widen_into(0, &mut values);
                    values
                }
            },
            TensorData::F32(values) => values.clone(),
            TensorData::Bytes { file, start, end, dtype } => {
                let bytes = self
                    .files
                    .get(*file)
                    .and_then(|f| (**f).as_ref().get(*start..*end))
                    .ok_or_else(|| LoadError::Safetensors(format!("tensor '{name}' is out of bounds")))?;
                match dtype {
                    StoredDtype::F32 => bytes
                        .chunks_exact(4)
                        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                    StoredDtype::F16 => {
                        bytes.chunks_exact(2).map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
                    }
                    StoredDtype::BF16 => {
                        bytes.chunks_exact(2).map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32()).collect()
                    }
                }
            }
        };
        if values.iter().any(|v| !v.is_finite()) {
            return Err(LoadError::NonFinite(name.to_string()));
        }
        Ok(values)
    }
}

/// A [`StorageError`] for tensor `name` as a [`LoadError`].
fn storage_error(name: &str, e: StorageError) -> LoadError {
    match e {
        StorageError::NonFinite => LoadError::NonFinite(name.to_string()),
        StorageError::OutOfBounds { .. } => LoadError::Safetensors(format!("tensor '{name}' is out of bounds")),
        StorageError::PartialElement { len, size } => {
            LoadError::Safetensors(format!("tensor '{name}' has {len} bytes, not a multiple of its element (or block) size {size}"))
        }
        StorageError::NotBlockQuantized(ty) => {
            LoadError::Safetensors(format!("tensor '{name}' has type {}, which is not block-quantized", ty.name()))
        }
    }
}

/// Most distinct shard files a `model.safetensors.index.json` may name.
///
/// The largest public checkpoints have a few hundred shards (Llama 3.1 405B:
/// 191); an index naming more is refused before any file is opened, so a
/// hostile index cannot make the loader open or fetch thousands of files.
pub const MAX_SHARDS: usize = 4096;

/// The shard file names listed by a `model.safetensors.index.json`
/// (`{"weight_map": {"tensor": "file", ...}}`), deduplicated and sorted.
/// Names must be plain file names (no path separators or `..`), and at most
/// [`MAX_SHARDS`] distinct files may be named. Linear in the number of
/// entries: names are deduplicated in an ordered set that never holds more
/// than [`MAX_SHARDS`] names, so each entry costs at most about
/// log2([`MAX_SHARDS`]) = 12 comparisons, whatever the names are.
pub fn shard_files_from_index(index_json: &str) -> Result<Vec<String>, LoadError> {
    let value: serde_json::Value =
        serde_json::from_str(index_json).map_err(|e| LoadError::Index(format!("{e}")))?;
    let map = value
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| LoadError::Index("missing \"weight_map\" object".into()))?;
    let mut files: BTreeSet<&str> = BTreeSet::new();
    for (tensor, file) in map {
        let file = file.as_str().ok_or_else(|| LoadError::Index(format!("entry for '{tensor}' is not a string")))?;
        if file.is_empty() || file.contains('/') || file.contains('\\') || file.contains("..") {
            return Err(LoadError::Index(format!("shard name '{file}' is not a plain file name")));
        }
        if files.insert(file) && files.len() > MAX_SHARDS {
            return Err(LoadError::TooManyShards { limit: MAX_SHARDS });
        }
    }
    if files.is_empty() {
        return Err(LoadError::Index("weight_map is empty".into()));
    }
    Ok(files.into_iter().map(String::from).collect())
}
