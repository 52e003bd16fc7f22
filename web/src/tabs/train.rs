//! Train tab: a small GPT trained in the browser's worker.
//!
//! The data is a built-in toy task (addition, reversal, a bracket grammar)
//! or the user's text; the settings live in the share state (so a link
//! reproduces the run); training streams step statistics, evaluations and
//! samples back from the worker, and the run survives tab switches: its
//! history (with the run's [`JobState`]) is kept in this module's
//! thread-local [`History`], and the tab only holds a version counter that
//! each worker message bumps. Pausing is cancelling the job; resuming
//! starts a new one that continues the worker's run.

use std::cell::{Cell, RefCell};

use crate::components::{bind, NumberField, ProgressBar, SelectField};
use crate::job::JobState;
use crate::model_picker::ModelState;
use crate::state::AppState;
use crate::worker_client;
use leptos::prelude::*;
use llmlab_core::share::{self, Arch, Precision, ToyTask};
use llmlab_core::train::optim::learning_rate;
use llmlab_wasm::protocol::model::{ModelRequest, ModelResponse, NamedFile};
use llmlab_wasm::protocol::train::{
    EvalPoint, StepPoint, TrainData, TrainRequest, TrainResponse, TrainSettings,
};
use llmlab_wasm::protocol::{Request, Response};

const ARCHS: &[(&str, &str)] = &[
    ("gpt2", "GPT-2 (learned positions)"),
    ("llama", "Llama (RoPE, RMSNorm, SwiGLU)"),
];
const PRECISIONS: &[(&str, &str)] = &[
    ("fp32", "fp32"),
    ("bf16", "bf16 + fp32 master"),
    ("fp16", "fp16 + loss scaling"),
];
const STARTS: &[(&str, &str)] = &[
    ("new", "A new model"),
    ("loaded", "The loaded model (fine-tune it)"),
];
const DATA_SOURCES: &[(&str, &str)] = &[
    ("toy", "A built-in toy task"),
    ("text", "Your text (paste or upload)"),
];
const TASKS: &[(&str, &str)] = &[
    ("reversal", "Reversal: abc|cba"),
    ("addition", "Addition: 12+34=46"),
    ("grammar", "Bracket grammar: close ([( with )])"),
];
const TOKENIZERS: &[(&str, &str)] = &[
    ("char", "Characters"),
    ("bpe:300", "Byte-level BPE, 300 tokens"),
    ("bpe:512", "Byte-level BPE, 512 tokens"),
    ("bpe:1024", "Byte-level BPE, 1024 tokens"),
    ("bpe:2048", "Byte-level BPE, 2048 tokens"),
];
/// Largest text accepted from an upload (the worker accepts up to 32 MB).
const MAX_UPLOAD_BYTES: f64 = 32.0 * 1024.0 * 1024.0;
/// Points drawn per curve at most (longer histories are thinned).
const MAX_PLOT_POINTS: usize = 400;

/// The run as the UI knows it, kept across tab switches.
struct History {
    /// The training job (done: with its final tokens/s).
    run: JobState<f64>,
    /// The running job reported `Started` (data and model are built).
    started: bool,
    /// Pause was requested and the worker has not stopped yet.
    pausing: bool,
    /// A run exists in the worker (export / use / resume are possible).
    has_run: bool,
    steps: Vec<StepPoint>,
    evals: Vec<EvalPoint>,
    total_steps: u32,
    params: u64,
    vocab_size: u32,
    train_tokens: u64,
    message: String,
    /// An error outside the run itself (export, upload, "use in other tabs").
    error: Option<String>,
    /// Blob URLs of the last export: (file name, url, bytes).
    downloads: Vec<(String, String, usize)>,
    /// Text the user pasted or uploaded (too large for links).
    text: String,
    text_name: String,
}

