//! The offset-tracking string that flows through the pipeline.
//!
//! A [`NormalizedString`] holds the text as the normalizers left it, plus, for
//! every BYTE of that text, the byte range of the ORIGINAL input it came from
//! (its "alignment"). Every transformation (lowercasing, NFD, byte-level
//! mapping, prepending `▁`...) updates the alignments, so that each final
//! token can report where it came from in the user's text.
//!
//! This is a port of HF `tokenizers`' `NormalizedString`, keeping its exact
//! rules for inserted characters (they share the alignment of the byte before
//! them, or `(0, 0)` at the very start), because those rules decide the
//! offsets Python users see.

use alloc::string::String;
use alloc::vec::Vec;

/// A byte range `(start, end)`.
pub type Offsets = (usize, usize);

/// What to do with the delimiter when splitting (HF's `SplitDelimiterBehavior`).
/// With input `the-final--countdown` split on `-`:
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SplitBehavior {
    /// `[the, final, countdown]`
    Removed,
    /// `[the, -, final, -, -, countdown]`
    Isolated,
    /// `[the-, final-, -, countdown]`
    MergedWithPrevious,
    /// `[the, -final, -, -countdown]`
    MergedWithNext,
    /// `[the, -, final, --, countdown]`
    Contiguous,
}

impl SplitBehavior {
    /// Parses the name HF writes in tokenizer.json.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Removed" => Self::Removed,
            "Isolated" => Self::Isolated,
            "MergedWithPrevious" => Self::MergedWithPrevious,
            "MergedWithNext" => Self::MergedWithNext,
            "Contiguous" => Self::Contiguous,
            _ => return None,
        })
    }

    /// The name HF writes in tokenizer.json.
    pub fn name(self) -> &'static str {
        match self {
            Self::Removed => "Removed",
            Self::Isolated => "Isolated",
            Self::MergedWithPrevious => "MergedWithPrevious",
            Self::MergedWithNext => "MergedWithNext",
            Self::Contiguous => "Contiguous",
        }
    }
}

/// A string plus the original byte range of each of its bytes.
#[derive(Debug, Clone, Default)]
pub struct NormalizedString {
    /// The normalized text.
    normalized: String,
    /// For each byte of `normalized`: the byte range of the original slice it
    /// comes from, relative to `original_shift`.
    alignments: Vec<Offsets>,
    /// Length in bytes of the original slice this string covers.
    original_len: usize,
    /// Where this slice starts in the whole original input (bytes).
    original_shift: usize,
}

impl NormalizedString {
    /// Wraps an original string: every byte maps to its own char's range.
    pub fn from_original(text: &str) -> Self {
        let mut alignments = Vec::with_capacity(text.len());
        for (start, c) in text.char_indices() {
            let end = start + c.len_utf8();
            alignments.extend(core::iter::repeat_n((start, end), c.len_utf8()));
        }
        Self { normalized: String::from(text), alignments, original_len: text.len(), original_shift: 0 }
    }

    /// The normalized text.
    pub fn get(&self) -> &str {
        &self.normalized
    }

    /// Length of the normalized text in bytes.
    pub fn len(&self) -> usize {
        self.normalized.len()
    }

    /// True when nothing is left after normalization.
    pub fn is_empty(&self) -> bool {
        self.normalized.is_empty()
    }

    /// Where this slice starts in the whole original input (bytes).
    pub fn original_shift(&self) -> usize {
        self.original_shift
    }

    /// Byte range of this slice in the whole original input.
    pub fn offsets_original(&self) -> Offsets {
        (self.original_shift, self.original_shift + self.original_len)
    }

    /// Maps a byte range of the normalized text to a range of the original
    /// slice (relative), as HF's `convert_offsets(Range::Normalized(..))`.
    /// An empty range is returned unchanged, as HF does.
    pub fn normalized_to_original(&self, start: usize, end: usize) -> Option<Offsets> {
        if start == end {
            return Some((start, end));
        }
        if start > end {
            return None;
        }
        let slice = self.alignments.get(start..end)?;
        let first = slice.first()?;
        let last = slice.last()?;
        Some((first.0, last.1))
    }

