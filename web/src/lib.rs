//! # llmlab-web
//!
//! The LLM Lab playground: a Leptos 0.8 client-side app. The UI thread only
//! renders; every computation is a message to the Web Worker
//! ([`worker_client`]), and every tab follows a job through one
//! [`job::JobState`] (idle, running, done, failed, cancelled). The whole
//! state lives in [`llmlab_core::share::ShareState`], held as one signal per
//! tab and mirrored into the URL hash ([`state`]) so a link reproduces a run;
//! the texts a user typed are also kept in `localStorage` ([`storage`]).

pub mod app;
pub mod components;
pub mod job;
pub mod model_picker;
pub mod state;
pub mod storage;
pub mod tabs;
pub mod worker_client;

/// Mount the app on `<body>`. Called by `main` on the page.
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