impl Default for History {
    fn default() -> Self {
        Self {
            run: JobState::Idle,
            started: false,
            pausing: false,
            has_run: false,
            steps: Vec::new(),
            evals: Vec::new(),
            total_steps: 0,
            params: 0,
            vocab_size: 0,
            train_tokens: 0,
            message: String::new(),
            error: None,
            downloads: Vec::new(),
            text: String::new(),
            text_name: String::new(),
        }
    }
}

thread_local! {
    static HISTORY: RefCell<History> = RefCell::new(History::default());
    /// The open tab's version counter (None while the tab is closed).
    static VERSION: Cell<Option<RwSignal<u64>>> = const { Cell::new(None) };
}

/// Change the history and tell the open tab to redraw.
fn change(f: impl FnOnce(&mut History)) {
    HISTORY.with(|h| f(&mut h.borrow_mut()));
    if let Some(v) = VERSION.with(Cell::get) {
        let _ = v.try_update(|n| *n += 1);
    }
}

/// Read the history (the caller tracks the version signal).
fn read<R>(f: impl FnOnce(&History) -> R) -> R {
    HISTORY.with(|h| f(&h.borrow()))
}

impl History {
    /// The phase the status line reports (`data-phase`).
    fn phase(&self) -> &'static str {
        match &self.run {
            JobState::Idle => "idle",
            JobState::Running { .. } if self.pausing => "pausing",
            JobState::Running { .. } if !self.started => "preparing",
            JobState::Running { .. } => "training",
            JobState::Cancelled => "paused",
            JobState::Done(_) => "finished",
            JobState::Failed(_) if self.has_run => "paused",
            JobState::Failed(_) => "idle",
        }
    }

    /// The error to show: the run's failure, or another action's.
    fn shown_error(&self) -> Option<String> {
        match &self.run {
            JobState::Failed(message) => Some(message.clone()),
            _ => self.error.clone(),
        }
    }
}

/// The worker request for the current settings.
fn settings(s: &share::TrainSettings, seed: u64, text: &str) -> TrainSettings {
    TrainSettings {
        data: if s.train_data == "text" {
            TrainData::Text {
                text: text.to_string(),
            }
        } else {
            TrainData::Toy {
                task: s.train_task.key().to_string(),
            }
        },
        from_loaded: s.train_init == "loaded",
        tokenizer: s.train_tokenizer.clone(),
        arch: s.train_arch.key().to_string(),
        layers: s.train_layers,
        heads: s.train_heads,
        width: s.train_width,
        context: s.train_context,
        batch: s.train_batch,
        steps: s.train_steps,
        lr: s.train_lr,
        warmup: s.train_warmup,
        accum: s.train_accum,
        precision: s.train_precision.key().to_string(),
        seed,
        val_fraction: s.train_val_fraction,
    }
}

/// Routes one training job's answers into the history.
fn on_train_response(r: Response) {
    change(|h| match r {
        Response::Progress {
            fraction: f,
            message: m,
        } => {
            if let JobState::Running {
                fraction, message, ..
            } = &mut h.run
            {
                *fraction = f;
                message.clone_from(&m);
            }
            h.message = m;
        }
        Response::Train(TrainResponse::Started {
            params,
            vocab_size,
            train_tokens,
            step,
            total_steps,
            ..
        }) => {
            h.has_run = true;
            h.params = params;
            h.vocab_size = vocab_size;
            h.train_tokens = train_tokens;
            h.total_steps = total_steps;
            h.message = format!("Training from step {step}…");
            h.started = true;
        }
        Response::Train(TrainResponse::Steps { points }) => h.steps.extend(points),
        Response::Train(TrainResponse::Eval(point)) => h.evals.push(point),
        Response::Train(TrainResponse::Finished {
            step,
            tokens_per_sec,
        }) => {
            h.run = JobState::Done(tokens_per_sec);
            h.message = format!("Finished {step} steps at {tokens_per_sec:.0} tokens/s.");
        }
        Response::Cancelled => {
            h.run = JobState::Cancelled;
            h.message = "Paused.".into();
        }
        Response::Error { message } | Response::Panic { message } => {
            h.run = JobState::Failed(message)
        }
        _ => {}
    });
}