    /// A sub-slice given by normalized byte offsets (must be char boundaries).
    pub fn slice(&self, start: usize, end: usize) -> Option<NormalizedString> {
        if start > end
            || end > self.normalized.len()
            || !self.normalized.is_char_boundary(start)
            || !self.normalized.is_char_boundary(end)
        {
            return None;
        }
        let (orig_start, orig_end) = if start == end {
            (start, end)
        } else if self.normalized.is_empty() {
            (0, self.original_len)
        } else {
            self.normalized_to_original(start, end)?
        };
        let orig_len = orig_end.checked_sub(orig_start)?;
        let alignments = self.alignments[start..end]
            .iter()
            .map(|&(a, b)| (a.saturating_sub(orig_start), b.saturating_sub(orig_start)))
            .collect();
        Some(Self {
            normalized: String::from(&self.normalized[start..end]),
            alignments,
            original_len: orig_len,
            original_shift: self.original_shift + orig_start,
        })
    }

    /// Replaces the bytes `range` of the normalized text by the characters of
    /// `dest`, each tagged with a change: `0` replaces the next old char, `1`
    /// inserts a new char, `-N` replaces the next old char and removes the N
    /// following ones. `initial_offset` old chars are removed first.
    pub fn transform_range<I>(&mut self, range: core::ops::Range<usize>, dest: I, initial_offset: usize)
    where
        I: IntoIterator<Item = (char, isize)>,
    {
        let Some(old) = self.normalized.get(range.clone()) else { return };
        let mut replaced = old.chars();
        let initial_removed: usize = (&mut replaced).take(initial_offset).map(char::len_utf8).sum();
        let mut offset = initial_removed + range.start;
        let mut new_text = String::with_capacity(range.len());
        let mut new_alignments: Vec<Offsets> = Vec::with_capacity(range.len());
        for (c, change) in dest {
            let align = if change > 0 {
                // A new character shares the alignment of the byte before it.
                if offset < 1 {
                    (0, 0)
                } else {
                    self.alignments.get(offset - 1).copied().unwrap_or((0, 0))
                }
            } else {
                self.alignments.get(offset).copied().unwrap_or_else(|| {
                    self.alignments.last().map(|a| (a.1, a.1)).unwrap_or((0, 0))
                })
            };
            if change <= 0 {
                offset += replaced.next().map_or(0, char::len_utf8);
            }
            if change < 0 {
                offset += (&mut replaced).take(change.unsigned_abs()).map(char::len_utf8).sum::<usize>();
            }
            new_alignments.extend(core::iter::repeat_n(align, c.len_utf8()));
            new_text.push(c);
        }
        self.alignments.splice(range.clone(), new_alignments);
        self.normalized.replace_range(range, &new_text);
    }

    /// [`Self::transform_range`] over the whole string.
    pub fn transform<I>(&mut self, dest: I, initial_offset: usize)
    where
        I: IntoIterator<Item = (char, isize)>,
    {
        let len = self.normalized.len();
        self.transform_range(0..len, dest, initial_offset);
    }

    /// Keeps only the characters for which `keep` is true.
    pub fn filter<F: Fn(char) -> bool>(&mut self, keep: F) {
        let mut removed: isize = 0;
        let mut removed_start: usize = 0;
        let mut transforms = Vec::with_capacity(self.normalized.len());
        let mut last_c = None;
        for c in self.normalized.chars() {
            if keep(c) {
                match last_c {
                    Some(lc) => transforms.push((lc, -removed)),
                    None => removed_start = removed as usize,
                }
                last_c = Some(c);
                removed = 0;
            } else {
                removed += 1;
            }
        }
        if let Some(lc) = last_c {
            transforms.push((lc, -removed));
        } else {
            removed_start = removed as usize;
        }
        self.transform(transforms, removed_start);
    }

    /// Maps every character to another one.
    pub fn map<F: Fn(char) -> char>(&mut self, map: F) {
        let transforms: Vec<(char, isize)> = self.normalized.chars().map(|c| (map(c), 0)).collect();
        self.transform(transforms, 0);
    }

    /// Lowercases (a char may become several, e.g. `İ`).
    pub fn lowercase(&mut self) {
        let mut transforms = Vec::with_capacity(self.normalized.len());
        for c in self.normalized.chars() {
            for (i, lc) in c.to_lowercase().enumerate() {
                transforms.push((lc, isize::from(i > 0)));
            }
        }
        self.transform(transforms, 0);
    }

