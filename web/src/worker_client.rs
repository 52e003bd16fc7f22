//! The UI's side of the compute worker.
//!
//! [`request`] posts a job and routes its responses to a callback. The
//! worker is started lazily, requests sent before it is `Ready` are queued,
//! and when it dies (a panic or a wasm trap) every pending job gets an error,
//! the status shows what happened, and a fresh worker is started, so one bad
//! input never takes the page down.
//!
//! Two worker builds exist. The page starts the small essentials worker
//! (tokenizers, models, decoding, traces). The first time a lab tab opens or
//! a lab job is asked for ([`Request::needs_lab`]), the client waits for the
//! jobs in flight, swaps to the lab worker (every job) and replays the last
//! model load through the hook that [`set_model_replay`] registered, before
//! any queued job reaches the new worker. After that the lab worker stays.

use leptos::prelude::*;
use llmlab_wasm::protocol::model::ModelRequest;
use llmlab_wasm::protocol::{Request, RequestEnvelope, Response, ResponseEnvelope};
use std::cell::RefCell;
use std::collections::HashMap;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{Blob, BlobPropertyBag, ErrorEvent, MessageEvent, Url, Worker};

/// What the status line shows about the worker.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkerStatus {
    /// Loading the worker's wasm.
    Starting,
    /// Loading the lab worker (training, fine-tuning, data, evaluation).
    LoadingLab,
    /// Listening; the engine version it reported (with "lab" once the lab
    /// worker runs).
    Ready(String),
    /// It crashed with this message and was restarted.
    Restarted {
        /// Why it died.
        message: String,
        /// Restarts so far in this page.
        restarts: u32,
    },
    /// It failed repeatedly before becoming ready; not restarted again.
    Failed(String),
}

type Handler = Box<dyn FnMut(Response)>;

/// Which build of the worker runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkerKind {
    /// `worker.js`: what the first tabs need, small enough for the first load.
    #[default]
    Essentials,
    /// `lab_worker.js`: every job; loaded on first use.
    Lab,
}

impl WorkerKind {
    /// File stem of the build's script and wasm, as Trunk writes them.
    fn script_stem(self) -> &'static str {
        match self {
            WorkerKind::Essentials => "worker",
            WorkerKind::Lab => "lab_worker",
        }
    }
}

/// Replays the page's last model load into a fresh worker with
/// [`request_first`]; gets a [`Hold`] to drop when that load has finished,
/// so queued jobs find the model in place.
type ModelReplay = Box<dyn Fn(Hold)>;

/// Consecutive crashes before `Ready` after which we stop restarting (a
/// missing or broken worker script would otherwise loop forever).
const MAX_EARLY_CRASHES: u32 = 3;

#[derive(Default)]
struct Client {
    worker: Option<Worker>,
    kind: WorkerKind,
    ready: bool,
    /// Swap to the lab worker as soon as no job is in flight.
    lab_wanted: bool,
    /// Open [`Hold`]s: queued jobs wait while any is alive.
    holds: u32,
    queue: Vec<RequestEnvelope>,
    /// Posted as soon as the worker listens, before `queue` and despite holds.
    priority: Vec<RequestEnvelope>,
    handlers: HashMap<u32, Handler>,
    /// Jobs posted to the worker and not finished yet.
    in_flight: std::collections::HashSet<u32>,
    model_replay: Option<std::rc::Rc<ModelReplay>>,
    next_id: u32,
    restarts: u32,
    early_crashes: u32,
    status: Option<RwSignal<WorkerStatus>>,
    // Keep the JS callbacks alive as long as their worker.
    callbacks: Option<(Closure<dyn FnMut(MessageEvent)>, Closure<dyn FnMut(ErrorEvent)>)>,
}

thread_local! {
    static CLIENT: RefCell<Client> = RefCell::new(Client::default());
}

/// Start the worker of `kind` and report its state into `status` (a page
/// opened on a lab tab starts with the lab worker).
pub fn init(status: RwSignal<WorkerStatus>, kind: WorkerKind) {
    CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        c.status = Some(status);
        c.kind = kind;
    });
    spawn();
}

fn set_status(status: WorkerStatus) {
    if let Some(signal) = CLIENT.with(|c| c.borrow().status) {
        signal.set(status);
    }
}

/// Directory of the page (`document.baseURI` up to its last `/`), where
/// Trunk puts `worker.js` and `worker_bg.wasm`.
pub fn base_url() -> String {
    let uri = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.base_uri().ok().flatten())
        .unwrap_or_default();
    let uri = uri.split('#').next().unwrap_or_default();
    let uri = uri.split('?').next().unwrap_or_default();
    match uri.rfind('/') {
        Some(i) => uri[..=i].to_string(),
        None => String::from("/"),
    }
}

