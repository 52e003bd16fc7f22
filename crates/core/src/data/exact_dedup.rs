//! Exact deduplication: whole documents, then repeated lines.
//!
//! Crawls repeat themselves: the same article under several URLs, and the
//! same navigation bar, cookie notice or footer on every page of a site.
//! Both are removed here, exactly (near-duplicates are [`super::minhash`]'s
//! job):
//!
//! - **documents** ([`dedup_documents`]): each text is normalized
//!   ([`super::normalize::normalize`]) and keyed by the first 8 bytes of the
//!   SHA-1 of its UTF-8 bytes; documents with the same key *and* the same
//!   normalized text are duplicates (the text comparison makes a hash
//!   collision harmless). The first document in input order is kept, and
//!   every later one reports which kept document it matched.
//! - **lines** ([`dedup_lines`]), in the style of datatrove's line-level
//!   deduplication: documents are read in order; a line (normalized, then
//!   split at `\n`; empty lines are never removed) that already appeared in
//!   an *earlier* document is removed from this one. Repeats inside one
//!   document are kept (a poem's refrain is not boilerplate). A document
//!   left with no non-empty line is dropped. Each removed line reports the
//!   document and line where it first appeared. (C4 deduplicates 3-sentence
//!   spans instead; lines are the unit that web boilerplate repeats in.)

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::normalize::{normalize, NormalizeConfig};

/// The first 8 bytes of the SHA-1 of `text`'s UTF-8 bytes, little-endian.
pub fn text_hash(text: &str) -> u64 {
    let d = sha1_smol::Sha1::from(text.as_bytes()).digest().bytes();
    u64::from_le_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// The outcome of [`dedup_documents`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DocumentDedup {
    /// Indices of the kept documents, in input order.
    pub kept: Vec<usize>,
    /// For each input document, `None` if kept, else the index of the kept
    /// document with the same normalized text.
    pub duplicate_of: Vec<Option<usize>>,
    /// How many documents were removed (`input - kept`).
    pub removed: usize,
}

/// Whole-document exact deduplication of `texts` after `config`'s
/// normalization; see the module doc.
pub fn dedup_documents<S: AsRef<str>>(texts: &[S], config: &NormalizeConfig) -> DocumentDedup {
    let normalized: Vec<String> = texts.iter().map(|t| normalize(t.as_ref(), config)).collect();
    // hash -> kept documents with that hash (more than one only on a collision)
    let mut seen: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
    let mut kept = Vec::new();
    let mut duplicate_of = Vec::with_capacity(texts.len());
    for (i, text) in normalized.iter().enumerate() {
        let bucket = seen.entry(text_hash(text)).or_default();
        match bucket.iter().copied().find(|&k| normalized.get(k) == Some(text)) {
            Some(k) => duplicate_of.push(Some(k)),
            None => {
                bucket.push(i);
                kept.push(i);
                duplicate_of.push(None);
            }
        }
    }
    let removed = texts.len() - kept.len();
    DocumentDedup { kept, duplicate_of, removed }
}

/// A line removed by [`dedup_lines`] and where it first appeared.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct RemovedLine {
    /// The document it was removed from.
    pub document: usize,
    /// Its line number in that (normalized) document, from 0.
    pub line: usize,
    /// The document of its first appearance (always an earlier one).
    pub first_document: usize,
    /// Its line number there.
    pub first_line: usize,
}

/// The outcome of [`dedup_lines`].
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LineDedup {
    /// Each document's normalized text without its removed lines; `None`
    /// when no non-empty line is left (the document is dropped).
    pub documents: Vec<Option<String>>,
    /// Every removed line, in input order.
    pub removed_lines: Vec<RemovedLine>,
    /// How many documents were dropped.
    pub dropped_documents: usize,
}

