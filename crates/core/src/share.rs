//! Share links: the whole playground state as a readable URL hash.
//!
//! A link looks like TensorFlow Playground's:
//!
//! ```text
//! #tab=gen&prompt=To%20be&strategy=beam&beams=4&lp=1&es=true&temp=0.8&seed=42
//! ```
//!
//! The state is one [`ShareState`]: three settings every tab shares (the
//! open tab, the model, the seed) and one sub-struct per tab
//! ([`TokenizeSettings`], [`GenerateSettings`], [`InsideSettings`],
//! [`TrainSettings`], [`EvaluateSettings`]), so a tab can hold just its part.
//!
//! Every setting is declared once, in the table given to `share_state!`:
//! its link key, field, type, default and codec (how its value is read
//! from and written to a link, with the clamp range of numbers). The macro
//! derives the structs, their defaults, the parser and the writer from that
//! table, so adding a setting is one line. Links write every key in table
//! order, so a link keeps meaning the same run even if defaults change.
//!
//! Parsing is defensive because a link is untrusted input written by anyone:
//! - the raw hash is capped at [`MAX_HASH_BYTES`] *before* any decoding;
//! - unknown keys are ignored (links from newer versions still open);
//! - numbers are clamped to the ranges the UI's controls allow, and
//!   non-numbers fall back to the default with a warning;
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

pub use crate::decoding::beam_search::EarlyStopping;
pub use crate::train::toy::ToyTask;
pub use crate::train::{Arch, Precision};

/// Longest hash (in bytes, after the `#`) that we even look at.
pub const MAX_HASH_BYTES: usize = 64 * 1024;
/// Longest text field kept from a link, in characters.
pub const MAX_TEXT_CHARS: usize = 16 * 1024;
/// Largest integer a JS number holds exactly; seeds beyond it would not
/// survive a round trip through the UI.
pub const MAX_SAFE_SEED: u64 = (1 << 53) - 1;

/// Which tab is open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Tokenize text and watch merges.
    Tokenize,
    /// Decode text from a model.
    Generate,
    /// Attention maps, positional encodings, parameter counts.
    Inside,
    /// Clean a corpus: normalization, deduplication, PII.
    Data,
    /// Train a small model in the tab.
    Train,
    /// LoRA-tune the loaded model on instruction data.
    Finetune,
    /// BLEU, chrF, ROUGE, perplexity and human evaluation.
    Evaluate,
}

impl Tab {
    /// Every tab, in the order the UI shows them.
    pub const ALL: [Tab; 7] = [
        Tab::Tokenize,
        Tab::Generate,
        Tab::Inside,
        Tab::Data,
        Tab::Train,
        Tab::Finetune,
        Tab::Evaluate,
    ];

    /// Short name used in links.
    pub fn key(self) -> &'static str {
        match self {
            Tab::Tokenize => "tok",
            Tab::Generate => "gen",
            Tab::Inside => "inside",
            Tab::Data => "data",
            Tab::Train => "train",
            Tab::Finetune => "ft",
            Tab::Evaluate => "eval",
        }
    }

    /// Human title shown on the tab.
    pub fn title(self) -> &'static str {
        match self {
            Tab::Tokenize => "Tokenize",
            Tab::Generate => "Generate",
            Tab::Inside => "Inside the model",
            Tab::Data => "Data",
            Tab::Train => "Train",
            Tab::Finetune => "Fine-tune",
            Tab::Evaluate => "Evaluate",
        }
    }
}

/// The decoding method the Generate tab's user picked. The core's
/// [`crate::decoding::Strategy`] carries each method's parameters; this is
/// the bare choice, whose parameters are separate settings of the link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// Argmax at every step.
    Greedy,
    /// Beam search.
    Beam,
    /// Ancestral sampling with the logits processors.
    Sample,
}

/// A fieldless enum as links spell it: one short name per variant.
pub trait LinkName: Copy + PartialEq + 'static {
    /// Every variant, in the order a UI lists them.
    const VARIANTS: &'static [Self];
    /// The name used in links.
    fn key(self) -> &'static str;
    /// The variant named `name` (exactly as [`LinkName::key`] writes it).
    fn from_key(name: &str) -> Option<Self> {
        Self::VARIANTS.iter().copied().find(|v| v.key() == name)
    }
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
}

impl LinkName for Tab {
    const VARIANTS: &'static [Self] = &Tab::ALL;
    fn key(self) -> &'static str {
        Tab::key(self)
    }
}

impl LinkName for Strategy {
    const VARIANTS: &'static [Self] = &[Strategy::Greedy, Strategy::Beam, Strategy::Sample];
    fn key(self) -> &'static str {
        Strategy::key(self)
    }
}

/// HF's spelling of `early_stopping`'s three values.
impl LinkName for EarlyStopping {
    const VARIANTS: &'static [Self] = &[
        EarlyStopping::True,
        EarlyStopping::False,
        EarlyStopping::Never,
    ];
    fn key(self) -> &'static str {
        match self {
            EarlyStopping::True => "true",
            EarlyStopping::False => "false",
            EarlyStopping::Never => "never",
        }
    }
}

impl LinkName for Precision {
    const VARIANTS: &'static [Self] = &[Precision::Fp32, Precision::Bf16, Precision::Fp16];
    fn key(self) -> &'static str {
        Precision::key(self)
    }
}

impl LinkName for Arch {
    const VARIANTS: &'static [Self] = &[Arch::Gpt2, Arch::Llama];
    fn key(self) -> &'static str {
        Arch::key(self)
    }
}

