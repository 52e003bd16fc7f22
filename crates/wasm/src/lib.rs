//! # llmlab-wasm
//!
//! The browser face of `llmlab-core`, kept thin on purpose:
//! - [`protocol`]: the messages the UI and the Web Worker exchange. The UI
//!   depends on this module only (feature `exports` off).
//! - `api`: `#[wasm_bindgen]` functions over the core, callable from JS and
//!   from `wasm-bindgen-test` (feature `exports`).
//! - `runtime`: what jobs run on (posting responses, cancel checkpoints, the
//!   clock, the job error), shared by the loop and the jobs (feature `exports`).
//! - `worker`: the worker's message loop (feature `exports`); its entry point
//!   is `src/bin/worker.rs`, which Trunk builds as `worker.js` +
//!   `worker_bg.wasm`.

pub mod protocol;

#[cfg(feature = "exports")]
pub mod api;
#[cfg(feature = "exports")]
pub mod fetch;
#[cfg(feature = "exports")]
pub mod jobs;
#[cfg(feature = "exports")]
pub mod runtime;
#[cfg(feature = "exports")]
pub mod session;
#[cfg(feature = "exports")]
pub mod worker;
