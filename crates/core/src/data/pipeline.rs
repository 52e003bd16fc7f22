//! The whole data pipeline on a stream of documents, with a report of what
//! each stage removed and why.
//!
//! [`PipelineConfig`] switches each stage on or off and holds its settings;
//! [`PipelineRunner`] runs them in this order:
//!
//! 1. **normalize** ([`super::normalize`]): a document that is empty
//!    afterwards is removed (`empty_after_normalization`).
//! 2. **exact documents**: a document whose normalized text was already seen
//!    is removed (`exact_duplicate`) and names the kept one. Texts are keyed
//!    by [`super::exact_dedup::text_hash`] (64 bits of SHA-1) without keeping
//!    them for a byte comparison, so that a stream of 100 MB needs no second
//!    copy; two different texts collide with probability about `n² / 2^65`
//!    (3e-8 for a million documents).
//! 3. **exact lines**: lines already seen in an *earlier* document are
//!    removed, as [`super::exact_dedup::dedup_lines`] does (lines keyed by
//!    their hash likewise); a document left with no line is removed
//!    (`only_repeated_lines`) and names the document of its first line.
//! 4. **quality**: the filters named in [`QualityStage::filters`]
//!    (datatrove's, [`super::quality::QualityFilter::from_names`]: `gopher`,
//!    `gopher_quality`, `gopher_repetition`, `c4`, `fineweb`), in order; the
//!    first that drops the document removes it (`<filter>: <reason>`), and
//!    C4 passes on the text it keeps, as a datatrove pipeline does.
//! 5. **near duplicates** ([`super::minhash`], [`super::lsh`]): each
//!    document's MinHash signature of its word shingles is cut into the
//!    bands of `MinHashLSH(threshold, num_perm)`; documents sharing a band
//!    are joined by union-find, and each cluster keeps its first document
//!    (`near_duplicate`). A band is keyed by a 64-bit hash of its values
//!    rather than the values themselves (the same collision odds as above).
//!    For the report, each cluster's members are compared with the kept
//!    document: estimated Jaccard (signature agreement) and true Jaccard (of
//!    the shingle sets).
//! 6. **PII** ([`super::pii`], [`super::pii_numbers`]): the spans of the
//!    chosen kinds are found in the document, reported, then replaced as
//!    [`Replacement`] says. No document is removed.
//!
//! **Tokens** in the report are whitespace-separated words
//! (`str::split_whitespace`), a tokenizer-free measure of how much text is left.
//!
//! **Input** arrives in chunks of bytes of any size ([`PipelineRunner::feed`]),
//! one source (file) at a time: UTF-8 split across chunks is reassembled,
//! invalid bytes become U+FFFD. A JSONL source holds one `{"text": ...}` per
//! line; a text source is cut into documents as [`TextSplit`] says. Stages
//! 1–4 run on each document as soon as it is complete, so only the
//! survivors and their band keys are held. Near-duplicate clusters need
//! every document, so [`PipelineRunner::finish`] resolves them and returns
//! a [`Finishing`] that applies PII a bounded number of documents per
//! [`Finishing::step`] (so a caller can report progress), and finally
//! [`PipelineOutput`]. Feeding the same bytes in any chunking gives the same output.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use hashbrown::HashMap;

use super::exact_dedup::text_hash;
use super::lsh::{lsh_params, LshParams};
use super::minhash::{jaccard, signature, word_shingles, Permutations, Scheme};
use super::normalize::{normalize, NormalizeConfig};
use super::pii::{AddressKind, PiiFormatter};
use super::pii_numbers::{find_numbers, NumberKind};
use super::quality::QualityFilter;
use super::DataError;

/// Longest text (in characters) of a document shown in the report's examples.
pub const EXAMPLE_CHARS: usize = 2000;

/// How a plain-text source is cut into documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TextSplit {
    /// Every non-blank line is a document.
    Line,
    /// Documents are separated by one or more blank (whitespace-only) lines.
    Paragraph,
    /// The whole source is one document.
    Whole,
}

/// What a source holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceFormat {
    /// One JSON object with a `"text"` string per line (blank lines skipped).
    Jsonl,
    /// Plain text, cut by [`PipelineConfig::text_split`].
    Text,
}

impl SourceFormat {
    /// `Jsonl` for names ending in `.jsonl` or `.ndjson`, else `Text`.
    pub fn from_name(name: &str) -> Self {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".jsonl") || lower.ends_with(".ndjson") {
            Self::Jsonl
        } else {
            Self::Text
        }
    }
}

/// The normalization stage.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NormalizeStage {
    /// Run it.
    pub enabled: bool,
    /// Which steps.
    pub options: NormalizeConfig,
}

impl Default for NormalizeStage {
    fn default() -> Self {
        Self { enabled: true, options: NormalizeConfig::default() }
    }
}

/// The exact deduplication stages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ExactStage {
    /// Remove documents whose (normalized) text was seen before.
    pub documents: bool,
    /// Remove lines seen in earlier documents.
    pub lines: bool,
}

impl Default for ExactStage {
    fn default() -> Self {
        Self { documents: true, lines: false }
    }
}

/// The near-duplicate stage (MinHash + LSH, as datasketch).
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NearDedupStage {
    /// Run it.
    pub enabled: bool,
    /// MinHash permutations (signature length), 2..=4096.
    pub num_perm: usize,
    /// Seed of the permutations (numpy's RandomState).
    pub seed: u32,
    /// Jaccard similarity the LSH bands are tuned for, in (0, 1).
    pub threshold: f64,
    /// Words per shingle.
    pub shingle_words: usize,
    /// How permutations hash (datasketch 2.0's `affine32` by default).
    pub scheme: Scheme,
}

impl Default for NearDedupStage {
    fn default() -> Self {
        Self { enabled: true, num_perm: 128, seed: 1, threshold: 0.7, shingle_words: 3, scheme: Scheme::Affine32 }
    }
}

