//! Worker job of the data area: `llmlab_core::data::pipeline` over pasted
//! text and uploaded files, streamed in chunks.
//!
//! Pasted text is fed in [`CHUNK_BYTES`] pieces; a file arrives as a `blob:`
//! URL whose body is read chunk by chunk from its stream, so memory holds
//! the kept documents, not the raw input. About every [`YIELD_MILLIS`] the
//! job posts its progress (bytes read, MB/s) and yields at a
//! [`checkpoint`], where a Cancel stops it. The near-duplicate clusters and
//! PII are resolved at the end, in steps that also report and yield.

use crate::protocol::data::{DataRequest, DataResponse, DataSource};
use crate::protocol::Response;
use crate::runtime::{checkpoint, now_millis, post, Cancelled};
use llmlab_core::data::pipeline::{PipelineConfig, PipelineRunner, SourceFormat};

/// Bytes of pasted text fed at a time.
const CHUNK_BYTES: usize = 256 * 1024;
/// Work between two progress reports and yields, in milliseconds.
const YIELD_MILLIS: f64 = 100.0;
/// Share of the progress bar for reading (the rest is the final stages).
const READ_SHARE: f64 = 0.9;

/// Why the run stopped early.
enum Stop {
    Cancelled,
    Failed(String),
}

impl From<Cancelled> for Stop {
    fn from(_: Cancelled) -> Self {
        Stop::Cancelled
    }
}

/// Progress reporting and yielding for one run.
struct Pacer {
    id: u32,
    total: f64,
    done: f64,
    started: f64,
    last_yield: f64,
}

impl Pacer {
    /// Posts progress and yields if [`YIELD_MILLIS`] passed since the last time.
    async fn tick(&mut self, name: &str) -> Result<(), Cancelled> {
        let now = now_millis();
        if now - self.last_yield < YIELD_MILLIS {
            return Ok(());
        }
        self.last_yield = now;
        let mb = self.done / 1e6;
        let rate = mb / ((now - self.started) / 1000.0).max(1e-9);
        let message = format!("Reading {name}: {mb:.1} of {:.1} MB ({rate:.1} MB/s)", self.total / 1e6);
        post(self.id, Response::Progress { fraction: READ_SHARE * self.done / self.total.max(1.0), message });
        checkpoint(self.id).await
    }
}

fn source_name(source: &DataSource) -> &str {
    match source {
        DataSource::Text { name, .. } | DataSource::Blob { name, .. } => name,
    }
}

async fn feed_source(runner: &mut PipelineRunner, pacer: &mut Pacer, source: &DataSource) -> Result<(), Stop> {
    let name = source_name(source).to_string();
    let format = match source {
        DataSource::Text { jsonl: true, .. } => SourceFormat::Jsonl,
        DataSource::Text { .. } => SourceFormat::Text,
        DataSource::Blob { name, .. } => SourceFormat::from_name(name),
    };
    runner.begin_source(&name, format).map_err(|e| Stop::Failed(e.to_string()))?;
    match source {
        DataSource::Text { text, .. } => {
            for chunk in text.as_bytes().chunks(CHUNK_BYTES) {
                runner.feed(chunk).map_err(|e| Stop::Failed(e.to_string()))?;
                pacer.done += chunk.len() as f64;
                pacer.tick(&name).await?;
            }
        }
        DataSource::Blob { url, .. } => stream_blob(runner, pacer, &name, url).await?,
    }
    runner.end_source().map_err(|e| Stop::Failed(e.to_string()))
}

#[cfg(target_arch = "wasm32")]
async fn stream_blob(runner: &mut PipelineRunner, pacer: &mut Pacer, name: &str, url: &str) -> Result<(), Stop> {
    use wasm_bindgen::JsCast;
    use wasm_bindgen_futures::JsFuture;
    let scope: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let failed = |what: &str| Stop::Failed(format!("{name} could not be read ({what})."));
    let response = JsFuture::from(scope.fetch_with_str(url)).await.map_err(|_| failed("fetch"))?;
    let response: web_sys::Response = response.dyn_into().map_err(|_| failed("response"))?;
    let body = response.body().ok_or_else(|| failed("no body"))?;
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::new();
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|_| failed("stream"))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true);
        if done {
            return Ok(());
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|_| failed("chunk"))?;
        let array: js_sys::Uint8Array = value.unchecked_into();
        bytes.resize(array.length() as usize, 0);
        array.copy_to(&mut bytes);
        runner.feed(&bytes).map_err(|e| Stop::Failed(e.to_string()))?;
        pacer.done += bytes.len() as f64;
        pacer.tick(name).await?;
    }
}

