//! Share links: the whole playground state as a readable URL hash.
//!
//! A link looks like TensorFlow Playground's:
//!
//! ```text
//! #tab=gen&prompt=To%20be&strategy=beam&beams=4&lp=1&es=true&temp=0.8&seed=42
//! ```
//!
//! Parsing is defensive because a link is untrusted input written by anyone:
//! - the raw hash is capped at [`MAX_HASH_BYTES`] *before* any decoding;
//! - unknown keys are ignored (links from newer versions still open);
//! - numbers are clamped to the ranges the UI's controls allow, and
//!   non-numbers fall back to the default;
//! - texts are capped at [`MAX_TEXT_CHARS`] characters;
//! - a link may *name* a Hugging Face repo, but nothing here fetches it: the
//!   UI only offers a "Load" button for it.
//!
//! Text is kept as plain `String`s; the UI renders them as text nodes, never
//! as HTML.

use crate::decoding::limits::MAX_ROWS;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

/// Longest hash (in bytes, after the `#`) that we even look at.
pub const MAX_HASH_BYTES: usize = 64 * 1024;
/// Longest text field kept from a link, in characters.
pub const MAX_TEXT_CHARS: usize = 16 * 1024;

/// Which tab is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Tokenize text and watch merges.
    Tokenize,
    /// Decode text from a model.
    Generate,
    /// Attention maps, positional encodings, parameter counts.
    Inside,
    /// Train a small model in the tab.
    Train,
    /// BLEU, chrF, ROUGE, perplexity and human evaluation.
    Evaluate,
}

impl Tab {
    /// Every tab, in the order the UI shows them.
    pub const ALL: [Tab; 5] = [Tab::Tokenize, Tab::Generate, Tab::Inside, Tab::Train, Tab::Evaluate];

    /// Short name used in links.
    pub fn key(self) -> &'static str {
        match self {
            Tab::Tokenize => "tok",
            Tab::Generate => "gen",
            Tab::Inside => "inside",
            Tab::Train => "train",
            Tab::Evaluate => "eval",
        }
    }

    /// Human title shown on the tab.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Tokenize => "Tokenize",
            Tab::Generate => "Generate",
            Tab::Inside => "Inside the model",
            Tab::Train => "Train",
            Tab::Evaluate => "Evaluate",
        }
    }

    fn parse(s: &str) -> Option<Tab> {
        Tab::ALL.into_iter().find(|t| t.key() == s)
    }
}

/// Decoding strategy of the Generate tab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Argmax at every step.
    Greedy,
    /// Beam search.
    Beam,
    /// Ancestral sampling with the logits processors.
    Sample,
}

impl Strategy {
    /// Short name used in links and by the CLI.
    pub fn key(self) -> &'static str {
        match self {
            Strategy::Greedy => "greedy",
            Strategy::Beam => "beam",
            Strategy::Sample => "sample",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Strategy::Greedy, Strategy::Beam, Strategy::Sample].into_iter().find(|x| x.key() == s)
    }
}

/// HF's `early_stopping` for beam search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EarlyStopping {
    /// Stop as soon as `num_beams` hypotheses are finished.
    True,
    /// Stop when no better hypothesis is reachable under a heuristic bound.
    False,
    /// Stop only when no better hypothesis is possible at all.
    Never,
}

impl EarlyStopping {
    /// Short name used in links and by the CLI.
    pub fn key(self) -> &'static str {
        match self {
            EarlyStopping::True => "true",
            EarlyStopping::False => "false",
            EarlyStopping::Never => "never",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [EarlyStopping::True, EarlyStopping::False, EarlyStopping::Never].into_iter().find(|x| x.key() == s)
    }
}

/// Training precision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// Plain f32.
    F32,
    /// bf16 compute, f32 master weights.
    Bf16,
    /// fp16 compute with dynamic loss scaling, f32 master weights.
    F16,
}

impl Precision {
    /// Short name used in links and by the CLI.
    pub fn key(self) -> &'static str {
        match self {
            Precision::F32 => "fp32",
            Precision::Bf16 => "bf16",
            Precision::F16 => "fp16",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        [Precision::F32, Precision::Bf16, Precision::F16].into_iter().find(|x| x.key() == s)
    }
}