/// Register how to replay the page's last model load into a new worker.
pub fn set_model_replay(replay: impl Fn(Hold) + 'static) {
    CLIENT.with(|c| c.borrow_mut().model_replay = Some(std::rc::Rc::new(Box::new(replay))));
}

/// Keeps queued jobs from being posted while alive (the model replay holds
/// one until its load has finished). Dropping it lets the queue go.
pub struct Hold(());

impl Hold {
    fn new() -> Hold {
        CLIENT.with(|c| c.borrow_mut().holds += 1);
        Hold(())
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        CLIENT.with(|c| {
            let mut c = c.borrow_mut();
            c.holds = c.holds.saturating_sub(1);
        });
        flush_if_open();
    }
}

/// Ask for the lab worker (a lab tab opened). Idempotent; the swap waits
/// for the jobs in flight.
pub fn use_lab() {
    let swap_now = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        if c.kind == WorkerKind::Lab {
            return false;
        }
        c.lab_wanted = true;
        c.in_flight.is_empty()
    });
    if swap_now {
        swap_to_lab();
    }
}

fn swap_to_lab() {
    let replay = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(worker) = c.worker.take() {
            worker.terminate();
        }
        c.kind = WorkerKind::Lab;
        c.lab_wanted = false;
        c.ready = false;
        c.callbacks = None;
        // Model loads not posted yet are superseded by the replay.
        let superseded: Vec<u32> = c
            .queue
            .iter()
            .filter(|e| matches!(e.request, Request::Model(ModelRequest::LoadUrl { .. } | ModelRequest::LoadFiles { .. })))
            .map(|e| e.id)
            .collect();
        c.queue.retain(|e| !superseded.contains(&e.id));
        for id in superseded {
            c.handlers.remove(&id);
        }
        c.model_replay.clone()
    });
    spawn();
    set_status(WorkerStatus::LoadingLab);
    if let Some(replay) = replay {
        replay(Hold::new());
    }
}

/// Post the priority queue if the worker listens, and the queue too if
/// nothing holds it and no swap waits.
fn flush_if_open() {
    let queued = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        if !c.ready {
            return Vec::new();
        }
        let mut out = std::mem::take(&mut c.priority);
        if c.holds == 0 && !c.lab_wanted {
            out.append(&mut c.queue);
        }
        out
    });
    for envelope in queued {
        post(&envelope);
    }
}

fn spawn() {
    let base = base_url();
    let stem = CLIENT.with(|c| c.borrow().kind.script_stem());
    // Trunk's worker output is a no-modules wasm-bindgen script defining
    // `wasm_bindgen`; a small blob script loads it inside the worker.
    let script = format!("importScripts('{base}{stem}.js'); wasm_bindgen('{base}{stem}_bg.wasm');");
    let worker = match make_worker(&script) {
        Ok(w) => w,
        Err(e) => {
            set_status(WorkerStatus::Failed(format!("Could not start the compute worker: {e:?}")));
            return;
        }
    };
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        match serde_wasm_bindgen::from_value::<ResponseEnvelope>(event.data()) {
            Ok(envelope) => on_response(envelope),
            Err(e) => web_sys::console::error_1(&format!("llmlab: unreadable worker message: {e}").into()),
        }
    });
    let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(|event: ErrorEvent| {
        event.prevent_default();
        let message = event.message();
        on_crash(if message.is_empty() { "the worker stopped unexpectedly".into() } else { message });
    });
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        c.worker = Some(worker);
        c.ready = false;
        c.callbacks = Some((on_message, on_error));
    });
    if CLIENT.with(|c| c.borrow().restarts == 0) {
        set_status(WorkerStatus::Starting);
    }
}

fn make_worker(script: &str) -> Result<Worker, JsValue> {
    let parts = js_sys::Array::of1(&JsValue::from_str(script));
    let options = BlobPropertyBag::new();
    options.set_type("text/javascript");
    let blob = Blob::new_with_str_sequence_and_options(&parts, &options)?;
    let url = Url::create_object_url_with_blob(&blob)?;
    Worker::new(&url)
}

