//! Decoders: turn a list of tokens back into text (the inverse of the
//! byte-level mapping, `##` joining, `▁` to space, `<0xXX>` bytes to UTF-8).
//!
//! Each decoder maps the token list to a new token list ("decode chain");
//! the final text is the concatenation.

use super::error::TokenizerError;
use super::json::{self, Obj};
use super::normalizers::ReplacePattern;
use super::pre_tokenizers::byte_level::char_to_byte;
use super::pre_tokenizers::{Metaspace, PrependScheme};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{json, Value};

/// A decoder, as named in tokenizer.json.
#[derive(Debug, Clone)]
pub enum Decoder {
    /// Byte-level chars back to bytes, then UTF-8 (invalid bytes become U+FFFD).
    ByteLevel,
    /// Joins `##` continuations; other tokens get a leading space.
    WordPiece {
        /// The continuation prefix.
        prefix: String,
        /// Undo the tokenization spaces before punctuation (` .` -> `.`...).
        cleanup: bool,
    },
    /// `▁` back to spaces (dropping the prepended one).
    Metaspace(Metaspace),
    /// Runs of `<0xXX>` tokens decoded as UTF-8 (or one U+FFFD per byte if invalid).
    ByteFallback,
    /// Concatenates all tokens into one.
    Fuse,
    /// Removes up to `start` leading / `stop` trailing `content` chars of each token.
    Strip {
        /// The char to strip.
        content: char,
        /// How many at most on the left.
        start: usize,
        /// How many at most on the right.
        stop: usize,
    },
    /// Replaces a pattern in each token.
    Replace {
        /// What to find.
        pattern: ReplacePattern,
        /// What to put instead.
        content: String,
    },
    /// Replaces the end-of-word suffix by a space (none after the last token).
    Bpe {
        /// The suffix, `</w>` by default.
        suffix: String,
    },
    /// Several decoders in order.
    Sequence(Vec<Decoder>),
}

fn wordpiece_cleanup(s: &str) -> String {
    s.replace(" .", ".")
        .replace(" ?", "?")
        .replace(" !", "!")
        .replace(" ,", ",")
        .replace(" ' ", "'")
        .replace(" n't", "n't")
        .replace(" 'm", "'m")
        .replace(" do not", " don't")
        .replace(" 's", "'s")
        .replace(" 've", "'ve")
        .replace(" 're", "'re")
}

fn flush_bytes(out: &mut Vec<String>, bytes: &mut Vec<u8>) {
    if bytes.is_empty() {
        return;
    }
    match core::str::from_utf8(bytes) {
        Ok(s) => out.push(s.to_string()),
        Err(_) => out.extend(core::iter::repeat_n(String::from("\u{fffd}"), bytes.len())),
    }
    bytes.clear();
}