/// Everything a link restores. Field comments give the link key.
#[derive(Clone, Debug, PartialEq)]
pub struct ShareState {
    /// `tab`
    pub tab: Tab,
    /// `model`: `default`, or `hub:<owner>/<repo>` (only loaded on click).
    pub model: String,
    /// `seed`: one seed for sampling and training.
    pub seed: u64,

    // Tokenize tab
    /// `ttext`: the text to tokenize.
    pub tok_text: String,
    /// `tkz`: tokenizer choice (`model`, `gpt2`, `wordpiece`, `unigram`, `trained`).
    pub tokenizer: String,
    /// `tkz2`: second tokenizer for the side-by-side view (empty: none).
    pub tokenizer2: String,
    /// `vocab`: vocabulary size of the tokenizer trained in the browser.
    pub train_vocab: u32,
    /// `tspecial`: add the post-processor's special tokens (HF's default: on).
    pub tok_special_tokens: bool,

    // Generate tab
    /// `prompt`
    pub prompt: String,
    /// `strategy`
    pub strategy: Strategy,
    /// `beams`: num_beams.
    pub num_beams: u32,
    /// `lp`: length_penalty.
    pub length_penalty: f64,
    /// `es`: early_stopping.
    pub early_stopping: EarlyStopping,
    /// `nrs`: num_return_sequences.
    pub num_return_sequences: u32,
    /// `nrng`: no_repeat_ngram_size (0 = off).
    pub no_repeat_ngram: u32,
    /// `temp`: temperature (0 = greedy).
    pub temperature: f64,
    /// `topk`: top-k (0 = off).
    pub top_k: u32,
    /// `topp`: top-p (1 = off).
    pub top_p: f64,
    /// `minp`: min-p (0 = off).
    pub min_p: f64,
    /// `typp`: typical-p (1 = off).
    pub typical_p: f64,
    /// `rep`: repetition penalty (1 = off).
    pub repetition_penalty: f64,
    /// `max`: max_new_tokens.
    pub max_new_tokens: u32,
    /// `min`: min_new_tokens.
    pub min_new_tokens: u32,
    /// `kv`: use the KV cache.
    pub kv_cache: bool,

    // Inside tab
    /// `layer`
    pub layer: u32,
    /// `head`
    pub head: u32,

    // Train tab
    /// `tlayers`
    pub train_layers: u32,
    /// `theads`
    pub train_heads: u32,
    /// `twidth`
    pub train_width: u32,
    /// `tctx`
    pub train_context: u32,
    /// `tbatch`
    pub train_batch: u32,
    /// `tsteps`
    pub train_steps: u32,
    /// `tlr`
    pub train_lr: f64,
    /// `twarm`
    pub train_warmup: u32,
    /// `taccum`
    pub train_accum: u32,
    /// `tprec`
    pub train_precision: Precision,
    /// `tdata`: training data, `toy` (a built-in task) or `text` (pasted or
    /// uploaded; the text itself is not part of links).
    pub train_data: String,
    /// `ttask`: the toy task (`addition`, `reversal`, `grammar`).
    pub train_task: String,
    /// `ttok`: the training tokenizer, `char` or `bpe:N`.
    pub train_tokenizer: String,
    /// `tval`: fraction of the text held out for validation.
    pub train_val_fraction: f64,
    /// `tarch`: architecture of the trained model, `gpt2` or `llama`.
    pub train_arch: String,

    // Evaluate tab
    /// `hyp`: hypotheses, one segment per line.
    pub hyp: String,
    /// `ref`: references, one segment per line; extra reference sets are
    /// separated by a line holding only `---`.
    pub refs: String,
    /// `btok`: BLEU tokenizer (`13a`, `none`, `intl`, `char`, `zh`).
    pub bleu_tokenize: String,
    /// `bsm`: BLEU smoothing (`exp`, `floor`, `add-k`, `none`).
    pub bleu_smooth: String,
    /// `bsv`: BLEU smoothing value (empty: sacrebleu's default for the method).
    pub bleu_smooth_value: Option<f64>,
    /// `blc`: lowercase before BLEU and chrF.
    pub metric_lowercase: bool,
    /// `rtypes`: comma-separated ROUGE types.
    pub rouge_types: String,
    /// `rstem`: Porter-stem ROUGE tokens.
    pub rouge_stem: bool,
    /// `eline`: the line whose ROUGE-L alignment is shown (0-based).
    pub eval_line: u32,
    /// `ptext`: the text whose perplexity is computed.
    pub ppl_text: String,
    /// `pmax`: perplexity window length (0: the model's context).
    pub ppl_max_length: u32,
    /// `pstride`: perplexity stride (0: the window length).
    pub ppl_stride: u32,
    /// `hypb`: system B's outputs for the blind A/B comparison, one per line.
    pub hyp_b: String,
    /// `rank`: outputs to rank, one per line.
    pub rank_outputs: String,
}