    /// Prepends `s`: its chars share the alignment of the first char.
    pub fn prepend(&mut self, s: &str) {
        if let Some(next) = self.normalized.chars().next() {
            let transforms: Vec<(char, isize)> = s
                .chars()
                .enumerate()
                .map(|(i, c)| (c, isize::from(i != 0)))
                .chain(core::iter::once((next, 1)))
                .collect();
            self.transform_range(0..next.len_utf8(), transforms, 0);
        }
    }

    /// Appends `s`: its chars share the alignment of the last char.
    pub fn append(&mut self, s: &str) {
        if let Some((b, prev)) = self.normalized.char_indices().last() {
            let transforms: Vec<(char, isize)> =
                core::iter::once((prev, 0)).chain(s.chars().map(|c| (c, 1))).collect();
            let len = self.normalized.len();
            self.transform_range(b..len, transforms, 0);
        } else {
            let transforms: Vec<(char, isize)> = s.chars().map(|c| (c, 1)).collect();
            self.transform_range(0..0, transforms, 0);
        }
    }

    /// Replaces each match (non-overlapping byte ranges, in order) by `content`;
    /// the new chars share the alignment of the last byte of the match.
    pub fn replace_matches(&mut self, matches: &[Offsets], content: &str) {
        let mut new_text = String::with_capacity(self.normalized.len());
        let mut new_alignments: Vec<Offsets> = Vec::with_capacity(self.alignments.len());
        let mut last_end = 0;
        for &(start, end) in matches {
            if start < last_end || end > self.normalized.len() {
                continue;
            }
            new_text.push_str(&self.normalized[last_end..start]);
            new_alignments.extend_from_slice(&self.alignments[last_end..start]);
            let align = if end < 1 { (0, 0) } else { self.alignments[end - 1] };
            for c in content.chars() {
                new_alignments.extend(core::iter::repeat_n(align, c.len_utf8()));
                new_text.push(c);
            }
            last_end = end;
        }
        new_text.push_str(&self.normalized[last_end..]);
        new_alignments.extend_from_slice(&self.alignments[last_end..]);
        self.normalized = new_text;
        self.alignments = new_alignments;
    }

    /// Strips whitespace on the left and/or right (HF's `lrstrip`).
    pub fn lrstrip(&mut self, left: bool, right: bool) {
        let leading = if left { self.normalized.chars().take_while(|c| c.is_whitespace()).count() } else { 0 };
        let trailing =
            if right { self.normalized.chars().rev().take_while(|c| c.is_whitespace()).count() } else { 0 };
        if leading == 0 && trailing == 0 {
            return;
        }
        let count = self.normalized.chars().count();
        // HF compares a char index with a byte length here; we keep that quirk
        // because it only changes which kept char is tagged, not the output.
        let byte_len = self.normalized.len();
        let transforms: Vec<(char, isize)> = self
            .normalized
            .chars()
            .enumerate()
            .filter_map(|(i, c)| {
                if i < leading || i >= count - trailing {
                    None
                } else if i + trailing + 1 == byte_len {
                    Some((c, -(trailing as isize)))
                } else {
                    Some((c, 0))
                }
            })
            .collect();
        self.transform(transforms, leading);
    }

