//! Worker jobs of the tokenize area: each request of
//! [`crate::protocol::tokenize`] runs here, off the UI thread.
//!
//! Parsed and trained tokenizers are kept in a small per-worker cache keyed
//! by their source, so typing in the text box re-encodes without fetching,
//! parsing or training again. The loaded model's tokenizer is never copied:
//! it is borrowed from the session.

use crate::fetch::fetch_bytes;
use crate::protocol::tokenize::{ReplayStep, TokenizeRequest, TokenizeResponse, TokenizerSource};
use crate::protocol::Response;
use crate::session::{self, Loaded};
use crate::runtime::{checkpoint, post, Cancelled};
use llmlab_core::tokenizers::trainers::{add_bert_processor, default_pipeline};
use llmlab_core::tokenizers::{Model, Tokenizer};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// How many parsed/trained tokenizers the worker keeps (oldest dropped first).
const CACHE_ENTRIES: usize = 8;
/// Largest vocabulary the in-browser trainer is asked for.
const MAX_TRAIN_VOCAB: u32 = 8000;

thread_local! {
    /// (source key, tokenizer), most recently used last.
    static CACHE: RefCell<VecDeque<(String, Rc<Tokenizer>)>> = const { RefCell::new(VecDeque::new()) };
}

/// A tokenizer ready to use: borrowed from the session or from the cache.
enum Held {
    /// The loaded model's (checked to have a tokenizer).
    Session(Rc<Loaded>),
    /// Parsed or trained here.
    Cached(Rc<Tokenizer>),
}

impl Held {
    fn get(&self) -> Result<&Tokenizer, String> {
        match self {
            Held::Session(l) => l.tokenizer.as_ref().ok_or_else(|| format!("The loaded model ({}) has no tokenizer.json.", l.label)),
            Held::Cached(t) => Ok(t),
        }
    }
}

/// 64-bit FNV-1a, to key uploaded and training texts without storing them twice.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

fn cache_key(source: &TokenizerSource) -> String {
    match source {
        TokenizerSource::Model => String::new(),
        TokenizerSource::Url { url, .. } => format!("url:{url}"),
        TokenizerSource::Json { text } => format!("json:{}:{:016x}", text.len(), fnv1a(&[text])),
        TokenizerSource::Train { text, model, vocab_size } => {
            format!("train:{model}:{vocab_size}:{}:{:016x}", text.len(), fnv1a(&[text]))
        }
    }
}

fn cache_get(key: &str) -> Option<Rc<Tokenizer>> {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        let pos = c.iter().position(|(k, _)| k == key)?;
        let entry = c.remove(pos)?;
        let tok = entry.1.clone();
        c.push_back(entry);
        Some(tok)
    })
}

fn cache_put(key: String, tok: Rc<Tokenizer>) {
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        while c.len() >= CACHE_ENTRIES {
            c.pop_front();
        }
        c.push_back((key, tok));
    });
}

fn parse(text: &str, what: &str) -> Result<Tokenizer, String> {
    Tokenizer::from_json(text).map_err(|e| format!("{what} is not a tokenizer.json we can use: {e}"))
}

/// Train a tokenizer of family `model` on `text`, as `llmlab train-tokenizer` does.
fn train(text: &str, model: &str, vocab_size: u32) -> Result<Tokenizer, String> {
    if text.trim().is_empty() {
        return Err("Paste some text first: the tokenizer is trained on it.".into());
    }
    let specials: Vec<String> = match model {
        "unigram" => vec!["<unk>".into()],
        "wordpiece" => vec!["[UNK]".into()],
        _ => Vec::new(),
    };
    let vocab_size = vocab_size.clamp(2, MAX_TRAIN_VOCAB) as usize;
    let (mut tok, spec) = default_pipeline(model, vocab_size, 0, specials).map_err(|e| e.to_string())?;
    tok.train(text.split_inclusive('\n'), &spec).map_err(|e| format!("Training failed: {e}"))?;
    if model == "wordpiece" {
        add_bert_processor(&mut tok);
    }
    Ok(tok)
}