impl Default for ShareState {
    fn default() -> Self {
        Self {
            tab: Tab::Tokenize,
            model: "default".to_string(),
            seed: 42,
            tok_text: String::new(),
            tokenizer: "model".to_string(),
            tokenizer2: String::new(),
            train_vocab: 500,
            tok_special_tokens: true,
            prompt: String::new(),
            strategy: Strategy::Greedy,
            num_beams: 4,
            length_penalty: 1.0,
            early_stopping: EarlyStopping::False,
            num_return_sequences: 1,
            no_repeat_ngram: 0,
            temperature: 1.0,
            top_k: 50,
            top_p: 1.0,
            min_p: 0.0,
            typical_p: 1.0,
            repetition_penalty: 1.0,
            max_new_tokens: 100,
            min_new_tokens: 0,
            kv_cache: true,
            layer: 0,
            head: 0,
            train_layers: 4,
            train_heads: 4,
            train_width: 128,
            train_context: 64,
            train_batch: 12,
            train_steps: 2000,
            train_lr: 1e-3,
            train_warmup: 100,
            train_accum: 1,
            train_precision: Precision::F32,
            train_data: "toy".to_string(),
            train_task: "reversal".to_string(),
            train_tokenizer: "char".to_string(),
            train_val_fraction: 0.1,
            train_arch: "gpt2".to_string(),
            hyp: String::new(),
            refs: String::new(),
            bleu_tokenize: "13a".to_string(),
            bleu_smooth: "exp".to_string(),
            bleu_smooth_value: None,
            metric_lowercase: false,
            rouge_types: "rouge1,rouge2,rougeL,rougeLsum".to_string(),
            rouge_stem: false,
            eval_line: 0,
            ppl_text: String::new(),
            ppl_max_length: 0,
            ppl_stride: 0,
            hyp_b: String::new(),
            rank_outputs: String::new(),
        }
    }
}

/// Largest integer a JS number holds exactly; seeds beyond it would not
/// survive a round trip through the UI.
const MAX_SAFE_SEED: u64 = (1 << 53) - 1;

impl ShareState {
    /// Parse a URL hash (with or without the leading `#`). Never fails: what
    /// cannot be understood keeps its default, and the returned warnings say
    /// what was ignored so the UI can tell the user.
    pub fn from_hash(hash: &str) -> (Self, Vec<String>) {
        let mut state = ShareState::default();
        let mut warnings = Vec::new();
        let mut hash = hash.strip_prefix('#').unwrap_or(hash);
        if hash.len() > MAX_HASH_BYTES {
            warnings.push(format!(
                "The link is {} bytes; only the first {} were read.",
                hash.len(),
                MAX_HASH_BYTES
            ));
            let mut cut = MAX_HASH_BYTES;
            while !hash.is_char_boundary(cut) {
                cut -= 1;
            }
            hash = &hash[..cut];
        }
        for pair in hash.split('&').filter(|p| !p.is_empty()) {
            let (key, raw) = match pair.split_once('=') {
                Some(kv) => kv,
                None => (pair, ""),
            };
            let value = percent_decode(raw);
            if let Err(msg) = state.set(key, &value) {
                warnings.push(msg);
            }
        }
        (state, warnings)
    }