impl Decoder {
    /// One step of the chain.
    pub fn decode_chain(&self, tokens: Vec<String>) -> Vec<String> {
        match self {
            Self::ByteLevel => {
                let mut bytes = Vec::new();
                for t in &tokens {
                    let mapped: Option<Vec<u8>> = t.chars().map(char_to_byte).collect();
                    match mapped {
                        Some(b) => bytes.extend(b),
                        None => bytes.extend_from_slice(t.as_bytes()),
                    }
                }
                alloc::vec![String::from_utf8_lossy(&bytes).into_owned()]
            }
            Self::WordPiece { prefix, cleanup } => tokens
                .into_iter()
                .enumerate()
                .map(|(i, t)| {
                    let t = if i != 0 {
                        match t.strip_prefix(prefix.as_str()) {
                            Some(rest) => rest.to_string(),
                            None => format!(" {t}"),
                        }
                    } else {
                        t
                    };
                    if *cleanup {
                        wordpiece_cleanup(&t)
                    } else {
                        t
                    }
                })
                .collect(),
            Self::Metaspace(m) => tokens
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    t.chars()
                        .filter_map(|c| {
                            if c == m.replacement {
                                if i == 0 && m.prepend_scheme != PrependScheme::Never {
                                    None
                                } else {
                                    Some(' ')
                                }
                            } else {
                                Some(c)
                            }
                        })
                        .collect()
                })
                .collect(),
            Self::ByteFallback => {
                let mut out = Vec::with_capacity(tokens.len());
                let mut bytes = Vec::new();
                for t in tokens {
                    let byte = if t.len() == 6 && t.starts_with("<0x") && t.ends_with('>') {
                        u8::from_str_radix(&t[3..5], 16).ok()
                    } else {
                        None
                    };
                    match byte {
                        Some(b) => bytes.push(b),
                        None => {
                            flush_bytes(&mut out, &mut bytes);
                            out.push(t);
                        }
                    }
                }
                flush_bytes(&mut out, &mut bytes);
                out
            }
            Self::Fuse => alloc::vec![tokens.concat()],
            Self::Strip { content, start, stop } => tokens
                .into_iter()
                .map(|t| {
                    let chars: Vec<char> = t.chars().collect();
                    let mut start_cut = 0;
                    for (i, &c) in chars.iter().enumerate().take(*start) {
                        if c == *content {
                            start_cut = i + 1;
                        } else {
                            break;
                        }
                    }
                    let mut stop_cut = chars.len();
                    for i in 0..(*stop).min(chars.len()) {
                        let index = chars.len() - i - 1;
                        if chars[index] == *content {
                            stop_cut = index;
                        } else {
                            break;
                        }
                    }
                    if start_cut >= stop_cut {
                        String::new()
                    } else {
                        chars[start_cut..stop_cut].iter().collect()
                    }
                })
                .collect(),
            Self::Replace { pattern, content } => tokens
                .into_iter()
                .map(|t| {
                    let mut out = String::with_capacity(t.len());
                    let mut last = 0;
                    for (a, b) in pattern.find(&t) {
                        out.push_str(&t[last..a]);
                        out.push_str(content);
                        last = b;
                    }
                    out.push_str(&t[last..]);
                    out
                })
                .collect(),
            Self::Bpe { suffix } => {
                let n = tokens.len();
                tokens
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| t.replace(suffix.as_str(), if i + 1 == n { "" } else { " " }))
                    .collect()
            }
            Self::Sequence(list) => list.iter().fold(tokens, |acc, d| d.decode_chain(acc)),
        }
    }

    /// Decodes tokens to text.
    pub fn decode(&self, tokens: Vec<String>) -> String {
        self.decode_chain(tokens).concat()
    }

    /// Reads a decoder from its JSON object.
    pub fn from_json(v: &Value, path: &str) -> Result<Self, TokenizerError> {
        let o: &Obj = json::as_obj(v, path)?;
        let ty = json::get_type(o, path)?;
        Ok(match ty {
            "ByteLevel" => Self::ByteLevel,
            "WordPiece" => Self::WordPiece {
                prefix: json::opt_str(o, "prefix", path)?.unwrap_or("##").to_string(),
                cleanup: json::bool_or(o, "cleanup", path, true)?,
            },
            "Metaspace" => Self::Metaspace(Metaspace::from_json(o, path)?),
            "ByteFallback" => Self::ByteFallback,
            "Fuse" => Self::Fuse,
            "Strip" => Self::Strip {
                content: json::req_char(o, "content", path)?,
                start: json::usize_or(o, "start", path, 0)?,
                stop: json::usize_or(o, "stop", path, 0)?,
            },
            "Replace" => Self::Replace {
                pattern: ReplacePattern::from_json(json::req(o, "pattern", path)?, &json::join(path, "pattern"))?,
                content: json::req_str(o, "content", path)?.to_string(),
            },
            "BPEDecoder" => Self::Bpe { suffix: json::opt_str(o, "suffix", path)?.unwrap_or("</w>").to_string() },
            "Sequence" => {
                let list = json::req_array(o, "decoders", path)?;
                let mut out = Vec::with_capacity(list.len());
                for (i, item) in list.iter().enumerate() {
                    out.push(Self::from_json(item, &format!("{path}.decoders[{i}]"))?);
                }
                Self::Sequence(out)
            }
            other => return Err(json::unsupported("decoder", other)),
        })
    }

    /// The tokenizer.json form.
    pub fn to_json(&self) -> Value {
        match self {
            Self::ByteLevel => {
                json!({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true})
            }
            Self::WordPiece { prefix, cleanup } => json!({"type": "WordPiece", "prefix": prefix, "cleanup": cleanup}),
            Self::Metaspace(m) => m.to_json(),
            Self::ByteFallback => json!({"type": "ByteFallback"}),
            Self::Fuse => json!({"type": "Fuse"}),
            Self::Strip { content, start, stop } => {
                json!({"type": "Strip", "content": String::from(*content), "start": start, "stop": stop})
            }
            Self::Replace { pattern, content } => {
                json!({"type": "Replace", "pattern": pattern.to_json(), "content": content})
            }
            Self::Bpe { suffix } => json!({"type": "BPEDecoder", "suffix": suffix}),
            Self::Sequence(list) => {
                json!({"type": "Sequence", "decoders": list.iter().map(Self::to_json).collect::<Vec<_>>()})
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_fallback_invalid_utf8_gives_one_replacement_per_byte() {
        let toks = alloc::vec!["<0xE2>".to_string(), "<0x82>".to_string(), "a".to_string()];
        assert_eq!(Decoder::ByteFallback.decode(toks), "\u{fffd}\u{fffd}a");
        let toks = alloc::vec!["<0xE2>".to_string(), "<0x82>".to_string(), "<0xAC>".to_string()];
        assert_eq!(Decoder::ByteFallback.decode(toks), "€");
    }

    #[test]
    fn byte_level_roundtrip() {
        assert_eq!(Decoder::ByteLevel.decode(alloc::vec!["Hello".into(), "Ġworld".into()]), "Hello world");
    }
}
