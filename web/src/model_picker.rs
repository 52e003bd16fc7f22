//! Choosing the model every tab works with: the embedded default, the
//! user's own files, or a Hugging Face repo (fetched by the browser with a
//! progress bar and kept in the Cache API for offline reloads).
//!
//! A share link may *name* a Hub repo, but it is only downloaded when the
//! user clicks "Load".

use crate::components::ProgressBar;
use crate::job::JobState;
use crate::state::AppState;
use crate::storage;
use crate::worker_client::{self, base_url};
use leptos::prelude::*;
use llmlab_wasm::protocol::model::{ModelRequest, ModelResponse, ModelSummary, NamedFile};
use llmlab_wasm::protocol::{Request, Response};

/// Where the loaded model stands (loading is a job like any other; done:
/// the model is ready); provided as context by the app.
pub type ModelState = JobState<ModelSummary>;

/// The default Hub endpoint; tests point it at a local server that serves
/// the same URL layout.
const DEFAULT_HUB: &str = "https://huggingface.co";

/// Where Hub downloads come from (changeable under "Advanced").
pub fn hub_endpoint() -> String {
    storage::load("hub_endpoint")
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HUB.to_string())
}

/// The page's last model load, kept so that it can be replayed into the lab
/// worker when the page swaps to it (file handles, not their bytes).
#[derive(Clone)]
enum LastLoad {
    /// A folder URL (the default model or a Hub repo).
    Url(ModelRequest),
    /// Files the user picked.
    Files(Vec<web_sys::File>),
}

thread_local! {
    /// Number of the newest load the user asked for: answers to older loads
    /// (still finishing in the worker) are ignored, so the last click wins.
    static NEWEST_LOAD: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    static LAST_LOAD: std::cell::RefCell<Option<LastLoad>> = const { std::cell::RefCell::new(None) };
}

/// Send a load to the worker and follow it in `state`. `replay`: the lab
/// worker's replay of the last load, posted ahead of queued jobs, which wait
/// for it (the hold is released when it finishes).
fn start_load(request: ModelRequest, state: RwSignal<ModelState>, replay: Option<worker_client::Hold>) {
    let ticket = NEWEST_LOAD.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    state.set(JobState::Running {
        id: 0,
        fraction: 0.0,
        message: if replay.is_some() { "Loading the model into the lab worker…".into() } else { "Starting…".into() },
    });
    let first = replay.is_some();
    let mut hold = replay;
    let on_response = move |r: Response| {
        if r.is_final() {
            hold.take();
        }
        if NEWEST_LOAD.with(std::cell::Cell::get) != ticket {
            return;
        }
        match r {
            Response::Progress { fraction, message } => state.set(JobState::Running {
                id: 0,
                fraction,
                message,
            }),
            Response::Model(ModelResponse::Loaded(summary)) => state.set(JobState::Done(summary)),
            Response::Error { message } => state.set(JobState::Failed(message)),
            Response::Cancelled => state.set(JobState::Cancelled),
            other => state.set(JobState::Failed(format!("Unexpected answer: {other:?}"))),
        }
    };
    if first {
        worker_client::request_first(Request::Model(request), on_response);
    } else {
        worker_client::request(Request::Model(request), on_response);
    }
}

/// Load a folder URL and remember it for the lab worker's replay.
fn load_url(request: ModelRequest, state: RwSignal<ModelState>) {
    LAST_LOAD.with(|l| *l.borrow_mut() = Some(LastLoad::Url(request.clone())));
    start_load(request, state, None);
}

/// Read the user's files into memory (asynchronously; the page stays
/// responsive). The worker parses and validates them.
async fn read_files(files: &[web_sys::File]) -> Result<Vec<NamedFile>, String> {
    let mut named = Vec::with_capacity(files.len());
    for file in files {
        if file.size() > 2.0 * 1024.0 * 1024.0 * 1024.0 {
            return Err(format!("{} is larger than the 2 GiB a browser tab can hold.", file.name()));
        }
        match wasm_bindgen_futures::JsFuture::from(file.array_buffer()).await {
            Ok(buffer) => named.push(NamedFile { name: file.name(), bytes: js_sys::Uint8Array::new(&buffer).to_vec() }),
            Err(_) => return Err(format!("{} could not be read.", file.name())),
        }
    }
    Ok(named)
}

/// Replay the last load whenever the page swaps to the lab worker, so the
/// lab tabs work on the model the user chose.
pub fn replay_into_lab_worker(state: RwSignal<ModelState>) {
    worker_client::set_model_replay(move |hold| match LAST_LOAD.with(|l| l.borrow().clone()) {
        None => drop(hold),
        Some(LastLoad::Url(request)) => start_load(request, state, Some(hold)),
        Some(LastLoad::Files(files)) => wasm_bindgen_futures::spawn_local(async move {
            match read_files(&files).await {
                Ok(named) => start_load(ModelRequest::LoadFiles { files: named }, state, Some(hold)),
                Err(message) => {
                    state.set(JobState::Failed(message));
                    drop(hold);
                }
            }
        }),
    });
}

/// Load the embedded default model (`models/default/` next to the page).
pub fn load_default(state: RwSignal<ModelState>) {
    load_url(
        ModelRequest::LoadUrl {
            base: format!("{}models/default/", base_url()),
            label: "Default (tiny Shakespeare GPT)".into(),
            use_cache: false,
        },
        state,
    );
}