    /// Splits on the given matches (`(range, is_match)` covering the whole
    /// string, as produced by a pattern) with HF's delimiter behaviors.
    pub fn split_by(&self, matches: Vec<(Offsets, bool)>, behavior: SplitBehavior) -> Vec<NormalizedString> {
        let splits: Vec<(Offsets, bool)> = match behavior {
            SplitBehavior::Isolated => matches.into_iter().map(|(o, _)| (o, false)).collect(),
            SplitBehavior::Removed => matches,
            SplitBehavior::Contiguous => {
                let mut previous_match = false;
                let mut acc: Vec<(Offsets, bool)> = Vec::new();
                for (offsets, is_match) in matches {
                    if is_match == previous_match {
                        if let Some(((_, end), _)) = acc.last_mut() {
                            *end = offsets.1;
                        } else {
                            acc.push((offsets, false));
                        }
                    } else {
                        acc.push((offsets, false));
                    }
                    previous_match = is_match;
                }
                acc
            }
            SplitBehavior::MergedWithPrevious => {
                let mut previous_match = false;
                let mut acc: Vec<(Offsets, bool)> = Vec::new();
                for (offsets, is_match) in matches {
                    if is_match && !previous_match {
                        if let Some(((_, end), _)) = acc.last_mut() {
                            *end = offsets.1;
                        } else {
                            acc.push((offsets, false));
                        }
                    } else {
                        acc.push((offsets, false));
                    }
                    previous_match = is_match;
                }
                acc
            }
            SplitBehavior::MergedWithNext => {
                let mut previous_match = false;
                let mut acc: Vec<(Offsets, bool)> = Vec::new();
                for (offsets, is_match) in matches.into_iter().rev() {
                    if is_match && !previous_match {
                        if let Some(((start, _), _)) = acc.last_mut() {
                            *start = offsets.0;
                        } else {
                            acc.push((offsets, false));
                        }
                    } else {
                        acc.push((offsets, false));
                    }
                    previous_match = is_match;
                }
                acc.reverse();
                acc
            }
        };
        splits
            .into_iter()
            .filter(|(_, remove)| !remove)
            .filter_map(|((start, end), _)| self.slice(start, end))
            .collect()
    }
}

/// Matches of a char predicate, as HF's `Pattern for Fn(char) -> bool`: each
/// matching char is its own match; the gaps are non-matches.
pub fn char_matches<F: Fn(char) -> bool>(inside: &str, pred: F) -> Vec<(Offsets, bool)> {
    if inside.is_empty() {
        return alloc::vec![((0, 0), false)];
    }
    let mut out = Vec::new();
    let mut last_offset = 0;
    for (b, c) in inside.char_indices() {
        if pred(c) {
            if last_offset < b {
                out.push(((last_offset, b), false));
            }
            out.push(((b, b + c.len_utf8()), true));
            last_offset = b + c.len_utf8();
        }
    }
    if inside.len() > last_offset {
        out.push(((last_offset, inside.len()), false));
    }
    out
}

/// Turns a list of match ranges (sorted, non-overlapping) into the full
/// `(range, is_match)` cover that HF's regex patterns produce.
pub fn cover_matches(inside: &str, found: &[Offsets]) -> Vec<(Offsets, bool)> {
    if inside.is_empty() {
        return alloc::vec![((0, 0), false)];
    }
    let mut out = Vec::with_capacity(found.len() * 2 + 1);
    let mut prev = 0;
    for &(start, end) in found {
        if prev != start {
            out.push(((prev, start), false));
        }
        out.push(((start, end), true));
        prev = end;
    }
    if prev != inside.len() {
        out.push(((prev, inside.len()), false));
    }
    out
}

/// Non-overlapping occurrences of a literal string (HF escapes it into a regex).
pub fn literal_matches(inside: &str, needle: &str) -> Vec<Offsets> {
    if needle.is_empty() {
        return Vec::new();
    }
    inside.match_indices(needle).map(|(i, m)| (i, i + m.len())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepend_shares_first_alignment() {
        let mut n = NormalizedString::from_original("ab");
        n.prepend("▁");
        assert_eq!(n.get(), "▁ab");
        assert_eq!(n.normalized_to_original(0, 3), Some((0, 1)));
    }

    #[test]
    fn filter_keeps_alignment() {
        let mut n = NormalizedString::from_original("a\u{0}b");
        n.filter(|c| c != '\u{0}');
        assert_eq!(n.get(), "ab");
        assert_eq!(n.normalized_to_original(1, 2), Some((2, 3)));
    }

    #[test]
    fn split_isolated_and_removed() {
        let n = NormalizedString::from_original("the-final--countdown");
        let m = char_matches(n.get(), |c| c == '-');
        let parts: Vec<String> =
            n.split_by(m.clone(), SplitBehavior::Removed).iter().map(|s| s.get().into()).collect();
        assert_eq!(parts, ["the", "final", "countdown"]);
        let parts: Vec<String> =
            n.split_by(m, SplitBehavior::MergedWithNext).iter().map(|s| s.get().into()).collect();
        assert_eq!(parts, ["the", "-final", "-", "-countdown"]);
    }
}
