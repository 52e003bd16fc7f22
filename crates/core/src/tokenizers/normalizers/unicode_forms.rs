//! Unicode normal forms (NFC, NFD, NFKC, NFKD) with offset tracking.
//!
//! Each input char is decomposed on its own (its first output char replaces
//! it, the others are insertions that share its offsets), combining marks
//! are put in canonical order, and for NFC/NFKC the result is recomposed;
//! a char absorbed by composition counts as removed by its starter. This reproduces the
//! alignments of HF's `unicode-normalization-alignments`.

use super::super::normalized::NormalizedString;
use alloc::vec::Vec;
use unicode_normalization::char::canonical_combining_class;

/// One of the four Unicode normal forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnicodeForm {
    /// Canonical composition.
    Nfc,
    /// Canonical decomposition.
    Nfd,
    /// Compatibility composition.
    Nfkc,
    /// Compatibility decomposition.
    Nfkd,
}

impl UnicodeForm {
    /// The tokenizer.json type name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Nfc => "NFC",
            Self::Nfd => "NFD",
            Self::Nfkc => "NFKC",
            Self::Nfkd => "NFKD",
        }
    }

    fn is_normalized(self, s: &str) -> bool {
        match self {
            Self::Nfc => unicode_normalization::is_nfc(s),
            Self::Nfd => unicode_normalization::is_nfd(s),
            Self::Nfkc => unicode_normalization::is_nfkc(s),
            Self::Nfkd => unicode_normalization::is_nfkd(s),
        }
    }

    /// Normalizes in place, keeping alignments.
    pub fn normalize(self, n: &mut NormalizedString) {
        let text = n.get();
        if self.is_normalized(text) {
            return;
        }
        // (Our own decomposition + composition, rather than the crate's
        // string functions, so that chars HF's older tables do not decompose
        // are left alone.)
        let changes = self.tracked(text);
        n.transform(changes, 0);
    }

    /// Decompose char by char (first char of a decomposition replaces the
    /// input char, the others are insertions), reorder combining marks by
    /// class, then (NFC/NFKC) compose, charging absorbed chars to the
    /// preceding output char as removals.
    fn tracked(self, text: &str) -> Vec<(char, isize)> {
        let compat = matches!(self, Self::Nfkc | Self::Nfkd);
        let mut items: Vec<(char, isize)> = Vec::with_capacity(text.len());
        for c in text.chars() {
            let start = items.len();
            let mut push = |d: char| {
                let change = if items.len() == start { 0 } else { 1 };
                items.push((d, change));
            };
            if !super::super::unicode::hf_decomposes(c, compat) {
                push(c);
            } else if compat {
                unicode_normalization::char::decompose_compatible(c, &mut push);
            } else {
                unicode_normalization::char::decompose_canonical(c, &mut push);
            }
        }
        // Canonical ordering: stable sort of each run of non-starters by
        // class; each char carries its change along (as HF's aligned NFD).
        let mut i = 0;
        while i < items.len() {
            if canonical_combining_class(items[i].0) == 0 {
                i += 1;
                continue;
            }
            let run_start = i;
            while i < items.len() && canonical_combining_class(items[i].0) != 0 {
                i += 1;
            }
            items[run_start..i].sort_by_key(|&(c, _)| canonical_combining_class(c));
        }
        if !matches!(self, Self::Nfc | Self::Nfkc) {
            return items;
        }
        let mut out: Vec<(char, isize)> = Vec::with_capacity(items.len());
        let mut starter: Option<usize> = None;
        let mut last_class: Option<u8> = None;
        for (c, change) in items {
            let class = canonical_combining_class(c);
            if let Some(si) = starter {
                let blocked = match last_class {
                    None => false,
                    Some(lc) => lc == 0 || lc >= class,
                };
                if !blocked {
                    if let Some(composed) = unicode_normalization::char::compose(out[si].0, c) {
                        out[si].0 = composed;
                        // An absorbed original char (change <= 0) is a removal
                        // charged to the starter that absorbed it.
                        if change <= 0 {
                            out[si].1 -= 1 - change;
                        }
                        continue;
                    }
                }
            }
            if class == 0 {
                starter = Some(out.len());
                last_class = None;
            } else {
                last_class = Some(class);
            }
            out.push((c, change));
        }
        out
    }
}
