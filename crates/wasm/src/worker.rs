//! The compute worker's message loop.
//!
//! The UI never runs engine code on the main thread: it posts a
//! [`RequestEnvelope`] here and renders the [`ResponseEnvelope`]s that come
//! back. Long jobs are `async` and call [`runtime::checkpoint`] between
//! chunks of work; that yields to the worker's event loop (so a `Cancel`
//! message can arrive) and reports whether the job was cancelled.
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

/// Install the panic hook and the message handler, then announce `Ready`.
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        post(runtime::current_job(), Response::Panic { message: info.to_string() });
    }));
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(|event: MessageEvent| {
        match serde_wasm_bindgen::from_value::<RequestEnvelope>(event.data()) {
            Ok(envelope) => dispatch(envelope),
            Err(e) => post(0, Response::Error { message: format!("The worker could not read a request: {e}") }),
        }
    });
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    // The handler lives as long as the worker.
    onmessage.forget();
    post(0, Response::Ready { version: crate::api::version() });
}

fn dispatch(envelope: RequestEnvelope) {
    let RequestEnvelope { id, request } = envelope;
    match request {
        Request::Cancel { target } => {
            runtime::request_cancel(target);
        }
        request => wasm_bindgen_futures::spawn_local(async move {
            let started = js_sys::Date::now();
            runtime::enter(id);
            let response = match run(id, request).await {
                Ok(Some(response)) => response,
                Ok(None) => Response::Done { millis: js_sys::Date::now() - started },
                Err(Cancelled) => Response::Cancelled,
            };
            runtime::finish(id);
            post(id, response);
        }),
    }
}

/// Run one job. `Ok(None)` means "finished, nothing to return" and becomes
/// [`Response::Done`].
async fn run(id: u32, request: Request) -> Result<Option<Response>, Cancelled> {
    match request {
        Request::Ping => Ok(Some(Response::Pong { version: crate::api::version() })),
        Request::Crash => panic!("deliberate crash requested from the diagnostics panel"),
        Request::Cancel { .. } => Ok(None),
        Request::Tokenize(r) => crate::jobs::tokenize::run(id, r).await.map(Some),
        Request::Model(r) => crate::jobs::model::run(id, r).await.map(Some),
        Request::Generate(r) => crate::jobs::generate::run(id, r).await.map(Some),
        Request::Evaluate(r) => crate::jobs::evaluate::run(id, r).await.map(Some),
        Request::Train(r) => crate::jobs::train::run(id, r).await.map(Some),
        Request::Data(r) => crate::jobs::data::run(id, r).await.map(Some),
        Request::Finetune(r) => crate::jobs::finetune::run(id, r).await.map(Some),
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