/// Cross-document line deduplication; see the module doc.
pub fn dedup_lines<S: AsRef<str>>(texts: &[S], config: &NormalizeConfig) -> LineDedup {
    // line text -> (document, line) of its first appearance
    let mut first: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut documents = Vec::with_capacity(texts.len());
    let mut removed_lines = Vec::new();
    for (doc, text) in texts.iter().enumerate() {
        let normalized = normalize(text.as_ref(), config);
        let mut kept_lines: Vec<&str> = Vec::new();
        let mut new_here: Vec<(&str, usize)> = Vec::new();
        for (line_no, line) in normalized.split('\n').enumerate() {
            if line.is_empty() {
                kept_lines.push(line);
                continue;
            }
            match first.get(line) {
                Some(&(first_document, first_line)) => {
                    removed_lines.push(RemovedLine { document: doc, line: line_no, first_document, first_line })
                }
                None => {
                    kept_lines.push(line);
                    new_here.push((line, line_no));
                }
            }
        }
        // Registered after the document, so repeats inside it are kept.
        for (line, line_no) in new_here {
            first.entry(String::from(line)).or_insert((doc, line_no));
        }
        let out = kept_lines.join("\n");
        let trimmed = out.trim_matches('\n');
        documents.push(if trimmed.is_empty() { None } else { Some(String::from(trimmed)) });
    }
    let dropped_documents = documents.iter().filter(|d| d.is_none()).count();
    LineDedup { documents, removed_lines, dropped_documents }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn corpus() -> Vec<String> {
        let mut rng = crate::rng::Rng::new(7);
        let pieces =
            ["Home | About", "Cookie notice", "The cat sat.", "Le chat e\u{301}tait la\u{300}.", "Le chat \u{e9}tait l\u{e0}.", "x", ""];
        (0..200)
            .map(|_| {
                let n = 1 + (rng.next_u32() % 4) as usize;
                (0..n).map(|_| pieces[(rng.next_u32() as usize) % pieces.len()]).collect::<Vec<_>>().join(if rng.next_u32().is_multiple_of(2) {
                    "\n"
                } else {
                    "\r\n  "
                })
            })
            .collect()
    }

    #[test]
    fn kept_documents_are_distinct_and_every_duplicate_names_an_earlier_equal_kept_one() {
        let config = NormalizeConfig::default();
        let texts = corpus();
        let out = dedup_documents(&texts, &config);
        let norm: Vec<String> = texts.iter().map(|t| normalize(t, &config)).collect();
        assert_eq!(out.removed + out.kept.len(), texts.len());
        assert!(out.removed > 0);
        for (a, &i) in out.kept.iter().enumerate() {
            assert!(out.kept.iter().skip(a + 1).all(|&j| norm[i] != norm[j]));
        }
        for (i, d) in out.duplicate_of.iter().enumerate() {
            if let Some(k) = *d {
                assert!(k < i && norm[k] == norm[i] && out.duplicate_of[k].is_none());
            }
        }
    }

    #[test]
    fn document_dedup_is_idempotent() {
        let config = NormalizeConfig::default();
        let texts = corpus();
        let out = dedup_documents(&texts, &config);
        let kept: Vec<&String> = out.kept.iter().map(|&i| &texts[i]).collect();
        assert_eq!(dedup_documents(&kept, &config).removed, 0);
    }

    #[test]
    fn canonically_equivalent_spellings_are_duplicates() {
        let out = dedup_documents(&["Le chat e\u{301}tait", "Le  chat \u{e9}tait\r\n", "Le chat etait"], &NormalizeConfig::default());
        assert_eq!(out.duplicate_of, [None, Some(0), None]);
    }

    #[test]
    fn no_kept_line_appeared_in_an_earlier_document_and_removed_lines_point_back() {
        let config = NormalizeConfig::default();
        let texts = corpus();
        let out = dedup_lines(&texts, &config);
        let mut seen_before: Vec<String> = Vec::new();
        for doc in out.documents.iter().flatten() {
            let lines: Vec<&str> = doc.split('\n').filter(|l| !l.is_empty()).collect();
            for l in &lines {
                assert!(!seen_before.iter().any(|s| s == l), "{l:?} kept twice");
            }
            seen_before.extend(lines.iter().map(|l| String::from(*l)));
        }
        for r in &out.removed_lines {
            assert!(r.first_document < r.document);
            let first = normalize(&texts[r.first_document], &config);
            let here = normalize(&texts[r.document], &config);
            assert_eq!(first.split('\n').nth(r.first_line), here.split('\n').nth(r.line));
        }
        assert_eq!(out.dropped_documents, out.documents.iter().filter(|d| d.is_none()).count());
        assert!(out.dropped_documents > 0);
    }

    #[test]
    fn repeats_inside_one_document_are_kept() {
        let out = dedup_lines(&["la\nla\nla", "la\nnew"], &NormalizeConfig::default());
        assert_eq!(out.documents, vec![Some("la\nla\nla".into()), Some("new".into())]);
        assert_eq!(out.removed_lines, vec![RemovedLine { document: 1, line: 0, first_document: 0, first_line: 0 }]);
    }

    #[test]
    fn line_dedup_is_idempotent() {
        let config = NormalizeConfig::default();
        let out = dedup_lines(&corpus(), &config);
        let kept: Vec<&String> = out.documents.iter().flatten().collect();
        let again = dedup_lines(&kept, &config);
        assert!(again.removed_lines.is_empty() && again.dropped_documents == 0);
    }
}
