//! The compute worker's message loop.
//!
//! The UI never runs engine code on the main thread: it posts a
//! [`RequestEnvelope`] here and renders the [`ResponseEnvelope`]s that come
//! back. Long jobs are `async` and call [`runtime::checkpoint`] between
//! chunks of work; that yields to the worker's event loop (so a `Cancel`
//! message can arrive) and reports whether the job was cancelled.
//!
//! The page loads two builds of this loop. The essentials worker
//! (`worker.js`, started with the page) runs tokenizers, models, decoding and
//! the traces: what the first tabs need. The lab worker (`lab_worker.js`)
//! runs every job, training, fine-tuning, the data pipeline and evaluation
//! included; the page swaps to it the first time such a tab opens. Each
//! binary passes its own job runner to [`start`], so the linker leaves the
//! lab's code out of the essentials build and the first load stays small.
//!
//! A panic cannot be caught in wasm (`panic = "abort"` traps), so the panic
//! hook posts [`Response::Panic`] first; the UI then terminates this worker
//! and starts a fresh one.

use crate::protocol::{Request, RequestEnvelope, Response};
use crate::runtime::{self, checkpoint, post, Cancelled};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

/// A worker's job runner: [`run_essential`] or [`run_lab`].
pub type JobRunner = fn(u32, Request) -> core::pin::Pin<Box<dyn core::future::Future<Output = JobResult>>>;

/// What a job ends with: `Ok(None)` means "finished, nothing to return" and
/// becomes [`Response::Done`].
pub type JobResult = Result<Option<Response>, Cancelled>;

/// Start the essentials worker (the page's first worker).
pub fn start_essentials() {
    start(|id, request| Box::pin(run_essential(id, request)));
}

/// Start the lab worker (every job).
pub fn start_lab() {
    start(|id, request| Box::pin(run_lab(id, request)));
}

/// Install the panic hook and the message handler, then announce `Ready`.
fn start(runner: JobRunner) {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(runtime::current_job(), Response::Panic { message: info.to_string() });
    }));
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        match serde_wasm_bindgen::from_value::<RequestEnvelope>(event.data()) {
            Ok(envelope) => dispatch(runner, envelope),
            Err(e) => post(0, Response::Error { message: format!("The worker could not read a request: {e}") }),
        }
    });
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    onmessage.forget();
    post(0, Response::Ready { version: crate::api::version() });
}

fn dispatch(runner: JobRunner, envelope: RequestEnvelope) {
    let RequestEnvelope { id, request } = envelope;
    match request {
        Request::Cancel { target } => {
            runtime::request_cancel(target);
        }
        request => wasm_bindgen_futures::spawn_local(async move {
            let started = js_sys::Date::now();
            runtime::enter(id);
            let response = match runner(id, request).await {
                Ok(Some(response)) => response,
                Ok(None) => Response::Done { millis: js_sys::Date::now() - started },
                Err(Cancelled) => Response::Cancelled,
            };
            runtime::finish(id);
            post(id, response);
        }),
    }
}

/// Run one job of the lab worker: the lab's own jobs here, the rest as the
/// essentials worker runs them.
async fn run_lab(id: u32, request: Request) -> JobResult {
    match request {
        Request::Evaluate(r) => crate::jobs::evaluate::run(id, r).await.map(Some),
        Request::Train(r) => crate::jobs::train::run(id, r).await.map(Some),
        Request::Data(r) => crate::jobs::data::run(id, r).await.map(Some),
        Request::Finetune(r) => crate::jobs::finetune::run(id, r).await.map(Some),
        request => run_essential(id, request).await,
    }
}

/// Run one job of the essentials worker. A lab job sent here (the page
/// swaps workers first, so only a bug does that) gets a clear error.
async fn run_essential(id: u32, request: Request) -> JobResult {
    match request {
        Request::Evaluate(_) | Request::Train(_) | Request::Data(_) | Request::Finetune(_) => Ok(Some(Response::Error {
            message: "This job runs in the lab worker, which the page starts when a lab tab opens; reload the page and try again."
                .into(),
        })),
        Request::Ping => Ok(Some(Response::Pong { version: crate::api::version() })),
        Request::Crash => panic!("deliberate crash requested from the diagnostics panel"),
        Request::Cancel { .. } => Ok(None),
        Request::Tokenize(r) => crate::jobs::tokenize::run(id, r).await.map(Some),
        Request::Model(r) => crate::jobs::model::run(id, r).await.map(Some),
        Request::Generate(r) => crate::jobs::generate::run(id, r).await.map(Some),
        Request::Spin { millis } => {
            let start = js_sys::Date::now();
            let total = f64::from(millis.min(600_000));
            loop {
                let elapsed = js_sys::Date::now() - start;
                if elapsed >= total {
                    return Ok(None);
                }
                // Burn ~20 ms of real CPU, then let messages through.
                let chunk_end = js_sys::Date::now() + 20.0;
                let mut x = 0u64;
                while js_sys::Date::now() < chunk_end {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                }
                std::hint::black_box(x);
                post(id, Response::Progress { fraction: elapsed / total, message: "spinning".into() });
                checkpoint(id).await?;
            }
        }
    }
}
