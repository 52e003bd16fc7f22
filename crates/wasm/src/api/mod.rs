//! `#[wasm_bindgen]` functions: the core's API as JS sees it. They return
//! plain JS objects (via `serde-wasm-bindgen`) and throw a JS `Error` with a
//! readable message instead of panicking.

use wasm_bindgen::prelude::*;

/// Version of the engine, e.g. `"0.1.0"`.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// Decode a share-link hash into `{state_hash, tab, prompt, warnings}`.
/// `state_hash` is the canonical re-encoding of what was understood.
#[wasm_bindgen(js_name = parseShareLink)]
pub fn parse_share_link(hash: &str) -> Result<JsValue, JsError> {
    let (state, warnings) = llmlab_core::share::ShareState::from_hash(hash);
    let out = serde_json::json!({
        "state_hash": state.to_hash(),
        "tab": state.tab.key(),
        "prompt": state.generate.prompt,
        "seed": state.seed,
        "warnings": warnings,
    });
    to_js(&out)
}

/// Serialize for JS as plain objects (not `Map`s), as JSON would.
pub(crate) fn to_js<T: serde::Serialize>(value: &T) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| JsError::new(&e.to_string()))
}

// One file per area (tokenize, model, generate, metrics, train) joins here:
// `pub mod <area>;`
