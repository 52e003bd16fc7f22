//! Browser tier for the Leptos UI: mounts components in headless Chromium.
#![cfg(target_arch = "wasm32")]

use leptos::prelude::*;
use llmlab_core::share::{GenerateSettings, ShareState};
use llmlab_web::components::{bind, TextField};
use llmlab_web::job::{Job, JobState, JobStatus};
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
        web_sys::window()
            .unwrap()
            .set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 20)
            .unwrap();
    });
    wasm_bindgen_futures::JsFuture::from(promise).await.unwrap();
}

#[wasm_bindgen_test]
async fn text_field_shows_hostile_text_literally_and_writes_back() {
    let evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
    let signal = RwSignal::new(GenerateSettings {
        prompt: evil.to_string(),
        ..GenerateSettings::default()
    });
    let root = container();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <TextField label="Prompt" testid="prompt" bind=bind(signal, |s| s.prompt.clone(), |s, v| s.prompt = v)/> }
    });
    tick().await;
    let textarea: web_sys::HtmlTextAreaElement = root
        .query_selector("[data-testid=prompt]")
        .unwrap()
        .unwrap()
        .unchecked_into();
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
    state.generate.prompt = "Ünïcødé 🤖 & more".into();
    state.generate.num_beams = 3;
    let (back, warnings) = ShareState::from_hash(&state.to_hash());
    assert!(warnings.is_empty());
    assert_eq!(back, state);
}

#[wasm_bindgen_test]
async fn job_status_shows_progress_cancel_and_the_failure() {
    let job = Job::<u32>::new();
    let root = container();
    let _handle = leptos::mount::mount_to(root.clone(), move || {
        view! { <JobStatus job what="Counting" bar=true cancel_testid="job-cancel" error_testid="job-error"/> }
    });
    let find = |sel: &str| root.query_selector(sel).unwrap();
    tick().await;
    assert!(
        find("[data-testid=job-cancel]").is_none() && find("[data-testid=job-error]").is_none()
    );

    job.set(JobState::Running {
        id: 7,
        fraction: 0.5,
        message: "halfway".into(),
    });
    tick().await;
    assert!(find("[data-testid=job-cancel]").is_some());
    assert_eq!(
        find(".progress")
            .unwrap()
            .get_attribute("aria-valuenow")
            .as_deref(),
        Some("50")
    );
    assert!(root.text_content().unwrap_or_default().contains("halfway"));

    job.set(JobState::Failed("<b>bad</b> input".into()));
    tick().await;
    assert!(find("[data-testid=job-cancel]").is_none() && find(".progress").is_none());
    assert_eq!(
        find("[data-testid=job-error]")
            .unwrap()
            .text_content()
            .as_deref(),
        Some("<b>bad</b> input")
    );
    assert!(find("b").is_none(), "the message is text, not HTML");

    job.set(JobState::Cancelled);
    tick().await;
    assert_eq!(
        find("[data-testid=job-error]")
            .unwrap()
            .text_content()
            .as_deref(),
        Some("Counting was cancelled.")
    );

    job.set(JobState::Done(3));
    tick().await;
    assert!(find("[data-testid=job-error]").is_none());
    assert_eq!(job.result(), Some(3));
}

#[wasm_bindgen_test]
async fn last_result_survives_a_new_run_and_its_failure() {
    let owner = Owner::new();
    owner.set();
    let job = Job::<u32>::new();
    let last = job.last_result();
    let seen = move || last.get_untracked();
    job.set(JobState::Done(1));
    assert_eq!(seen(), Some(1));
    job.set(JobState::Running {
        id: 1,
        fraction: 0.0,
        message: String::new(),
    });
    assert_eq!(seen(), Some(1));
    job.set(JobState::Failed("x".into()));
    assert_eq!(seen(), Some(1));
    job.set(JobState::Done(2));
    assert_eq!(seen(), Some(2));
    job.set(JobState::Idle);
    assert_eq!(seen(), None);
}
