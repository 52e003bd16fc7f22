//! What a worker job runs on: sending responses, noticing a cancel, and the
//! clock.
//!
//! Both the message loop ([`crate::worker`]) and the jobs ([`crate::jobs`])
//! use this module, and neither imports the other's internals: the loop
//! dispatches a request to a job, the job talks back through [`post`] and
//! gives the loop a turn with [`checkpoint`].
//!
//! A job is `async` and calls `checkpoint(id).await?` between chunks of work.
//! In the browser that yields to the worker's event loop (a zero timeout), so
//! queued messages such as `Cancel` are delivered, then reports whether the
//! job was cancelled ([`Cancelled`], the job error type).
//!
//! Off the browser (native `cargo test`), the same jobs run unchanged on a
//! host that needs no JavaScript: [`post`] appends to an outbox that tests
//! read with [`take_posted`], [`checkpoint`] is ready at once, and
//! [`now_millis`] reads the system clock. That is what lets the worker's jobs
//! be tested natively against the CLI.

use crate::protocol::Response;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;

thread_local! {
    /// Jobs whose cancellation was requested and not yet acknowledged.
    static CANCELLED: RefCell<HashSet<u32>> = RefCell::new(HashSet::new());
    /// The job currently executing, so a panic can be attributed to it.
    static CURRENT_JOB: Cell<u32> = const { Cell::new(0) };
}

/// Sets a job area's "busy" flag back to false however the job ends
/// (finished, failed or cancelled): `let _busy = ClearOnDrop(&TRAINING);`.
pub struct ClearOnDrop(pub &'static std::thread::LocalKey<Cell<bool>>);

impl Drop for ClearOnDrop {
    fn drop(&mut self) {
        self.0.with(|flag| flag.set(false));
    }
}

/// The job error: the job was cancelled at a [`checkpoint`]. Every other
/// failure of a job is a [`Response::Error`] with a message for the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cancelled;

/// Ask job `id` to stop at its next [`checkpoint`].
pub fn request_cancel(id: u32) {
    CANCELLED.with(|c| c.borrow_mut().insert(id));
}

/// Mark job `id` as the one executing (a panic is reported against it).
pub fn enter(id: u32) {
    CURRENT_JOB.with(|c| c.set(id));
}

/// The job executing now (0 outside any job).
pub fn current_job() -> u32 {
    CURRENT_JOB.with(Cell::get)
}

/// Forget job `id`'s cancel request once the job has ended.
pub fn finish(id: u32) {
    CANCELLED.with(|c| c.borrow_mut().remove(&id));
}

fn is_cancelled(id: u32) -> bool {
    CANCELLED.with(|c| c.borrow().contains(&id))
}

/// Yield to the event loop so pending messages (such as `Cancel`) are
/// delivered, then report whether job `id` should stop. Call it between
/// chunks of a long computation: `checkpoint(id).await?;`.
pub async fn checkpoint(id: u32) -> Result<(), Cancelled> {
    host::yield_now().await;
    enter(id);
    if is_cancelled(id) {
        Err(Cancelled)
    } else {
        Ok(())
    }
}

/// Send one response of job `id` to the UI.
pub fn post(id: u32, response: Response) {
    host::post(id, response);
}

/// Milliseconds from a monotonic clock with sub-millisecond resolution
/// (`performance.now()` in the browser: a tiny model's step can take well
/// under a millisecond, which `Date.now()` cannot measure).
pub fn now_millis() -> f64 {
    host::now_millis()
}

/// Responses posted so far on this thread (native host only), oldest first.
#[cfg(not(target_arch = "wasm32"))]
pub fn take_posted() -> Vec<(u32, Response)> {
    host::OUTBOX.with(|o| std::mem::take(&mut *o.borrow_mut()))
}

/// Runs a job's future to completion on the native host, where
/// [`checkpoint`] never waits: tests call jobs with it.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    use std::task::{Context, Poll, Waker};
    let mut future = std::pin::pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod host {
    use crate::protocol::{Response, ResponseEnvelope};
    use wasm_bindgen::JsCast;
    use web_sys::DedicatedWorkerGlobalScope;

    fn scope() -> DedicatedWorkerGlobalScope {
        js_sys::global().unchecked_into()
    }

    pub fn post(id: u32, response: Response) {
        let envelope = ResponseEnvelope { id, response };
        match crate::api::to_js(&envelope) {
            Ok(value) => {
                if let Err(e) = scope().post_message(&value) {
                    web_sys::console::error_2(&"llmlab worker: postMessage failed".into(), &e);
                }
            }
            Err(e) => web_sys::console::error_1(&wasm_bindgen::JsValue::from(e)),
        }
    }

    pub async fn yield_now() {
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            // A zero timeout is the cheapest way to let queued messages run.
            let _ = scope().set_timeout_with_callback(&resolve);
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    pub fn now_millis() -> f64 {
        let global = js_sys::global();
        js_sys::Reflect::get(&global, &"performance".into())
            .ok()
            .and_then(|perf| {
                let now: js_sys::Function = js_sys::Reflect::get(&perf, &"now".into()).ok()?.dyn_into().ok()?;
                now.call0(&perf).ok()?.as_f64()
            })
            .unwrap_or_else(js_sys::Date::now)
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    use crate::protocol::Response;
    use std::cell::RefCell;
    use std::time::Instant;

    thread_local! {
        /// Responses posted by jobs, for tests to inspect.
        pub static OUTBOX: RefCell<Vec<(u32, Response)>> = const { RefCell::new(Vec::new()) };
        /// Origin of [`now_millis`].
        static START: Instant = Instant::now();
    }

    pub fn post(id: u32, response: Response) {
        OUTBOX.with(|o| o.borrow_mut().push((id, response)));
    }

    pub async fn yield_now() {}

    pub fn now_millis() -> f64 {
        START.with(|s| s.elapsed().as_secs_f64() * 1000.0)
    }
}
