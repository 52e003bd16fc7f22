//! The app state and its two mirrors: the URL hash (share links) and
//! `localStorage` (typed text survives a reload).
//!
//! Precedence when the page opens: a hash in the URL wins (that is what a
//! shared link is for); without one, the last texts typed here are restored.

use crate::storage;
use leptos::prelude::*;
use llmlab_core::share::{ShareState, MAX_TEXT_CHARS};

/// Text fields persisted in `localStorage`: (storage key, getter, setter).
type TextField = (&'static str, fn(&ShareState) -> &String, fn(&mut ShareState, String));

/// The texts the user typed. Settings are small and live in the hash only.
pub const PERSISTED_TEXTS: [TextField; 4] = [
    ("prompt", |s| &s.prompt, |s, v| s.prompt = v),
    ("tok_text", |s| &s.tok_text, |s, v| s.tok_text = v),
    ("hyp", |s| &s.hyp, |s, v| s.hyp = v),
    ("refs", |s| &s.refs, |s, v| s.refs = v),
];

/// The current `location.hash` (with `#`), or empty.
pub fn current_hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// State at page load, plus warnings about the link (shown to the user).
pub fn initial_state() -> (ShareState, Vec<String>) {
    let hash = current_hash();
    if hash.len() > 1 {
        return ShareState::from_hash(&hash);
    }
    let mut state = ShareState::default();
    for (key, _, set) in PERSISTED_TEXTS {
        if let Some(text) = storage::load(key) {
            let capped: String = text.chars().take(MAX_TEXT_CHARS).collect();
            set(&mut state, capped);
        }
    }
    (state, Vec::new())
}

/// Write the state into the hash without adding a history entry per
/// keystroke, and persist the typed texts.
pub fn mirror(state: &ShareState) {
    let hash = state.to_hash();
    if let Some(window) = web_sys::window() {
        if current_hash() != hash {
            if let Ok(history) = window.history() {
                let _ = history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&hash));
            }
        }
    }
    for (key, get, _) in PERSISTED_TEXTS {
        storage::save(key, get(state));
    }
}

/// The full shareable URL for the state.
pub fn share_url(state: &ShareState) -> String {
    let base = web_sys::window()
        .and_then(|w| w.location().href().ok())
        .map(|href| href.split('#').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    format!("{base}{}", state.to_hash())
}

/// The app state as one signal, provided as context to every tab.
#[derive(Clone, Copy)]
pub struct AppState(pub RwSignal<ShareState>);

impl AppState {
    /// Read a value from the state (tracked).
    pub fn with<R>(&self, f: impl FnOnce(&ShareState) -> R) -> R {
        self.0.with(f)
    }
    /// Change the state.
    pub fn update(&self, f: impl FnOnce(&mut ShareState)) {
        self.0.update(f)
    }
}
