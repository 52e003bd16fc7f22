//! # Parameter-efficient fine-tuning: small trainable additions to a frozen model
//!
//! - [`lora`]: LoRA, a low-rank update `ΔW = (α/r)·B·A` of chosen weight
//!   matrices, read and written in peft's file format.
//! - [`prefix_tuning`]: prefix tuning, trainable key/value rows in front of
//!   every attention layer's own, read and written in peft's file format.
//! - [`bottleneck`]: bottleneck adapters (Houlsby), a small residual MLP on
//!   every attention and FFN output, in this project's own file format.
//! - [`lora_training`]: training a LoRA adapter on a frozen base model;
//!   [`adapter_training`]: the same for prefix tuning and bottleneck adapters.
//! - [`finetune`]: the instruction-tuning recipe (data, steps, held-out
//!   answers) shared by the CLI and the browser worker.

use alloc::string::String;
use core::fmt;

pub mod adapter_training;
pub mod bottleneck;
pub mod finetune;
pub mod lora;
pub mod lora_training;
pub mod prefix_tuning;

/// What can go wrong with an adapter.
#[derive(Clone, Debug, PartialEq)]
pub enum AdapterError {
    /// `adapter_config.json` cannot be parsed or asks for something unsupported.
    Config(String),
    /// The adapter's tensors are malformed (names, shapes, missing halves).
    Tensors(String),
    /// The adapter does not fit the base model (missing module, wrong shape).
    Mismatch(String),
    /// The model itself failed (loading it, or running it on the input).
    Model(String),
    /// A fine-tuning setting is out of range (rank, learning rate, steps, ...).
    Settings(String),
    /// The fine-tuning data cannot be used (empty, or an example does not tokenize).
    Data(String),
}

impl fmt::Display for AdapterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Config(msg) => write!(f, "adapter_config.json: {msg}"),
            Self::Tensors(msg) => write!(f, "adapter tensors: {msg}"),
            Self::Mismatch(msg) => write!(f, "adapter does not fit the model: {msg}"),
            Self::Model(msg) => write!(f, "{msg}"),
            Self::Settings(msg) => write!(f, "fine-tuning settings: {msg}"),
            Self::Data(msg) => write!(f, "fine-tuning data: {msg}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for AdapterError {}

/// Which method an adapter directory holds, from its `adapter_config.json`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterKind {
    /// peft's `LORA` ([`lora`]).
    Lora,
    /// peft's `PREFIX_TUNING` ([`prefix_tuning`]).
    PrefixTuning,
    /// `BOTTLENECK` ([`bottleneck`]; this project's, peft has no such type).
    Bottleneck,
}

impl AdapterKind {
    /// Reads `peft_type` from the text of `adapter_config.json`.
    pub fn from_config(config_json: &str) -> Result<Self, AdapterError> {
        let v: serde_json::Value = serde_json::from_str(config_json).map_err(|e| AdapterError::Config(alloc::format!("{e}")))?;
        match v["peft_type"].as_str() {
            Some("LORA") => Ok(Self::Lora),
            Some("PREFIX_TUNING") => Ok(Self::PrefixTuning),
            Some(bottleneck::PEFT_TYPE) => Ok(Self::Bottleneck),
            other => Err(AdapterError::Config(alloc::format!("peft_type {other:?} is not supported (LORA, PREFIX_TUNING, BOTTLENECK)"))),
        }
    }
}