/// The quality stage: datatrove's filters by name, at their default thresholds.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct QualityStage {
    /// Run it.
    pub enabled: bool,
    /// The filters, applied in this order.
    pub filters: Vec<String>,
}

/// A kind of personal data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PiiKind {
    /// E-mail address (datatrove's pattern).
    Email,
    /// IP address (datatrove's pattern; public ones unless `all_ips`).
    Ip,
    /// Payment card number (Luhn).
    Card,
    /// IBAN (mod 97).
    Iban,
    /// Phone number.
    Phone,
}

impl PiiKind {
    /// Every kind.
    pub const ALL: [PiiKind; 5] = [PiiKind::Email, PiiKind::Ip, PiiKind::Card, PiiKind::Iban, PiiKind::Phone];

    /// The upper-case tag, `EMAIL`, `IP`, `CARD`, `IBAN`, `PHONE`.
    pub fn tag(self) -> &'static str {
        match self {
            PiiKind::Email => "EMAIL",
            PiiKind::Ip => "IP",
            PiiKind::Card => "CARD",
            PiiKind::Iban => "IBAN",
            PiiKind::Phone => "PHONE",
        }
    }
}

/// What a PII span is replaced with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    /// E-mails and IPs by datatrove's `PIIFormatter` example values, in
    /// turn across the corpus; numbers by their tag.
    Datatrove,
    /// `<EMAIL>`, `<IP>`, `<CARD>`, `<IBAN>`, `<PHONE>`.
    Tag,
    /// The same value always gets the same name, numbered by first
    /// appearance in the corpus: `<EMAIL_1>`, `<EMAIL_2>`, ...
    Pseudonym,
    /// Every letter and digit becomes `*`; separators stay.
    Mask,
}

/// The PII stage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PiiStage {
    /// Run it.
    pub enabled: bool,
    /// The kinds looked for.
    pub kinds: Vec<PiiKind>,
    /// What replaces them.
    pub replacement: Replacement,
    /// Replace private IP addresses too.
    pub all_ips: bool,
}

impl Default for PiiStage {
    fn default() -> Self {
        Self { enabled: true, kinds: PiiKind::ALL.to_vec(), replacement: Replacement::Tag, all_ips: false }
    }
}

/// Every stage's switch and settings. Missing fields take their defaults,
/// so `{}` is the default pipeline.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct PipelineConfig {
    /// How plain-text sources are cut into documents.
    pub text_split: TextSplit,
    /// Stage 1.
    pub normalize: NormalizeStage,
    /// Stages 2 and 3.
    pub exact: ExactStage,
    /// Stage 4.
    pub quality: QualityStage,
    /// Stage 5.
    pub near_dedup: NearDedupStage,
    /// Stage 6.
    pub pii: PiiStage,
    /// Examples kept in the report per list (removed documents per rule, lines, clusters, PII documents).
    pub max_examples: usize,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            text_split: TextSplit::Paragraph,
            normalize: NormalizeStage::default(),
            exact: ExactStage::default(),
            quality: QualityStage::default(),
            near_dedup: NearDedupStage::default(),
            pii: PiiStage::default(),
            max_examples: 20,
        }
    }
}

/// A stage, as the report names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Documents as read.
    Input,
    /// Stage 1.
    Normalize,
    /// Stage 2.
    ExactDocuments,
    /// Stage 3.
    ExactLines,
    /// Stage 4.
    Quality,
    /// Stage 5.
    NearDuplicates,
    /// Stage 6.
    Pii,
}

/// Documents and tokens left after a stage.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StageCount {
    /// The stage.
    pub stage: Stage,
    /// Documents left.
    pub documents: usize,
    /// Whitespace-separated words left.
    pub tokens: usize,
}

/// A removed document (one of the report's examples).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RemovedDocument {
    /// Its index in the input (from 0, across sources).
    pub document: usize,
    /// The stage that removed it.
    pub stage: Stage,
    /// Why: `empty_after_normalization`, `exact_duplicate`,
    /// `only_repeated_lines`, `near_duplicate`, or `<filter>: <reason>`.
    pub rule: String,
    /// The kept document it duplicates (duplicate rules only).
    pub kept: Option<usize>,
    /// Its text when it was removed (at most [`EXAMPLE_CHARS`] characters).
    pub text: String,
}

/// How many documents one rule removed.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RuleCount {
    /// The stage.
    pub stage: Stage,
    /// The rule, as in [`RemovedDocument::rule`].
    pub rule: String,
    /// Documents removed.
    pub documents: usize,
}

/// A line removed by the exact-lines stage (one of the examples).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RemovedLineExample {
    /// The document it was removed from.
    pub document: usize,
    /// The line.
    pub line: String,
    /// The earlier document where it first appeared.
    pub first_document: usize,
}

/// A near-duplicate of a cluster's kept document.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClusterMember {
    /// Its input index.
    pub document: usize,
    /// Its text (at most [`EXAMPLE_CHARS`] characters).
    pub text: String,
    /// Jaccard similarity with the kept document estimated by MinHash.
    pub estimated_jaccard: f64,
    /// Jaccard similarity of the two shingle sets.
    pub true_jaccard: f64,
}

/// A cluster of near-duplicates: the kept document and the removed ones.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NearDuplicateCluster {
    /// The kept document's input index (the cluster's first).
    pub kept: usize,
    /// Its text (at most [`EXAMPLE_CHARS`] characters).
    pub kept_text: String,
    /// The removed members, in input order.
    pub members: Vec<ClusterMember>,
}

/// A PII span in a document's text before replacement.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PiiSpan {
    /// What it is.
    pub kind: PiiKind,
    /// Byte offset in [`PiiExample::text`].
    pub start: usize,
    /// Byte offset after its end.
    pub end: usize,
    /// What replaced it.
    pub replacement: String,
}