    /// Apply one `key=value`. Unknown keys are ignored (Ok); values out of
    /// range are clamped (Ok); unparsable values keep the default (Err with a
    /// message).
    fn set(&mut self, key: &str, v: &str) -> Result<(), String> {
        let bad = || format!("Ignored `{key}`: could not read {:?}.", truncate_chars(v, 40));
        match key {
            "tab" => self.tab = Tab::parse(v).ok_or_else(bad)?,
            "model" => self.model = parse_model(v).ok_or_else(bad)?,
            "seed" => self.seed = parse_u64(v).ok_or_else(bad)?.min(MAX_SAFE_SEED),
            "ttext" => self.tok_text = truncate_chars(v, MAX_TEXT_CHARS),
            "tkz" => self.tokenizer = parse_word(v).ok_or_else(bad)?,
            "tkz2" => self.tokenizer2 = parse_word(v).ok_or_else(bad)?,
            "vocab" => self.train_vocab = clamp_u32(v, 30, 8000).ok_or_else(bad)?,
            "tspecial" => self.tok_special_tokens = parse_bool(v).ok_or_else(bad)?,
            "prompt" => self.prompt = truncate_chars(v, MAX_TEXT_CHARS),
            "strategy" => self.strategy = Strategy::parse(v).ok_or_else(bad)?,
            "beams" => self.num_beams = clamp_u32(v, 1, MAX_ROWS as u32).ok_or_else(bad)?,
            "lp" => self.length_penalty = clamp_f64(v, -5.0, 5.0).ok_or_else(bad)?,
            "es" => self.early_stopping = EarlyStopping::parse(v).ok_or_else(bad)?,
            "nrs" => {
                self.num_return_sequences = clamp_u32(v, 1, MAX_ROWS as u32).ok_or_else(bad)?
            }
            "nrng" => self.no_repeat_ngram = clamp_u32(v, 0, 10).ok_or_else(bad)?,
            "temp" => self.temperature = clamp_f64(v, 0.0, 5.0).ok_or_else(bad)?,
            "topk" => self.top_k = clamp_u32(v, 0, 1000).ok_or_else(bad)?,
            "topp" => self.top_p = clamp_f64(v, 0.0, 1.0).ok_or_else(bad)?,
            "minp" => self.min_p = clamp_f64(v, 0.0, 1.0).ok_or_else(bad)?,
            "typp" => self.typical_p = clamp_f64(v, 0.0, 1.0).ok_or_else(bad)?,
            "rep" => self.repetition_penalty = clamp_f64(v, 0.5, 3.0).ok_or_else(bad)?,
            "max" => self.max_new_tokens = clamp_u32(v, 1, 1024).ok_or_else(bad)?,
            "min" => self.min_new_tokens = clamp_u32(v, 0, 1024).ok_or_else(bad)?,
            "kv" => self.kv_cache = parse_bool(v).ok_or_else(bad)?,
            "layer" => self.layer = clamp_u32(v, 0, 127).ok_or_else(bad)?,
            "head" => self.head = clamp_u32(v, 0, 127).ok_or_else(bad)?,
            "tlayers" => self.train_layers = clamp_u32(v, 1, 12).ok_or_else(bad)?,
            "theads" => self.train_heads = clamp_u32(v, 1, 16).ok_or_else(bad)?,
            "twidth" => self.train_width = clamp_u32(v, 8, 768).ok_or_else(bad)?,
            "tctx" => self.train_context = clamp_u32(v, 4, 1024).ok_or_else(bad)?,
            "tbatch" => self.train_batch = clamp_u32(v, 1, 128).ok_or_else(bad)?,
            "tsteps" => self.train_steps = clamp_u32(v, 1, 100_000).ok_or_else(bad)?,
            "tlr" => self.train_lr = clamp_f64(v, 1e-6, 1.0).ok_or_else(bad)?,
            "twarm" => self.train_warmup = clamp_u32(v, 0, 100_000).ok_or_else(bad)?,
            "taccum" => self.train_accum = clamp_u32(v, 1, 64).ok_or_else(bad)?,
            "tprec" => self.train_precision = Precision::parse(v).ok_or_else(bad)?,
            "tdata" => self.train_data = parse_one_of(v, &["toy", "text"]).ok_or_else(bad)?,
            "ttask" => self.train_task = parse_one_of(v, &["addition", "reversal", "grammar"]).ok_or_else(bad)?,
            "ttok" => self.train_tokenizer = parse_train_tokenizer(v).ok_or_else(bad)?,
            "tval" => self.train_val_fraction = clamp_f64(v, 0.0, 0.5).ok_or_else(bad)?,
            "tarch" => self.train_arch = parse_one_of(v, &["gpt2", "llama"]).ok_or_else(bad)?,
            "hyp" => self.hyp = truncate_chars(v, MAX_TEXT_CHARS),
            "ref" => self.refs = truncate_chars(v, MAX_TEXT_CHARS),
            "btok" => self.bleu_tokenize = parse_choice(v, &["13a", "none", "intl", "char", "zh"]).ok_or_else(bad)?,
            "bsm" => self.bleu_smooth = parse_choice(v, &["exp", "floor", "add-k", "none"]).ok_or_else(bad)?,
            "bsv" => self.bleu_smooth_value = if v.is_empty() { None } else { Some(clamp_f64(v, 0.0, 100.0).ok_or_else(bad)?) },
            "blc" => self.metric_lowercase = parse_bool(v).ok_or_else(bad)?,
            "rtypes" => self.rouge_types = parse_rouge_types(v).ok_or_else(bad)?,
            "rstem" => self.rouge_stem = parse_bool(v).ok_or_else(bad)?,
            "eline" => self.eval_line = clamp_u32(v, 0, 200_000).ok_or_else(bad)?,
            "ptext" => self.ppl_text = truncate_chars(v, MAX_TEXT_CHARS),
            "pmax" => self.ppl_max_length = clamp_u32(v, 0, 8192).ok_or_else(bad)?,
            "pstride" => self.ppl_stride = clamp_u32(v, 0, 8192).ok_or_else(bad)?,
            "hypb" => self.hyp_b = truncate_chars(v, MAX_TEXT_CHARS),
            "rank" => self.rank_outputs = truncate_chars(v, MAX_TEXT_CHARS),
            _ => {} // unknown keys: ignored on purpose
        }
        Ok(())
    }

