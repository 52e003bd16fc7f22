//! Worker jobs of the model area: load a model (embedded default, the
//! user's files, or a Hugging Face repo) and look inside it.
//!
//! Each downloaded or picked file is one buffer in wasm memory, and the
//! model's weight matrices are views into it in their stored dtype (see
//! `llmlab_core::nn::storage`): a checkpoint costs its size once, and f16
//! weights stay f16. The loaded answer reports the wasm memory size.

use crate::fetch::fetch_bytes;
use crate::protocol::model::{
    ClassicModel, ModelRequest, ModelResponse, ModelSummary, NamedFile, Params, PositionalMatrix, RoutingLayer,
    MAX_PE_DIMS, MAX_PE_POSITIONS,
};
use crate::protocol::Response;
use crate::session::{self, Loaded};
use crate::runtime::{checkpoint, post, Cancelled};
use llmlab_core::decoding::settings::CheckpointDefaults;
use llmlab_core::loading::safetensors::{looks_like_pickle, shard_files_from_index, DEFAULT_HEADER_BUDGET};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::{self, params};
use llmlab_core::nn::positional;
use llmlab_core::tokenizers::Tokenizer;

thread_local! {
    /// Number of the newest load request. Loads run concurrently (they wait
    /// on the network), so only the newest one may install its model.
    static NEWEST_LOAD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Run one request of this area for job `id`.
pub async fn run(id: u32, request: ModelRequest) -> Result<Response, Cancelled> {
    if matches!(request, ModelRequest::LoadUrl { .. } | ModelRequest::LoadFiles { .. }) {
        NEWEST_LOAD.with(|n| n.set(n.get() + 1));
    }
    let ticket = NEWEST_LOAD.with(std::cell::Cell::get);
    let result = match request {
        ModelRequest::LoadUrl { base, label, use_cache } => load_url(id, &base, &label, use_cache, ticket).await,
        ModelRequest::LoadFiles { files } => load_files(id, files, ticket).await,
        ModelRequest::Info => session::require().map(|l| ModelResponse::Loaded(summary(&l))),
        ModelRequest::Trace { text } => {
            checkpoint(id).await?;
            trace(&text)
        }
        ModelRequest::Positions { positions: rows, dims } => Ok(positions(rows, dims)),
        ModelRequest::ClassicParams => classic_params(),
    };
    Ok(match result {
        Ok(r) => Response::Model(r),
        Err(message) => Response::Error { message },
    })
}

fn to_params(breakdown: &params::ParamBreakdown) -> Params {
    Params {
        embeddings: breakdown.embeddings,
        attention: breakdown.attention,
        ffn: breakdown.ffn,
        norms: breakdown.norms,
        head: breakdown.head,
        total: breakdown.total(),
    }
}

fn summary(l: &Loaded) -> ModelSummary {
    let (model_type, breakdown) = match params::from_config_json(&l.config_json) {
        Ok((family, b)) => (family, b),
        Err(_) => (l.model.model_type().to_string(), Default::default()),
    };
    ModelSummary {
        label: l.label.clone(),
        model_type,
        vocab_size: match &l.model {
            models::AnyModel::Causal(m) => m.vocab_size() as u32,
            models::AnyModel::Seq2Seq(m) => m.vocab_size() as u32,
            models::AnyModel::Masked(m) => m.vocab_size() as u32,
        },
        has_tokenizer: l.tokenizer.is_some(),
        has_generation_config: l.generation_config_json.is_some(),
        bytes: l.bytes,
        from_cache: l.from_cache,
        params: to_params(&breakdown),
        config_json: l.config_json.clone(),
        wasm_memory_bytes: wasm_memory_bytes(),
    }
}

/// Byte length of this worker's wasm memory; `None` off wasm (native tests).
fn wasm_memory_bytes() -> Option<u64> {
    #[cfg(target_arch = "wasm32")]
    {
        use wasm_bindgen::JsCast;
        let memory = wasm_bindgen::memory().dyn_into::<js_sys::WebAssembly::Memory>().ok()?;
        let buffer = memory.buffer().dyn_into::<js_sys::ArrayBuffer>().ok()?;
        Some(u64::from(buffer.byte_length()))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        None
    }
}

/// The JSON files of a checkpoint.
struct JsonFiles {
    /// `config.json`.
    config: String,
    /// `generation_config.json`, if present.
    generation_config: Option<String>,
    /// `tokenizer.json`, if present.
    tokenizer: Option<String>,
}

/// Build the model from its parts and make it the session's model.
fn finish_load(
    ticket: u64,
    label: String,
    files: JsonFiles,
    store: WeightStore,
    bytes: u64,
    from_cache: bool,
) -> Result<ModelResponse, String> {
    let JsonFiles { config: config_json, generation_config: generation_config_json, tokenizer: tokenizer_json } = files;
    if NEWEST_LOAD.with(std::cell::Cell::get) != ticket {
        return Err("A newer model load replaced this one.".into());
    }
    let model = models::load(&config_json, &store).map_err(|e| format!("The model could not be built: {e}"))?;
    let tokenizer = match tokenizer_json {
        Some(text) => Some(Tokenizer::from_json(&text).map_err(|e| format!("tokenizer.json: {e}"))?),
        None => None,
    };
    if let Some(text) = &generation_config_json {
        CheckpointDefaults::from_json(Some(text), &config_json).map_err(|e| format!("The model's generation settings: {e}"))?;
    }
    let loaded = session::set(Loaded { label, model, tokenizer, config_json, generation_config_json, bytes, from_cache });
    Ok(ModelResponse::Loaded(summary(&loaded)))
}

fn utf8(bytes: Vec<u8>, name: &str) -> Result<String, String> {
    String::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8 text."))
}

async fn load_url(id: u32, base: &str, label: &str, use_cache: bool, ticket: u64) -> Result<ModelResponse, String> {
    if !base.ends_with('/') {
        return Err(format!("The model folder URL must end with '/': {base}"));
    }
    let config = fetch_bytes(id, &format!("{base}config.json"), "config.json", use_cache)
        .await?
        .ok_or_else(|| format!("{base}config.json was not found (404)."))?;
    let mut from_cache = config.from_cache;
    let config_json = utf8(config.bytes, "config.json")?;
    let mut store = WeightStore::new();
    let mut bytes = 0u64;
    match fetch_bytes(id, &format!("{base}model.safetensors"), "model.safetensors", use_cache).await? {
        Some(f) => {
            from_cache &= f.from_cache;
            bytes += f.bytes.len() as u64;
            store.add_safetensors(f.bytes, DEFAULT_HEADER_BUDGET).map_err(|e| format!("model.safetensors: {e}"))?;
        }
        None => {
            let index = fetch_bytes(id, &format!("{base}model.safetensors.index.json"), "index", use_cache)
                .await?
                .ok_or_else(|| {
                    format!("{base} has neither model.safetensors nor model.safetensors.index.json (PyTorch .bin pickles are refused: convert to safetensors).")
                })?;
            let shards = shard_files_from_index(&utf8(index.bytes, "model.safetensors.index.json")?)
                .map_err(|e| format!("model.safetensors.index.json: {e}"))?;
            for shard in shards {
                let f = fetch_bytes(id, &format!("{base}{shard}"), &shard, use_cache)
                    .await?
                    .ok_or_else(|| format!("Shard {shard} named by the index was not found."))?;
                from_cache &= f.from_cache;
                bytes += f.bytes.len() as u64;
                store.add_safetensors(f.bytes, DEFAULT_HEADER_BUDGET).map_err(|e| format!("{shard}: {e}"))?;
            }
        }
    }
    let tokenizer_json = match fetch_bytes(id, &format!("{base}tokenizer.json"), "tokenizer.json", use_cache).await {
        Ok(Some(f)) => Some(utf8(f.bytes, "tokenizer.json")?),
        Ok(None) => None,
        // Offline with the weights cached: a repo without tokenizer.json
        // (a 404 is never cached) must still load.
        Err(_) if from_cache => None,
        Err(e) => return Err(e),
    };
    // Optional like tokenizer.json: the decoding defaults `generate` honours.
    let generation_config = match fetch_bytes(id, &format!("{base}generation_config.json"), "generation_config.json", use_cache).await {
        Ok(Some(f)) => Some(utf8(f.bytes, "generation_config.json")?),
        Ok(None) => None,
        Err(_) if from_cache => None,
        Err(e) => return Err(e),
    };
    post(id, Response::Progress { fraction: 1.0, message: "Building the model…".into() });
    let files = JsonFiles { config: config_json, generation_config, tokenizer: tokenizer_json };
    finish_load(ticket, label.to_string(), files, store, bytes, from_cache)
}

async fn load_files(id: u32, files: Vec<NamedFile>, ticket: u64) -> Result<ModelResponse, String> {
    let mut config_json = None;
    let mut tokenizer_json = None;
    let mut generation_config = None;
    let mut store = WeightStore::new();
    let mut bytes = 0u64;
    let count = files.len();
    for (i, NamedFile { name, bytes: data }) in files.into_iter().enumerate() {
        post(id, Response::Progress { fraction: i as f64 / count.max(1) as f64, message: format!("Reading {name}…") });
        if name == "config.json" {
            config_json = Some(utf8(data, "config.json")?);
        } else if name == "tokenizer.json" {
            tokenizer_json = Some(utf8(data, "tokenizer.json")?);
        } else if name == "generation_config.json" {
            generation_config = Some(utf8(data, "generation_config.json")?);
        } else if name.ends_with(".safetensors") {
            bytes += data.len() as u64;
            store.add_safetensors(data, DEFAULT_HEADER_BUDGET).map_err(|e| format!("{name}: {e}"))?;
        } else if name.ends_with(".bin") || name.ends_with(".pt") || name.ends_with(".pth") || looks_like_pickle(&data) {
            return Err(format!("{name} is a PyTorch pickle; pickles can run code and are never opened here. Convert it to safetensors."));
        } else if name.ends_with(".json") {
            // Other metadata (the shard index, special_tokens_map.json): not needed.
        } else {
            return Err(format!("{name}: expected config.json, tokenizer.json or *.safetensors."));
        }
    }
    let config_json = config_json.ok_or_else(|| "config.json is missing among the files.".to_string())?;
    let files = JsonFiles { config: config_json, generation_config, tokenizer: tokenizer_json };
    finish_load(ticket, "Your files".into(), files, store, bytes, false)
}

fn trace(text: &str) -> Result<ModelResponse, String> {
    let loaded = session::require()?;
    let (ids, tokens) = match loaded.tokenizer.as_ref() {
        Some(tokenizer) => {
            let encoding = tokenizer.encode(text, false).map_err(|e| e.to_string())?;
            (encoding.ids, encoding.tokens)
        }
        None => {
            let ids = crate::jobs::generate::prompt_ids(text, None, loaded.model.vocab_size())?;
            let tokens = ids.iter().map(u32::to_string).collect();
            (ids, tokens)
        }
    };
    if ids.is_empty() {
        return Err("Type some text to look inside the model.".into());
    }
    if ids.len() > 256 {
        return Err(format!("{} tokens: keep it under 256 so the attention maps stay readable.", ids.len()));
    }
    let trace = loaded.model.trace(&ids).map_err(|e| e.to_string())?;
    let attentions = trace
        .attentions
        .iter()
        .map(|layer| {
            layer
                .outer_iter()
                .map(|head| head.outer_iter().map(|row| row.to_vec()).collect())
                .collect()
        })
        .collect();
    let hidden_norms = trace.hidden_norms.outer_iter().map(|row| row.to_vec()).collect();
    let rows_of = |a: &ndarray::Array2<f32>| a.outer_iter().map(|row| row.to_vec()).collect();
    let routing = trace
        .routing
        .iter()
        .map(|l| RoutingLayer {
            layer: l.layer as u32,
            probs: rows_of(&l.routing.probs),
            experts: l.routing.selected.outer_iter().map(|row| row.iter().map(|&e| e as u32).collect()).collect(),
            weights: rows_of(&l.routing.weights),
        })
        .collect();
    Ok(ModelResponse::Trace { tokens, attentions, hidden_norms, routing })
}

/// A `(P, D)` table as a [`PositionalMatrix`] showing its first `cols`
/// features; the similarity curve uses every feature.
fn positional_matrix(kind: &str, source: String, table: ndarray::Array2<f32>, cols: usize) -> PositionalMatrix {
    let similarity = positional::similarity_by_distance(table.view(), table.nrows());
    let cols = cols.min(table.ncols());
    let values = table.rows().into_iter().flat_map(|row| row.iter().take(cols).copied().collect::<Vec<_>>()).collect();
    PositionalMatrix { kind: kind.into(), source, rows: table.nrows() as u32, cols: cols as u32, values, similarity }
}

/// Sinusoidal, learned (if the loaded model has a table) and RoPE
/// encodings, at most `MAX_PE_POSITIONS × MAX_PE_DIMS` each.
fn positions(rows: u32, dims: u32) -> ModelResponse {
    let rows = rows.clamp(1, MAX_PE_POSITIONS) as usize;
    let cols = dims.clamp(2, MAX_PE_DIMS) as usize & !1;
    let loaded = session::current();
    let mut encodings = Vec::new();

    // Sinusoidal: as wide as the loaded model (so it compares with its learned
    // table), else as wide as the view.
    let gpt2_width = loaded
        .as_deref()
        .filter(|l| l.model.model_type() == "gpt2")
        .and_then(|l| models::gpt2::Config::from_json(&l.config_json).ok())
        .map(|c| c.n_embd);
    let width = gpt2_width.unwrap_or(cols).clamp(2, 4096) & !1;
    encodings.push(positional_matrix(
        "sinusoidal",
        format!("computed: sin/cos of p / 10000^(2i/{width}), width {width}"),
        positional::sinusoidal_table(rows, width),
        cols,
    ));

    // Learned: GPT-2's wpe rows (BERT's table is not exposed by its trait).
    if let Some(l) = loaded.as_deref() {
        if let models::AnyModel::Causal(m) = &l.model {
            if m.model_type() == "gpt2" {
                let table = m.positional_encoding(rows);
                if table.nrows() > 0 {
                    encodings.push(positional_matrix(
                        "learned",
                        format!("wpe of the loaded model ({}), {} positions × {} features", l.label, table.nrows(), table.ncols()),
                        table,
                        cols,
                    ));
                }
            }
        }
    }

    // RoPE: the loaded Llama's head width, base and scaling, else Llama's defaults.
    let llama = loaded
        .as_deref()
        .filter(|l| l.model.model_type() == "llama")
        .and_then(|l| models::llama::Config::from_json(&l.config_json).ok());
    let (rope, source) = match llama {
        Some(cfg) => {
            let scaling = cfg.rope_scaling().unwrap_or(positional::RopeScaling::None);
            let head_dim = cfg.head_dim().clamp(2, 4096);
            (
                positional::Rope::new(head_dim, cfg.theta() as f32, &scaling),
                format!("the loaded model's rotation: head width {head_dim}, base {}", cfg.theta()),
            )
        }
        None => (
            positional::Rope::new(64, 10000.0, &positional::RopeScaling::None),
            "computed: head width 64, base 10000 (Llama's default)".to_string(),
        ),
    };
    encodings.push(positional_matrix("rope", source, rope.cos_sin_table(rows), cols));
    ModelResponse::Positions { encodings }
}

/// The classic models' breakdowns, counted from their configs.
fn classic_params() -> Result<ModelResponse, String> {
    let models = params::classic_configs()
        .into_iter()
        .map(|(name, json)| {
            let (_, breakdown) = params::from_config_json(json).map_err(|e| format!("{name}: {e}"))?;
            let paper = params::CLASSIC_PAPER_FIGURES.iter().find(|(n, _)| *n == name).map_or("", |(_, f)| f);
            Ok(ClassicModel { name: name.into(), paper: paper.into(), params: to_params(&breakdown) })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(ModelResponse::ClassicParams { models })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_without_a_model_give_capped_sinusoidal_and_rope_tables() {
        // No model is loaded in this thread: no learned table.
        let ModelResponse::Positions { encodings } = positions(500, 7) else { panic!("not a Positions answer") };
        let kinds: Vec<&str> = encodings.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["sinusoidal", "rope"]);
        for m in &encodings {
            assert_eq!((m.rows, m.cols), (MAX_PE_POSITIONS, 6), "{}", m.kind);
            assert_eq!(m.values.len(), (m.rows * m.cols) as usize);
            assert_eq!(m.similarity.len(), m.rows as usize);
            assert!((m.similarity[0] - 1.0).abs() < 1e-5);
        }
        // Row 1 of the sinusoidal table (width 6 without a model): sin(1), cos(1), sin(1/10000^(1/3)), ...
        let sinusoidal = &encodings[0];
        let row1 = &sinusoidal.values[6..12];
        assert!((row1[0] - 1f32.sin()).abs() < 1e-6 && (row1[1] - 1f32.cos()).abs() < 1e-6);
        assert!((row1[2] - (1.0f64 / 10000f64.powf(2.0 / 6.0)).sin() as f32).abs() < 1e-6);
        // RoPE (head width 64): the first 6 columns are cos(p·θ_i), θ_i = 10000^(-2i/64).
        let rope = &encodings[1];
        let theta1 = 1.0f32 / 10000f32.powf(2.0 / 64.0);
        assert!((rope.values[6 * 3 + 1] - (3.0 * theta1).cos()).abs() < 1e-5);
        let ModelResponse::Positions { encodings } = positions(0, 0) else { panic!("not a Positions answer") };
        assert_eq!((encodings[0].rows, encodings[0].cols), (1, 2));
    }

    /// Loads a committed tiny checkpoint into this thread's session.
    fn load_fixture(family: &str) -> usize {
        let dir = format!("{}/../../tests/fixtures/decoding/models/{family}", env!("CARGO_MANIFEST_DIR"));
        let config_json = std::fs::read_to_string(format!("{dir}/config.json")).unwrap();
        let mut store = WeightStore::new();
        store.add_safetensors(std::fs::read(format!("{dir}/model.safetensors")).unwrap(), DEFAULT_HEADER_BUDGET).unwrap();
        let model = models::load(&config_json, &store).unwrap();
        let width = serde_json::from_str::<serde_json::Value>(&config_json).unwrap()
            [if family == "gpt2" { "n_embd" } else { "head_dim" }]
            .as_u64()
            .unwrap() as usize;
        session::set(Loaded {
            label: family.into(),
            model,
            tokenizer: None,
            config_json,
            generation_config_json: None,
            bytes: 0,
            from_cache: false,
        });
        width
    }

    #[test]
    fn positions_use_the_loaded_models_table_and_rope_shape() {
        // GPT-2: the learned rows are the checkpoint's wpe, and the sinusoid is as wide as the model.
        let width = load_fixture("gpt2");
        let ModelResponse::Positions { encodings } = positions(16, 8) else { panic!("not a Positions answer") };
        let kinds: Vec<&str> = encodings.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["sinusoidal", "learned", "rope"]);
        assert!(encodings[0].source.contains(&format!("width {width}")), "{}", encodings[0].source);
        let loaded = session::require().unwrap();
        let models::AnyModel::Causal(m) = &loaded.model else { panic!("GPT-2 is causal") };
        let wpe = m.positional_encoding(16);
        let learned = &encodings[1];
        assert_eq!((learned.rows, learned.cols), (16, 8.min(width as u32)));
        for p in 0..16 {
            for j in 0..learned.cols as usize {
                assert_eq!(learned.values[p * learned.cols as usize + j], wpe[[p, j]]);
            }
        }
        // Llama: RoPE with the checkpoint's head width (8) and base; no learned table.
        let head_dim = load_fixture("llama");
        let ModelResponse::Positions { encodings } = positions(16, 64) else { panic!("not a Positions answer") };
        let kinds: Vec<&str> = encodings.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["sinusoidal", "rope"]);
        let rope = &encodings[1];
        assert_eq!(rope.cols as usize, head_dim);
        assert!(rope.source.contains(&format!("head width {head_dim}")), "{}", rope.source);
        // Row 2, column 1: cos(2·θ_1), θ_1 = 10000^(-2/8).
        assert!((rope.values[2 * head_dim + 1] - (2.0 / 10000f32.powf(0.25)).cos()).abs() < 1e-5);
    }

    #[test]
    fn loaded_answer_carries_the_wasm_memory_field() {
        load_fixture("gpt2");
        let loaded = session::require().unwrap();
        let json = serde_json::to_value(summary(&loaded)).unwrap();
        // Natively there is no wasm memory; the key is still there for the page.
        assert_eq!(json.get("wasm_memory_bytes"), Some(&serde_json::Value::Null));
        let mut older = json.clone();
        older.as_object_mut().unwrap().remove("wasm_memory_bytes");
        let parsed: crate::protocol::model::ModelSummary = serde_json::from_value(older).unwrap();
        assert_eq!(parsed.wasm_memory_bytes, None);
    }

    #[test]
    fn classic_params_carry_counts_and_paper_figures() {
        let Ok(ModelResponse::ClassicParams { models }) = classic_params() else { panic!("no classic params") };
        assert_eq!(models.len(), 7);
        let gpt3 = models.iter().find(|m| m.name == "GPT-3 (175B)").expect("GPT-3 listed");
        assert_eq!(gpt3.paper, "175B");
        assert!((gpt3.params.total as f64 / 175e9 - 1.0).abs() < 0.01, "{}", gpt3.params.total);
        let gpt1 = &models[0];
        assert_eq!((gpt1.name.as_str(), gpt1.paper.as_str()), ("GPT-1", "117M"));
        let p = &gpt1.params;
        assert_eq!(p.total, p.embeddings + p.attention + p.ffn + p.norms + p.head);
    }

    #[test]
    fn positions_request_has_the_documented_json_shape() {
        let request: crate::protocol::Request =
            serde_json::from_str(r#"{"kind":"model","op":"positions","positions":64,"dims":32}"#).unwrap();
        assert_eq!(request, crate::protocol::Request::Model(ModelRequest::Positions { positions: 64, dims: 32 }));
        let request: crate::protocol::Request = serde_json::from_str(r#"{"kind":"model","op":"classic_params"}"#).unwrap();
        assert_eq!(request, crate::protocol::Request::Model(ModelRequest::ClassicParams));
    }
}
