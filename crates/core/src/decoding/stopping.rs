//! When to stop: EOS, maximum length and stop strings.
//!
//! HF evaluates its `StoppingCriteriaList` on the sequence *after* the new
//! token is appended; a row is done as soon as any criterion fires.

use alloc::string::String;
use alloc::vec::Vec;

/// Turns token ids into text, for stop strings (the tokenizer's decoder).
pub type DecodeFn<'a> = dyn Fn(&[u32]) -> Option<String> + 'a;

/// HF's `MaxLengthCriteria` + `EosTokenCriteria` + `StopStringCriteria`.
pub struct StoppingCriteria<'a> {
    /// Total length (prompt + new tokens) at which generation stops.
    pub max_length: usize,
    /// Any of these as the last token ends the sequence.
    pub eos_token_ids: Vec<u32>,
    /// Strings that end generation once they appear overlapping the last token.
    pub stop_strings: Vec<String>,
    /// Decoder for stop strings (`None`: stop strings cannot be checked).
    pub decode: Option<&'a DecodeFn<'a>>,
}

impl<'a> StoppingCriteria<'a> {
    /// Is the sequence `ids` (prompt + generated) finished?
    pub fn is_done(&self, ids: &[u32]) -> bool {
        if ids.len() >= self.max_length {
            return true;
        }
        if let Some(last) = ids.last() {
            if self.eos_token_ids.contains(last) {
                return true;
            }
        }
        self.hits_stop_string(ids)
    }

    /// A stop string counts when it occurs in the decoded text and its
    /// occurrence reaches into the text of the final token (HF's rule: a
    /// match that survives removing the last token is old news).
    pub fn hits_stop_string(&self, ids: &[u32]) -> bool {
        let (Some(decode), Some((_, head))) = (self.decode, ids.split_last()) else {
            return false;
        };
        if self.stop_strings.is_empty() {
            return false;
        }
        let (Some(full), Some(before)) = (decode(ids), decode(head)) else {
            return false;
        };
        // The final token's text starts where the shared prefix ends.
        let boundary = full.bytes().zip(before.bytes()).take_while(|(a, b)| a == b).count();
        self.stop_strings.iter().filter(|s| !s.is_empty()).any(|stop| {
            full.match_indices(stop.as_str()).any(|(start, m)| start + m.len() > boundary)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn decode(ids: &[u32]) -> Option<String> {
        let words = ["st", "op", "x", "stop", "pped", "s", "to"];
        Some(ids.iter().map(|&i| words[i as usize]).collect::<Vec<_>>().concat())
    }

    #[test]
    fn eos_and_max_length() {
        let c = StoppingCriteria { max_length: 4, eos_token_ids: vec![9], stop_strings: vec![], decode: None };
        assert!(!c.is_done(&[1, 2]));
        assert!(c.is_done(&[1, 9]));
        assert!(c.is_done(&[1, 2, 3, 4]));
    }

    #[test]
    fn stop_string_must_touch_the_last_token() {
        let d: &DecodeFn = &decode;
        let c = StoppingCriteria { max_length: 99, eos_token_ids: vec![], stop_strings: vec!["stop".to_string()], decode: Some(d) };
        assert!(c.is_done(&[0, 1])); // st|op
        assert!(c.is_done(&[3])); // stop
        assert!(c.is_done(&[5, 6, 4])); // s|to|pped
        assert!(!c.is_done(&[3, 2])); // stop|x: old match
        assert!(!c.is_done(&[0, 2]));
    }
}