    /// The hash for this state (with the leading `#`). Every key is written,
    /// so a link keeps meaning the same run even if defaults change later.
    pub fn to_hash(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        pairs.push(("tab", self.tab.key().to_string()));
        pairs.push(("model", self.model.clone()));
        pairs.push(("seed", self.seed.to_string()));
        pairs.push(("ttext", link_text(&self.tok_text)));
        pairs.push(("tkz", self.tokenizer.clone()));
        pairs.push(("tkz2", self.tokenizer2.clone()));
        pairs.push(("vocab", self.train_vocab.to_string()));
        pairs.push(("tspecial", (if self.tok_special_tokens { "1" } else { "0" }).to_string()));
        pairs.push(("prompt", link_text(&self.prompt)));
        pairs.push(("strategy", self.strategy.key().to_string()));
        pairs.push(("beams", self.num_beams.to_string()));
        pairs.push(("lp", self.length_penalty.to_string()));
        pairs.push(("es", self.early_stopping.key().to_string()));
        pairs.push(("nrs", self.num_return_sequences.to_string()));
        pairs.push(("nrng", self.no_repeat_ngram.to_string()));
        pairs.push(("temp", self.temperature.to_string()));
        pairs.push(("topk", self.top_k.to_string()));
        pairs.push(("topp", self.top_p.to_string()));
        pairs.push(("minp", self.min_p.to_string()));
        pairs.push(("typp", self.typical_p.to_string()));
        pairs.push(("rep", self.repetition_penalty.to_string()));
        pairs.push(("max", self.max_new_tokens.to_string()));
        pairs.push(("min", self.min_new_tokens.to_string()));
        pairs.push(("kv", (if self.kv_cache { "1" } else { "0" }).to_string()));
        pairs.push(("layer", self.layer.to_string()));
        pairs.push(("head", self.head.to_string()));
        pairs.push(("tlayers", self.train_layers.to_string()));
        pairs.push(("theads", self.train_heads.to_string()));
        pairs.push(("twidth", self.train_width.to_string()));
        pairs.push(("tctx", self.train_context.to_string()));
        pairs.push(("tbatch", self.train_batch.to_string()));
        pairs.push(("tsteps", self.train_steps.to_string()));
        pairs.push(("tlr", self.train_lr.to_string()));
        pairs.push(("twarm", self.train_warmup.to_string()));
        pairs.push(("taccum", self.train_accum.to_string()));
        pairs.push(("tprec", self.train_precision.key().to_string()));
        pairs.push(("tdata", self.train_data.clone()));
        pairs.push(("ttask", self.train_task.clone()));
        pairs.push(("ttok", self.train_tokenizer.clone()));
        pairs.push(("tval", self.train_val_fraction.to_string()));
        pairs.push(("tarch", self.train_arch.clone()));
        pairs.push(("hyp", link_text(&self.hyp)));
        pairs.push(("ref", link_text(&self.refs)));
        pairs.push(("btok", self.bleu_tokenize.clone()));
        pairs.push(("bsm", self.bleu_smooth.clone()));
        pairs.push(("bsv", self.bleu_smooth_value.map(|v| v.to_string()).unwrap_or_default()));
        pairs.push(("blc", (if self.metric_lowercase { "1" } else { "0" }).to_string()));
        pairs.push(("rtypes", self.rouge_types.clone()));
        pairs.push(("rstem", (if self.rouge_stem { "1" } else { "0" }).to_string()));
        pairs.push(("eline", self.eval_line.to_string()));
        pairs.push(("ptext", link_text(&self.ppl_text)));
        pairs.push(("pmax", self.ppl_max_length.to_string()));
        pairs.push(("pstride", self.ppl_stride.to_string()));
        pairs.push(("hypb", link_text(&self.hyp_b)));
        pairs.push(("rank", link_text(&self.rank_outputs)));
        let mut out = String::from("#");
        for (i, (k, v)) in pairs.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            out.push_str(k);
            out.push('=');
            percent_encode_into(v, &mut out);
        }
        out
    }
}