fn on_response(envelope: ResponseEnvelope) {
    let ResponseEnvelope { id, response } = envelope;
    match response {
        Response::Ready { version } => {
            let (restarted, kind) = CLIENT.with(|c| {
                let mut c = c.borrow_mut();
                c.ready = true;
                c.early_crashes = 0;
                (c.restarts > 0, c.kind)
            });
            if !restarted {
                set_status(WorkerStatus::Ready(match kind {
                    WorkerKind::Essentials => version,
                    WorkerKind::Lab => format!("{version}, lab"),
                }));
            }
            flush_if_open();
        }
        Response::Panic { message } => on_crash(message),
        response => deliver(id, response),
    }
}

/// Call the handler of job `id` without holding the client borrowed, so the
/// handler may itself send requests.
fn deliver(id: u32, response: Response) {
    let is_final = response.is_final();
    let handler = CLIENT.with(|c| c.borrow_mut().handlers.remove(&id));
    if let Some(mut handler) = handler {
        handler(response);
        if !is_final {
            CLIENT.with(|c| c.borrow_mut().handlers.insert(id, handler));
        }
    }
    if is_final {
        let swap_now = CLIENT.with(|c| {
            let mut c = c.borrow_mut();
            c.in_flight.remove(&id);
            c.lab_wanted && c.in_flight.is_empty()
        });
        if swap_now {
            swap_to_lab();
        }
    }
}

fn on_crash(message: String) {
    let (handlers, restarts, give_up) = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        if let Some(worker) = c.worker.take() {
            worker.terminate();
        }
        if !c.ready {
            c.early_crashes += 1;
        }
        c.ready = false;
        c.restarts += 1;
        c.callbacks = None;
        c.in_flight.clear();
        c.queue.clear();
        c.priority.clear();
        if c.lab_wanted {
            c.kind = WorkerKind::Lab;
            c.lab_wanted = false;
        }
        let handlers: Vec<Handler> = c.handlers.drain().map(|(_, h)| h).collect();
        (handlers, c.restarts, c.early_crashes >= MAX_EARLY_CRASHES)
    });
    let status = if give_up {
        WorkerStatus::Failed(message.clone())
    } else {
        WorkerStatus::Restarted { message: message.clone(), restarts }
    };
    set_status(status);
    for mut handler in handlers {
        handler(Response::Error {
            message: format!("The compute worker crashed ({message}). It was restarted; your inputs are kept, so you can try again."),
        });
    }
    if !give_up {
        spawn();
    }
}

fn post(envelope: &RequestEnvelope) {
    let value = envelope.serialize(&serde_wasm_bindgen::Serializer::json_compatible());
    let worker = CLIENT.with(|c| c.borrow().worker.clone());
    match (value, worker) {
        (Ok(value), Some(worker)) => match worker.post_message(&value) {
            Ok(()) if envelope.id != 0 => {
                CLIENT.with(|c| c.borrow_mut().in_flight.insert(envelope.id));
            }
            Ok(()) => {}
            Err(e) => web_sys::console::error_1(&e),
        },
        (Err(e), _) => web_sys::console::error_1(&format!("llmlab: could not encode a request: {e}").into()),
        (_, None) => {}
    }
}

use serde::Serialize;

/// Send `request` to the worker; `on_response` gets every response of the
/// job (progress, then exactly one final one). Returns the job id. A lab job
/// first brings up the lab worker ([`use_lab`]).
pub fn request(request: Request, on_response: impl FnMut(Response) + 'static) -> u32 {
    enqueue(request, on_response, false)
}

/// Like [`request`], but posted ahead of every queued job and despite
/// [`Hold`]s: the model replay uses it so the model is loaded before the
/// jobs that need it.
pub fn request_first(request: Request, on_response: impl FnMut(Response) + 'static) -> u32 {
    enqueue(request, on_response, true)
}

fn enqueue(request: Request, on_response: impl FnMut(Response) + 'static, first: bool) -> u32 {
    if request.needs_lab() {
        use_lab();
    }
    let id = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        c.next_id = c.next_id.wrapping_add(1).max(1);
        let id = c.next_id;
        c.handlers.insert(id, Box::new(on_response));
        let envelope = RequestEnvelope { id, request };
        if first {
            c.priority.push(envelope);
        } else {
            c.queue.push(envelope);
        }
        id
    });
    flush_if_open();
    id
}

/// Ask the worker to stop job `id` at its next checkpoint.
pub fn cancel(id: u32) {
    let queued = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        let queued = c.queue.iter().chain(c.priority.iter()).any(|e| e.id == id);
        c.queue.retain(|e| e.id != id);
        c.priority.retain(|e| e.id != id);
        queued
    });
    if queued {
        // Not posted yet: answer locally.
        deliver(id, Response::Cancelled);
    } else {
        post(&RequestEnvelope { id: 0, request: Request::Cancel { target: id } });
    }
}