/// A document with PII (one of the examples).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PiiExample {
    /// Its input index.
    pub document: usize,
    /// Its text before replacement (at most [`EXAMPLE_CHARS`] characters).
    pub text: String,
    /// The spans inside `text`.
    pub spans: Vec<PiiSpan>,
}

/// How many spans of one kind were replaced.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PiiCount {
    /// The kind.
    pub kind: PiiKind,
    /// Spans replaced in the whole corpus.
    pub found: usize,
}

/// What the pipeline did.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PipelineReport {
    /// Bytes read.
    pub bytes: u64,
    /// Documents and tokens after the input and each enabled stage, in order (the funnel).
    pub stages: Vec<StageCount>,
    /// Documents removed per rule, in the order rules first fired.
    pub removed_counts: Vec<RuleCount>,
    /// Examples: up to `max_examples` removed documents per rule.
    pub removed: Vec<RemovedDocument>,
    /// Lines removed by the exact-lines stage.
    pub removed_line_count: usize,
    /// Examples of removed lines.
    pub removed_lines: Vec<RemovedLineExample>,
    /// The `(bands, rows)` of the near-duplicate stage.
    pub lsh: Option<LshParams>,
    /// Clusters with at least one removed member.
    pub cluster_count: usize,
    /// Examples: the first `max_examples` clusters.
    pub clusters: Vec<NearDuplicateCluster>,
    /// Spans replaced per kind.
    pub pii_counts: Vec<PiiCount>,
    /// Examples: the first `max_examples` documents with PII.
    pub pii: Vec<PiiExample>,
}

/// A document that survived, with its input index.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptDocument {
    /// Its index in the input.
    pub id: usize,
    /// Its cleaned text.
    pub text: String,
}

/// The cleaned corpus and the report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PipelineOutput {
    /// What each stage did.
    pub report: PipelineReport,
    /// The kept documents, in input order.
    pub documents: Vec<KeptDocument>,
}

impl PipelineOutput {
    /// The documents as JSONL: `{"id": .., "text": ..}` per line.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for doc in &self.documents {
            if let Ok(line) = serde_json::to_string(doc) {
                out.push_str(&line);
                out.push('\n');
            }
        }
        out
    }
}

/// `text`'s whitespace-separated words.
pub fn count_tokens(text: &str) -> usize {
    text.split_whitespace().count()
}

fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXAMPLE_CHARS) {
        Some((cut, _)) => String::from(&text[..cut]),
        None => String::from(text),
    }
}

/// A document between stages 1–4 and the end.
struct Survivor {
    id: usize,
    text: String,
    tokens: usize,
}

/// The report being built: counts and capped examples.
struct Recorder {
    max_examples: usize,
    report: PipelineReport,
    /// (documents, tokens) after each stage so far, indexed like `stages`.
    counts: BTreeMap<Stage, (usize, usize)>,
}

impl Recorder {
    fn remove(&mut self, stage: Stage, rule: String, document: usize, kept: Option<usize>, text: &str) {
        let counts = &mut self.report.removed_counts;
        let shown = match counts.iter_mut().find(|c| c.stage == stage && c.rule == rule) {
            Some(c) => {
                c.documents += 1;
                c.documents
            }
            None => {
                counts.push(RuleCount { stage, rule: rule.clone(), documents: 1 });
                1
            }
        };
        if shown <= self.max_examples {
            self.report.removed.push(RemovedDocument { document, stage, rule, kept, text: excerpt(text) });
        }
    }

    fn pass(&mut self, stage: Stage, tokens: usize) {
        let entry = self.counts.entry(stage).or_insert((0, 0));
        entry.0 += 1;
        entry.1 += tokens;
    }
}

/// Cuts a byte stream into documents.
struct Splitter {
    format: SourceFormat,
    split: TextSplit,
    /// Bytes of an incomplete UTF-8 character at the end of the last chunk.
    partial_utf8: Vec<u8>,
    /// Text after the last complete line.
    partial_line: String,
    /// Lines of the document being assembled (paragraph and whole modes).
    lines: Vec<String>,
    /// 1-based number of the last complete line (for JSONL errors).
    line_number: usize,
    name: String,
}

impl Splitter {
    /// Decodes `bytes` after the held partial character, completing lines.
    fn decode(&mut self, bytes: &[u8]) -> String {
        let mut pending = core::mem::take(&mut self.partial_utf8);
        pending.extend_from_slice(bytes);
        let mut out = String::with_capacity(pending.len());
        let mut rest: &[u8] = &pending;
        loop {
            match core::str::from_utf8(rest) {
                Ok(valid) => {
                    out.push_str(valid);
                    break;
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    out.push_str(core::str::from_utf8(valid).unwrap_or_default());
                    match e.error_len() {
                        Some(bad) => {
                            out.push('\u{FFFD}');
                            rest = after.get(bad..).unwrap_or_default();
                        }
                        None => {
                            self.partial_utf8 = after.to_vec();
                            break;
                        }
                    }
                }
            }
        }
        out
    }

    /// Feeds decoded text; every complete document goes to `emit`.
    fn push(&mut self, text: &str, emit: &mut dyn FnMut(String)) -> Result<(), DataError> {
        self.partial_line.push_str(text);
        let Some(last_newline) = self.partial_line.rfind('\n') else { return Ok(()) };
        let rest = self.partial_line.split_off(last_newline + 1);
        let complete = core::mem::replace(&mut self.partial_line, rest);
        for line in complete.split_terminator('\n') {
            self.line(line, emit)?;
        }
        Ok(())
    }