/// A text as a link carries it: at most [`MAX_TEXT_CHARS`] characters, the
/// same cap the parser applies, so a pasted megabyte never becomes a URL
/// the browser refuses (the full text stays in `localStorage`).
fn link_text(s: &str) -> String {
    truncate_chars(s, MAX_TEXT_CHARS)
}

fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((byte, _)) => s[..byte].to_string(),
        None => s.to_string(),
    }
}

fn parse_u64(v: &str) -> Option<u64> {
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Long digit strings overflow: saturate, the caller clamps anyway.
    Some(v.parse::<u64>().unwrap_or(u64::MAX))
}

fn clamp_u32(v: &str, lo: u32, hi: u32) -> Option<u32> {
    let n = parse_u64(v)?;
    Some(n.clamp(lo as u64, hi as u64) as u32)
}

fn clamp_f64(v: &str, lo: f64, hi: f64) -> Option<f64> {
    if v.len() > 32 {
        return None;
    }
    let x: f64 = v.parse().ok()?;
    if x.is_nan() {
        return None;
    }
    Some(x.clamp(lo, hi))
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "true" | "on" => Some(true),
        "0" | "false" | "off" => Some(false),
        _ => None,
    }
}

/// Short identifiers only: letters, digits, `-`, `_`, `.`, `:`, `/`.
fn parse_word(v: &str) -> Option<String> {
    let ok = v.len() <= 96
        && v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
    ok.then(|| v.to_string())
}

/// One of a fixed set of names.
fn parse_choice(v: &str, choices: &[&str]) -> Option<String> {
    choices.contains(&v).then(|| v.to_string())
}

/// A comma-separated list of ROUGE type names (`rouge1`..`rouge9`,
/// `rougeL`, `rougeLsum`), at most 12 of them.
fn parse_rouge_types(v: &str) -> Option<String> {
    let valid = |name: &str| match name {
        "rougeL" | "rougeLsum" => true,
        _ => matches!(name.strip_prefix("rouge").map(str::as_bytes), Some(&[d]) if (b'1'..=b'9').contains(&d)),
    };
    let names: Vec<&str> = v.split(',').collect();
    (names.len() <= 12 && names.iter().all(|n| valid(n))).then(|| v.to_string())
}

/// `v` if it is one of `allowed`.
fn parse_one_of(v: &str, allowed: &[&str]) -> Option<String> {
    allowed.contains(&v).then(|| v.to_string())
}

