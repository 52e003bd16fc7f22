//! Getting a checkpoint into memory safely.
//!
//! - [`safetensors`]: parses `model.safetensors` (and sharded checkpoints
//!   described by `model.safetensors.index.json`) into a [`WeightStore`],
//!   validating the header against a byte budget before touching anything
//!   else, and refusing PyTorch pickles.
//! - [`weights`]: [`Weights`], a prefix-scoped view (`weights.pp("h.0")`)
//!   that hands out f32 `ndarray`s and checks every shape it is asked for.
//! - [`config`]: helpers the model configs use to validate `config.json`.
//! - `fs` (with `std`): reads a model directory or a llama2.c `.bin` file.

pub mod config;
#[cfg(feature = "std")]
pub mod fs;
pub mod safetensors;
pub mod weights;

pub use self::safetensors::WeightStore;
pub use self::weights::Weights;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a checkpoint could not be loaded.
#[derive(Clone, Debug, PartialEq)]
pub enum LoadError {
    /// The file is a PyTorch pickle (`.bin`/`.pt`), which can run code on load.
    PickleRefused,
    /// The file is shorter than the 8-byte header length.
    TooShort { len: usize },
    /// The header length field exceeds the byte budget (or the file).
    HeaderTooLarge { header_len: u64, budget: u64 },
    /// The safetensors header or data layout is invalid (message from the parser).
    Safetensors(String),
    /// A tensor uses a dtype other than F32, F16 or BF16.
    UnsupportedDtype { name: String, dtype: String },
    /// The model needs a tensor the checkpoint does not have.
    MissingTensor(String),
    /// A tensor's shape differs from what `config.json` implies.
    ShapeMismatch { name: String, expected: Vec<usize>, found: Vec<usize> },
    /// A tensor holds NaN or infinity.
    NonFinite(String),
    /// Two shards define the same tensor.
    DuplicateTensor(String),
    /// The checkpoint holds a tensor the model does not use (a different
    /// architecture or an option `config.json` does not enable).
    UnusedTensor(String),
    /// `config.json` is malformed or describes an impossible or oversized model.
    Config(String),
    /// `model.safetensors.index.json` is malformed.
    Index(String),
    /// `model.safetensors.index.json` names more distinct shard files than the limit.
    TooManyShards {
        /// The limit ([`safetensors::MAX_SHARDS`]).
        limit: usize,
    },
    /// A llama2.c `.bin` file is malformed.
    Llama2c(String),
    /// A GGUF file is malformed or is not a GPT-2/Llama model.
    Gguf(String),
    /// Reading a file failed.
    Io(String),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::PickleRefused => write!(
                f,
                "this is a PyTorch pickle checkpoint (.bin/.pt), which can execute code when loaded; \
                 convert it to safetensors (e.g. `model.save_pretrained(dir, safe_serialization=True)`) and load model.safetensors"
            ),
            LoadError::TooShort { len } => write!(f, "file of {len} bytes is too short to be safetensors"),
            LoadError::HeaderTooLarge { header_len, budget } => {
                write!(f, "safetensors header claims {header_len} bytes, over the budget of {budget} bytes")
            }
            LoadError::Safetensors(msg) => write!(f, "invalid safetensors file: {msg}"),
            LoadError::UnsupportedDtype { name, dtype } => {
                write!(f, "tensor '{name}' has dtype {dtype}; only F32, F16 and BF16 are supported")
            }
            LoadError::MissingTensor(name) => write!(f, "checkpoint has no tensor '{name}'"),
            LoadError::ShapeMismatch { name, expected, found } => {
                write!(f, "tensor '{name}' has shape {found:?} but config.json implies {expected:?}")
            }
            LoadError::NonFinite(name) => write!(f, "tensor '{name}' contains NaN or infinite values"),
            LoadError::DuplicateTensor(name) => write!(f, "tensor '{name}' appears in more than one shard"),
            LoadError::UnusedTensor(name) => write!(
                f,
                "checkpoint tensor '{name}' is not used by the model that config.json describes \
                 (a different architecture or a disabled option?)"
            ),
            LoadError::Config(msg) => write!(f, "invalid config.json: {msg}"),
            LoadError::Index(msg) => write!(f, "invalid model.safetensors.index.json: {msg}"),
            LoadError::TooManyShards { limit } => write!(
                f,
                "model.safetensors.index.json names more than {limit} shard files (the limit, MAX_SHARDS); \
                 the largest public checkpoints use a few hundred"
            ),
            LoadError::Llama2c(msg) => write!(f, "invalid llama2.c checkpoint: {msg}"),
            LoadError::Gguf(msg) => write!(f, "invalid GGUF model: {msg}"),
            LoadError::Io(msg) => write!(f, "{msg}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for LoadError {}
