//! Reading checkpoints from disk (native only).
//!
//! A model directory holds `config.json` and either `model.safetensors` or
//! a sharded checkpoint (`model.safetensors.index.json` plus the shards it
//! names). A path to a file ending in `.gguf` is converted by
//! `quantization::gguf::gguf_model`: its weights dequantized to f32, or,
//! with [`LoadOptions::quantized`], its block-quantized matrices kept
//! quantized in the file's bytes (mapped like safetensors); any other
//! file is read as a llama2.c checkpoint, unless it is a PyTorch pickle,
//! which is refused.
//!
//! How a safetensors file gets into memory is the caller's choice:
//! [`load_checkpoint`] reads it into a `Vec<u8>`, and
//! [`load_checkpoint_with`] takes any function that returns the file's
//! [`SharedBytes`] — the CLI passes a memory map there, so the model's
//! tensors are views of the file's pages and loading copies nothing. (The
//! map itself needs `unsafe`, which this crate forbids, so it lives in the
//! CLI.) Either way every tensor's byte range is validated against the
//! bytes before a view is made.

use super::safetensors::{looks_like_pickle, shard_files_from_index, DEFAULT_HEADER_BUDGET};
use super::{LoadError, WeightStore};
use crate::nn::linear::Activations;
use crate::nn::storage::SharedBytes;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use std::path::Path;

/// What was found at a model path.
pub enum Checkpoint {
    /// `config.json` text and the safetensors tensors.
    HuggingFace {
        /// The text of `config.json`.
        config_json: String,
        /// All tensors of all shards.
        store: WeightStore,
    },
    /// The bytes of a llama2.c `.bin` file.
    Llama2c(std::vec::Vec<u8>),
}

fn read(path: &Path) -> Result<std::vec::Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::Io(format!("cannot read {}: {e}", path.display())))
}

/// Reads a whole file into shared bytes.
pub fn read_shared(path: &Path) -> Result<SharedBytes, LoadError> {
    Ok(Arc::new(read(path)?))
}

/// How a checkpoint is loaded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// For a GGUF file: `Some` keeps its block-quantized matrices quantized,
    /// run with these activations; `None` dequantizes every tensor to f32.
    pub quantized: Option<Activations>,
}

impl LoadOptions {
    /// GGUF matrices kept quantized, run with `activations`.
    pub fn quantized(activations: Activations) -> Self {
        Self { quantized: Some(activations) }
    }
}

/// Loads a model directory, or a llama2.c `.bin` file, reading each
/// safetensors file into memory.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint, LoadError> {
    load_checkpoint_with(path, &read_shared)
}

/// Like [`load_checkpoint`], getting each safetensors file's bytes from
/// `open` (e.g. a memory map).
pub fn load_checkpoint_with(
    path: &Path,
    open: &dyn Fn(&Path) -> Result<SharedBytes, LoadError>,
) -> Result<Checkpoint, LoadError> {
    load_checkpoint_with_options(path, open, LoadOptions::default())
}

/// Like [`load_checkpoint_with`], with `options` (what to do with a GGUF
/// file's quantized tensors; a kept GGUF file's bytes come from `open`).
pub fn load_checkpoint_with_options(
    path: &Path,
    open: &dyn Fn(&Path) -> Result<SharedBytes, LoadError>,
    options: LoadOptions,
) -> Result<Checkpoint, LoadError> {
    if path.is_file() && path.extension().is_some_and(|e| e == "gguf") {
        use crate::quantization::gguf::gguf_model;
        let converted = match options.quantized {
            Some(activations) => gguf_model::to_hf_checkpoint_quantized(open(path)?, activations),
            None => gguf_model::to_hf_checkpoint(&read(path)?),
        };
        let (config_json, store) = converted.map_err(|e| LoadError::Gguf(format!("{}: {e}", path.display())))?;
        return Ok(Checkpoint::HuggingFace { config_json, store });
    }
    if path.is_file() {
        let bytes = read(path)?;
        if looks_like_pickle(&bytes) {
            return Err(LoadError::PickleRefused);
        }
        return Ok(Checkpoint::Llama2c(bytes));
    }
    let config_path = path.join("config.json");
    let config_json = std::fs::read_to_string(&config_path)
        .map_err(|e| LoadError::Io(format!("cannot read {}: {e}", config_path.display())))?;
    let mut store = WeightStore::new();
    let single = path.join("model.safetensors");
    let index = path.join("model.safetensors.index.json");
    if single.is_file() {
        store.add_safetensors_shared(open(&single)?, DEFAULT_HEADER_BUDGET)?;
    } else if index.is_file() {
        let index_json = std::fs::read_to_string(&index)
            .map_err(|e| LoadError::Io(format!("cannot read {}: {e}", index.display())))?;
        for shard in shard_files_from_index(&index_json)? {
            store.add_safetensors_shared(open(&path.join(&shard))?, DEFAULT_HEADER_BUDGET)?;
        }
    } else if path.join("pytorch_model.bin").is_file() {
        return Err(LoadError::PickleRefused);
    } else {
        return Err(LoadError::Io(format!(
            "{} has no model.safetensors or model.safetensors.index.json",
            path.display()
        )));
    }
    Ok(Checkpoint::HuggingFace { config_json, store })
}
