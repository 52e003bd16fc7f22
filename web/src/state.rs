//! The app state and its two mirrors: the URL hash (share links) and
//! `localStorage` (typed text survives a reload).
//!
//! [`AppState`] holds one signal per part of [`ShareState`]: the open tab,
//! the model, the seed, and each tab's settings. A tab reads and writes only
//! its own part, so typing in one tab does not wake the others; only the
//! mirror into the hash reads them all.
//!
//! Precedence when the page opens: a hash in the URL wins (that is what a
//! shared link is for); without one, the last texts typed here are restored.

use crate::storage;
use leptos::prelude::*;
use llmlab_core::share::{
    DataSettings, EvaluateSettings, FinetuneSettings, GenerateSettings, InsideSettings, ShareState, Tab, TokenizeSettings,
    TrainSettings, MAX_TEXT_CHARS,
};

/// Text fields persisted in `localStorage`: (storage key, getter, setter).
type TextField = (
    &'static str,
    fn(&ShareState) -> &String,
    fn(&mut ShareState, String),
);

/// The texts the user typed. Settings are small and live in the hash only.
pub const PERSISTED_TEXTS: [TextField; 4] = [
    (
        "prompt",
        |s| &s.generate.prompt,
        |s, v| s.generate.prompt = v,
    ),
    (
        "tok_text",
        |s| &s.tokenize.tok_text,
        |s, v| s.tokenize.tok_text = v,
    ),
    ("hyp", |s| &s.evaluate.hyp, |s, v| s.evaluate.hyp = v),
    ("refs", |s| &s.evaluate.refs, |s, v| s.evaluate.refs = v),
];

/// The current `location.hash` (with `#`), or empty.
pub fn current_hash() -> String {
    web_sys::window()
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default()
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
                let _ =
                    history.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&hash));
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

/// The app state, one signal per part, provided as context to every tab.
#[derive(Clone, Copy)]
pub struct AppState {
    /// The open tab.
    pub tab: RwSignal<Tab>,
    /// `default` or `hub:owner/name`.
    pub model: RwSignal<String>,
    /// One seed for sampling and training.
    pub seed: RwSignal<u64>,
    /// The Tokenize tab's settings.
    pub tokenize: RwSignal<TokenizeSettings>,
    /// The Generate tab's settings.
    pub generate: RwSignal<GenerateSettings>,
    /// The Inside tab's settings.
    pub inside: RwSignal<InsideSettings>,
    /// The Data tab's settings.
    pub data: RwSignal<DataSettings>,
    /// The Train tab's settings.
    pub train: RwSignal<TrainSettings>,
    /// The Fine-tune tab's settings.
    pub finetune: RwSignal<FinetuneSettings>,
    /// The Evaluate tab's settings.
    pub evaluate: RwSignal<EvaluateSettings>,
}

/// Set `signal` to `value` only if it differs, so restoring a link wakes
/// only the parts it changed.
fn set_if_changed<T: PartialEq + Send + Sync + 'static>(signal: RwSignal<T>, value: T) {
    if signal.with_untracked(|v| *v != value) {
        signal.set(value);
    }
}

impl AppState {
    /// Signals holding `state`.
    pub fn new(state: ShareState) -> Self {
        let ShareState {
            tab,
            model,
            seed,
            tokenize,
            generate,
            inside,
            data,
            train,
            finetune,
            evaluate,
        } = state;
        Self {
            tab: RwSignal::new(tab),
            model: RwSignal::new(model),
            seed: RwSignal::new(seed),
            tokenize: RwSignal::new(tokenize),
            generate: RwSignal::new(generate),
            inside: RwSignal::new(inside),
            data: RwSignal::new(data),
            train: RwSignal::new(train),
            finetune: RwSignal::new(finetune),
            evaluate: RwSignal::new(evaluate),
        }
    }

    /// The whole state (tracked: the caller reruns when any part changes).
    pub fn snapshot(&self) -> ShareState {
        ShareState {
            tab: self.tab.get(),
            model: self.model.get(),
            seed: self.seed.get(),
            tokenize: self.tokenize.get(),
            generate: self.generate.get(),
            inside: self.inside.get(),
            data: self.data.get(),
            train: self.train.get(),
            finetune: self.finetune.get(),
            evaluate: self.evaluate.get(),
        }
    }

    /// The whole state, untracked.
    pub fn snapshot_untracked(&self) -> ShareState {
        untrack(|| self.snapshot())
    }

    /// Replace the whole state (a link pasted into an open page).
    pub fn replace(&self, state: ShareState) {
        let ShareState {
            tab,
            model,
            seed,
            tokenize,
            generate,
            inside,
            data,
            train,
            finetune,
            evaluate,
        } = state;
        set_if_changed(self.tab, tab);
        set_if_changed(self.model, model);
        set_if_changed(self.seed, seed);
        set_if_changed(self.tokenize, tokenize);
        set_if_changed(self.generate, generate);
        set_if_changed(self.inside, inside);
        set_if_changed(self.data, data);
        set_if_changed(self.train, train);
        set_if_changed(self.finetune, finetune);
        set_if_changed(self.evaluate, evaluate);
    }
}
