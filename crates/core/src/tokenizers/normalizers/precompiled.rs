//! SentencePiece's precompiled normalization map (T5, ALBERT, XLM-R...).
//!
//! `precompiled_charsmap` is base64 of: a little-endian u32 byte size of a
//! double-array trie, the trie's u32 units, then a blob of NUL-terminated
//! replacement strings. Looking a string up walks the trie byte by byte; a
//! unit with a leaf flag points at the replacement's offset in the blob.
//! As in HF (and SentencePiece), each grapheme cluster shorter than 6 bytes
//! is looked up whole, otherwise its chars one by one, and the SHORTEST
//! matching prefix wins.

use super::super::normalized::NormalizedString;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use unicode_segmentation::UnicodeSegmentation;

/// The parsed map.
#[derive(Debug, Clone)]
pub struct Precompiled {
    /// The raw bytes (saved back as base64).
    raw: Vec<u8>,
    /// The double-array trie units.
    trie: Vec<u32>,
    /// The NUL-separated replacement strings.
    normalized: Vec<u8>,
}

/// Largest precompiled map we accept (real ones are ~250 KB).
const MAX_CHARSMAP_BYTES: usize = 16 * 1024 * 1024;

impl Precompiled {
    /// Decodes the base64 string from tokenizer.json.
    pub fn from_base64(text: &str) -> Result<Self, String> {
        if text.len() > MAX_CHARSMAP_BYTES {
            return Err(format!("precompiled map is larger than {MAX_CHARSMAP_BYTES} bytes"));
        }
        let raw = base64_decode(text).ok_or_else(|| String::from("invalid base64"))?;
        Self::from_bytes(raw)
    }

    /// Parses the raw map.
    pub fn from_bytes(raw: Vec<u8>) -> Result<Self, String> {
        let size_bytes: [u8; 4] = raw.get(..4).and_then(|b| b.try_into().ok()).ok_or("map shorter than its header")?;
        let trie_bytes = u32::from_le_bytes(size_bytes) as usize;
        let trie_end = 4usize.checked_add(trie_bytes).ok_or("trie size overflows")?;
        if trie_bytes % 4 != 0 || trie_end > raw.len() {
            return Err(format!("trie size {trie_bytes} does not fit in a map of {} bytes", raw.len()));
        }
        let trie = raw[4..trie_end]
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let normalized = raw[trie_end..].to_vec();
        if core::str::from_utf8(&normalized).is_err() {
            return Err(String::from("replacement blob is not UTF-8"));
        }
        Ok(Self { raw, trie, normalized })
    }

    /// The base64 form for tokenizer.json.
    pub fn to_base64(&self) -> String {
        base64_encode(&self.raw)
    }

    /// The replacement for the shortest prefix of `chunk` found in the trie.
    pub fn transform(&self, chunk: &str) -> Option<&str> {
        let unit = |pos: usize| self.trie.get(pos).copied();
        let offset = |u: u32| ((u >> 10) << ((u & (1 << 9)) >> 6)) as usize;
        let label = |u: u32| (u & ((1 << 31) | 0xFF)) as usize;
        let has_leaf = |u: u32| (u >> 8) & 1 == 1;
        let value = |u: u32| (u & ((1 << 31) - 1)) as usize;

        let mut node_pos = 0usize;
        let first = unit(node_pos)?;
        node_pos ^= offset(first);
        for &byte in chunk.as_bytes() {
            if byte == 0 {
                break;
            }
            node_pos ^= byte as usize;
            let u = unit(node_pos)?;
            if label(u) != byte as usize {
                return None;
            }
            node_pos ^= offset(u);
            if has_leaf(u) {
                let start = value(unit(node_pos)?);
                let rest = self.normalized.get(start..)?;
                let len = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                return core::str::from_utf8(&rest[..len]).ok();
            }
        }
        None
    }

    /// Normalizes in place (HF's grapheme-then-char rule).
    pub fn normalize(&self, n: &mut NormalizedString) {
        let mut changes: Vec<(char, isize)> = Vec::with_capacity(n.len());
        let mut modified = false;
        for grapheme in n.get().graphemes(true) {
            if grapheme.len() < 6 {
                if let Some(norm) = self.transform(grapheme) {
                    modified = true;
                    push_replacement(&mut changes, grapheme, norm);
                    continue;
                }
            }
            for (i, c) in grapheme.char_indices() {
                let part = &grapheme[i..i + c.len_utf8()];
                if let Some(norm) = self.transform(part) {
                    modified = true;
                    push_replacement(&mut changes, part, norm);
                } else {
                    changes.push((c, 0));
                }
            }
        }
        if modified {
            n.transform(changes, 0);
        }
    }
}

/// Records that `old` became `new`: extra chars are insertions, missing ones
/// are removals charged to the last char (HF's `replace` helper).
fn push_replacement(changes: &mut Vec<(char, isize)>, old: &str, new: &str) {
    let diff = new.chars().count() as isize - old.chars().count() as isize;
    changes.extend(new.chars().map(|c| (c, 0)));
    if diff > 0 {
        for item in changes.iter_mut().rev().take(diff as usize) {
            item.1 = 1;
        }
    } else if diff < 0 {
        if let Some(last) = changes.last_mut() {
            last.1 += diff;
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (with padding) decoding; `None` on invalid input.
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc = 0u32;
    let mut bits = 0u32;
    let mut padding = 0;
    for &b in text.as_bytes() {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            b'\n' | b'\r' => continue,
            _ => return None,
        };
        if padding > 0 {
            return None;
        }
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Standard base64 encoding with padding.
pub fn base64_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_roundtrip() {
        for data in [&b""[..], b"a", b"ab", b"abc", b"abcd\xff\x00"] {
            assert_eq!(base64_decode(&base64_encode(data)).unwrap(), data);
        }
        assert_eq!(base64_encode(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Precompiled::from_base64("AAAA").is_err());
        assert!(Precompiled::from_base64("!!").is_err());
    }
}
