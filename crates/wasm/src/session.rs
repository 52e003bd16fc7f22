//! What the worker keeps between jobs: the loaded model and its tokenizer.
//! Loading is expensive, so every tab's jobs share this one instance.

use llmlab_core::models::AnyModel;
use llmlab_core::tokenizers::Tokenizer;
use std::cell::RefCell;
use std::rc::Rc;

/// A model loaded in the worker.
pub struct Loaded {
    /// Name shown to the user.
    pub label: String,
    /// The network.
    pub model: AnyModel,
    /// Its tokenizer, if the files included one.
    pub tokenizer: Option<Tokenizer>,
    /// The `config.json` text.
    pub config_json: String,
    /// The `generation_config.json` text, when the checkpoint has one.
    pub generation_config_json: Option<String>,
    /// Bytes of weights read.
    pub bytes: u64,
    /// Whether the files came from the Cache API.
    pub from_cache: bool,
}

thread_local! {
    static LOADED: RefCell<Option<Rc<Loaded>>> = const { RefCell::new(None) };
}

/// The loaded model, if any.
pub fn current() -> Option<Rc<Loaded>> {
    LOADED.with(|l| l.borrow().clone())
}

/// Replace the loaded model.
pub fn set(loaded: Loaded) -> Rc<Loaded> {
    let rc = Rc::new(loaded);
    LOADED.with(|l| *l.borrow_mut() = Some(rc.clone()));
    rc
}

/// The loaded model or a user-facing error saying to load one.
pub fn require() -> Result<Rc<Loaded>, String> {
    current().ok_or_else(|| "No model is loaded yet: load the default model (or your own) first.".to_string())
}