/// Start or resume: post the request and remember the job id for Pause.
fn launch(request: TrainRequest) {
    change(|h| {
        h.error = None;
        h.run = JobState::Running {
            id: 0,
            fraction: 0.0,
            message: String::new(),
        };
        h.started = false;
        h.pausing = false;
    });
    let id = worker_client::request(Request::Train(request), on_train_response);
    change(|h| {
        if let JobState::Running { id: slot, .. } = &mut h.run {
            *slot = id;
        }
    });
}

/// Makes `text` the Train tab's corpus (as if pasted or uploaded as
/// `name`) and picks "your text" as its source; the Data tab's "Train on this".
pub(crate) fn use_text(state: AppState, text: String, name: String) {
    change(|h| {
        h.text = text;
        h.text_name = name;
        h.error = None;
    });
    state.train.update(|s| s.train_data = "text".to_string());
}

/// The Train tab.
#[component]
pub fn TrainTab() -> impl IntoView {
    let state = expect_context::<AppState>();
    let tr = state.train;
    let model = expect_context::<RwSignal<ModelState>>();
    let version = RwSignal::new(0u64);
    VERSION.with(|v| v.set(Some(version)));
    on_cleanup(|| VERSION.with(|v| v.set(None)));
    let phase = Memo::new(move |_| {
        version.track();
        read(History::phase)
    });
    let has_run = Memo::new(move |_| {
        version.track();
        read(|h| h.has_run)
    });
    let running = move || matches!(phase.get(), "preparing" | "training" | "pausing");

    let start = move || {
        let s = tr.get_untracked();
        let seed = state.seed.get_untracked();
        let text = read(|h| h.text.clone());
        if s.train_data == "text" && text.trim().is_empty() {
            change(|h| {
                h.error = Some("Paste or upload some text first (or pick a toy task).".into())
            });
            return;
        }
        change(|h| {
            h.steps.clear();
            h.evals.clear();
            h.downloads.clear();
            h.has_run = false;
            h.total_steps = s.train_steps;
        });
        launch(TrainRequest::Start {
            settings: settings(&s, seed, &text),
        });
    };
    let pause = move || {
        let id = read(|h| match h.run {
            JobState::Running { id, .. } if h.started && !h.pausing => Some(id),
            _ => None,
        });
        if let Some(id) = id {
            change(|h| h.pausing = true);
            worker_client::cancel(id);
        }
    };
    let resume = move || launch(TrainRequest::Resume);
    let reset = move || {
        worker_client::request(Request::Train(TrainRequest::Reset), |_| {});
        change(|h| {
            let text = std::mem::take(&mut h.text);
            let text_name = std::mem::take(&mut h.text_name);
            *h = History {
                text,
                text_name,
                ..History::default()
            };
        });
    };
    let export = move || {
        worker_client::request(Request::Train(TrainRequest::Export), |r| match r {
            Response::Train(TrainResponse::Exported { files }) => {
                change(|h| h.downloads = blob_urls(&files))
            }
            Response::Error { message } => change(|h| h.error = Some(message)),
            _ => {}
        });
    };
    let use_model = move || {
        model.set(JobState::Running {
            id: 0,
            fraction: 1.0,
            message: "Loading the trained model…".into(),
        });
        worker_client::request(Request::Train(TrainRequest::UseModel), move |r| match r {
            Response::Train(TrainResponse::InUse { .. }) => {
                worker_client::request(Request::Model(ModelRequest::Info), move |r| match r {
                    Response::Model(ModelResponse::Loaded(summary)) => {
                        let _ = model.try_set(JobState::Done(summary));
                        change(|h| {
                            h.message = "The trained model is now used by the Generate, Tokenize, Inside and Evaluate tabs.".into()
                        });
                    }
                    Response::Error { message } => {
                        let _ = model.try_set(JobState::Failed(message));
                    }
                    _ => {}
                });
            }
            Response::Error { message } => {
                let _ = model.try_set(JobState::Failed(message.clone()));
                change(|h| h.error = Some(message));
            }
            _ => {}
        });
    };

    let on_upload = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let Some(file) = input.files().and_then(|l| l.get(0)) else {
            return;
        };
        if file.size() > MAX_UPLOAD_BYTES {
            change(|h| {
                h.error = Some(format!(
                    "{} is larger than the 32 MB the tab trains on.",
                    file.name()
                ))
            });
            return;
        }
        let name = file.name();
        wasm_bindgen_futures::spawn_local(async move {
            match wasm_bindgen_futures::JsFuture::from(file.text()).await {
                Ok(text) => {
                    let text = text.as_string().unwrap_or_default();
                    change(|h| {
                        h.text = text;
                        h.text_name = name;
                        h.error = None;
                    });
                }
                Err(_) => change(|h| h.error = Some(format!("{name} could not be read as text."))),
            }
        });
    };

    let is_text = move || tr.with(|s| s.train_data == "text");
    // Memos, so the text box is only rewritten when the text changes (not
    // on every training update, which would move the caret while typing).
    let shown_text = Memo::new(move |_| {
        version.track();
        read(|h| {
            if h.text.len() > 100_000 {
                String::new()
            } else {
                h.text.clone()
            }
        })
    });
    let text_size = Memo::new(move |_| {
        version.track();
        read(|h| {
            let chars = h.text.chars().count();
            match (h.text_name.is_empty(), h.text.len() > 100_000) {
                (true, false) => format!("{chars} characters"),
                (true, true) => format!(
                    "{chars} characters (too long to show; typing in the box replaces them)"
                ),
                (false, _) => format!(
                    "{}: {chars} characters (typing in the box replaces the file)",
                    h.text_name
                ),
            }
        })
    });
    view! {
        <section class="train" data-testid="panel-train" aria-labelledby="tab-train">
            <h2>"Train"</h2>
            <p class="hint">"Train a small GPT-2 or Llama shaped model right here: the worker runs the same engine as "
                <code>"llmlab train"</code>" (hand-written backward pass, AdamW, warmup + cosine, accumulation, mixed precision)."</p>
            <fieldset class="train-data">
                <legend>"Data"</legend>
                <div class="row">
                    <SelectField label="Source" testid="train-source" options=DATA_SOURCES
                        bind=bind(tr, |s| s.train_data.clone(), |s, v| s.train_data = v)/>
                    {move || (!is_text()).then(|| view! {
                        <SelectField label="Toy task" testid="train-task" options=TASKS
                            bind=bind(tr, |s| s.train_task.key().to_string(), |s, v| s.train_task = ToyTask::parse(&v).unwrap_or(ToyTask::Reversal))/>
                    })}
                    <SelectField label="Tokenizer" testid="train-tokenizer" options=TOKENIZERS
                        bind=bind(tr, |s| s.train_tokenizer.clone(), |s, v| s.train_tokenizer = v)/>
                    <NumberField label="Validation fraction" testid="train-val" min=0.0 max=0.5 step=0.05
                        bind=bind(tr, |s| s.train_val_fraction, |s, v| s.train_val_fraction = v)/>
                </div>
                {move || is_text().then(|| view! {
                    <div class="train-text">
                        <label class="field">
                            <span class="label">"Training text"</span>
                            <textarea data-testid="train-text" rows=6 spellcheck="false"
                                placeholder="Paste text here, or upload a .txt file"
                                prop:value=move || shown_text.get()
                                on:input=move |ev| {
                                    let text = event_target_value(&ev);
                                    change(|h| { h.text = text; h.text_name.clear(); });
                                }></textarea>
                        </label>
                        <label class="field">
                            <span class="label">"Upload a text file"</span>
                            <input type="file" accept=".txt,text/plain" data-testid="train-upload" on:change=on_upload/>
                        </label>
                        <p class="hint" data-testid="train-text-size">{move || text_size.get()}</p>
                    </div>
                })}
            </fieldset>
            <fieldset>
                <legend>"Model"</legend>
                <div class="row">
                    <SelectField label="Start from" testid="train-init" options=STARTS
                        bind=bind(tr, |s| s.train_init.clone(), |s, v| s.train_init = v)/>
                </div>
                {move || tr.with(|s| s.train_init == "loaded").then(|| view! {
                    <p class="hint" data-testid="train-init-hint">"Fine-tunes the model the page has loaded (Generate tab), with its own tokenizer.json: \
                        the tokenizer, architecture, layers, heads and width below are the checkpoint's. GPT-2 and Llama-shaped models only."</p>
                })}
                <div class="row">
                    <SelectField label="Architecture" testid="train-arch" options=ARCHS
                        bind=bind(tr, |s| s.train_arch.key().to_string(), |s, v| s.train_arch = Arch::parse(&v).unwrap_or(Arch::Gpt2))/>
                    <NumberField label="Layers" testid="train-layers" min=1.0 max=12.0 step=1.0
                        bind=bind(tr, |s| f64::from(s.train_layers), |s, v| s.train_layers = v as u32)/>
                    <NumberField label="Heads" testid="train-heads" min=1.0 max=16.0 step=1.0
                        bind=bind(tr, |s| f64::from(s.train_heads), |s, v| s.train_heads = v as u32)/>
                    <NumberField label="Width" testid="train-width" min=8.0 max=768.0 step=8.0
                        bind=bind(tr, |s| f64::from(s.train_width), |s, v| s.train_width = v as u32)/>
                    <NumberField label="Context" testid="train-context" min=4.0 max=1024.0 step=4.0
                        bind=bind(tr, |s| f64::from(s.train_context), |s, v| s.train_context = v as u32)/>
                    <NumberField label="Batch" testid="train-batch" min=1.0 max=128.0 step=1.0
                        bind=bind(tr, |s| f64::from(s.train_batch), |s, v| s.train_batch = v as u32)/>
                </div>
                <div class="row">
                    <button data-testid="train-preset-toy" on:click=move |_| tr.update(|s| {
                        s.train_arch = Arch::Llama; s.train_layers = 2; s.train_heads = 4; s.train_width = 64; s.train_context = 32;
                        s.train_batch = 16; s.train_steps = 600; s.train_lr = 3e-3; s.train_warmup = 30; s.train_accum = 1;
                    })>"Toy-sized preset (Llama: RoPE learns position-relative tasks like reversal fast)"</button>
                    <button data-testid="train-preset-nanogpt" on:click=move |_| tr.update(|s| {
                        s.train_arch = Arch::Gpt2; s.train_layers = 4; s.train_heads = 4; s.train_width = 128; s.train_context = 64;
                        s.train_batch = 12; s.train_steps = 2000; s.train_lr = 1e-3; s.train_warmup = 100; s.train_accum = 1;
                    })>"nanoGPT CPU preset"</button>
                </div>
            </fieldset>
            <fieldset>
                <legend>"Optimiser"</legend>
                <div class="row">
                    <NumberField label="Steps" testid="train-steps" min=1.0 max=100000.0 step=100.0
                        bind=bind(tr, |s| f64::from(s.train_steps), |s, v| s.train_steps = v as u32)/>
                    <NumberField label="Peak learning rate" testid="train-lr" min=0.000001 max=1.0 step=0.0001
                        bind=bind(tr, |s| s.train_lr, |s, v| s.train_lr = v)/>
                    <NumberField label="Warmup steps" testid="train-warmup" min=0.0 max=100000.0 step=10.0
                        bind=bind(tr, |s| f64::from(s.train_warmup), |s, v| s.train_warmup = v as u32)/>
                    <NumberField label="Gradient accumulation" testid="train-accum" min=1.0 max=64.0 step=1.0
                        bind=bind(tr, |s| f64::from(s.train_accum), |s, v| s.train_accum = v as u32)/>
                    <SelectField label="Precision" testid="train-precision" options=PRECISIONS
                        bind=bind(tr, |s| s.train_precision.key().to_string(), |s, v| s.train_precision = Precision::parse(&v).unwrap_or(Precision::Fp32))/>
                    <NumberField label="Seed" testid="train-seed" min=0.0 max=9007199254740991.0 step=1.0
                        bind=bind(state.seed, |s| *s as f64, |s, v| *s = v as u64)/>
                </div>
                <LrPlot/>
            </fieldset>
            <div class="row train-controls" role="group" aria-label="Training controls">
                <button class="primary" data-testid="train-start" disabled=running on:click=move |_| start()>"Start"</button>
                <button data-testid="train-pause" disabled=move || phase.get() != "training" on:click=move |_| pause()>"Pause"</button>
                <button data-testid="train-resume" disabled=move || phase.get() != "paused" on:click=move |_| resume()>"Resume"</button>
                <button data-testid="train-reset" disabled=move || running() || !has_run.get() on:click=move |_| reset()>"Reset"</button>
            </div>
            <div data-testid="train-status" data-phase=move || phase.get() aria-live="polite">
                {move || { version.track(); read(|h| h.message.clone()) }}
            </div>
            {move || { version.track(); read(History::shown_error) }.map(|e| view! { <p class="error" role="alert" data-testid="train-error">{e}</p> })}
            <ProgressBar
                fraction=Signal::derive(move || { version.track(); read(|h| h.steps.last().map_or(0.0, |p| f64::from(p.step) / f64::from(h.total_steps.max(1)))) })
                label=Signal::derive(move || { version.track(); read(|h| format!("step {} of {}", h.steps.last().map_or(0, |p| p.step), h.total_steps)) })/>
            <Stats version=version/>
            <LossPlot version=version/>
            <Samples version=version/>
            <div class="row train-after">
                <button data-testid="train-export" disabled=move || running() || !has_run.get() on:click=move |_| export()>"Export (Hugging Face files)"</button>
                <button data-testid="train-use" disabled=move || running() || !has_run.get() on:click=move |_| use_model()>"Use in other tabs"</button>
            </div>
            {move || {
                version.track();
                let links = read(|h| h.downloads.clone());
                (!links.is_empty()).then(|| view! {
                    <ul class="train-downloads" data-testid="train-downloads">
                        {links.into_iter().map(|(name, url, size)| view! {
                            <li><a href=url download=name.clone() data-testid=format!("download-{name}")>{format!("{name} ({})", human_bytes(size))}</a></li>
                        }).collect_view()}
                    </ul>
                    <p class="hint">"Load them with transformers: AutoModelForCausalLM.from_pretrained(folder) and AutoTokenizer / PreTrainedTokenizerFast(tokenizer_file=…)."</p>
                })
            }}
        </section>
    }
}

