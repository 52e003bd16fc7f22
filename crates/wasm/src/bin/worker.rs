//! Entry point of the essentials worker, started with the page: tokenizers,
//! models, decoding and the traces. Trunk builds it as `worker.js` +
//! `worker_bg.wasm`; the UI starts it with `importScripts` and the worker
//! announces itself with `Ready`. The lab's jobs live in `lab_worker.rs`.

fn main() {
    #[cfg(target_arch = "wasm32")]
    llmlab_wasm::worker::start_essentials();
}
