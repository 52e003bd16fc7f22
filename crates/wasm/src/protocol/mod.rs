//! Messages between the UI (main thread) and the compute Web Worker.
//!
//! Every request carries an `id`; every response echoes it, so several jobs
//! can be in flight and the UI routes each answer to the component that
//! asked. Messages travel as plain JS objects through `serde-wasm-bindgen`.
//!
//! Lifecycle of one job: zero or more [`Response::Progress`] (and streaming
//! variants), then exactly one final response ([`Response::is_final`]).

use serde::{Deserialize, Serialize};

// One file per area: its requests (tagged by `op`) and its responses.
pub mod data;
pub mod evaluate;
pub mod finetune;
pub mod generate;
pub mod model;
pub mod tokenize;
pub mod train;

/// A request and the id its responses will carry.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RequestEnvelope {
    /// Chosen by the UI, unique among in-flight jobs.
    pub id: u32,
    /// What to do.
    pub request: Request,
}

/// A response to the request with the same `id` (0: not tied to a request,
/// such as [`Response::Ready`]).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ResponseEnvelope {
    /// The id of the request this answers.
    pub id: u32,
    /// The answer.
    pub response: Response,
}

/// What the UI asks the worker to do.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Request {
    /// Liveness check; answered with [`Response::Pong`].
    Ping,
    /// Panic on purpose. The UI's crash-recovery path (error shown, worker
    /// restarted) is exercised with this from the diagnostics panel and the
    /// end-to-end suite.
    Crash,
    /// Stop the job `target` at its next checkpoint; it answers
    /// [`Response::Cancelled`].
    Cancel {
        /// Id of the job to stop.
        target: u32,
    },
    /// Busy-work for `millis` milliseconds in small chunks, reporting
    /// progress: the diagnostics panel uses it to show that the page stays
    /// responsive while the worker computes.
    Spin {
        /// How long to keep the worker busy.
        millis: u32,
    },
    /// Tokenizers: encode, train, merge replay.
    Tokenize(tokenize::TokenizeRequest),
    /// Models: load, introspect, logits.
    Model(model::ModelRequest),
    /// Decoding with the loaded model.
    Generate(generate::GenerateRequest),
    /// Metrics: BLEU, chrF, ROUGE, perplexity.
    Evaluate(evaluate::EvaluateRequest),
    /// Training in the worker.
    Train(train::TrainRequest),
    /// The data pipeline.
    Data(data::DataRequest),
    /// LoRA fine-tuning of the loaded model on instruction data.
    Finetune(finetune::FinetuneRequest),
}

impl Request {
    /// Whether this job runs only in the lab worker (`lab_worker.js`, loaded
    /// on first use), not in the essentials worker that starts with the page.
    pub fn needs_lab(&self) -> bool {
        matches!(self, Request::Evaluate(_) | Request::Train(_) | Request::Data(_) | Request::Finetune(_))
    }
}

/// What the worker answers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Response {
    /// The worker has loaded its wasm and listens (sent once, id 0).
    Ready {
        /// Crate version of the worker.
        version: String,
    },
    /// Answer to [`Request::Ping`].
    Pong {
        /// Crate version of the worker.
        version: String,
    },
    /// Intermediate progress of a long job.
    Progress {
        /// Done so far, in `[0, 1]`.
        fraction: f64,
        /// What is happening, for the progress bar's label.
        message: String,
    },
    /// The job finished and has nothing more to say.
    Done {
        /// Wall time the job took in the worker, in milliseconds.
        millis: f64,
    },
    /// The job was stopped by [`Request::Cancel`].
    Cancelled,
    /// The job failed with a user-facing message.
    Error {
        /// What went wrong and, where possible, what to do about it.
        message: String,
    },
    /// The worker panicked; it is dead and the UI restarts it.
    Panic {
        /// The panic message.
        message: String,
    },
    /// Answers of the tokenizer area.
    Tokenize(tokenize::TokenizeResponse),
    /// Answers of the model area.
    Model(model::ModelResponse),
    /// Answers of the decoding area (streamed tokens, then the result).
    Generate(generate::GenerateResponse),
    /// Answers of the metrics area.
    Evaluate(evaluate::EvaluateResponse),
    /// Answers of the training area (progress, then the result).
    Train(train::TrainResponse),
    /// Answers of the data pipeline area (progress, then the result).
    Data(data::DataResponse),
    /// Answers of the fine-tuning area (progress, then the result).
    Finetune(finetune::FinetuneResponse),
}

impl Response {
    /// Whether this is the last response for its job.
    pub fn is_final(&self) -> bool {
        match self {
            Response::Progress { .. } | Response::Ready { .. } => false,
            Response::Tokenize(r) => r.is_final(),
            Response::Model(r) => r.is_final(),
            Response::Generate(r) => r.is_final(),
            Response::Evaluate(r) => r.is_final(),
            Response::Train(r) => r.is_final(),
            Response::Data(r) => r.is_final(),
            Response::Finetune(r) => r.is_final(),
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_is_tagged_and_stable() {
        let env = RequestEnvelope { id: 7, request: Request::Cancel { target: 3 } };
        let json = serde_json::to_string(&env).unwrap();
        assert_eq!(json, r#"{"id":7,"request":{"kind":"cancel","target":3}}"#);
        let back: RequestEnvelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, env);
        assert!(Response::Done { millis: 1.0 }.is_final());
        assert!(!Response::Progress { fraction: 0.5, message: String::new() }.is_final());
    }
}
