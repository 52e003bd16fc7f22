//! Protocol of the model area (issue #4): load a model into the worker and
//! look inside it.
//!
//! Requests are tagged by `op` inside the outer `kind = "model"` tag, e.g.
//! `{"kind":"model","op":"info"}`.

use serde::{Deserialize, Serialize};

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ModelRequest {
    /// Load `config.json`, `model.safetensors` (or a sharded index) and
    /// `tokenizer.json` from `base` (a folder URL ending in `/`). The
    /// embedded default uses the site's `models/default/`; a Hugging Face
    /// repo uses `{endpoint}/{repo}/resolve/main/`.
    LoadUrl {
        /// Folder URL ending in `/`.
        base: String,
        /// Name shown to the user.
        label: String,
        /// Keep the downloaded files in the Cache API so that the next load
        /// works offline (used for Hub downloads).
        use_cache: bool,
    },
    /// Load from files the user picked or dropped: `config.json`,
    /// `*.safetensors`, `model.safetensors.index.json`, `tokenizer.json`.
    /// (The UI reads the files; bytes travel as a `Uint8Array` each.)
    LoadFiles {
        /// The files, by name.
        files: Vec<NamedFile>,
    },
    /// Configuration and parameter breakdown of the loaded model.
    Info,
    /// Attention weights (every layer and head), hidden-state norms and, for
    /// a mixture of experts, the routing of `text` (tokenized with the
    /// model's tokenizer; token ids separated by commas when it has none).
    Trace {
        /// Input text.
        text: String,
    },
    /// Positional-encoding matrices for the heatmap: sinusoidal (computed),
    /// learned (the loaded GPT-2-style model's `wpe`, if any) and RoPE (the
    /// loaded Llama's head width and base, or 64 and 10000). Sizes are
    /// capped at [`MAX_PE_POSITIONS`] and [`MAX_PE_DIMS`].
    Positions {
        /// Positions (rows) to show.
        positions: u32,
        /// Features (columns) to show.
        dims: u32,
    },
    /// Parameter breakdown of the classic models of the curriculum's table
    /// (GPT-1, GPT-2 1.5B, GPT-3, BERT-Base/Large, T5-Base/XXL), counted
    /// from their configs; needs no loaded model.
    ClassicParams,
}

/// Where one mixture-of-experts layer sent each token of a trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RoutingLayer {
    /// Index of the layer (0-based) among all layers.
    pub layer: u32,
    /// `probs[position][expert]`: the router's softmax.
    pub probs: Vec<Vec<f32>>,
    /// `experts[position]`: the chosen experts, most probable first.
    pub experts: Vec<Vec<u32>>,
    /// `weights[position]`: their weights in the layer's output.
    pub weights: Vec<Vec<f32>>,
}

/// Largest number of positions a [`ModelRequest::Positions`] returns.
pub const MAX_PE_POSITIONS: u32 = 128;
/// Largest number of features a [`ModelRequest::Positions`] returns.
pub const MAX_PE_DIMS: u32 = 128;

/// One positional-encoding matrix.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PositionalMatrix {
    /// `sinusoidal`, `learned` or `rope`.
    pub kind: String,
    /// Where the numbers come from, e.g. "wpe of the loaded model".
    pub source: String,
    /// Rows (positions).
    pub rows: u32,
    /// Columns (features) shown.
    pub cols: u32,
    /// `rows × cols` values, row after row.
    pub values: Vec<f32>,
    /// Mean cosine similarity of two positions' full encodings by distance
    /// (entry `d`: positions `d` apart).
    pub similarity: Vec<f32>,
}

/// A classic model's parameter breakdown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ClassicModel {
    /// Name, e.g. `GPT-3 (175B)`.
    pub name: String,
    /// The rounded figure its paper quotes, e.g. `175B`.
    pub paper: String,
    /// Counted from its config.
    pub params: Params,
}

/// One file's name and bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NamedFile {
    /// File name, e.g. `config.json`.
    pub name: String,
    /// Its contents.
    #[serde(with = "serde_bytes")]
    pub bytes: Vec<u8>,
}

/// Parameter counts by role.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct Params {
    /// Token/position embeddings.
    pub embeddings: u64,
    /// Attention projections.
    pub attention: u64,
    /// Feed-forward networks.
    pub ffn: u64,
    /// Norm gains and biases.
    pub norms: u64,
    /// Untied output head.
    pub head: u64,
    /// Sum.
    pub total: u64,
}

/// Summary of a loaded model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ModelSummary {
    /// Name shown to the user.
    pub label: String,
    /// `gpt2`, `llama`, `bert`, `t5`.
    pub model_type: String,
    /// Vocabulary size of the model.
    pub vocab_size: u32,
    /// Whether a `tokenizer.json` came with it.
    pub has_tokenizer: bool,
    /// Whether a `generation_config.json` came with it.
    pub has_generation_config: bool,
    /// Bytes of weights read.
    pub bytes: u64,
    /// Whether the files came from the Cache API (offline).
    pub from_cache: bool,
    /// Parameter breakdown.
    pub params: Params,
    /// The `config.json` text.
    pub config_json: String,
    /// Byte length of the worker's wasm memory when this answer was made.
    /// Weights are views into the downloaded files (f16 stays f16), so after
    /// a load this is about the model's bytes; wasm memory never shrinks, so
    /// it is also the peak so far. `None` outside the browser.
    #[serde(default)]
    pub wasm_memory_bytes: Option<u64>,
}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum ModelResponse {
    /// A model is loaded (answer to both loads and `Info`).
    Loaded(ModelSummary),
    /// Answer to `Trace`.
    Trace {
        /// Token strings of the input.
        tokens: Vec<String>,
        /// `attentions[layer][head][query][key]`.
        attentions: Vec<Vec<Vec<Vec<f32>>>>,
        /// `hidden_norms[layer][position]` (layer 0 = embeddings).
        hidden_norms: Vec<Vec<f32>>,
        /// For a mixture of experts, each sparse layer's routing; empty for
        /// a dense model.
        #[serde(default)]
        routing: Vec<RoutingLayer>,
    },
    /// Answer to `Positions`: the available encodings.
    Positions {
        /// Sinusoidal and RoPE always; learned when the loaded model has a table.
        encodings: Vec<PositionalMatrix>,
    },
    /// Answer to `ClassicParams`.
    ClassicParams {
        /// In the curriculum's order.
        models: Vec<ClassicModel>,
    },
}

impl ModelResponse {
    /// Whether this is the last response of its job.
    pub fn is_final(&self) -> bool {
        true
    }
}
