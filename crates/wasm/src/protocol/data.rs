//! Protocol of the data pipeline area (the Data tab).
//!
//! One request runs `llmlab_core::data::pipeline` over the sources, e.g.
//! `{"kind":"data","op":"run","config":{..},"sources":[{"from":"text","name":"pasted","text":".."}]}`.
//! Uploaded files are not copied into the message: the UI passes a `blob:`
//! URL of each file, which the worker streams in chunks (so 100 MB never
//! sits in one message or one buffer). The job answers `Progress` while it
//! reads, then [`DataResponse::Finished`].

use llmlab_core::data::pipeline::{PipelineConfig, PipelineOutput};
use serde::{Deserialize, Serialize};

/// One input of the pipeline. The name decides the format (`.jsonl` and
/// `.ndjson` are JSONL, anything else text) unless `jsonl` says otherwise.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum DataSource {
    /// Text pasted in the tab.
    Text {
        /// A name for messages.
        name: String,
        /// Read as JSONL (one `{"text": ..}` per line) instead of text.
        jsonl: bool,
        /// The text.
        text: String,
    },
    /// A file the user picked, as a `blob:` URL made by the page.
    Blob {
        /// The file's name (decides the format).
        name: String,
        /// `URL.createObjectURL(file)`.
        url: String,
        /// The file's size, for progress.
        bytes: f64,
    },
}

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DataRequest {
    /// Run the pipeline over `sources`, in order.
    Run {
        /// Stages and settings.
        config: PipelineConfig,
        /// The inputs.
        sources: Vec<DataSource>,
    },
}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum DataResponse {
    /// The kept documents and the report.
    Finished {
        /// What the pipeline produced.
        output: PipelineOutput,
        /// Bytes read.
        bytes: f64,
        /// Wall time in the worker, in milliseconds.
        millis: f64,
    },
}

impl DataResponse {
    /// Whether this is the last response of its job.
    pub fn is_final(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Request;

    #[test]
    fn run_request_json_shape() {
        let r = Request::Data(DataRequest::Run {
            config: PipelineConfig::default(),
            sources: vec![DataSource::Blob { name: "a.jsonl".into(), url: "blob:x".into(), bytes: 3.0 }],
        });
        let json = serde_json::to_string(&r).unwrap();
        assert!(json.starts_with(r#"{"kind":"data","op":"run","config":{"#), "{json}");
        assert!(json.ends_with(r#""sources":[{"from":"blob","name":"a.jsonl","url":"blob:x","bytes":3.0}]}"#), "{json}");
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), r);
    }
}