/// Object URLs for the exported files (the links download them).
pub(crate) fn blob_urls(files: &[NamedFile]) -> Vec<(String, String, usize)> {
    files
        .iter()
        .filter_map(|f| {
            let bytes = js_sys::Uint8Array::from(f.bytes.as_slice());
            let parts = js_sys::Array::of1(&bytes);
            let options = web_sys::BlobPropertyBag::new();
            options.set_type(if f.name.ends_with(".json") {
                "application/json"
            } else {
                "application/octet-stream"
            });
            let blob =
                web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).ok()?;
            let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
            Some((f.name.clone(), url, f.bytes.len()))
        })
        .collect()
}

pub(crate) fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / f64::from(1 << 20)),
        n if n >= 1 << 10 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// Numbers of the run: parameters, tokens/s, losses, accuracy.
#[component]
fn Stats(version: RwSignal<u64>) -> impl IntoView {
    move || {
        version.track();
        read(|h| {
            if !h.has_run && h.steps.is_empty() {
                return ().into_any();
            }
            let last = h.steps.last();
            let eval = h.evals.last();
            let accuracy = eval.and_then(|e| e.accuracy);
            let best_accuracy = h
                .evals
                .iter()
                .filter_map(|e| e.accuracy)
                .fold(None, |m: Option<f64>, a| Some(m.map_or(a, |m| m.max(a))));
            view! {
                <dl class="train-stats" data-testid="train-stats">
                    <dt>"Parameters"</dt><dd>{h.params.to_string()}</dd>
                    <dt>"Vocabulary"</dt><dd>{h.vocab_size.to_string()}</dd>
                    <dt>"Training tokens"</dt><dd>{h.train_tokens.to_string()}</dd>
                    <dt>"Step"</dt><dd data-testid="train-step">{last.map_or(0, |p| p.step).to_string()}</dd>
                    <dt>"Train loss"</dt><dd data-testid="train-loss">{last.map_or("–".into(), |p| format!("{:.4}", p.loss))}</dd>
                    <dt>"Learning rate"</dt><dd>{last.map_or("–".into(), |p| format!("{:.2e}", p.lr))}</dd>
                    <dt>"Gradient norm"</dt><dd>{last.map_or("–".into(), |p| format!("{:.3}", p.grad_norm))}</dd>
                    <dt>"Tokens/s"</dt><dd data-testid="train-tokens-per-sec">{last.map_or("–".into(), |p| format!("{:.0}", p.tokens_per_sec))}</dd>
                    {(h.evals.len() > 1).then(|| {
                        let (before, after) = (h.evals[0].val_loss, h.evals[h.evals.len() - 1].val_loss);
                        view! {
                            <dt>"Val loss before → after"</dt>
                            <dd data-testid="train-before-after" data-before=format!("{before:.6}") data-after=format!("{after:.6}")>
                                {format!("{before:.4} → {after:.4} nats/token")}
                            </dd>
                        }
                    })}
                    <dt>"Val loss"</dt><dd data-testid="train-val-loss">{eval.map_or("–".into(), |e| format!("{:.4} nats/token, {:.4} nats/char", e.val_loss, e.val_nats_per_char))}</dd>
                    {accuracy.map(|a| view! {
                        <dt>"Toy accuracy"</dt>
                        <dd data-testid="train-accuracy" data-value=format!("{a:.4}") data-best=format!("{:.4}", best_accuracy.unwrap_or(0.0))>
                            {format!("{:.1}% (best {:.1}%)", a * 100.0, best_accuracy.unwrap_or(0.0) * 100.0)}
                        </dd>
                    })}
                </dl>
            }
            .into_any()
        })
    }
}

