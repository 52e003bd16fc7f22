//! The page: header (share link, worker status), tab bar, the open tab, and
//! a diagnostics panel for the worker.

use crate::components::ProgressBar;
use crate::job::{Answer, Job, JobState};
use crate::model_picker::{self, ModelState};
use crate::state::{self, AppState};
use crate::tabs::TabPanel;
use crate::worker_client::{self, WorkerKind, WorkerStatus};
use leptos::prelude::*;
use llmlab_core::share::{ShareState, Tab};
use llmlab_wasm::protocol::{Request, Response};

/// The whole playground.
#[component]
pub fn App() -> impl IntoView {
    let opened_from_link = state::current_hash().len() > 1;
    let (initial, link_warnings) = state::initial_state();
    let state = AppState::new(initial);
    provide_context(state);
    let status = RwSignal::new(WorkerStatus::Starting);
    provide_context(status);
    let first_worker = if crate::tabs::needs_lab(state.tab.get_untracked()) { WorkerKind::Lab } else { WorkerKind::Essentials };
    worker_client::init(status, first_worker);
    let model = RwSignal::new(ModelState::Idle);
    provide_context(model);
    model_picker::replay_into_lab_worker(model);
    // The embedded default loads at once; a Hub repo named by a link waits
    // for the user's click.
    if state.model.with_untracked(|m| m == "default") {
        model_picker::load_default(model);
    }
    crate::tabs::generate::follow_model_defaults(state, model, opened_from_link);
    let warnings = RwSignal::new(link_warnings);

    // Mirror every change into the hash and localStorage.
    Effect::new(move |_| state::mirror(&state.snapshot()));

    // A link pasted into the address bar of an open page.
    let _listener = window_event_listener(leptos::ev::hashchange, move |_| {
        let hash = state::current_hash();
        if hash != state.snapshot_untracked().to_hash() {
            let (restored, w) = ShareState::from_hash(&hash);
            state.replace(restored);
            warnings.set(w);
        }
    });

    view! {
        <header class="top">
            <h1>"LLM Lab"</h1>
            <p class="tagline">"The fundamentals of large language models, running in your browser."</p>
            <ShareLink/>
            <WorkerBadge/>
        </header>
        <Show when=move || !warnings.with(Vec::is_empty)>
            <div class="warnings" role="alert" data-testid="link-warnings">
                <strong>"Parts of the link were ignored: "</strong>
                <ul>{move || warnings.get().into_iter().map(|w| view! { <li>{w}</li> }).collect_view()}</ul>
            </div>
        </Show>
        <TabBar/>
        <main id="panel" role="tabpanel">
            <TabPanel/>
        </main>
        <Diagnostics/>
    }
}

/// Tab buttons; arrow keys move between them (WAI-ARIA tabs pattern).
#[component]
fn TabBar() -> impl IntoView {
    let state = expect_context::<AppState>();
    let select = move |tab: Tab| state.tab.set(tab);
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let current = state.tab.get_untracked();
        let i = Tab::ALL.iter().position(|t| *t == current).unwrap_or(0);
        let n = Tab::ALL.len();
        let next = match ev.key().as_str() {
            "ArrowRight" => Some((i + 1) % n),
            "ArrowLeft" => Some((i + n - 1) % n),
            "Home" => Some(0),
            "End" => Some(n - 1),
            _ => None,
        };
        if let Some(j) = next {
            ev.prevent_default();
            select(Tab::ALL[j]);
            if let Some(el) = document().get_element_by_id(&format!("tab-{}", Tab::ALL[j].key())) {
                if let Ok(el) = wasm_bindgen::JsCast::dyn_into::<web_sys::HtmlElement>(el) {
                    let _ = el.focus();
                }
            }
        }
    };
    view! {
        <nav class="tabs" role="tablist" aria-label="Playground sections" on:keydown=on_key>
            {Tab::ALL
                .into_iter()
                .map(|tab| {
                    let selected = move || state.tab.get() == tab;
                    view! {
                        <button
                            role="tab"
                            id=format!("tab-{}", tab.key())
                            data-testid=format!("tab-{}", tab.key())
                            aria-selected=move || selected().to_string()
                            tabindex=move || if selected() { "0" } else { "-1" }
                            class:active=selected
                            on:click=move |_| select(tab)
                        >
                            {tab.title()}
                        </button>
                    }
                })
                .collect_view()}
        </nav>
    }
}

