//! `localStorage` for the texts a user typed (prompts, references, corpora),
//! so they survive a reload even without the hash. Failures (private mode,
//! quota) are ignored on purpose: persistence is a convenience, not a
//! requirement, and must never break the page.

const PREFIX: &str = "llmlab.";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The stored value of `key`, if any.
pub fn load(key: &str) -> Option<String> {
    local_storage()?.get_item(&format!("{PREFIX}{key}")).ok()?
}

/// Store `value` under `key` (best effort).
pub fn save(key: &str, value: &str) {
    if let Some(storage) = local_storage() {
        let _ = storage.set_item(&format!("{PREFIX}{key}"), value);
    }
}
