//! The UI's side of the compute worker.
//!
//! [`request`] posts a job and routes its responses to a callback. The
//! worker is started lazily, requests sent before it is `Ready` are queued,
//! and when it dies (a panic or a wasm trap) every pending job gets an error,
//! the status shows what happened, and a fresh worker is started, so one bad
//! input never takes the page down.

use leptos::prelude::*;
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
    /// Listening; the engine version it reported.
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

/// Consecutive crashes before `Ready` after which we stop restarting (a
/// missing or broken worker script would otherwise loop forever).
const MAX_EARLY_CRASHES: u32 = 3;

#[derive(Default)]
struct Client {
    worker: Option<Worker>,
    ready: bool,
    queue: Vec<RequestEnvelope>,
    handlers: HashMap<u32, Handler>,
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

/// Start the worker and report its state into `status`.
pub fn init(status: RwSignal<WorkerStatus>) {
    CLIENT.with(|c| c.borrow_mut().status = Some(status));
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

fn spawn() {
    let base = base_url();
    // Trunk's worker output is a no-modules wasm-bindgen script defining
    // `wasm_bindgen`; a small blob script loads it inside the worker.
    let script = format!("importScripts('{base}worker.js'); wasm_bindgen('{base}worker_bg.wasm');");
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
            let queued = CLIENT.with(|c| {
                let mut c = c.borrow_mut();
                c.ready = true;
                c.early_crashes = 0;
                std::mem::take(&mut c.queue)
            });
            let restarted = CLIENT.with(|c| c.borrow().restarts > 0);
            if !restarted {
                set_status(WorkerStatus::Ready(version));
            }
            for envelope in queued {
                post(&envelope);
            }
        }
        Response::Panic { message } => on_crash(message),
        response => deliver(id, response),
    }
}

/// Call the handler of job `id` without holding the client borrowed, so the
/// handler may itself send requests.
fn deliver(id: u32, response: Response) {
    let handler = CLIENT.with(|c| c.borrow_mut().handlers.remove(&id));
    if let Some(mut handler) = handler {
        let is_final = response.is_final();
        handler(response);
        if !is_final {
            CLIENT.with(|c| c.borrow_mut().handlers.insert(id, handler));
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
        (Ok(value), Some(worker)) => {
            if let Err(e) = worker.post_message(&value) {
                web_sys::console::error_1(&e);
            }
        }
        (Err(e), _) => web_sys::console::error_1(&format!("llmlab: could not encode a request: {e}").into()),
        (_, None) => {}
    }
}

use serde::Serialize;

/// Send `request` to the worker; `on_response` gets every response of the
/// job (progress, then exactly one final one). Returns the job id.
pub fn request(request: Request, on_response: impl FnMut(Response) + 'static) -> u32 {
    let (envelope, ready) = CLIENT.with(|c| {
        let mut c = c.borrow_mut();
        c.next_id = c.next_id.wrapping_add(1).max(1);
        let id = c.next_id;
        c.handlers.insert(id, Box::new(on_response));
        let envelope = RequestEnvelope { id, request };
        if !c.ready {
            c.queue.push(envelope.clone());
        }
        (envelope, c.ready)
    });
    if ready {
        post(&envelope);
    }
    envelope.id
}

/// Ask the worker to stop job `id` at its next checkpoint.
pub fn cancel(id: u32) {
    let envelope = RequestEnvelope { id: 0, request: Request::Cancel { target: id } };
    let ready = CLIENT.with(|c| c.borrow().ready);
    if ready {
        post(&envelope);
    } else {
        // Not started yet: drop it from the queue and answer locally.
        CLIENT.with(|c| c.borrow_mut().queue.retain(|e| e.id != id));
        deliver(id, Response::Cancelled);
    }
}
