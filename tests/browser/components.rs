//! Browser tier for the Leptos UI: mounts components in headless Chromium.
#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use llmlab_core::share::ShareState;
use llmlab_web::components::TextField;
use llmlab_web::state::AppState;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

fn container() -> web_sys::HtmlElement {
    let document = web_sys::window().unwrap().document().unwrap();
    let div: web_sys::HtmlElement = document.create_element("div").unwrap().unchecked_into();
    document.body().unwrap().append_child(&div).unwrap();
    div
}

/// Let Leptos run its scheduled render effects (they run after a tick).
async fn tick() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        web_sys::window().unwrap().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 20).unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn text_field_shows_hostile_text_literally_and_writes_back() {
    let evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let signal = RwSignal::new(ShareState { prompt: evil.to_string(), ..ShareState::default() });
    let root = container();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        provide_context(AppState(signal));
        view! { <TextField label="Prompt" testid="prompt" get=|s| s.prompt.clone() set=|s, v| s.prompt = v/> }
    });
    tick().await;
    let textarea: web_sys::HtmlTextAreaElement =
        root.query_selector("[data-testid=prompt]").unwrap().unwrap().unchecked_into();
    assert_eq!(textarea.value(), evil);
    // No element was created from the text.
    assert!(root.query_selector("img").unwrap().is_none());
    assert!(root.query_selector("script").unwrap().is_none());

    textarea.set_value("typed by the user");
    let event = web_sys::Event::new("input").unwrap();
    textarea.dispatch_event(&event).unwrap();
    assert_eq!(signal.get_untracked().prompt, "typed by the user");

    // And a change of the state shows up in the box.
    signal.update(|s| s.prompt = "from a share link".into());
    tick().await;
    assert_eq!(textarea.value(), "from a share link");
}

#[wasm_bindgen_test]
fn share_state_round_trips_through_the_hash_in_the_browser() {
    let mut state = ShareState::default();
    state.prompt = "Ünïcødé 🤖 & more".into();
    state.num_beams = 3;
    let (back, warnings) = ShareState::from_hash(&state.to_hash());
    assert!(warnings.is_empty());
    assert_eq!(back, state);
}