/// SVG polyline points for `(x, y)` data in a `w × h` box.
pub(crate) fn polyline(points: &[(f64, f64)], x_max: f64, y_min: f64, y_max: f64, w: f64, h: f64) -> String {
    let span = (y_max - y_min).max(1e-12);
    let stride = points.len().div_ceil(MAX_PLOT_POINTS).max(1);
    let mut out = String::new();
    for (i, &(x, y)) in points.iter().enumerate() {
        if i % stride != 0 && i + 1 != points.len() {
            continue;
        }
        let px = x / x_max.max(1e-12) * w;
        let py = h - (y.clamp(y_min, y_max) - y_min) / span * h;
        out.push_str(&format!("{px:.1},{py:.1} "));
    }
    out
}

/// The learning-rate schedule of the current settings (warmup, cosine).
#[component]
fn LrPlot() -> impl IntoView {
    let tr = expect_context::<AppState>().train;
    let (w, h) = (360.0, 90.0);
    let points = move || {
        let (steps, lr, warmup) = tr.with(|s| {
            (
                u64::from(s.train_steps.max(1)),
                s.train_lr,
                u64::from(s.train_warmup),
            )
        });
        let n = steps.min(200);
        let data: Vec<(f64, f64)> = (0..=n)
            .map(|i| {
                let step = (i * steps / n.max(1)).max(1);
                (step as f64, learning_rate(step, lr, warmup, steps))
            })
            .collect();
        polyline(&data, steps as f64, 0.0, lr, w, h)
    };
    view! {
        <figure class="train-plot">
            <svg data-testid="train-lr-plot" viewBox="-4 -4 368 98" width="368" height="98" role="img" aria-label="Learning-rate schedule">
                <line x1="0" y1="90" x2="360" y2="90" class="axis"/>
                <polyline points=points class="lr-line" fill="none"/>
            </svg>
            <figcaption>{move || tr.with(|s| format!(
                "Learning rate: linear warmup to {} over {} steps, then cosine decay to 0 at step {}.",
                s.train_lr, s.train_warmup, s.train_steps))}</figcaption>
        </figure>
    }
}