    fn line(&mut self, line: &str, emit: &mut dyn FnMut(String)) -> Result<(), DataError> {
        self.line_number += 1;
        let blank = line.trim().is_empty();
        match (self.format, self.split) {
            (SourceFormat::Jsonl, _) => {
                if !blank {
                    emit(self.json_text(line)?);
                }
            }
            (SourceFormat::Text, TextSplit::Line) => {
                if !blank {
                    emit(String::from(line));
                }
            }
            (SourceFormat::Text, TextSplit::Paragraph) => {
                if blank {
                    self.flush(emit);
                } else {
                    self.lines.push(String::from(line));
                }
            }
            (SourceFormat::Text, TextSplit::Whole) => self.lines.push(String::from(line)),
        }
        Ok(())
    }

    fn json_text(&self, line: &str) -> Result<String, DataError> {
        let at = || format!("{}:{}", self.name, self.line_number);
        let value: serde_json::Value = serde_json::from_str(line).map_err(|e| DataError::Input(format!("{}: {e}", at())))?;
        match value.get("text").and_then(|t| t.as_str()) {
            Some(text) => Ok(String::from(text)),
            None => Err(DataError::Input(format!("{}: no \"text\" string", at()))),
        }
    }

    fn flush(&mut self, emit: &mut dyn FnMut(String)) {
        if self.lines.iter().any(|l| !l.trim().is_empty()) {
            emit(self.lines.join("\n"));
        }
        self.lines.clear();
    }

    /// The end of the source: the last line (without `\n`) and the last document.
    fn end(&mut self, emit: &mut dyn FnMut(String)) -> Result<(), DataError> {
        let tail = core::mem::take(&mut self.partial_utf8);
        if !tail.is_empty() {
            self.partial_line.push('\u{FFFD}');
        }
        let last = core::mem::take(&mut self.partial_line);
        if !last.is_empty() {
            self.line(&last, emit)?;
        }
        self.flush(emit);
        Ok(())
    }
}

/// Stages 1–4 over a stream, then [`PipelineRunner::finish`]; see the module doc.
pub struct PipelineRunner {
    config: PipelineConfig,
    quality: Vec<QualityFilter>,
    lsh: Option<(Permutations, LshParams)>,
    recorder: Recorder,
    splitter: Option<Splitter>,
    next_id: usize,
    seen_documents: HashMap<u64, usize>,
    /// Line hash → the document where the line first appeared.
    seen_lines: HashMap<u64, usize>,
    survivors: Vec<Survivor>,
    /// Per survivor: its band keys (near-dedup on).
    band_keys: Vec<Vec<u64>>,
    /// Per band: key → first survivor slot with it.
    buckets: Vec<HashMap<u64, usize>>,
    /// Union-find parents over survivor slots.
    parent: Vec<usize>,
}

fn root(parent: &mut [usize], mut x: usize) -> usize {
    while let Some(&p) = parent.get(x) {
        if p == x {
            break;
        }
        let grand = parent.get(p).copied().unwrap_or(p);
        if let Some(slot) = parent.get_mut(x) {
            *slot = grand; // path halving
        }
        x = grand;
    }
    x
}