/// Find the tokenizer of `source`: from the session, the cache, or by
/// fetching, parsing or training it (then cached). Also returns the
/// milliseconds that took.
async fn resolve(id: u32, source: &TokenizerSource) -> Result<(Held, f64), String> {
    if let TokenizerSource::Model = source {
        return Ok((Held::Session(session::require()?), 0.0));
    }
    let key = cache_key(source);
    if let Some(tok) = cache_get(&key) {
        return Ok((Held::Cached(tok), 0.0));
    }
    let started = js_sys::Date::now();
    let tok = match source {
        TokenizerSource::Model => return Err("unreachable: model source".into()),
        TokenizerSource::Url { url, use_cache } => {
            let name = url.rsplit('/').next().unwrap_or("tokenizer.json");
            let fetched = fetch_bytes(id, url, name, *use_cache)
                .await?
                .ok_or_else(|| format!("{url} was not found (404)."))?;
            let text = String::from_utf8(fetched.bytes).map_err(|_| format!("{url} is not UTF-8 text."))?;
            post(id, Response::Progress { fraction: 1.0, message: "Reading the tokenizer…".into() });
            parse(&text, url)?
        }
        TokenizerSource::Json { text } => parse(text, "The uploaded file")?,
        TokenizerSource::Train { text, model, vocab_size } => {
            post(id, Response::Progress { fraction: 0.0, message: format!("Training a {model} tokenizer on the text…") });
            train(text, model, *vocab_size)?
        }
    };
    let tok = Rc::new(tok);
    cache_put(key, tok.clone());
    Ok((Held::Cached(tok), js_sys::Date::now() - started))
}

fn model_name(tok: &Tokenizer) -> &'static str {
    match tok.model {
        Model::Bpe(_) => "BPE",
        Model::WordPiece(_) => "WordPiece",
        Model::Unigram(_) => "Unigram",
        Model::WordLevel(_) => "WordLevel",
    }
}

async fn encode(id: u32, source: &TokenizerSource, text: &str, add_special_tokens: bool) -> Result<TokenizeResponse, String> {
    let (held, load_millis) = resolve(id, source).await?;
    let tok = held.get()?;
    post(id, Response::Progress { fraction: 0.5, message: format!("Encoding {} characters…", text.chars().count()) });
    // One call for the whole text: 100 KB encodes in well under a second
    // here, and cutting it at line boundaries would change what byte-level
    // BPE sees at the cuts (its regex joins runs of newlines).
    let started = js_sys::Date::now();
    let enc = tok.encode(text, add_special_tokens).map_err(|e| format!("Encoding failed: {e}"))?;
    let encode_millis = js_sys::Date::now() - started;
    let to_u32 = |x: usize| u32::try_from(x).unwrap_or(u32::MAX);
    Ok(TokenizeResponse::Encoded {
        ids: enc.ids,
        tokens: enc.tokens,
        offsets: enc.offsets.into_iter().map(|(s, e)| (to_u32(s), to_u32(e))).collect(),
        special: enc.special_tokens_mask,
        vocab_size: to_u32(tok.vocab_size()),
        model: model_name(tok).to_string(),
        load_millis,
        encode_millis,
    })
}

async fn replay(id: u32, source: &TokenizerSource, word: &str) -> Result<TokenizeResponse, String> {
    let (held, _) = resolve(id, source).await?;
    let tok = held.get()?;
    if !matches!(tok.model, Model::Bpe(_)) {
        return Err(format!(
            "The merge replay needs a BPE tokenizer; this one is {}. Pick GPT-2 or a BPE tokenizer trained here.",
            model_name(tok)
        ));
    }
    let steps = tok.bpe_replay(word).map_err(|e| format!("Merge replay failed: {e}"))?;
    Ok(TokenizeResponse::Replay {
        steps: steps
            .into_iter()
            .map(|s| ReplayStep { left: s.pair.0, right: s.pair.1, rank: s.rank, symbols: s.symbols })
            .collect(),
    })
}

/// Run one request of this area for job `id`. Long loops call
/// `crate::runtime::checkpoint(id).await?` between chunks so the job can be
/// cancelled and the worker stays responsive to messages.
pub async fn run(id: u32, request: TokenizeRequest) -> Result<Response, Cancelled> {
    checkpoint(id).await?;
    let result = match request {
        TokenizeRequest::Encode { source, text, add_special_tokens } => encode(id, &source, &text, add_special_tokens).await,
        TokenizeRequest::Replay { source, word } => replay(id, &source, &word).await,
    };
    Ok(match result {
        Ok(r) => Response::Tokenize(r),
        Err(message) => Response::Error { message },
    })
}
