//! Browser tier for the wasm API: runs in headless Chromium through
//! `wasm-bindgen-test-runner` (`scripts/test.sh`, or
//! `wasm-pack test --headless --chrome crates/wasm`).
#![cfg(target_arch = "wasm32")]

use llmlab_wasm::api;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
fn version_is_the_crate_version() {
    assert_eq!(api::version(), env!("CARGO_PKG_VERSION"));
}

#[wasm_bindgen_test]
fn share_link_parses_in_the_browser_like_natively() {
    let value = api::parse_share_link("#tab=gen&prompt=%3Cb%3Ehi%3C%2Fb%3E&beams=99&zzz=1").unwrap();
    let tab = js_sys::Reflect::get(&value, &"tab".into()).unwrap();
    assert_eq!(tab.as_string().as_deref(), Some("gen"));
    let prompt = js_sys::Reflect::get(&value, &"prompt".into()).unwrap();
    assert_eq!(prompt.as_string().as_deref(), Some("<b>hi</b>"));
    let canonical = js_sys::Reflect::get(&value, &"state_hash".into()).unwrap().as_string().unwrap();
    // 99 beams clamp to the decoder's row cap, the same bound the CLI enforces.
    let capped = format!("&beams={}&", llmlab_core::decoding::limits::MAX_ROWS);
    assert!(canonical.contains(&capped), "{canonical}");
}