/// 64-bit FNV-1a of a band's values.
fn band_key(values: &[u64]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for b in v.to_le_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

impl PipelineRunner {
    /// Checks `config` (thresholds in range, quality filters known, LSH
    /// parameters found) and prepares the stages.
    pub fn new(config: PipelineConfig) -> Result<Self, DataError> {
        let quality = if config.quality.enabled { QualityFilter::from_names(&config.quality.filters.join(","))? } else { Vec::new() };
        let near = &config.near_dedup;
        let lsh = if near.enabled {
            if !(near.threshold > 0.0 && near.threshold < 1.0) {
                return Err(DataError::Setting(format!("near-duplicate threshold {} must be in (0, 1)", near.threshold)));
            }
            if near.shingle_words == 0 {
                return Err(DataError::Setting("shingles need at least 1 word".into()));
            }
            let params = lsh_params(near.threshold, near.num_perm)?;
            Some((Permutations::from_seed(near.scheme, near.num_perm, near.seed)?, params))
        } else {
            None
        };
        let bands = lsh.as_ref().map_or(0, |(_, p)| p.bands);
        let recorder = Recorder {
            max_examples: config.max_examples,
            report: PipelineReport { lsh: lsh.as_ref().map(|(_, p)| *p), ..PipelineReport::default() },
            counts: BTreeMap::new(),
        };
        Ok(Self {
            config,
            quality,
            lsh,
            recorder,
            splitter: None,
            next_id: 0,
            seen_documents: HashMap::new(),
            seen_lines: HashMap::new(),
            survivors: Vec::new(),
            band_keys: Vec::new(),
            buckets: (0..bands).map(|_| HashMap::new()).collect(),
            parent: Vec::new(),
        })
    }

    /// Starts a source called `name` (used in error messages); ends the
    /// previous one if it was not ended.
    pub fn begin_source(&mut self, name: &str, format: SourceFormat) -> Result<(), DataError> {
        self.end_source()?;
        self.splitter = Some(Splitter {
            format,
            split: self.config.text_split,
            partial_utf8: Vec::new(),
            partial_line: String::new(),
            lines: Vec::new(),
            line_number: 0,
            name: String::from(name),
        });
        Ok(())
    }

    /// Feeds the next bytes of the current source (a source called `input`
    /// of format `Text` is begun if none was).
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        if self.splitter.is_none() {
            self.begin_source("input", SourceFormat::Text)?;
        }
        self.recorder.report.bytes += bytes.len() as u64;
        let mut documents = Vec::new();
        if let Some(splitter) = self.splitter.as_mut() {
            let text = splitter.decode(bytes);
            splitter.push(&text, &mut |d| documents.push(d))?;
        }
        for document in documents {
            self.document(document);
        }
        Ok(())
    }

    /// Ends the current source: its last line and document are processed.
    pub fn end_source(&mut self) -> Result<(), DataError> {
        let mut documents = Vec::new();
        if let Some(mut splitter) = self.splitter.take() {
            splitter.end(&mut |d| documents.push(d))?;
        }
        for document in documents {
            self.document(document);
        }
        Ok(())
    }

    /// Documents read so far.
    pub fn documents_read(&self) -> usize {
        self.next_id
    }

    /// Stages 1–4 and the near-duplicate bands of one document.
    fn document(&mut self, raw: String) {
        let id = self.next_id;
        self.next_id += 1;
        self.recorder.pass(Stage::Input, count_tokens(&raw));
        let config = &self.config;
        let mut text = raw;
        if config.normalize.enabled {
            text = normalize(&text, &config.normalize.options);
            if text.trim().is_empty() {
                self.recorder.remove(Stage::Normalize, "empty_after_normalization".into(), id, None, &text);
                return;
            }
            self.recorder.pass(Stage::Normalize, count_tokens(&text));
        }
        if config.exact.documents {
            let key = text_hash(&text);
            if let Some(&kept) = self.seen_documents.get(&key) {
                self.recorder.remove(Stage::ExactDocuments, "exact_duplicate".into(), id, Some(kept), &text);
                return;
            }
            self.seen_documents.insert(key, id);
            self.recorder.pass(Stage::ExactDocuments, count_tokens(&text));
        }
        if config.exact.lines {
            let mut kept_lines: Vec<&str> = Vec::new();
            let mut new_here: Vec<u64> = Vec::new();
            let mut first_of_removed = None;
            let mut removed_lines = Vec::new();
            for line in text.split('\n') {
                if line.trim().is_empty() {
                    kept_lines.push(line);
                    continue;
                }
                let key = text_hash(line);
                match self.seen_lines.get(&key) {
                    Some(&first_document) => {
                        first_of_removed.get_or_insert(first_document);
                        removed_lines.push(RemovedLineExample { document: id, line: excerpt(line), first_document });
                    }
                    None => {
                        kept_lines.push(line);
                        new_here.push(key);
                    }
                }
            }
            // Registered after the document, so repeats inside it are kept.
            for key in new_here {
                self.seen_lines.entry(key).or_insert(id);
            }
            let report = &mut self.recorder.report;
            report.removed_line_count += removed_lines.len();
            let room = self.recorder.max_examples.saturating_sub(report.removed_lines.len());
            report.removed_lines.extend(removed_lines.into_iter().take(room));
            let joined = kept_lines.join("\n");
            let trimmed = joined.trim_matches('\n');
            if trimmed.trim().is_empty() {
                self.recorder.remove(Stage::ExactLines, "only_repeated_lines".into(), id, first_of_removed, &text);
                return;
            }
            text = String::from(trimmed);
            self.recorder.pass(Stage::ExactLines, count_tokens(&text));
        }
        if config.quality.enabled {
            for filter in &self.quality {
                match filter.apply(&text) {
                    Ok(kept) => text = kept,
                    Err(reason) => {
                        self.recorder.remove(Stage::Quality, format!("{}: {}", filter.name(), reason.0), id, None, &text);
                        return;
                    }
                }
            }
            self.recorder.pass(Stage::Quality, count_tokens(&text));
        }
        let tokens = count_tokens(&text);
        let slot = self.survivors.len();
        if let Some((perms, params)) = &self.lsh {
            let shingles = word_shingles(&text, config.near_dedup.shingle_words);
            let sig = signature(perms, shingles.iter().map(|s| s.as_bytes()));
            let keys: Vec<u64> = sig.chunks(params.rows).take(params.bands).map(band_key).collect();
            self.parent.push(slot);
            for (band, &key) in keys.iter().enumerate() {
                let Some(bucket) = self.buckets.get_mut(band) else { continue };
                let first = *bucket.entry(key).or_insert(slot);
                let (a, b) = (root(&mut self.parent, first), root(&mut self.parent, slot));
                // the smaller slot becomes the root, so a root is its cluster's first document
                let (low, high) = (a.min(b), a.max(b));
                if let Some(p) = self.parent.get_mut(high) {
                    *p = low;
                }
            }
            self.band_keys.push(keys);
        }
        self.survivors.push(Survivor { id, text, tokens });
    }

    /// Ends the input and resolves near-duplicate clusters; PII follows in
    /// [`Finishing::step`].
    pub fn finish(mut self) -> Result<Finishing, DataError> {
        self.end_source()?;
        let mut survivors = core::mem::take(&mut self.survivors);
        if let Some((perms, _)) = &self.lsh {
            let roots: Vec<usize> = (0..survivors.len()).map(|s| root(&mut self.parent, s)).collect();
            let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (slot, &r) in roots.iter().enumerate() {
                if r != slot {
                    members.entry(r).or_default().push(slot);
                }
            }
            self.recorder.report.cluster_count = members.len();
            let n = self.config.near_dedup.shingle_words;
            let shingle_set = |text: &str| -> BTreeSet<String> { word_shingles(text, n).into_iter().collect() };
            let sig = |set: &BTreeSet<String>| signature(perms, set.iter().map(|s| s.as_bytes()));
            for (&kept, slots) in members.iter().take(self.recorder.max_examples) {
                let Some(kept_doc) = survivors.get(kept) else { continue };
                let kept_set = shingle_set(&kept_doc.text);
                let kept_sig = sig(&kept_set);
                let mut cluster = NearDuplicateCluster { kept: kept_doc.id, kept_text: excerpt(&kept_doc.text), members: Vec::new() };
                for &slot in slots {
                    let Some(doc) = survivors.get(slot) else { continue };
                    let set = shingle_set(&doc.text);
                    let union = kept_set.union(&set).count();
                    let true_jaccard = if union == 0 { 1.0 } else { kept_set.intersection(&set).count() as f64 / union as f64 };
                    let estimated_jaccard = jaccard(&kept_sig, &sig(&set)).unwrap_or(0.0);
                    cluster.members.push(ClusterMember { document: doc.id, text: excerpt(&doc.text), estimated_jaccard, true_jaccard });
                }
                self.recorder.report.clusters.push(cluster);
            }
            let ids: Vec<usize> = survivors.iter().map(|d| d.id).collect();
            let mut kept = Vec::with_capacity(survivors.len());
            for (slot, doc) in survivors.into_iter().enumerate() {
                let r = roots.get(slot).copied().unwrap_or(slot);
                if r == slot {
                    self.recorder.pass(Stage::NearDuplicates, doc.tokens);
                    kept.push(doc);
                } else {
                    self.recorder.remove(Stage::NearDuplicates, "near_duplicate".into(), doc.id, ids.get(r).copied(), &doc.text);
                }
            }
            survivors = kept;
        }
        let stages = self.enabled_stages();
        let pii = if self.config.pii.enabled { Some(PiiReplacer::new(&self.config.pii)) } else { None };
        Ok(Finishing { recorder: self.recorder, stages, pii, survivors, done: 0 })
    }

    fn enabled_stages(&self) -> Vec<Stage> {
        let c = &self.config;
        let mut stages = alloc::vec![Stage::Input];
        for (on, stage) in [
            (c.normalize.enabled, Stage::Normalize),
            (c.exact.documents, Stage::ExactDocuments),
            (c.exact.lines, Stage::ExactLines),
            (c.quality.enabled, Stage::Quality),
            (c.near_dedup.enabled, Stage::NearDuplicates),
            (c.pii.enabled, Stage::Pii),
        ] {
            if on {
                stages.push(stage);
            }
        }
        stages
    }
}