impl LinkName for ToyTask {
    const VARIANTS: &'static [Self] = &ToyTask::ALL;
    fn key(self) -> &'static str {
        ToyTask::key(self)
    }
}

/// How a setting of type `T` is read from a link value and written back.
/// `read` returns `None` for a value it cannot understand (the setting then
/// keeps its default and the user gets a warning); out-of-range numbers are
/// clamped, never refused.
trait Codec<T> {
    /// The value of an (already percent-decoded) link value.
    fn read(&self, v: &str) -> Option<T>;
    /// The link value (before percent-encoding).
    fn write(&self, x: &T) -> String;
}

/// Free text, capped at [`MAX_TEXT_CHARS`] both ways (so a pasted megabyte
/// never becomes a URL the browser refuses; the full text stays in
/// `localStorage`).
struct Text;
/// A short identifier: letters, digits, `-`, `_`, `.`, `:`, `/`, at most 96 bytes.
struct Word;
/// One of a fixed set of names.
struct OneOf(&'static [&'static str]);
/// A [`LinkName`] enum.
struct Named;
/// An integer clamped to `lo..=hi`.
struct Int(u32, u32);
/// A seed: any integer up to [`MAX_SAFE_SEED`].
struct Seed;
/// A real number clamped to `lo..=hi` (NaN is refused).
struct Real(f64, f64);
/// An optional [`Real`]: the empty value means `None`.
struct OptReal(f64, f64);
/// A switch, written `1`/`0` (and read from `1 true on` / `0 false off`).
struct Flag;
/// `default` or `hub:owner/name` with Hub-legal characters.
struct ModelId;
/// A comma-separated list of ROUGE type names (`rouge1`..`rouge9`,
/// `rougeL`, `rougeLsum`), at most 12 of them.
struct RougeTypes;
/// `char`, or `bpe:N` with N clamped to the 257..=8000 the trainer accepts.
struct TrainTokenizer;

impl Codec<String> for Text {
    fn read(&self, v: &str) -> Option<String> {
        Some(truncate_chars(v, MAX_TEXT_CHARS))
    }
    fn write(&self, x: &String) -> String {
        truncate_chars(x, MAX_TEXT_CHARS)
    }
}

impl Codec<String> for Word {
    fn read(&self, v: &str) -> Option<String> {
        let ok = v.len() <= 96
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'));
        ok.then(|| v.to_string())
    }
    fn write(&self, x: &String) -> String {
        x.clone()
    }
}

impl Codec<String> for OneOf {
    fn read(&self, v: &str) -> Option<String> {
        self.0.contains(&v).then(|| v.to_string())
    }
    fn write(&self, x: &String) -> String {
        x.clone()
    }
}

impl<T: LinkName> Codec<T> for Named {
    fn read(&self, v: &str) -> Option<T> {
        T::from_key(v)
    }
    fn write(&self, x: &T) -> String {
        x.key().to_string()
    }
}

impl Codec<u32> for Int {
    fn read(&self, v: &str) -> Option<u32> {
        clamp_u32(v, self.0, self.1)
    }
    fn write(&self, x: &u32) -> String {
        x.to_string()
    }
}

impl Codec<u64> for Seed {
    fn read(&self, v: &str) -> Option<u64> {
        Some(parse_u64(v)?.min(MAX_SAFE_SEED))
    }
    fn write(&self, x: &u64) -> String {
        x.to_string()
    }
}

impl Codec<f64> for Real {
    fn read(&self, v: &str) -> Option<f64> {
        clamp_f64(v, self.0, self.1)
    }
    fn write(&self, x: &f64) -> String {
        x.to_string()
    }
}

impl Codec<Option<f64>> for OptReal {
    fn read(&self, v: &str) -> Option<Option<f64>> {
        if v.is_empty() {
            return Some(None);
        }
        Some(Some(clamp_f64(v, self.0, self.1)?))
    }
    fn write(&self, x: &Option<f64>) -> String {
        x.map(|v| v.to_string()).unwrap_or_default()
    }
}

impl Codec<bool> for Flag {
    fn read(&self, v: &str) -> Option<bool> {
        match v {
            "1" | "true" | "on" => Some(true),
            "0" | "false" | "off" => Some(false),
            _ => None,
        }
    }
    fn write(&self, x: &bool) -> String {
        (if *x { "1" } else { "0" }).to_string()
    }
}

impl Codec<String> for ModelId {
    fn read(&self, v: &str) -> Option<String> {
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
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        (legal(owner) && legal(name)).then(|| v.to_string())
    }
    fn write(&self, x: &String) -> String {
        x.clone()
    }
}

impl Codec<String> for RougeTypes {
    fn read(&self, v: &str) -> Option<String> {
        let valid = |name: &str| match name {
            "rougeL" | "rougeLsum" => true,
            _ => {
                matches!(name.strip_prefix("rouge").map(str::as_bytes), Some(&[d]) if (b'1'..=b'9').contains(&d))
            }
        };
        let names: Vec<&str> = v.split(',').collect();
        (names.len() <= 12 && names.iter().all(|n| valid(n))).then(|| v.to_string())
    }
    fn write(&self, x: &String) -> String {
        x.clone()
    }
}

impl Codec<String> for TrainTokenizer {
    fn read(&self, v: &str) -> Option<String> {
        if v == "char" {
            return Some(v.to_string());
        }
        let n = clamp_u32(v.strip_prefix("bpe:")?, 257, 8000)?;
        Some(format!("bpe:{n}"))
    }
    fn write(&self, x: &String) -> String {
        x.clone()
    }
}