/// `char`, or `bpe:N` with N clamped to the 257..=8000 the trainer accepts.
fn parse_train_tokenizer(v: &str) -> Option<String> {
    if v == "char" {
        return Some(v.to_string());
    }
    let n = clamp_u32(v.strip_prefix("bpe:")?, 257, 8000)?;
    Some(format!("bpe:{n}"))
}

/// `default` or `hub:owner/name` with Hub-legal characters.
fn parse_model(v: &str) -> Option<String> {
    if v == "default" {
        return Some(v.to_string());
    }
    let repo = v.strip_prefix("hub:")?;
    let (owner, name) = repo.split_once('/')?;
    let legal = |s: &str| {
        !s.is_empty()
            && s.len() <= 96
            && !s.starts_with('.')
            && !s.contains("..")
            && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    (legal(owner) && legal(name)).then(|| v.to_string())
}

/// Decode `%XX` escapes (like `decodeURIComponent`, but never failing:
/// malformed escapes stay literal and invalid UTF-8 becomes U+FFFD).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| (b as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Encode like `encodeURIComponent`: unreserved characters stay readable.
pub fn percent_encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_restores_every_field() {
        let mut s = ShareState::default();
        s.tab = Tab::Generate;
        s.prompt = "To be, or not to be: ünïcødé 🤖 & = % # \n done".to_string();
        s.strategy = Strategy::Beam;
        s.num_beams = 5;
        s.length_penalty = -0.75;
        s.early_stopping = EarlyStopping::Never;
        s.temperature = 0.7;
        s.top_p = 0.92;
        s.seed = 123_456_789;
        s.kv_cache = false;
        s.tok_special_tokens = false;
        s.model = "hub:sshleifer/tiny-gpt2".to_string();
        s.train_precision = Precision::Bf16;
        s.refs = "a\n---\nb".to_string();
        let hash = s.to_hash();
        assert!(hash.starts_with("#tab=gen&model=hub%3Asshleifer%2Ftiny-gpt2&seed=123456789&"));
        let (back, warnings) = ShareState::from_hash(&hash);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn clamps_ignores_unknown_and_warns_on_garbage() {
        let (s, w) = ShareState::from_hash("#beams=99&temp=-3&topp=7&zzz=1&seed=abc&tab=nope&max=0");
        assert_eq!(s.num_beams, MAX_ROWS as u32);
        assert_eq!(s.temperature, 0.0);
        assert_eq!(s.top_p, 1.0);
        assert_eq!(s.max_new_tokens, 1);
        assert_eq!(s.seed, 42);
        assert_eq!(s.tab, Tab::Tokenize);
        assert_eq!(w.len(), 2, "{w:?}");
        let (s, _) = ShareState::from_hash("temp=NaN&lp=inf&seed=99999999999999999999999");
        assert_eq!(s.temperature, 1.0);
        assert_eq!(s.length_penalty, 5.0);
        assert_eq!(s.seed, MAX_SAFE_SEED);
    }

    #[test]
    fn a_megabyte_of_text_makes_a_bounded_link() {
        let mut state = ShareState::default();
        state.hyp = "x".repeat(1 << 20);
        let hash = state.to_hash();
        assert!(hash.len() < MAX_TEXT_CHARS + 4096, "hash of {} bytes", hash.len());
        let (back, warnings) = ShareState::from_hash(&hash);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.hyp, "x".repeat(MAX_TEXT_CHARS));
    }

    #[test]
    fn hostile_text_is_kept_literally_and_capped() {
        let evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        let mut enc = String::new();
        percent_encode_into(evil, &mut enc);
        let (s, _) = ShareState::from_hash(&format!("#tab=gen&prompt={enc}"));
        assert_eq!(s.prompt, evil);
        let long = "a".repeat(MAX_TEXT_CHARS + 10);
        let (s, _) = ShareState::from_hash(&format!("prompt={long}"));
        assert_eq!(s.prompt.chars().count(), MAX_TEXT_CHARS);
        let huge = format!("prompt={}", "b".repeat(MAX_HASH_BYTES * 2));
        let (_, w) = ShareState::from_hash(&huge);
        assert!(w[0].contains("only the first"));
    }

    #[test]
    fn model_must_be_a_plain_hub_id() {
        for bad in ["https://evil.example/x", "hub:../etc", "hub:a/b/c", "hub:/x", "javascript:alert(1)"] {
            let mut enc = String::new();
            percent_encode_into(bad, &mut enc);
            let (s, w) = ShareState::from_hash(&format!("model={enc}"));
            assert_eq!(s.model, "default", "{bad}");
            assert_eq!(w.len(), 1);
        }
    }

    #[test]
    fn special_tokens_toggle_defaults_on_and_round_trips() {
        assert!(ShareState::default().tok_special_tokens);
        assert!(ShareState::default().to_hash().contains("&tspecial=1&"));
        let (s, w) = ShareState::from_hash("#tab=tok&tspecial=0");
        assert!(w.is_empty(), "{w:?}");
        assert!(!s.tok_special_tokens);
        assert!(s.to_hash().contains("&tspecial=0&"));
        assert_eq!(ShareState::from_hash(&s.to_hash()).0, s);
        let (s, w) = ShareState::from_hash("#tspecial=maybe");
        assert!(s.tok_special_tokens);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn evaluate_settings_round_trip_and_are_validated() {
        let mut s = ShareState::default();
        s.tab = Tab::Evaluate;
        s.bleu_tokenize = "intl".to_string();
        s.bleu_smooth = "add-k".to_string();
        s.bleu_smooth_value = Some(0.5);
        s.metric_lowercase = true;
        s.rouge_types = "rouge1,rougeLsum".to_string();
        s.rouge_stem = true;
        s.eval_line = 3;
        s.ppl_text = "To be, or not".to_string();
        s.ppl_max_length = 64;
        s.ppl_stride = 32;
        s.hyp_b = "b1\nb2".to_string();
        s.rank_outputs = "x\ny\nz".to_string();
        let (back, warnings) = ShareState::from_hash(&s.to_hash());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, s);
        // The default smoothing value is written as an empty value and read back as None.
        let d = ShareState::default();
        assert!(d.to_hash().contains("&bsv=&"));
        assert_eq!(ShareState::from_hash(&d.to_hash()).0, d);
        let (s, w) = ShareState::from_hash("#btok=moses&bsm=magic&bsv=-4&rtypes=rouge0&pmax=99999&eline=9999999&blc=maybe");
        assert_eq!(s.bleu_tokenize, "13a");
        assert_eq!(s.bleu_smooth, "exp");
        assert_eq!(s.bleu_smooth_value, Some(0.0));
        assert_eq!(s.rouge_types, "rouge1,rouge2,rougeL,rougeLsum");
        assert_eq!(s.ppl_max_length, 8192);
        assert_eq!(s.eval_line, 200_000);
        assert!(!s.metric_lowercase);
        assert_eq!(w.len(), 4, "{w:?}");
    }

    #[test]
    fn train_data_settings_round_trip_and_are_validated() {
        let mut s = ShareState::default();
        s.train_data = "text".to_string();
        s.train_task = "grammar".to_string();
        s.train_tokenizer = "bpe:512".to_string();
        s.train_val_fraction = 0.25;
        s.train_arch = "llama".to_string();
        let (back, warnings) = ShareState::from_hash(&s.to_hash());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, s);
        let (s, w) = ShareState::from_hash("#tdata=web&ttask=chess&ttok=bpe:99999&tval=0.9");
        assert_eq!(s.train_data, "toy");
        assert_eq!(s.train_task, "reversal");
        assert_eq!(s.train_tokenizer, "bpe:8000");
        assert_eq!(s.train_val_fraction, 0.5);
        assert_eq!(w.len(), 2, "{w:?}");
        let (s, w) = ShareState::from_hash("#ttok=wordpiece&tval=x&tarch=bert");
        assert_eq!((s.train_tokenizer.as_str(), s.train_val_fraction, s.train_arch.as_str()), ("char", 0.1, "gpt2"));
        assert_eq!(w.len(), 3);
    }

    #[test]
    fn malformed_escapes_do_not_panic() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%zz%41"), "%zzA");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
        assert_eq!(percent_decode("%E2%82%AC"), "€");
    }
}