/// Replaces PII spans as [`Replacement`] says, with state across documents
/// (datatrove's turn, pseudonym numbers).
struct PiiReplacer {
    kinds: Vec<PiiKind>,
    replacement: Replacement,
    formatter: PiiFormatter,
    email_turn: usize,
    ip_turn: usize,
    pseudonyms: HashMap<(PiiKind, String), usize>,
    next_pseudonym: BTreeMap<PiiKind, usize>,
}

impl PiiReplacer {
    fn new(stage: &PiiStage) -> Self {
        let mut formatter = PiiFormatter::default();
        formatter.only_public_ips = !stage.all_ips;
        Self {
            kinds: stage.kinds.clone(),
            replacement: stage.replacement,
            formatter,
            email_turn: 0,
            ip_turn: 0,
            pseudonyms: HashMap::new(),
            next_pseudonym: BTreeMap::new(),
        }
    }

    /// The spans of the chosen kinds, sorted and without overlaps: e-mail
    /// and IP addresses first (as datatrove replaces them first), then the
    /// numbers that overlap none of them.
    fn find(&self, text: &str) -> Vec<(PiiKind, usize, usize)> {
        let wanted = |k: PiiKind| self.kinds.contains(&k);
        let mut spans: Vec<(PiiKind, usize, usize)> = Vec::new();
        if wanted(PiiKind::Email) || wanted(PiiKind::Ip) {
            for s in self.formatter.find(text) {
                let kind = match s.kind {
                    AddressKind::Email => PiiKind::Email,
                    AddressKind::Ip => PiiKind::Ip,
                };
                if wanted(kind) {
                    spans.push((kind, s.start, s.end));
                }
            }
        }
        if wanted(PiiKind::Card) || wanted(PiiKind::Iban) || wanted(PiiKind::Phone) {
            for s in find_numbers(text) {
                let kind = match s.kind {
                    NumberKind::Card => PiiKind::Card,
                    NumberKind::Iban => PiiKind::Iban,
                    NumberKind::Phone => PiiKind::Phone,
                };
                if wanted(kind) && !spans.iter().any(|&(_, a, b)| a < s.end && s.start < b) {
                    spans.push((kind, s.start, s.end));
                }
            }
        }
        spans.sort_by_key(|&(_, a, b)| (a, b));
        spans
    }

    fn replacement_for(&mut self, kind: PiiKind, value: &str) -> String {
        let turn = |list: &[String], turn: &mut usize| {
            let r = list.get(*turn % list.len().max(1)).cloned().unwrap_or_default();
            *turn = (*turn + 1) % list.len().max(1);
            r
        };
        match (self.replacement, kind) {
            (Replacement::Datatrove, PiiKind::Email) => turn(&self.formatter.email_replacements, &mut self.email_turn),
            (Replacement::Datatrove, PiiKind::Ip) => turn(&self.formatter.ip_replacements, &mut self.ip_turn),
            (Replacement::Datatrove | Replacement::Tag, _) => format!("<{}>", kind.tag()),
            (Replacement::Pseudonym, _) => {
                let next = &mut self.next_pseudonym;
                let n = *self.pseudonyms.entry((kind, String::from(value))).or_insert_with(|| {
                    let counter = next.entry(kind).or_insert(0);
                    *counter += 1;
                    *counter
                });
                format!("<{}_{n}>", kind.tag())
            }
            (Replacement::Mask, _) => value.chars().map(|c| if c.is_alphanumeric() { '*' } else { c }).collect(),
        }
    }

    /// The text with its spans replaced, and the spans with their replacements.
    fn apply(&mut self, text: &str) -> (String, Vec<PiiSpan>) {
        let spans = self.find(text);
        let mut out = String::with_capacity(text.len());
        let mut found = Vec::with_capacity(spans.len());
        let mut pos = 0;
        for (kind, start, end) in spans {
            let value = text.get(start..end).unwrap_or_default();
            let replacement = self.replacement_for(kind, value);
            out.push_str(text.get(pos..start).unwrap_or_default());
            out.push_str(&replacement);
            found.push(PiiSpan { kind, start, end, replacement });
            pos = end;
        }
        out.push_str(text.get(pos..).unwrap_or_default());
        (out, found)
    }
}

/// The pipeline after its input: PII is applied in steps, then
/// [`Finishing::into_output`] gives the result.
pub struct Finishing {
    recorder: Recorder,
    stages: Vec<Stage>,
    pii: Option<PiiReplacer>,
    survivors: Vec<Survivor>,
    done: usize,
}

