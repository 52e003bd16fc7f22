//! Downloading files inside the worker, with progress and the Cache API.
//!
//! Sizes are checked before allocating: a `Content-Length` above
//! [`MAX_FILE_BYTES`] is refused up front, and a body that grows past it
//! while streaming is abandoned.

use crate::protocol::Response;
use crate::runtime::post;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// Largest single file we read into wasm memory (wasm32 has 4 GiB in all).
pub const MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Name of the Cache API bucket for Hub downloads.
const CACHE_NAME: &str = "llmlab-models-v1";

fn scope() -> web_sys::WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn js_err(context: &str, e: JsValue) -> String {
    let detail = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| format!("{e:?}"));
    format!("{context}: {detail}")
}

/// A downloaded file.
pub struct Fetched {
    /// The bytes.
    pub bytes: Vec<u8>,
    /// Served from the Cache API.
    pub from_cache: bool,
}

async fn open_cache() -> Option<web_sys::Cache> {
    let caches = scope().caches().ok()?;
    let cache = JsFuture::from(caches.open(CACHE_NAME)).await.ok()?;
    cache.dyn_into().ok()
}

/// Fetch `url`, reporting progress for job `id` as "`label`: x of y MB".
/// `Ok(None)` when the server answers 404 (optional files).
pub async fn fetch_bytes(id: u32, url: &str, label: &str, use_cache: bool) -> Result<Option<Fetched>, String> {
    let cache = if use_cache { open_cache().await } else { None };
    let mut from_cache = false;
    let mut response: Option<web_sys::Response> = None;
    if let Some(cache) = &cache {
        if let Ok(hit) = JsFuture::from(cache.match_with_str(url)).await {
            if let Ok(r) = hit.dyn_into::<web_sys::Response>() {
                response = Some(r);
                from_cache = true;
            }
        }
    }
    let response = match response {
        Some(r) => r,
        None => {
            let r = JsFuture::from(scope().fetch_with_str(url))
                .await
                .map_err(|e| js_err(&format!("Could not download {url}"), e))?;
            let r: web_sys::Response = r.dyn_into().map_err(|e| js_err("Unexpected fetch result", e))?;
            if r.status() == 404 {
                return Ok(None);
            }
            if !r.ok() {
                return Err(format!("Downloading {url} failed: HTTP {} {}", r.status(), r.status_text()));
            }
            if let Some(cache) = &cache {
                // Store a copy; the original body is read below.
                if let Ok(copy) = r.clone() {
                    let _ = JsFuture::from(cache.put_with_str(url, &copy)).await;
                }
            }
            r
        }
    };
    let total: Option<u64> = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse().ok());
    if let Some(total) = total {
        if total > MAX_FILE_BYTES {
            return Err(format!("{url} is {total} bytes, more than the {MAX_FILE_BYTES} bytes a browser tab can hold."));
        }
    }
    let body = match response.body() {
        Some(body) => body,
        None => return Ok(Some(Fetched { bytes: Vec::new(), from_cache })),
    };
    let reader: web_sys::ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes: Vec<u8> = Vec::with_capacity(total.unwrap_or(0).min(MAX_FILE_BYTES) as usize);
    let mut last_report = 0.0;
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| js_err(&format!("Download of {url} broke"), e))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()).unwrap_or(true);
        if done {
            break;
        }
        let value = js_sys::Reflect::get(&chunk, &"value".into()).map_err(|e| js_err("Bad stream chunk", e))?;
        let array: js_sys::Uint8Array = value.unchecked_into();
        if bytes.len() as u64 + u64::from(array.length()) > MAX_FILE_BYTES {
            return Err(format!("{url} is larger than the {MAX_FILE_BYTES} bytes a browser tab can hold."));
        }
        let start = bytes.len();
        bytes.resize(start + array.length() as usize, 0);
        array.copy_to(&mut bytes[start..]);
        let now = js_sys::Date::now();
        if now - last_report > 100.0 {
            last_report = now;
            let mb = bytes.len() as f64 / 1e6;
            let (fraction, message) = match total {
                Some(t) if t > 0 => (bytes.len() as f64 / t as f64, format!("{label}: {mb:.1} of {:.1} MB", t as f64 / 1e6)),
                _ => (0.0, format!("{label}: {mb:.1} MB")),
            };
            post(id, Response::Progress { fraction, message });
        }
    }
    Ok(Some(Fetched { bytes, from_cache }))
}

/// Read a `File`/`Blob` into memory (size checked first).
pub async fn read_blob(blob: &web_sys::Blob) -> Result<Vec<u8>, String> {
    let size = blob.size();
    if size > MAX_FILE_BYTES as f64 {
        return Err(format!("The file is {size} bytes, more than the {MAX_FILE_BYTES} bytes a browser tab can hold."));
    }
    let buffer = JsFuture::from(blob.array_buffer()).await.map_err(|e| js_err("Could not read the file", e))?;
    Ok(js_sys::Uint8Array::new(&buffer).to_vec())
}