/// Load a Hub repo id such as `owner/name`.
pub fn load_hub(repo: &str, state: RwSignal<ModelState>) {
    let endpoint = hub_endpoint();
    load_url(
        ModelRequest::LoadUrl {
            base: format!(
                "{}/{}/resolve/main/",
                endpoint.trim_end_matches('/'),
                repo.trim()
            ),
            label: repo.trim().to_string(),
            use_cache: true,
        },
        state,
    );
}

fn human(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2}B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.2}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}

/// The worker's memory after loading against the model's file bytes (the
/// weights are views into the downloaded files, so the ratio stays near 1).
fn memory_note(s: &ModelSummary) -> String {
    match s.wasm_memory_bytes {
        Some(memory) if s.bytes > 0 => format!(
            "; files {:.1} MB, worker memory {:.1} MB ({:.2}× the files)",
            s.bytes as f64 / 1e6,
            memory as f64 / 1e6,
            memory as f64 / s.bytes as f64
        ),
        _ => String::new(),
    }
}

/// One-line description of a loaded model.
pub fn describe(s: &ModelSummary) -> String {
    format!(
        "{} — {}, {} parameters, vocabulary {}{}{}",
        s.label,
        s.model_type,
        human(s.params.total),
        s.vocab_size,
        memory_note(s),
        if s.from_cache {
            " (from the offline cache)"
        } else {
            ""
        }
    )
}

/// The model chooser shown at the top of the model tabs.
#[component]
pub fn ModelPicker() -> impl IntoView {
    let model = expect_context::<RwSignal<ModelState>>();
    let app = expect_context::<AppState>();
    let repo = RwSignal::new(
        app.model
            .with_untracked(|m| m.strip_prefix("hub:").map(str::to_string))
            .unwrap_or_default(),
    );
    let endpoint = RwSignal::new(hub_endpoint());
    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(list) = input.files() else { return };
        let files: Vec<web_sys::File> = (0..list.length()).filter_map(|i| list.get(i)).collect();
        if files.is_empty() {
            return;
        }
        app.model.set("default".into());
        model.set(JobState::Running {
            id: 0,
            fraction: 0.0,
            message: "Reading your files…".into(),
        });
        // Reading is asynchronous (the page stays responsive); the bytes
        // then go to the worker, which parses and validates them.
        wasm_bindgen_futures::spawn_local(async move {
            match read_files(&files).await {
                Ok(named) => {
                    LAST_LOAD.with(|l| *l.borrow_mut() = Some(LastLoad::Files(files)));
                    start_load(ModelRequest::LoadFiles { files: named }, model, None);
                }
                Err(message) => model.set(JobState::Failed(message)),
            }
        });
    };
    let load_repo = move || {
        let r = repo.get_untracked();
        let id = format!("hub:{}", r.trim());
        let (parsed, warnings) = llmlab_core::share::ShareState::from_hash(&format!(
            "model={}",
            id.replace('%', "%25").replace('&', "%26")
        ));
        if !warnings.is_empty() || parsed.model != id {
            model.set(JobState::Failed(format!(
                "'{r}' is not a Hub repo id like owner/name."
            )));
            return;
        }
        storage::save("hub_endpoint", &endpoint.get_untracked());
        app.model.set(id);
        load_hub(&r, model);
    };
    let busy = move || matches!(model.get(), JobState::Running { .. });
    view! {
        <div class="model-picker" data-testid="model-picker">
            <div class="model-status" data-testid="model-status" aria-live="polite">
                {move || match model.get() {
                    JobState::Idle => "No model loaded.".to_string(),
                    JobState::Running { message, .. } => format!("Loading: {message}"),
                    JobState::Done(s) => format!("Model: {}", describe(&s)),
                    JobState::Failed(e) => format!("Loading failed: {e}"),
                    JobState::Cancelled => "Loading was cancelled.".to_string(),
                }}
            </div>
            {move || match model.get() {
                JobState::Running { fraction, message, .. } => view! {
                    <ProgressBar fraction=Signal::derive(move || fraction) label=Signal::derive(move || message.clone())/>
                }.into_any(),
                _ => ().into_any(),
            }}
            <div class="row">
                <button data-testid="load-default" disabled=busy on:click=move |_| {
                    app.model.set("default".into());
                    load_default(model);
                }>"Load the default model"</button>
                <label class="field">
                    <span class="label">"Your files (config.json, *.safetensors, tokenizer.json)"</span>
                    <input type="file" multiple accept=".json,.safetensors" data-testid="model-files" on:change=on_files disabled=busy/>
                </label>
                <label class="field">
                    <span class="label">"Hugging Face repo"</span>
                    <input data-testid="hub-repo" placeholder="owner/name" prop:value=move || repo.get()
                        on:input=move |ev| repo.set(event_target_value(&ev))
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Enter" { load_repo() }/>
                </label>
                <button data-testid="load-hub" disabled=busy on:click=move |_| load_repo()>"Load from the Hub"</button>
            </div>
            <details class="advanced">
                <summary>"Advanced"</summary>
                <label class="field">
                    <span class="label">"Hub endpoint"</span>
                    <input data-testid="hub-endpoint" prop:value=move || endpoint.get()
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            storage::save("hub_endpoint", &v);
                            endpoint.set(v);
                        }/>
                </label>
            </details>
        </div>
    }
}