impl Finishing {
    /// Processes up to `max_documents` more documents; true when all are done.
    pub fn step(&mut self, max_documents: usize) -> bool {
        let end = (self.done + max_documents.max(1)).min(self.survivors.len());
        if let Some(pii) = self.pii.as_mut() {
            for doc in self.survivors.get_mut(self.done..end).unwrap_or_default() {
                let (replaced, spans) = pii.apply(&doc.text);
                if !spans.is_empty() {
                    let report = &mut self.recorder.report;
                    for span in &spans {
                        match report.pii_counts.iter_mut().find(|c| c.kind == span.kind) {
                            Some(c) => c.found += 1,
                            None => report.pii_counts.push(PiiCount { kind: span.kind, found: 1 }),
                        }
                    }
                    if report.pii.len() < self.recorder.max_examples {
                        let text = excerpt(&doc.text);
                        let spans = spans.into_iter().filter(|s| s.end <= text.len()).collect();
                        report.pii.push(PiiExample { document: doc.id, text, spans });
                    }
                    doc.text = replaced;
                    doc.tokens = count_tokens(&doc.text);
                }
                self.recorder.pass(Stage::Pii, doc.tokens);
            }
        }
        self.done = end;
        self.done >= self.survivors.len()
    }

    /// `(documents done, documents in all)` of the PII step.
    pub fn progress(&self) -> (usize, usize) {
        (self.done, self.survivors.len())
    }

    /// Finishes what [`Finishing::step`] has not done, and returns the kept documents and the report.
    pub fn into_output(mut self) -> PipelineOutput {
        while !self.step(4096) {}
        let mut report = self.recorder.report;
        report.pii_counts.sort_by_key(|c| c.kind);
        report.stages = self
            .stages
            .iter()
            .map(|&stage| {
                let (documents, tokens) = self.recorder.counts.get(&stage).copied().unwrap_or((0, 0));
                StageCount { stage, documents, tokens }
            })
            .collect();
        let documents = self.survivors.into_iter().map(|d| KeptDocument { id: d.id, text: d.text }).collect();
        PipelineOutput { report, documents }
    }
}