/// Declares [`ShareState`] and its per-tab sub-structs from one table of
/// settings, `"key" => field: Type = default, codec;` each, and derives
/// their `Default`s, the parser of one `key=value` and the list of
/// `(key, value)` pairs a link writes, in table order.
macro_rules! share_state {
    (
        $(#[$sdoc:meta])*
        pub struct ShareState {
            $( $(#[$tdoc:meta])* $tkey:literal => $tfield:ident : $tty:ty = $tdef:expr, $tcodec:expr; )*
        }
        $(
            $(#[$gdoc:meta])*
            $group:ident : pub struct $Group:ident {
                $( $(#[$fdoc:meta])* $fkey:literal => $field:ident : $fty:ty = $fdef:expr, $fcodec:expr; )*
            }
        )*
    ) => {
        $(#[$sdoc])*
        #[derive(Clone, Debug, PartialEq)]
        pub struct ShareState {
            $( $(#[$tdoc])* pub $tfield: $tty, )*
            $( $(#[$gdoc])* pub $group: $Group, )*
        }

        impl Default for ShareState {
            fn default() -> Self {
                Self { $( $tfield: $tdef, )* $( $group: $Group::default(), )* }
            }
        }

        $(
            $(#[$gdoc])*
            #[derive(Clone, Debug, PartialEq)]
            pub struct $Group {
                $( $(#[$fdoc])* pub $field: $fty, )*
            }

            impl Default for $Group {
                fn default() -> Self {
                    Self { $( $field: $fdef, )* }
                }
            }
        )*

        impl ShareState {
            /// Every link key, in the order links write them.
            pub const KEYS: &'static [&'static str] = &[$( $tkey, )* $( $( $fkey, )* )*];

            /// Apply one `key=value`: `None` if the value cannot be read
            /// (the setting is left as it was). Unknown keys are ignored.
            fn read_pair(&mut self, key: &str, v: &str) -> Option<()> {
                match key {
                    $( $tkey => self.$tfield = Codec::<$tty>::read(&$tcodec, v)?, )*
                    $( $( $fkey => self.$group.$field = Codec::<$fty>::read(&$fcodec, v)?, )* )*
                    _ => {} // unknown keys: ignored on purpose
                }
                Some(())
            }

            /// `(key, value)` for every setting, in table order.
            fn pairs(&self) -> Vec<(&'static str, String)> {
                alloc::vec![
                    $( ($tkey, Codec::<$tty>::write(&$tcodec, &self.$tfield)), )*
                    $( $( ($fkey, Codec::<$fty>::write(&$fcodec, &self.$group.$field)), )* )*
                ]
            }

            /// A random valid state (every field drawn from its codec's
            /// domain), for round-trip property tests.
            #[cfg(test)]
            fn random(rng: &mut crate::rng::Rng) -> Self {
                Self {
                    $( $tfield: tests::Sample::<$tty>::sample(&$tcodec, rng), )*
                    $( $group: $Group { $( $field: tests::Sample::<$fty>::sample(&$fcodec, rng), )* }, )*
                }
            }
        }
    };
}

share_state! {
    /// Everything a link restores.
    pub struct ShareState {
        /// The open tab.
        "tab" => tab: Tab = Tab::Tokenize, Named;
        /// `default`, or `hub:<owner>/<repo>` (only loaded on click).
        "model" => model: String = "default".to_string(), ModelId;
        /// One seed for sampling and training.
        "seed" => seed: u64 = 42, Seed;
    }

    /// The Tokenize tab.
    tokenize: pub struct TokenizeSettings {
        /// The text to tokenize.
        "ttext" => tok_text: String = String::new(), Text;
        /// Tokenizer choice (`model`, `gpt2`, `wordpiece`, `unigram`, `trained`, `upload`).
        "tkz" => tokenizer: String = "model".to_string(), Word;
        /// Second tokenizer for the side-by-side view (empty: none).
        "tkz2" => tokenizer2: String = String::new(), Word;
        /// Vocabulary size of the tokenizer trained in the browser.
        "vocab" => train_vocab: u32 = 500, Int(30, 8000);
        /// Add the post-processor's special tokens (HF's default: on).
        "tspecial" => tok_special_tokens: bool = true, Flag;
    }

    /// The Generate tab (HF `generate` argument names in the comments).
    generate: pub struct GenerateSettings {
        /// The prompt.
        "prompt" => prompt: String = String::new(), Text;
        /// Greedy, beam search or sampling.
        "strategy" => strategy: Strategy = Strategy::Greedy, Named;
        /// `num_beams`.
        "beams" => num_beams: u32 = 4, Int(1, MAX_ROWS as u32);
        /// `length_penalty`.
        "lp" => length_penalty: f64 = 1.0, Real(-5.0, 5.0);
        /// `early_stopping`.
        "es" => early_stopping: EarlyStopping = EarlyStopping::False, Named;
        /// `num_return_sequences`.
        "nrs" => num_return_sequences: u32 = 1, Int(1, MAX_ROWS as u32);
        /// `no_repeat_ngram_size` (0 = off).
        "nrng" => no_repeat_ngram: u32 = 0, Int(0, 10);
        /// `temperature` (0 = greedy).
        "temp" => temperature: f64 = 1.0, Real(0.0, 5.0);
        /// `top_k` (0 = off).
        "topk" => top_k: u32 = 50, Int(0, 1000);
        /// `top_p` (1 = off).
        "topp" => top_p: f64 = 1.0, Real(0.0, 1.0);
        /// `min_p` (0 = off).
        "minp" => min_p: f64 = 0.0, Real(0.0, 1.0);
        /// `typical_p` (1 = off).
        "typp" => typical_p: f64 = 1.0, Real(0.0, 1.0);
        /// `repetition_penalty` (1 = off).
        "rep" => repetition_penalty: f64 = 1.0, Real(0.5, 3.0);
        /// `max_new_tokens`.
        "max" => max_new_tokens: u32 = 100, Int(1, 1024);
        /// `min_new_tokens`.
        "min" => min_new_tokens: u32 = 0, Int(0, 1024);
        /// Use the KV cache.
        "kv" => kv_cache: bool = true, Flag;
        /// Model defaults: controls left at their default are unset, so the checkpoint's
        /// `generation_config.json` decides (off, as in links without this key: every control is explicit).
        "gdef" => model_defaults: bool = false, Flag;
    }

    /// The Inside tab.
    inside: pub struct InsideSettings {
        /// The layer whose attention is shown.
        "layer" => layer: u32 = 0, Int(0, 127);
        /// The head whose attention is shown.
        "head" => head: u32 = 0, Int(0, 127);
    }

    /// The Data tab (its settings; the corpus itself is never in a link).
    data: pub struct DataSettings {
        /// How pasted text is read: `jsonl`, or text cut per `line`, `paragraph` or `whole`.
        "dsplit" => data_split: String = "paragraph".to_string(), OneOf(&["line", "paragraph", "whole", "jsonl"]);
        /// Normalize.
        "dnorm" => data_normalize: bool = true, Flag;
        /// Unicode normal form (`none`: keep the code points).
        "dform" => data_form: String = "nfc".to_string(), OneOf(&["nfc", "nfkc", "nfd", "nfkd", "none"]);
        /// Repair mojibake.
        "dmoji" => data_mojibake: bool = false, Flag;
        /// Remove exact duplicate documents.
        "ddocs" => data_exact_documents: bool = true, Flag;
        /// Remove lines seen in earlier documents.
        "dlines" => data_exact_lines: bool = false, Flag;
        /// Remove near duplicates (MinHash LSH).
        "dnear" => data_near: bool = true, Flag;
        /// MinHash permutations.
        "dperm" => data_num_perm: u32 = 128, Int(16, 512);
        /// Near-duplicate Jaccard threshold.
        "dthr" => data_threshold: f64 = 0.7, Real(0.05, 0.95);
        /// Words per shingle.
        "dshingle" => data_shingle_words: u32 = 3, Int(1, 10);
        /// Seed of the MinHash permutations.
        "dseed" => data_seed: u32 = 1, Int(0, 1_000_000);
        /// Find and replace PII.
        "dpii" => data_pii: bool = true, Flag;
        /// Look for e-mail addresses.
        "dpemail" => data_pii_email: bool = true, Flag;
        /// Look for IP addresses.
        "dpip" => data_pii_ip: bool = true, Flag;
        /// Look for payment card numbers.
        "dpcard" => data_pii_card: bool = true, Flag;
        /// Look for IBANs.
        "dpiban" => data_pii_iban: bool = true, Flag;
        /// Look for phone numbers.
        "dpphone" => data_pii_phone: bool = true, Flag;
        /// Replacement: `tag`, `pseudonym`, `mask` or `datatrove`.
        "drepl" => data_replacement: String = "tag".to_string(), OneOf(&["tag", "pseudonym", "mask", "datatrove"]);
        /// Gopher quality and repetition filters (datatrove's defaults).
        "dqgopher" => data_quality_gopher: bool = false, Flag;
        /// C4 quality filter.
        "dqc4" => data_quality_c4: bool = false, Flag;
        /// FineWeb quality filter.
        "dqfineweb" => data_quality_fineweb: bool = false, Flag;
    }

    /// The Train tab.
    train: pub struct TrainSettings {
        /// Transformer blocks.
        "tlayers" => train_layers: u32 = 4, Int(1, 12);
        /// Attention heads.
        "theads" => train_heads: u32 = 4, Int(1, 16);
        /// Embedding width.
        "twidth" => train_width: u32 = 128, Int(8, 768);
        /// Context length.
        "tctx" => train_context: u32 = 64, Int(4, 1024);
        /// Sequences per micro-batch.
        "tbatch" => train_batch: u32 = 12, Int(1, 128);
        /// Optimiser steps.
        "tsteps" => train_steps: u32 = 2000, Int(1, 100_000);
        /// Peak learning rate.
        "tlr" => train_lr: f64 = 1e-3, Real(1e-6, 1.0);
        /// Linear warmup steps.
        "twarm" => train_warmup: u32 = 100, Int(0, 100_000);
        /// Gradient accumulation steps.
        "taccum" => train_accum: u32 = 1, Int(1, 64);
        /// Compute precision.
        "tprec" => train_precision: Precision = Precision::Fp32, Named;
        /// Training data: `toy` (a built-in task) or `text` (pasted or
        /// uploaded; the text itself is not part of links).
        "tdata" => train_data: String = "toy".to_string(), OneOf(&["toy", "text"]);
        /// The toy task.
        "ttask" => train_task: ToyTask = ToyTask::Reversal, Named;
        /// The training tokenizer, `char` or `bpe:N`.
        "ttok" => train_tokenizer: String = "char".to_string(), TrainTokenizer;
        /// Fraction of the text held out for validation.
        "tval" => train_val_fraction: f64 = 0.1, Real(0.0, 0.5);
        /// Architecture of the trained model.
        "tarch" => train_arch: Arch = Arch::Gpt2, Named;
        /// Start from `new` random weights or fine-tune the `loaded` model.
        "tinit" => train_init: String = "new".to_string(), OneOf(&["new", "loaded"]);
    }

    /// The Fine-tune tab (LoRA on instruction data; the seed is the shared one).
    finetune: pub struct FinetuneSettings {
        /// LoRA rank r.
        "fr" => ft_r: u32 = 8, Int(1, 256);
        /// LoRA α (the update is scaled by α/r).
        "falpha" => ft_alpha: f64 = 16.0, Real(0.01, 1024.0);
        /// Adapted modules: `default` (peft's for the model: c_attn for
        /// GPT-2, q_proj,v_proj for Llama) or a fixed list.
        "ftgt" => ft_targets: String = "default".to_string(), OneOf(&["default", "c_attn", "c_attn,c_proj", "q_proj,v_proj", "all-linear"]);
        /// Constant AdamW learning rate.
        "flr" => ft_lr: f64 = 3e-3, Real(1e-6, 1.0);
        /// AdamW steps.
        "fsteps" => ft_steps: u32 = 100, Int(1, 100_000);
        /// Examples per step.
        "fbatch" => ft_batch: u32 = 8, Int(1, 256);
        /// Data: `builtin` (the generated instruction set) or `jsonl` (pasted Alpaca/chat JSONL).
        "fdata" => ft_data: String = "builtin".to_string(), OneOf(&["builtin", "jsonl"]);
    }

    /// The Evaluate tab.
    evaluate: pub struct EvaluateSettings {
        /// Hypotheses, one segment per line.
        "hyp" => hyp: String = String::new(), Text;
        /// References, one segment per line; extra reference sets are
        /// separated by a line holding only `---`.
        "ref" => refs: String = String::new(), Text;
        /// sacrebleu's BLEU tokenizer.
        "btok" => bleu_tokenize: String = "13a".to_string(), OneOf(&["13a", "none", "intl", "char", "zh"]);
        /// sacrebleu's BLEU smoothing method.
        "bsm" => bleu_smooth: String = "exp".to_string(), OneOf(&["exp", "floor", "add-k", "none"]);
        /// BLEU smoothing value (`None`: sacrebleu's default for the method).
        "bsv" => bleu_smooth_value: Option<f64> = None, OptReal(0.0, 100.0);
        /// Lowercase before BLEU and chrF.
        "blc" => metric_lowercase: bool = false, Flag;
        /// Comma-separated ROUGE types.
        "rtypes" => rouge_types: String = "rouge1,rouge2,rougeL,rougeLsum".to_string(), RougeTypes;
        /// Porter-stem ROUGE tokens.
        "rstem" => rouge_stem: bool = false, Flag;
        /// The line whose ROUGE-L alignment is shown (0-based).
        "eline" => eval_line: u32 = 0, Int(0, 200_000);
        /// The text whose perplexity is computed.
        "ptext" => ppl_text: String = String::new(), Text;
        /// Perplexity window length (0: the model's context).
        "pmax" => ppl_max_length: u32 = 0, Int(0, 8192);
        /// Perplexity stride (0: the window length).
        "pstride" => ppl_stride: u32 = 0, Int(0, 8192);
        /// System B's outputs for the blind A/B comparison, one per line.
        "hypb" => hyp_b: String = String::new(), Text;
        /// Outputs to rank, one per line.
        "rank" => rank_outputs: String = String::new(), Text;
    }
}

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
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_decode(raw);
            if state.read_pair(key, &value).is_none() {
                warnings.push(format!(
                    "Ignored `{key}`: could not read {:?}.",
                    truncate_chars(&value, 40)
                ));
            }
        }
        (state, warnings)
    }

    /// The hash for this state (with the leading `#`). Every key is written,
    /// so a link keeps meaning the same run even if defaults change later.
    pub fn to_hash(&self) -> String {
        let mut out = String::from("#");
        for (i, (k, v)) in self.pairs().iter().enumerate() {
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
        if b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            )
        {
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
    use crate::rng::Rng;

    /// Draws a value from a codec's domain: something a link can carry
    /// exactly (texts within the cap, numbers within the clamp range).
    pub(super) trait Sample<T> {
        fn sample(&self, rng: &mut Rng) -> T;
    }

    fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
        &items[rng.below(items.len() as u64) as usize]
    }

    fn string_from(rng: &mut Rng, alphabet: &[char], max_len: u64) -> String {
        (0..rng.below(max_len + 1))
            .map(|_| *pick(rng, alphabet))
            .collect()
    }

    impl Sample<String> for Text {
        fn sample(&self, rng: &mut Rng) -> String {
            let alphabet = [
                'a', 'Z', '0', ' ', '&', '=', '%', '#', '+', '\n', '\t', '<', 'ü', '€', '🤖',
                '\u{0}',
            ];
            string_from(rng, &alphabet, 40)
        }
    }
    impl Sample<String> for Word {
        fn sample(&self, rng: &mut Rng) -> String {
            string_from(rng, &['a', 'Z', '7', '-', '_', '.', ':', '/'], 12)
        }
    }
    impl Sample<String> for OneOf {
        fn sample(&self, rng: &mut Rng) -> String {
            pick(rng, self.0).to_string()
        }
    }
    impl<T: LinkName> Sample<T> for Named {
        fn sample(&self, rng: &mut Rng) -> T {
            *pick(rng, T::VARIANTS)
        }
    }
    impl Sample<u32> for Int {
        fn sample(&self, rng: &mut Rng) -> u32 {
            self.0 + rng.below(u64::from(self.1 - self.0) + 1) as u32
        }
    }
    impl Sample<u64> for Seed {
        fn sample(&self, rng: &mut Rng) -> u64 {
            rng.below(MAX_SAFE_SEED + 1)
        }
    }
    impl Sample<f64> for Real {
        fn sample(&self, rng: &mut Rng) -> f64 {
            match rng.below(8) {
                0 => self.0,
                1 => self.1,
                _ => self.0 + rng.uniform_f64() * (self.1 - self.0),
            }
        }
    }
    impl Sample<Option<f64>> for OptReal {
        fn sample(&self, rng: &mut Rng) -> Option<f64> {
            (rng.below(3) > 0).then(|| Real(self.0, self.1).sample(rng))
        }
    }
    impl Sample<bool> for Flag {
        fn sample(&self, rng: &mut Rng) -> bool {
            rng.below(2) == 1
        }
    }
    impl Sample<String> for ModelId {
        fn sample(&self, rng: &mut Rng) -> String {
            if rng.below(3) == 0 {
                return "default".to_string();
            }
            let legal = ['a', 'Z', '9', '-', '_'];
            let mut part = || format!("x{}", string_from(rng, &legal, 10));
            format!("hub:{}/{}", part(), part())
        }
    }
    impl Sample<String> for RougeTypes {
        fn sample(&self, rng: &mut Rng) -> String {
            let names = ["rouge1", "rouge2", "rouge9", "rougeL", "rougeLsum"];
            let n = 1 + rng.below(6);
            (0..n)
                .map(|_| *pick(rng, &names))
                .collect::<Vec<_>>()
                .join(",")
        }
    }
    impl Sample<String> for TrainTokenizer {
        fn sample(&self, rng: &mut Rng) -> String {
            if rng.below(2) == 0 {
                "char".to_string()
            } else {
                format!("bpe:{}", 257 + rng.below(8000 - 257 + 1))
            }
        }
    }

    #[test]
    fn random_states_survive_write_then_parse() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let state = ShareState::random(&mut rng);
            let hash = state.to_hash();
            let (back, warnings) = ShareState::from_hash(&hash);
            assert!(warnings.is_empty(), "{warnings:?} for {hash}");
            assert_eq!(back, state, "{hash}");
            assert_eq!(back.to_hash(), hash);
        }
    }

    #[test]
    fn every_key_is_written_once_in_table_order() {
        let hash = ShareState::default().to_hash();
        let written: Vec<&str> = hash[1..]
            .split('&')
            .map(|p| p.split_once('=').map_or(p, |kv| kv.0))
            .collect();
        assert_eq!(written, ShareState::KEYS);
        let mut sorted = written.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), written.len(), "duplicate keys in {written:?}");
    }

    /// The default state's link, as the first version of share links wrote it.
    const OLD_DEFAULT_LINK: &str = "#tab=tok&model=default&seed=42&ttext=&tkz=model&tkz2=&vocab=500&tspecial=1&prompt=&strategy=greedy&beams=4&lp=1&es=false&nrs=1&nrng=0&temp=1&topk=50&topp=1&minp=0&typp=1&rep=1&max=100&min=0&kv=1&layer=0&head=0&tlayers=4&theads=4&twidth=128&tctx=64&tbatch=12&tsteps=2000&tlr=0.001&twarm=100&taccum=1&tprec=fp32&tdata=toy&ttask=reversal&ttok=char&tval=0.1&tarch=gpt2&hyp=&ref=&btok=13a&bsm=exp&bsv=&blc=0&rtypes=rouge1%2Crouge2%2CrougeL%2CrougeLsum&rstem=0&eline=0&ptext=&pmax=0&pstride=0&hypb=&rank=";
    /// Keys added since the first version, at their defaults.
    const ADDED_SINCE: [&str; 4] = [
        "&gdef=0",
        "&tinit=new",
        "&dsplit=paragraph&dnorm=1&dform=nfc&dmoji=0&ddocs=1&dlines=0&dnear=1&dperm=128&dthr=0.7&dshingle=3&dseed=1&dpii=1&dpemail=1&dpip=1&dpcard=1&dpiban=1&dpphone=1&drepl=tag&dqgopher=0&dqc4=0&dqfineweb=0",
        "&fr=8&falpha=16&ftgt=default&flr=0.003&fsteps=100&fbatch=8&fdata=builtin",
    ];
    fn without_added(hash: String) -> String {
        ADDED_SINCE.iter().fold(hash, |h, added| h.replace(added, ""))
    }
    /// A link with every setting changed, as the first version wrote it.
    const OLD_FULL_LINK: &str = "#tab=train&model=hub%3Asshleifer%2Ftiny-gpt2&seed=7&ttext=h%C3%A9llo%20%26%20%3D%20%25&tkz=gpt2&tkz2=wordpiece&vocab=777&tspecial=0&prompt=To%20be%0Aor&strategy=sample&beams=3&lp=-0.5&es=never&nrs=2&nrng=3&temp=0.7&topk=40&topp=0.9&minp=0.05&typp=0.95&rep=1.3&max=64&min=4&kv=0&layer=2&head=3&tlayers=2&theads=2&twidth=64&tctx=32&tbatch=16&tsteps=600&tlr=0.003&twarm=30&taccum=2&tprec=fp16&tdata=text&ttask=grammar&ttok=bpe%3A512&tval=0.25&tarch=llama&hyp=a%20b%0Ac&ref=x%0A---%0Ay&btok=intl&bsm=add-k&bsv=0.5&blc=1&rtypes=rouge1%2CrougeL&rstem=1&eline=5&ptext=ppl&pmax=128&pstride=64&hypb=b&rank=r1%0Ar2";

    #[test]
    fn links_written_by_the_first_version_still_open_unchanged() {
        let (d, w) = ShareState::from_hash(OLD_DEFAULT_LINK);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(d, ShareState::default());
        // Settings added since write their default and change nothing else.
        assert_eq!(without_added(d.to_hash()), OLD_DEFAULT_LINK);

        let (s, w) = ShareState::from_hash(OLD_FULL_LINK);
        assert!(w.is_empty(), "{w:?}");
        assert_eq!(without_added(s.to_hash()), OLD_FULL_LINK);
        let (t, g, i, tr, e) = (&s.tokenize, &s.generate, &s.inside, &s.train, &s.evaluate);
        assert_eq!(
            (s.tab, s.model.as_str(), s.seed),
            (Tab::Train, "hub:sshleifer/tiny-gpt2", 7)
        );
        assert_eq!(
            (
                t.tok_text.as_str(),
                t.tokenizer.as_str(),
                t.tokenizer2.as_str(),
                t.train_vocab,
                t.tok_special_tokens
            ),
            ("héllo & = %", "gpt2", "wordpiece", 777, false)
        );
        assert_eq!(
            (g.prompt.as_str(), g.strategy, g.num_beams, g.length_penalty),
            ("To be\nor", Strategy::Sample, 3, -0.5)
        );
        assert_eq!(
            (g.early_stopping, g.num_return_sequences, g.no_repeat_ngram),
            (EarlyStopping::Never, 2, 3)
        );
        assert_eq!(
            (g.temperature, g.top_k, g.top_p, g.min_p, g.typical_p),
            (0.7, 40, 0.9, 0.05, 0.95)
        );
        assert_eq!(
            (
                g.repetition_penalty,
                g.max_new_tokens,
                g.min_new_tokens,
                g.kv_cache
            ),
            (1.3, 64, 4, false)
        );
        assert_eq!((i.layer, i.head), (2, 3));
        assert_eq!(
            (
                tr.train_layers,
                tr.train_heads,
                tr.train_width,
                tr.train_context,
                tr.train_batch,
                tr.train_steps
            ),
            (2, 2, 64, 32, 16, 600)
        );
        assert_eq!(
            (
                tr.train_lr,
                tr.train_warmup,
                tr.train_accum,
                tr.train_precision
            ),
            (0.003, 30, 2, Precision::Fp16)
        );
        assert_eq!(
            (
                tr.train_data.as_str(),
                tr.train_task,
                tr.train_tokenizer.as_str()
            ),
            ("text", ToyTask::Grammar, "bpe:512")
        );
        assert_eq!((tr.train_val_fraction, tr.train_arch), (0.25, Arch::Llama));
        assert_eq!(
            (e.hyp.as_str(), e.refs.as_str(), e.bleu_tokenize.as_str()),
            ("a b\nc", "x\n---\ny", "intl")
        );
        assert_eq!(
            (
                e.bleu_smooth.as_str(),
                e.bleu_smooth_value,
                e.metric_lowercase
            ),
            ("add-k", Some(0.5), true)
        );
        assert_eq!(
            (e.rouge_types.as_str(), e.rouge_stem, e.eval_line),
            ("rouge1,rougeL", true, 5)
        );
        assert_eq!(
            (e.ppl_text.as_str(), e.ppl_max_length, e.ppl_stride),
            ("ppl", 128, 64)
        );
        assert_eq!((e.hyp_b.as_str(), e.rank_outputs.as_str()), ("b", "r1\nr2"));
    }

    #[test]
    fn round_trip_restores_every_field() {
        let mut s = ShareState {
            tab: Tab::Generate,
            ..ShareState::default()
        };
        s.generate.prompt = "To be, or not to be: ünïcødé 🤖 & = % # \n done".to_string();
        s.generate.strategy = Strategy::Beam;
        s.generate.num_beams = 5;
        s.generate.length_penalty = -0.75;
        s.generate.early_stopping = EarlyStopping::Never;
        s.generate.temperature = 0.7;
        s.generate.top_p = 0.92;
        s.seed = 123_456_789;
        s.generate.kv_cache = false;
        s.tokenize.tok_special_tokens = false;
        s.model = "hub:sshleifer/tiny-gpt2".to_string();
        s.train.train_precision = Precision::Bf16;
        s.evaluate.refs = "a\n---\nb".to_string();
        let hash = s.to_hash();
        assert!(hash.starts_with("#tab=gen&model=hub%3Asshleifer%2Ftiny-gpt2&seed=123456789&"));
        let (back, warnings) = ShareState::from_hash(&hash);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, s);
    }

    #[test]
    fn clamps_ignores_unknown_and_warns_on_garbage() {
        let (s, w) =
            ShareState::from_hash("#beams=99&temp=-3&topp=7&zzz=1&seed=abc&tab=nope&max=0");
        assert_eq!(s.generate.num_beams, MAX_ROWS as u32);
        assert_eq!(s.generate.temperature, 0.0);
        assert_eq!(s.generate.top_p, 1.0);
        assert_eq!(s.generate.max_new_tokens, 1);
        assert_eq!(s.seed, 42);
        assert_eq!(s.tab, Tab::Tokenize);
        assert_eq!(w.len(), 2, "{w:?}");
        let (s, _) = ShareState::from_hash("temp=NaN&lp=inf&seed=99999999999999999999999");
        assert_eq!(s.generate.temperature, 1.0);
        assert_eq!(s.generate.length_penalty, 5.0);
        assert_eq!(s.seed, MAX_SAFE_SEED);
    }

    #[test]
    fn a_megabyte_of_text_makes_a_bounded_link() {
        let mut state = ShareState::default();
        state.evaluate.hyp = "x".repeat(1 << 20);
        let hash = state.to_hash();
        assert!(
            hash.len() < MAX_TEXT_CHARS + 4096,
            "hash of {} bytes",
            hash.len()
        );
        let (back, warnings) = ShareState::from_hash(&hash);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back.evaluate.hyp, "x".repeat(MAX_TEXT_CHARS));
    }

    #[test]
    fn hostile_text_is_kept_literally_and_capped() {
        let evil = "<img src=x onerror=alert(1)><script>alert(2)</script>";
        let mut enc = String::new();
        percent_encode_into(evil, &mut enc);
        let (s, _) = ShareState::from_hash(&format!("#tab=gen&prompt={enc}"));
        assert_eq!(s.generate.prompt, evil);
        let long = "a".repeat(MAX_TEXT_CHARS + 10);
        let (s, _) = ShareState::from_hash(&format!("prompt={long}"));
        assert_eq!(s.generate.prompt.chars().count(), MAX_TEXT_CHARS);
        let huge = format!("prompt={}", "b".repeat(MAX_HASH_BYTES * 2));
        let (_, w) = ShareState::from_hash(&huge);
        assert!(w[0].contains("only the first"));
    }

    #[test]
    fn model_must_be_a_plain_hub_id() {
        for bad in [
            "https://evil.example/x",
            "hub:../etc",
            "hub:a/b/c",
            "hub:/x",
            "javascript:alert(1)",
        ] {
            let mut enc = String::new();
            percent_encode_into(bad, &mut enc);
            let (s, w) = ShareState::from_hash(&format!("model={enc}"));
            assert_eq!(s.model, "default", "{bad}");
            assert_eq!(w.len(), 1);
        }
    }

    #[test]
    fn special_tokens_toggle_defaults_on_and_round_trips() {
        assert!(ShareState::default().tokenize.tok_special_tokens);
        assert!(ShareState::default().to_hash().contains("&tspecial=1&"));
        let (s, w) = ShareState::from_hash("#tab=tok&tspecial=0");
        assert!(w.is_empty(), "{w:?}");
        assert!(!s.tokenize.tok_special_tokens);
        assert!(s.to_hash().contains("&tspecial=0&"));
        assert_eq!(ShareState::from_hash(&s.to_hash()).0, s);
        let (s, w) = ShareState::from_hash("#tspecial=maybe");
        assert!(s.tokenize.tok_special_tokens);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn evaluate_settings_round_trip_and_are_validated() {
        let mut s = ShareState {
            tab: Tab::Evaluate,
            ..ShareState::default()
        };
        let e = &mut s.evaluate;
        e.bleu_tokenize = "intl".to_string();
        e.bleu_smooth = "add-k".to_string();
        e.bleu_smooth_value = Some(0.5);
        e.metric_lowercase = true;
        e.rouge_types = "rouge1,rougeLsum".to_string();
        e.rouge_stem = true;
        e.eval_line = 3;
        e.ppl_text = "To be, or not".to_string();
        e.ppl_max_length = 64;
        e.ppl_stride = 32;
        e.hyp_b = "b1\nb2".to_string();
        e.rank_outputs = "x\ny\nz".to_string();
        let (back, warnings) = ShareState::from_hash(&s.to_hash());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, s);
        // The default smoothing value is written as an empty value and read back as None.
        let d = ShareState::default();
        assert!(d.to_hash().contains("&bsv=&"));
        assert_eq!(ShareState::from_hash(&d.to_hash()).0, d);
        let (s, w) = ShareState::from_hash(
            "#btok=moses&bsm=magic&bsv=-4&rtypes=rouge0&pmax=99999&eline=9999999&blc=maybe",
        );
        let e = &s.evaluate;
        assert_eq!(e.bleu_tokenize, "13a");
        assert_eq!(e.bleu_smooth, "exp");
        assert_eq!(e.bleu_smooth_value, Some(0.0));
        assert_eq!(e.rouge_types, "rouge1,rouge2,rougeL,rougeLsum");
        assert_eq!(e.ppl_max_length, 8192);
        assert_eq!(e.eval_line, 200_000);
        assert!(!e.metric_lowercase);
        assert_eq!(w.len(), 4, "{w:?}");
    }

    #[test]
    fn train_data_settings_round_trip_and_are_validated() {
        let mut s = ShareState::default();
        s.train.train_data = "text".to_string();
        s.train.train_task = ToyTask::Grammar;
        s.train.train_tokenizer = "bpe:512".to_string();
        s.train.train_val_fraction = 0.25;
        s.train.train_arch = Arch::Llama;
        let (back, warnings) = ShareState::from_hash(&s.to_hash());
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(back, s);
        let (s, w) = ShareState::from_hash("#tdata=web&ttask=chess&ttok=bpe:99999&tval=0.9");
        assert_eq!(s.train.train_data, "toy");
        assert_eq!(s.train.train_task, ToyTask::Reversal);
        assert_eq!(s.train.train_tokenizer, "bpe:8000");
        assert_eq!(s.train.train_val_fraction, 0.5);
        assert_eq!(w.len(), 2, "{w:?}");
        let (s, w) = ShareState::from_hash("#ttok=wordpiece&tval=x&tarch=bert&tprec=f32");
        let t = &s.train;
        assert_eq!(
            (
                t.train_tokenizer.as_str(),
                t.train_val_fraction,
                t.train_arch
            ),
            ("char", 0.1, Arch::Gpt2)
        );
        assert_eq!(t.train_precision, Precision::Fp32);
        assert_eq!(
            w.len(),
            4,
            "links spell precision fp32/bf16/fp16 only: {w:?}"
        );
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
