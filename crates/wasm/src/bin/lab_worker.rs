//! Entry point of the lab worker: every job of the essentials worker plus
//! training, fine-tuning, the data pipeline and evaluation. Trunk builds it
//! as `lab_worker.js` + `lab_worker_bg.wasm`; the page starts it instead of
//! the essentials worker the first time a lab tab opens.

fn main() {
    #[cfg(target_arch = "wasm32")]
    llmlab_wasm::worker::start_lab();
}