#[cfg(not(target_arch = "wasm32"))]
async fn stream_blob(_runner: &mut PipelineRunner, _pacer: &mut Pacer, name: &str, _url: &str) -> Result<(), Stop> {
    Err(Stop::Failed(format!("{name}: blob URLs are only readable in the browser")))
}

async fn run_pipeline(id: u32, config: PipelineConfig, sources: Vec<DataSource>) -> Result<DataResponse, Stop> {
    let started = now_millis();
    let total = sources
        .iter()
        .map(|s| match s {
            DataSource::Text { text, .. } => text.len() as f64,
            DataSource::Blob { bytes, .. } => *bytes,
        })
        .sum();
    let mut pacer = Pacer { id, total, done: 0.0, started, last_yield: started };
    let mut runner = PipelineRunner::new(config).map_err(|e| Stop::Failed(format!("The settings are not valid: {e}")))?;
    for source in &sources {
        feed_source(&mut runner, &mut pacer, source).await?;
    }
    post(id, Response::Progress { fraction: READ_SHARE, message: "Resolving near-duplicate clusters…".into() });
    checkpoint(id).await?;
    let mut finishing = runner.finish().map_err(|e| Stop::Failed(e.to_string()))?;
    while !finishing.step(2000) {
        let (done, all) = finishing.progress();
        let fraction = READ_SHARE + (1.0 - READ_SHARE) * done as f64 / all.max(1) as f64;
        post(id, Response::Progress { fraction, message: format!("Replacing PII: {done} of {all} documents") });
        checkpoint(id).await?;
    }
    let output = finishing.into_output();
    Ok(DataResponse::Finished { output, bytes: pacer.done, millis: now_millis() - started })
}

/// Run one request of this area for job `id`.
pub async fn run(id: u32, request: DataRequest) -> Result<Response, Cancelled> {
    checkpoint(id).await?;
    let result = match request {
        DataRequest::Run { config, sources } => run_pipeline(id, config, sources).await,
    };
    match result {
        Ok(r) => Ok(Response::Data(r)),
        Err(Stop::Cancelled) => Err(Cancelled),
        Err(Stop::Failed(message)) => Ok(Response::Error { message }),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::runtime::{block_on, take_posted};
    use llmlab_core::data::pipeline::run_pipeline as run_natively;

    #[test]
    fn the_worker_job_returns_what_the_core_pipeline_returns_for_the_same_text() {
        let text = "alpha beta gamma delta\n\nalpha beta gamma delta\n\nwrite to a@b.com\n".repeat(40_000);
        let config = PipelineConfig::default();
        let sources = vec![DataSource::Text { name: "pasted".into(), jsonl: false, text: text.clone() }];
        let response = block_on(run(1, DataRequest::Run { config: config.clone(), sources })).unwrap();
        let expected = run_natively(config, &[("pasted", text.as_bytes())]).unwrap();
        match response {
            Response::Data(DataResponse::Finished { output, bytes, .. }) => {
                assert_eq!(output, expected);
                assert_eq!(bytes, text.len() as f64);
            }
            other => panic!("{other:?}"),
        }
        let posted = take_posted();
        assert!(posted.iter().any(|(_, r)| matches!(r, Response::Progress { .. })));
    }

    #[test]
    fn invalid_settings_are_an_error_message() {
        let mut config = PipelineConfig::default();
        config.near_dedup.threshold = 2.0;
        let response = block_on(run(2, DataRequest::Run { config, sources: Vec::new() })).unwrap();
        assert!(matches!(response, Response::Error { message } if message.contains("threshold")));
    }
}