/// The link that reproduces this exact state, with a copy button.
#[component]
fn ShareLink() -> impl IntoView {
    let state = expect_context::<AppState>();
    let copied = RwSignal::new(false);
    let url = move || state::share_url(&state.snapshot());
    let copy = move |_| {
        let text = url();
        if let Some(window) = web_sys::window() {
            // navigator.clipboard.writeText(text), looked up dynamically so
            // that browsers without the Clipboard API simply skip it.
            let navigator = window.navigator();
            if let Ok(clipboard) = js_sys::Reflect::get(&navigator, &"clipboard".into()) {
                if let Ok(write) = js_sys::Reflect::get(&clipboard, &"writeText".into()) {
                    if let Ok(write) = wasm_bindgen::JsCast::dyn_into::<js_sys::Function>(write) {
                        let _ = write.call1(&clipboard, &text.into());
                    }
                }
            }
        }
        copied.set(true);
    };
    view! {
        <div class="share">
            <label>
                <span class="label">"Share link"</span>
                <input data-testid="share-url" readonly prop:value=url on:focus=move |ev| {
                    let input: web_sys::HtmlInputElement = event_target(&ev);
                    input.select();
                }/>
            </label>
            <button data-testid="copy-link" on:click=copy>{move || if copied.get() { "Copied" } else { "Copy" }}</button>
        </div>
    }
}

/// The worker's state; a crash shows its message here.
#[component]
fn WorkerBadge() -> impl IntoView {
    let status = expect_context::<RwSignal<WorkerStatus>>();
    view! {
        <div class="worker-status" data-testid="worker-status" aria-live="polite">
            {move || match status.get() {
                WorkerStatus::Starting => view! { <span class="badge">"Worker: starting…"</span> }.into_any(),
                WorkerStatus::LoadingLab => view! { <span class="badge">"Worker: loading the lab module…"</span> }.into_any(),
                WorkerStatus::Ready(version) => view! { <span class="badge ok">"Worker: ready (engine " {version} ")"</span> }.into_any(),
                WorkerStatus::Restarted { message, restarts } => view! {
                    <span class="badge warn" role="alert" data-testid="worker-error">
                        "The worker crashed and was restarted (" {restarts} "×): " {message}
                    </span>
                }.into_any(),
                WorkerStatus::Failed(message) => view! {
                    <span class="badge err" role="alert" data-testid="worker-error">
                        "The worker could not start: " {message} ". Reload the page to try again."
                    </span>
                }.into_any(),
            }}
        </div>
    }
}

/// Diagnostics: ping the worker, keep it busy to see the page stay
/// responsive (with a progress bar and Stop), or crash it to see recovery.
#[component]
fn Diagnostics() -> impl IntoView {
    let log = RwSignal::new(String::new());
    // The busy job's result: how long it took, in ms.
    let spin_job = Job::<f64>::new();
    let ping = move |_| {
        let started = js_sys::Date::now();
        worker_client::request(Request::Ping, move |r| {
            log.set(match r {
                Response::Pong { version } => format!(
                    "Pong from engine {version} in {:.1} ms",
                    js_sys::Date::now() - started
                ),
                other => format!("{other:?}"),
            })
        });
    };
    let spin = move |_| {
        spin_job.start(
            Request::Spin { millis: 3000 },
            "Worker busy…",
            |r| match r {
                Response::Done { millis } => Answer::Done(millis),
                _ => Answer::Continue,
            },
        );
    };
    let crash = move |_| {
        worker_client::request(Request::Crash, move |r| {
            if let Response::Error { message } = r {
                log.set(message);
            }
        });
    };
    let fraction = Signal::derive(move || {
        spin_job.with(|s| match s {
            JobState::Running { fraction, .. } => *fraction,
            JobState::Done(_) => 1.0,
            _ => 0.0,
        })
    });
    let label = Signal::derive(move || {
        spin_job.with(|s| match s {
            JobState::Idle => String::new(),
            JobState::Running { fraction, .. } if *fraction > 0.0 => {
                format!("Worker busy… {:.0}%", fraction * 100.0)
            }
            JobState::Running { message, .. } => message.clone(),
            JobState::Done(millis) => {
                format!("Done in {millis:.0} ms; the page stayed responsive.")
            }
            JobState::Failed(message) => message.clone(),
            JobState::Cancelled => "Stopped.".to_string(),
        })
    });
    view! {
        <details class="diagnostics" data-testid="diagnostics">
            <summary>"Diagnostics: the compute worker"</summary>
            <p>"All computation runs in a Web Worker so this page never freezes. These buttons show how."</p>
            <div class="row">
                <button data-testid="ping" on:click=ping>"Ping the worker"</button>
                <button data-testid="spin" on:click=spin disabled=move || spin_job.is_running()>"Keep it busy for 3 s"</button>
                <button data-testid="diag-stop" on:click=move |_| spin_job.cancel() disabled=move || !spin_job.is_running()>"Stop"</button>
                <button data-testid="crash" on:click=crash>"Crash the worker (it restarts)"</button>
            </div>
            <ProgressBar fraction=fraction label=label/>
            <output data-testid="diagnostics-log">{move || log.get()}</output>
        </details>
    }
}