/// Live training (per step) and validation (per evaluation) loss curves.
#[component]
fn LossPlot(version: RwSignal<u64>) -> impl IntoView {
    let (w, h) = (560.0, 180.0);
    move || {
        version.track();
        read(|hist| {
            if hist.steps.is_empty() && hist.evals.is_empty() {
                return ().into_any();
            }
            let train: Vec<(f64, f64)> = hist
                .steps
                .iter()
                .filter(|p| p.loss.is_finite())
                .map(|p| (f64::from(p.step), p.loss))
                .collect();
            let val: Vec<(f64, f64)> = hist
                .evals
                .iter()
                .map(|e| (f64::from(e.step), e.val_loss))
                .collect();
            let all = train.iter().chain(&val).map(|p| p.1);
            let y_max = all.clone().fold(f64::NEG_INFINITY, f64::max);
            let y_min = all.fold(f64::INFINITY, f64::min).min(y_max).max(0.0);
            let y_max = if y_max.is_finite() { y_max } else { 1.0 };
            let x_max = f64::from(hist.total_steps.max(1));
            let train_line = polyline(&train, x_max, y_min, y_max, w, h);
            let val_line = polyline(&val, x_max, y_min, y_max, w, h);
            let accuracy: Vec<(f64, f64)> = hist
                .evals
                .iter()
                .filter_map(|e| e.accuracy.map(|a| (f64::from(e.step), a)))
                .collect();
            let has_accuracy = !accuracy.is_empty();
            let accuracy_line = polyline(&accuracy, x_max, 0.0, 1.0, w, h);
            view! {
                <figure class="train-plot">
                    <svg data-testid="train-loss-plot" viewBox="-4 -4 568 188" width="568" height="188" role="img"
                        aria-label="Training and validation loss by step">
                        <line x1="0" y1="180" x2="560" y2="180" class="axis"/>
                        <polyline points=train_line class="train-line" fill="none" data-testid="train-curve"/>
                        <polyline points=val_line class="val-line" fill="none" data-testid="val-curve"/>
                        {has_accuracy.then(|| view! { <polyline points=accuracy_line class="acc-line" fill="none"/> })}
                    </svg>
                    <figcaption>{format!(
                        "Loss (nats/token) from {y_min:.2} to {y_max:.2}: training per step (blue), validation (orange){}.",
                        if has_accuracy { ", toy accuracy 0–100% (green)" } else { "" })}</figcaption>
                </figure>
            }
            .into_any()
        })
    }
}

/// The model's latest sample.
#[component]
fn Samples(version: RwSignal<u64>) -> impl IntoView {
    move || {
        version.track();
        read(|h| h.evals.last().map(|e| (e.step, e.sample.clone()))).map(|(step, sample)| {
            view! {
                <figure class="train-sample">
                    <figcaption>{format!("Sample at step {step}")}</figcaption>
                    <pre data-testid="train-sample">{sample}</pre>
                </figure>
            }
        })
    }
}