/// Runs the pipeline on `sources` (`(name, bytes)`, the format taken from
/// the name by [`SourceFormat::from_name`]) in one call.
pub fn run_pipeline(config: PipelineConfig, sources: &[(&str, &[u8])]) -> Result<PipelineOutput, DataError> {
    let mut runner = PipelineRunner::new(config)?;
    for (name, bytes) in sources {
        runner.begin_source(name, SourceFormat::from_name(name))?;
        runner.feed(bytes)?;
    }
    Ok(runner.finish()?.into_output())
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    const BASE: &str = "The quick brown fox jumps over the lazy dog while the farmer watches from the old wooden porch \
        and drinks his morning coffee slowly before the long day of work in the fields begins again";

    fn corpus() -> String {
        let near = BASE.replace("morning coffee", "evening coffee");
        [
            BASE,
            "A completely different text about tokenizers, merges and byte pairs in language models.",
            BASE,
            &near,
            "Write to jane.doe@example.com or call +1 (555) 123-4567 from 8.8.8.8 with card 4111 1111 1111 1111.",
            "   \u{200b}  ",
        ]
        .join("\n\n")
    }

    fn run(config: PipelineConfig, text: &str) -> PipelineOutput {
        run_pipeline(config, &[("corpus.txt", text.as_bytes())]).unwrap()
    }

    #[test]
    fn planted_exact_duplicate_is_removed_and_points_at_the_kept_document() {
        let out = run(PipelineConfig::default(), &corpus());
        let exact: Vec<&RemovedDocument> = out.report.removed.iter().filter(|r| r.rule == "exact_duplicate").collect();
        assert_eq!(exact.len(), 1);
        assert_eq!((exact[0].document, exact[0].kept, exact[0].stage), (2, Some(0), Stage::ExactDocuments));
        assert!(out.documents.iter().all(|d| d.id != 2));
        let empty: Vec<usize> = out.report.removed.iter().filter(|r| r.rule == "empty_after_normalization").map(|r| r.document).collect();
        assert_eq!(empty, [5]);
    }

    #[test]
    fn planted_near_duplicate_cluster_is_found_with_estimated_close_to_true_jaccard() {
        let out = run(PipelineConfig::default(), &corpus());
        assert_eq!(out.report.cluster_count, 1);
        let cluster = &out.report.clusters[0];
        assert_eq!((cluster.kept, cluster.members.len()), (0, 1));
        let member = &cluster.members[0];
        assert_eq!(member.document, 3);
        // 35 words, 33 distinct 3-word shingles; one changed word changes 3 of them: J = 30/36
        assert!((member.true_jaccard - 30.0 / 36.0).abs() < 1e-12, "{}", member.true_jaccard);
        assert!((member.estimated_jaccard - member.true_jaccard).abs() < 0.15, "{member:?}");
        let removed = out.report.removed.iter().find(|r| r.rule == "near_duplicate").unwrap();
        assert_eq!((removed.document, removed.kept), (3, Some(0)));
        assert_eq!(out.documents.iter().map(|d| d.id).collect::<Vec<_>>(), [0, 1, 4]);
    }

    #[test]
    fn pii_spans_are_reported_on_the_original_text_then_replaced() {
        let out = run(PipelineConfig::default(), &corpus());
        let example = &out.report.pii[0];
        assert_eq!(example.document, 4);
        let found: Vec<(PiiKind, &str, &str)> =
            example.spans.iter().map(|s| (s.kind, &example.text[s.start..s.end], s.replacement.as_str())).collect();
        assert_eq!(
            found,
            [
                (PiiKind::Email, "jane.doe@example.com", "<EMAIL>"),
                (PiiKind::Phone, "+1 (555) 123-4567", "<PHONE>"),
                (PiiKind::Ip, "8.8.8.8", "<IP>"),
                (PiiKind::Card, "4111 1111 1111 1111", "<CARD>"),
            ]
        );
        let doc = out.documents.iter().find(|d| d.id == 4).unwrap();
        assert_eq!(doc.text, "Write to <EMAIL> or call <PHONE> from <IP> with card <CARD>.");
    }

    #[test]
    fn datatrove_replacement_equals_pii_formatter_on_addresses() {
        let text = "mail a.b@c.org or x@y.co, from 8.8.8.8 and 10.0.0.1 and 1.1.1.1";
        let config = PipelineConfig {
            pii: PiiStage { kinds: vec![PiiKind::Email, PiiKind::Ip], replacement: Replacement::Datatrove, ..PiiStage::default() },
            ..PipelineConfig::default()
        };
        let out = run(config, text);
        assert_eq!(out.documents[0].text, PiiFormatter::default().format(text));
    }

    #[test]
    fn pseudonyms_are_consistent_per_value_and_masks_keep_separators() {
        let text = "a@b.com then c@d.com then a@b.com\n\ncall 555-123-4567";
        let pseudo =
            PipelineConfig { pii: PiiStage { replacement: Replacement::Pseudonym, ..PiiStage::default() }, ..PipelineConfig::default() };
        let out = run(pseudo, text);
        assert_eq!(out.documents[0].text, "<EMAIL_1> then <EMAIL_2> then <EMAIL_1>");
        let mask = PipelineConfig { pii: PiiStage { replacement: Replacement::Mask, ..PiiStage::default() }, ..PipelineConfig::default() };
        assert_eq!(run(mask, text).documents[1].text, "call ***-***-****");
    }

    #[test]
    fn chunked_feeding_gives_the_same_output_as_one_piece() {
        let mut text = corpus();
        text.push_str("\n\nÉté — naïve café 日本語\r\nsecond line\n\n");
        for split in [TextSplit::Line, TextSplit::Paragraph, TextSplit::Whole] {
            let config =
                PipelineConfig { text_split: split, exact: ExactStage { documents: true, lines: true }, ..PipelineConfig::default() };
            let whole = run(config.clone(), &text);
            for chunk in [1, 2, 3, 7, 64] {
                let mut runner = PipelineRunner::new(config.clone()).unwrap();
                runner.begin_source("corpus.txt", SourceFormat::Text).unwrap();
                for piece in text.as_bytes().chunks(chunk) {
                    runner.feed(piece).unwrap();
                }
                let mut finishing = runner.finish().unwrap();
                while !finishing.step(1) {}
                assert_eq!(finishing.into_output(), whole, "{split:?} in chunks of {chunk}");
            }
        }
    }

    #[test]
    fn jsonl_sources_and_several_files_number_documents_across_sources() {
        let jsonl = "{\"text\": \"one doc here\"}\n\n{\"text\": \"two doc here\"}\n";
        let out = run_pipeline(PipelineConfig::default(), &[("a.jsonl", jsonl.as_bytes()), ("b.txt", b"one doc here\n\nthree")]).unwrap();
        assert_eq!(
            out.documents.iter().map(|d| (d.id, d.text.as_str())).collect::<Vec<_>>(),
            [(0, "one doc here"), (1, "two doc here"), (3, "three")]
        );
        assert_eq!(out.report.removed[0].kept, Some(0));
        let bad = run_pipeline(PipelineConfig::default(), &[("a.jsonl", b"{\"txt\": 1}\n")]);
        assert!(matches!(bad, Err(DataError::Input(m)) if m.contains("a.jsonl:1")));
    }

    #[test]
    fn repeated_lines_are_removed_and_a_document_of_only_repeats_names_the_first() {
        let config = PipelineConfig {
            exact: ExactStage { documents: true, lines: true },
            near_dedup: NearDedupStage { enabled: false, ..NearDedupStage::default() },
            ..PipelineConfig::default()
        };
        let text = "Home | About\nFirst story.\n\nHome | About\nSecond story.\n\nHome | About";
        let out = run(config, text);
        assert_eq!(out.documents.iter().map(|d| d.text.as_str()).collect::<Vec<_>>(), ["Home | About\nFirst story.", "Second story."]);
        assert_eq!(out.report.removed_line_count, 2);
        let removed = &out.report.removed[0];
        assert_eq!((removed.document, removed.rule.as_str(), removed.kept), (2, "only_repeated_lines", Some(0)));
    }

    #[test]
    fn the_funnel_counts_documents_and_words_after_each_enabled_stage() {
        let out = run(PipelineConfig::default(), &corpus());
        let funnel: Vec<(Stage, usize)> = out.report.stages.iter().map(|s| (s.stage, s.documents)).collect();
        assert_eq!(
            funnel,
            [(Stage::Input, 6), (Stage::Normalize, 5), (Stage::ExactDocuments, 4), (Stage::NearDuplicates, 3), (Stage::Pii, 3)]
        );
        let last = out.report.stages.last().unwrap();
        assert_eq!(last.tokens, out.documents.iter().map(|d| count_tokens(&d.text)).sum::<usize>());
    }

    #[test]
    fn unknown_quality_filters_and_bad_thresholds_are_refused() {
        let quality =
            PipelineConfig { quality: QualityStage { enabled: true, filters: vec!["gopherish".into()] }, ..PipelineConfig::default() };
        assert!(matches!(PipelineRunner::new(quality), Err(DataError::Setting(_))));
        let near =
            PipelineConfig { near_dedup: NearDedupStage { threshold: 1.0, ..NearDedupStage::default() }, ..PipelineConfig::default() };
        assert!(PipelineRunner::new(near).is_err());
        let parsed: PipelineConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(parsed, PipelineConfig::default());
    }
}
