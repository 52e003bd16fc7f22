//! Entry point of the Web Worker that runs all of LLM Lab's compute.
//! Trunk builds this binary as `worker.js` + `worker_bg.wasm`; the UI starts
//! it with `importScripts` and the worker announces itself with `Ready`.

fn main() {
    #[cfg(target_arch = "wasm32")]
    llmlab_wasm::worker::start();
}
