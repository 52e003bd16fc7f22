//! GPT-2's byte-level pre-tokenizer.
//!
//! 1. Optionally prepend a space, so the first word looks like the others.
//! 2. Split with GPT-2's regex (contractions, letters, numbers, other, spaces).
//! 3. Map every UTF-8 byte to a printable char (`bytes_char`), so the BPE
//!    vocabulary never needs more than 256 base symbols and any input, even
//!    invalid-looking emoji fragments, is representable. A space becomes `Ġ`.

use super::super::error::TokenizerError;
use super::super::json::{self, Obj};
use super::super::normalized::{cover_matches, SplitBehavior};
use super::super::patterns::KnownPattern;
use super::super::PreTokenizedString;
use super::split_each;
use alloc::vec::Vec;
use serde_json::{json, Value};

/// Settings of HF's `ByteLevel` (pre-tokenizer, post-processor and decoder).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteLevel {
    /// Prepend a space when the text does not start with one.
    pub add_prefix_space: bool,
    /// (post-processor) Remove the `Ġ` spaces from the offsets.
    pub trim_offsets: bool,
    /// Split with the GPT-2 regex before mapping bytes.
    pub use_regex: bool,
}

impl Default for ByteLevel {
    fn default() -> Self {
        Self { add_prefix_space: true, trim_offsets: true, use_regex: true }
    }
}

/// The printable char standing for each byte (GPT-2's `bytes_to_unicode`):
/// printable Latin-1 bytes stand for themselves, the others are moved to
/// U+0100 and up, in order.
pub const fn byte_to_char_table() -> [char; 256] {
    let mut table = ['\0'; 256];
    let mut n = 0u32;
    let mut b = 0usize;
    while b < 256 {
        let printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        let cp = if printable {
            b as u32
        } else {
            let c = 256 + n;
            n += 1;
            c
        };
        table[b] = match char::from_u32(cp) {
            Some(c) => c,
            None => '\0',
        };
        b += 1;
    }
    table
}

/// Byte -> printable char.
pub static BYTE_TO_CHAR: [char; 256] = byte_to_char_table();

/// Printable char -> byte (`None` for chars outside the byte alphabet).
pub fn char_to_byte(c: char) -> Option<u8> {
    let cp = c as u32;
    if (0x21..=0x7E).contains(&cp) || (0xA1..=0xAC).contains(&cp) || (0xAE..=0xFF).contains(&cp) {
        return Some(cp as u8);
    }
    if (256..256 + 68).contains(&cp) {
        // The (256 - 188) non-printable bytes, in increasing order.
        let idx = (cp - 256) as usize;
        return (0u16..256).filter(|&b| BYTE_TO_CHAR[b as usize] as u32 >= 256).nth(idx).map(|b| b as u8);
    }
    None
}

impl ByteLevel {
    pub(crate) fn from_json(o: &Obj, path: &str) -> Result<Self, TokenizerError> {
        Ok(Self {
            add_prefix_space: json::bool_or(o, "add_prefix_space", path, true)?,
            trim_offsets: json::bool_or(o, "trim_offsets", path, true)?,
            use_regex: json::bool_or(o, "use_regex", path, true)?,
        })
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "type": "ByteLevel",
            "add_prefix_space": self.add_prefix_space,
            "trim_offsets": self.trim_offsets,
            "use_regex": self.use_regex,
        })
    }

    /// Splits and maps bytes to chars.
    pub fn pre_tokenize(&self, pre: &mut PreTokenizedString) {
        split_each(pre, |mut n| {
            if self.add_prefix_space && !n.get().starts_with(' ') {
                n.prepend(" ");
            }
            if self.use_regex {
                let found = KnownPattern::Gpt2.find_all(n.get());
                let cover = cover_matches(n.get(), &found);
                n.split_by(cover, SplitBehavior::Isolated)
            } else {
                alloc::vec![n]
            }
        });
        for split in pre.splits.iter_mut().filter(|s| s.tokens.is_none()) {
            let s = split.normalized.get();
            let mut changes: Vec<(char, isize)> = Vec::with_capacity(s.len());
            for c in s.chars() {
                let mut buf = [0u8; 4];
                for (i, b) in c.encode_utf8(&mut buf).bytes().enumerate() {
                    changes.push((BYTE_TO_CHAR[b as usize], isize::from(i > 0)));
                }
            }
            split.normalized.transform(changes, 0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_table_is_a_bijection() {
        assert_eq!(BYTE_TO_CHAR[b' ' as usize], 'Ġ');
        assert_eq!(BYTE_TO_CHAR[b'\n' as usize], 'Ċ');
        for b in 0..=255u8 {
            assert_eq!(char_to_byte(BYTE_TO_CHAR[b as usize]), Some(b));
        }
    }
}
