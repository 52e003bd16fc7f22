//! One pattern for a job the worker runs on behalf of a tab.
//!
//! A [`Job`] is a `Copy` handle on a signal holding the job's [`JobState`]:
//! idle, running (with its progress), done (with its result), failed (with
//! the message) or cancelled. [`Job::start`] posts the request, routes the
//! worker's generic answers (progress, error, cancelled) into the state and
//! hands the area's own answers to the tab, which either keeps streaming or
//! finishes the job with a result. [`JobStatus`] shows the progress bar, the
//! Cancel button and the error of any job the same way.

use crate::components::ProgressBar;
use crate::worker_client;
use leptos::prelude::*;
use llmlab_wasm::protocol::{Request, Response};

/// Where a worker job stands.
#[derive(Clone, Debug, PartialEq)]
pub enum JobState<T> {
    /// Never started (or reset).
    Idle,
    /// Posted to the worker and not finished.
    Running {
        /// The worker's job id (to cancel it).
        id: u32,
        /// Done so far, in `[0, 1]`.
        fraction: f64,
        /// What the worker says it is doing.
        message: String,
    },
    /// Finished with a result.
    Done(T),
    /// The worker reported an error (or crashed); the message says why.
    Failed(String),
    /// Stopped on the user's request.
    Cancelled,
}

impl<T> JobState<T> {
    /// Whether the job is in the worker right now.
    pub fn is_running(&self) -> bool {
        matches!(self, JobState::Running { .. })
    }
}

/// What the tab makes of one of its area's answers.
pub enum Answer<T> {
    /// A partial answer (a streamed step): the job goes on.
    Continue,
    /// The final answer: the job is done with this result.
    Done(T),
    /// The final answer reports a failure.
    Failed(String),
}

/// A tab's handle on one kind of job (its state lives in a signal).
pub struct Job<T: Send + Sync + 'static> {
    state: RwSignal<JobState<T>>,
}

impl<T: Send + Sync + 'static> Clone for Job<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: Send + Sync + 'static> Copy for Job<T> {}

impl<T: Clone + Send + Sync + 'static> Default for Job<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + Send + Sync + 'static> Job<T> {
    /// An idle job.
    pub fn new() -> Self {
        Self {
            state: RwSignal::new(JobState::Idle),
        }
    }

    /// The state (tracked).
    pub fn get(&self) -> JobState<T> {
        self.state.get()
    }

    /// Read the state without cloning it (tracked).
    pub fn with<R>(&self, f: impl FnOnce(&JobState<T>) -> R) -> R {
        self.state.with(f)
    }

    /// Whether the job is running (tracked).
    pub fn is_running(&self) -> bool {
        self.state.with(JobState::is_running)
    }

    /// Whether the job is running, untracked (in event handlers).
    pub fn is_running_untracked(&self) -> bool {
        self.state.with_untracked(JobState::is_running)
    }

    /// The result of the last finished run (tracked).
    pub fn result(&self) -> Option<T> {
        self.state.with(|s| match s {
            JobState::Done(t) => Some(t.clone()),
            _ => None,
        })
    }

    /// The latest result, kept on screen while the next run goes and after
    /// it fails or is cancelled (tracked; replaced only by a new result).
    pub fn last_result(self) -> Memo<Option<T>>
    where
        T: PartialEq,
    {
        Memo::new(move |prev: Option<&Option<T>>| {
            self.state.with(|s| match s {
                JobState::Done(t) => Some(t.clone()),
                JobState::Idle => None,
                _ => prev.cloned().flatten(),
            })
        })
    }

    /// Set the state directly (a tab that learns the outcome elsewhere).
    pub fn set(&self, state: JobState<T>) {
        let _ = self.state.try_set(state);
    }

    /// Post `request` unless the job is already running. `starting` is the
    /// message shown until the worker reports progress; `on_answer` gets
    /// every answer that is not progress, an error or a cancellation.
    /// Returns whether the request was sent.
    pub fn start(
        self,
        request: Request,
        starting: &str,
        mut on_answer: impl FnMut(Response) -> Answer<T> + 'static,
    ) -> bool {
        if self.state.with_untracked(JobState::is_running) {
            return false;
        }
        self.state.set(JobState::Running {
            id: 0,
            fraction: 0.0,
            message: starting.to_string(),
        });
        let state = self.state;
        let id = worker_client::request(request, move |r| {
            // `try_*`: the tab may have been closed meanwhile.
            let next = match r {
                Response::Progress {
                    fraction: f,
                    message: m,
                } => {
                    let _ = state.try_update(|s| {
                        if let JobState::Running {
                            fraction, message, ..
                        } = s
                        {
                            *fraction = f;
                            *message = m;
                        }
                    });
                    return;
                }
                Response::Error { message } | Response::Panic { message } => {
                    JobState::Failed(message)
                }
                Response::Cancelled => JobState::Cancelled,
                other => match on_answer(other) {
                    Answer::Continue => return,
                    Answer::Done(t) => JobState::Done(t),
                    Answer::Failed(message) => JobState::Failed(message),
                },
            };
            let _ = state.try_set(next);
        });
        self.state.update(|s| {
            if let JobState::Running { id: slot, .. } = s {
                *slot = id;
            }
        });
        true
    }

    /// Ask the worker to stop the job at its next checkpoint.
    pub fn cancel(&self) {
        if let JobState::Running { id, .. } = self.state.get_untracked() {
            worker_client::cancel(id);
        }
    }

    /// The progress while running: `(fraction, message)` (tracked).
    fn progress(&self) -> Option<(f64, String)> {
        self.state.with(|s| match s {
            JobState::Running {
                fraction, message, ..
            } => Some((*fraction, message.clone())),
            _ => None,
        })
    }

    /// The error to show: the failure, or that `what` was cancelled (tracked).
    fn error(&self, what: Option<&str>) -> Option<String> {
        self.state.with(|s| match s {
            JobState::Failed(message) => Some(message.clone()),
            JobState::Cancelled => what.map(|what| format!("{what} was cancelled.")),
            _ => None,
        })
    }
}

/// A job's progress bar and Cancel button while it runs (each optional),
/// and its error (or that it was cancelled) after it ends.
#[component]
pub fn JobStatus<T: Clone + Send + Sync + 'static>(
    /// The job.
    job: Job<T>,
    /// What the job does, for "… was cancelled." (e.g. "Scoring"); without
    /// it a cancellation shows nothing.
    #[prop(optional)]
    what: Option<&'static str>,
    /// `data-testid` of the error line.
    error_testid: &'static str,
    /// Show a progress bar while the job runs.
    #[prop(optional)]
    bar: bool,
    /// `data-testid` of a Cancel button shown while the job runs (none: the
    /// tab has its own Stop, or the job cannot be cancelled).
    #[prop(optional)]
    cancel_testid: Option<&'static str>,
) -> impl IntoView {
    let progress = Memo::new(move |_| job.progress());
    view! {
        {move || progress.get().filter(|_| bar).map(|(fraction, message)| view! {
            <ProgressBar fraction=Signal::derive(move || fraction) label=Signal::derive(move || message.clone())/>
        })}
        {move || cancel_testid.filter(|_| progress.with(Option::is_some)).map(|testid| view! {
            <button data-testid=testid on:click=move |_| job.cancel()>"Cancel"</button>
        })}
        {move || job.error(what).map(|e| view! { <p class="error" role="alert" data-testid=error_testid>{e}</p> })}
    }
}
