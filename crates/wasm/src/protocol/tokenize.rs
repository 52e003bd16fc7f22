//! Protocol of the tokenizers (issue #3) area.
//!
//! Requests are tagged by `op` inside the outer `kind = "tokenize"` tag, e.g.
//! `{"kind":"tokenize","op":"encode","source":{"from":"url",..},"text":"..","add_special_tokens":true}`.

use serde::{Deserialize, Serialize};

/// Where the tokenizer of a request comes from. The worker keeps parsed
/// (and trained) tokenizers by source, so re-encoding is instant.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum TokenizerSource {
    /// The tokenizer.json that came with the loaded model.
    Model,
    /// A tokenizer.json at a URL (the site's examples, or the Hub's GPT-2).
    Url {
        /// Absolute URL of the tokenizer.json.
        url: String,
        /// Keep a copy in the Cache API (Hub files, for offline use).
        use_cache: bool,
    },
    /// The text of a tokenizer.json the user uploaded.
    Json {
        /// The file's text.
        text: String,
    },
    /// Train a new tokenizer on `text` in the worker.
    Train {
        /// The training text (the pasted text).
        text: String,
        /// Family: `bpe`, `wordpiece` or `unigram`.
        model: String,
        /// Target vocabulary size, special tokens included.
        vocab_size: u32,
    },
}

/// Requests of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TokenizeRequest {
    /// Encode `text` and answer [`TokenizeResponse::Encoded`].
    Encode {
        /// Which tokenizer.
        source: TokenizerSource,
        /// The text to encode.
        text: String,
        /// Add the post-processor's special tokens (HF's default).
        add_special_tokens: bool,
    },
    /// Replay the BPE merges of one word: [`TokenizeResponse::Replay`].
    Replay {
        /// Which tokenizer (must be a BPE model).
        source: TokenizerSource,
        /// The word (only its first pre-tokenized piece is replayed).
        word: String,
    },
}

/// One BPE merge of a replay.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ReplayStep {
    /// Left symbol of the merged pair.
    pub left: String,
    /// Right symbol of the merged pair.
    pub right: String,
    /// The merge's rank (0 = learned first, applied first).
    pub rank: u32,
    /// The word's symbols after this merge.
    pub symbols: Vec<String>,
}

/// Responses of this area.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum TokenizeResponse {
    /// The encoding of a text.
    Encoded {
        /// Token ids.
        ids: Vec<u32>,
        /// Token strings, as the model's vocabulary spells them.
        tokens: Vec<String>,
        /// `(start, end)` character offsets into the text, as HF returns them.
        offsets: Vec<(u32, u32)>,
        /// 1 for tokens added by the post-processor.
        special: Vec<u32>,
        /// Size of the tokenizer's vocabulary (added tokens included).
        vocab_size: u32,
        /// Model family: `BPE`, `WordPiece`, `Unigram`.
        model: String,
        /// Milliseconds spent getting the tokenizer (fetch, parse or train;
        /// 0 when it came from the worker's cache).
        load_millis: f64,
        /// Milliseconds spent encoding.
        encode_millis: f64,
    },
    /// The BPE merges of one word, in order.
    Replay {
        /// The merges.
        steps: Vec<ReplayStep>,
    },
}

impl TokenizeResponse {
    /// Whether this is the last response of its job (streamed partial
    /// results return `false`).
    pub fn is_final(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Request;

    #[test]
    fn encode_request_json_shape() {
        let r = Request::Tokenize(TokenizeRequest::Encode {
            source: TokenizerSource::Train { text: "ab".into(), model: "bpe".into(), vocab_size: 300 },
            text: "hi".into(),
            add_special_tokens: true,
        });
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(
            json,
            r#"{"kind":"tokenize","op":"encode","source":{"from":"train","text":"ab","model":"bpe","vocab_size":300},"text":"hi","add_special_tokens":true}"#
        );
        assert_eq!(serde_json::from_str::<Request>(&json).unwrap(), r);
    }
}
