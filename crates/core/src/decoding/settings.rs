//! # Generation settings: from a checkpoint and a user to a [`GenerateConfig`]
//!
//! `model.generate(input_ids)` in transformers decides every decoding knob
//! from three layers, highest priority first:
//!
//! 1. what the caller passes (here: [`UserSettings`], every field optional:
//!    the CLI's flags, the Generate tab, a share link);
//! 2. the checkpoint's `generation_config.json` (when the file is missing,
//!    transformers derives one from the generation keys of `config.json`);
//!    here: [`CheckpointDefaults`];
//! 3. transformers' global defaults (`GenerationConfig._get_default_generation_params`):
//!    greedy, one beam, `top_k = 50` when sampling, and 20 new tokens
//!    (`max_length = 20` counted from the prompt, capped at the model's
//!    `max_position_embeddings`).
//!
//! [`resolve`] applies exactly that order, then picks the strategy as
//! `GenerationConfig.get_generation_mode` does: `num_beams > 1` is beam
//! search, else `do_sample` chooses sampling over greedy. A `max_length`
//! or `min_length` from the checkpoint counts the prompt, so it is turned
//! into new tokens here, for the given prompt length.
//!
//! The CLI (`llmlab generate`) and the browser worker's generate job both go
//! through this module, so the same model, prompt and settings decode to the
//! same tokens in both.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::beam_search::EarlyStopping;
use super::generate::{GenerateConfig, Strategy};
use super::logits_process::WarperConfig;
use crate::share::{self, LinkName};

/// transformers' `max_length` when neither the caller nor the checkpoint sets
/// a length: 20 new tokens.
pub const HF_DEFAULT_NEW_TOKENS: usize = 20;
/// transformers' `top_k` when sampling and nobody sets it.
pub const HF_DEFAULT_TOP_K: usize = 50;

/// Why settings could not be turned into a decoding configuration.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingsError {
    /// A configuration file is not a JSON object.
    NotJson {
        /// `config.json` or `generation_config.json`.
        file: &'static str,
        /// The parser's message.
        detail: String,
    },
    /// A key of a configuration file has the wrong type.
    FieldType {
        /// `config.json` or `generation_config.json`.
        file: &'static str,
        /// The key.
        key: String,
        /// What it should have been.
        expected: &'static str,
    },
    /// A setting is outside the range it allows.
    OutOfRange {
        /// The setting's name (HF's name).
        field: &'static str,
        /// What it allows.
        limit: String,
    },
    /// Two settings that cannot go together.
    Conflict(String),
    /// A name that is not one of the accepted choices.
    UnknownChoice {
        /// The setting's name.
        field: &'static str,
        /// The value given.
        value: String,
        /// The accepted values.
        choices: &'static str,
    },
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SettingsError::NotJson { file, detail } => write!(f, "{file} is not a JSON object: {detail}"),
            SettingsError::FieldType { file, key, expected } => write!(f, "{file}: `{key}` must be {expected}"),
            SettingsError::OutOfRange { field, limit } => write!(f, "{field} must be {limit}"),
            SettingsError::Conflict(msg) => f.write_str(msg),
            SettingsError::UnknownChoice { field, value, choices } => {
                write!(f, "{field} must be {choices}, not '{value}'")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SettingsError {}

/// The decoding strategy a user asks for. Without one, the checkpoint's
/// `do_sample` / `num_beams` decide, as in transformers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyChoice {
    /// Argmax at every step (`do_sample=False, num_beams=1`).
    Greedy,
    /// Beam search (`do_sample=False`, `num_beams` from the user or the checkpoint).
    Beam,
    /// Sampling (`do_sample=True, num_beams=1`).
    Sample,
}

impl StrategyChoice {
    /// Parses `greedy`, `beam` or `sample`.
    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        match text {
            "greedy" => Ok(Self::Greedy),
            "beam" => Ok(Self::Beam),
            "sample" => Ok(Self::Sample),
            other => Err(SettingsError::UnknownChoice { field: "strategy", value: other.to_string(), choices: "greedy, beam or sample" }),
        }
    }
}

/// Parses HF's `early_stopping` as written by a user: `true`, `false` or `never`.
pub fn parse_early_stopping(text: &str) -> Result<EarlyStopping, SettingsError> {
    match text.to_ascii_lowercase().as_str() {
        "true" => Ok(EarlyStopping::True),
        "false" => Ok(EarlyStopping::False),
        "never" => Ok(EarlyStopping::Never),
        other => Err(SettingsError::UnknownChoice { field: "early_stopping", value: other.to_string(), choices: "true, false or never" }),
    }
}

/// What the user set. `None` means "not set": the checkpoint's value, then
/// transformers' default, applies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct UserSettings {
    /// Greedy, beam search or sampling.
    pub strategy: Option<StrategyChoice>,
    /// Beams (beam search; 1 = greedy).
    pub num_beams: Option<usize>,
    /// Exponent on the generated length in beam scores.
    pub length_penalty: Option<f32>,
    /// HF's `early_stopping` for beam search.
    pub early_stopping: Option<EarlyStopping>,
    /// Sequences to return (beam: the best N; sampling: N draws).
    pub num_return_sequences: Option<usize>,
    /// Forbid repeating any n-gram of this size (0 = off).
    pub no_repeat_ngram_size: Option<usize>,
    /// Sampling temperature (0 = greedy).
    pub temperature: Option<f32>,
    /// Keep the K most likely tokens when sampling (0 = off).
    pub top_k: Option<usize>,
    /// Nucleus mass when sampling (1 = off).
    pub top_p: Option<f32>,
    /// Drop tokens below `min_p × p(best)` when sampling (0 = off).
    pub min_p: Option<f32>,
    /// Locally typical sampling mass (1 = off).
    pub typical_p: Option<f32>,
    /// CTRL repetition penalty (1 = off).
    pub repetition_penalty: Option<f32>,
    /// New tokens at most.
    pub max_new_tokens: Option<usize>,
    /// EOS is forbidden before this many new tokens.
    pub min_new_tokens: Option<usize>,
    /// Seed of the sampler (default 0).
    pub seed: Option<u64>,
    /// Stop once one of these strings appears in the decoded text.
    pub stop_strings: Vec<String>,
}

impl UserSettings {
    /// A share link's Generate tab (`s`) and the link's `seed`.
    ///
    /// With model defaults off (`s.model_defaults`, and every link written
    /// before that switch existed), every control has a value, so every
    /// setting is explicit and overrides the checkpoint's. The Beams control
    /// belongs to beam search: with greedy or sampling it is not sent (one
    /// beam), as the tab shows it only for beam search.
    ///
    /// With model defaults on, a control still at the tab's default value
    /// counts as untouched and is sent as `None`, so the checkpoint's
    /// `generation_config.json` (then transformers' default) decides, exactly
    /// as `model.generate(input_ids)` with no arguments; only the controls the
    /// user moved away from their defaults are explicit. (To force a value
    /// that equals a control's default, turn model defaults off.) The seed is
    /// always sent: transformers has no seed of its own to defer to.
    pub fn from_share_link(s: &share::GenerateSettings, seed: u64) -> Self {
        let explicit = Self::every_control(s, seed);
        if !s.model_defaults {
            return explicit;
        }
        let untouched = Self::every_control(&share::GenerateSettings::default(), seed);
        fn moved<T: PartialEq>(mine: Option<T>, default: Option<T>) -> Option<T> {
            if mine == default {
                None
            } else {
                mine
            }
        }
        let strategy = moved(explicit.strategy, untouched.strategy);
        // A moved Beams control counts even when the strategy is left to the
        // checkpoint (whose `num_beams` it then replaces); an explicit greedy
        // or sampling strategy has one beam, as with model defaults off.
        let beams_moved = s.num_beams != share::GenerateSettings::default().num_beams;
        let num_beams = match strategy {
            Some(StrategyChoice::Beam) => explicit.num_beams,
            Some(_) => None,
            None => beams_moved.then_some(s.num_beams as usize),
        };
        UserSettings {
            strategy,
            num_beams,
            length_penalty: moved(explicit.length_penalty, untouched.length_penalty),
            early_stopping: moved(explicit.early_stopping, untouched.early_stopping),
            num_return_sequences: moved(explicit.num_return_sequences, untouched.num_return_sequences),
            no_repeat_ngram_size: moved(explicit.no_repeat_ngram_size, untouched.no_repeat_ngram_size),
            temperature: moved(explicit.temperature, untouched.temperature),
            top_k: moved(explicit.top_k, untouched.top_k),
            top_p: moved(explicit.top_p, untouched.top_p),
            min_p: moved(explicit.min_p, untouched.min_p),
            typical_p: moved(explicit.typical_p, untouched.typical_p),
            repetition_penalty: moved(explicit.repetition_penalty, untouched.repetition_penalty),
            max_new_tokens: moved(explicit.max_new_tokens, untouched.max_new_tokens),
            min_new_tokens: moved(explicit.min_new_tokens, untouched.min_new_tokens),
            seed: Some(seed),
            stop_strings: Vec::new(),
        }
    }

    /// Every control of the tab as an explicit setting.
    fn every_control(s: &share::GenerateSettings, seed: u64) -> Self {
        let strategy = StrategyChoice::parse(s.strategy.key()).ok();
        UserSettings {
            strategy,
            num_beams: (strategy == Some(StrategyChoice::Beam)).then_some(s.num_beams as usize),
            length_penalty: Some(s.length_penalty as f32),
            early_stopping: parse_early_stopping(s.early_stopping.key()).ok(),
            num_return_sequences: Some(s.num_return_sequences as usize),
            no_repeat_ngram_size: Some(s.no_repeat_ngram as usize),
            temperature: Some(s.temperature as f32),
            top_k: Some(s.top_k as usize),
            top_p: Some(s.top_p as f32),
            min_p: Some(s.min_p as f32),
            typical_p: Some(s.typical_p as f32),
            repetition_penalty: Some(s.repetition_penalty as f32),
            max_new_tokens: Some(s.max_new_tokens as usize),
            min_new_tokens: Some(s.min_new_tokens as usize),
            seed: Some(seed),
            stop_strings: Vec::new(),
        }
    }
}

/// Where a resolved setting came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SettingSource {
    /// The user's settings (a flag, a control, a link).
    User,
    /// The checkpoint's `generation_config.json`.
    GenerationConfig,
    /// The generation keys of the checkpoint's `config.json` (no `generation_config.json`).
    ConfigJson,
    /// Nobody set it: transformers' global default.
    TransformersDefault,
}

impl SettingSource {
    /// How the UI names it.
    pub fn label(self) -> &'static str {
        match self {
            SettingSource::User => "you",
            SettingSource::GenerationConfig => "generation_config.json",
            SettingSource::ConfigJson => "config.json",
            SettingSource::TransformersDefault => "transformers default",
        }
    }
}

/// One setting of a resolved [`GenerateConfig`], with where it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResolvedSetting {
    /// HF's argument name (`num_beams`, `max_new_tokens`, ...).
    pub name: String,
    /// The value used, as text.
    pub value: String,
    /// Who set it.
    pub source: SettingSource,
}

/// The settings `cfg` (made by [`resolve`] from `user` and `model`) decodes
/// with, each with its source: the strategy and lengths, then the knobs the
/// strategy uses (beam search: `length_penalty`, `early_stopping`;
/// sampling: the warpers and the seed), then the EOS ids.
pub fn explain(user: &UserSettings, model: &CheckpointDefaults, cfg: &GenerateConfig) -> Vec<ResolvedSetting> {
    use SettingSource::{TransformersDefault, User};
    let checkpoint = if model.from_generation_config { SettingSource::GenerationConfig } else { SettingSource::ConfigJson };
    let from = |by_user: bool, by_model: bool| {
        if by_user {
            User
        } else if by_model {
            checkpoint
        } else {
            TransformersDefault
        }
    };
    let mut out = Vec::new();
    let mut push = |name: &str, value: String, source: SettingSource| out.push(ResolvedSetting { name: name.to_string(), value, source });
    let (strategy, num_beams) = match &cfg.strategy {
        Strategy::Greedy => ("greedy", 1),
        Strategy::Beam { num_beams, .. } => ("beam", *num_beams),
        Strategy::Sample { .. } => ("sample", 1),
    };
    let strategy_by_model = model.do_sample.is_some() || model.num_beams.is_some();
    push("strategy", strategy.to_string(), from(user.strategy.is_some(), strategy_by_model));
    let beams_by_user = user.num_beams.is_some() || matches!(user.strategy, Some(StrategyChoice::Greedy | StrategyChoice::Sample));
    push("num_beams", num_beams.to_string(), from(beams_by_user, model.num_beams.is_some()));
    let max_by_model = model.max_new_tokens.is_some() || model.max_length.is_some();
    push("max_new_tokens", cfg.max_new_tokens.to_string(), from(user.max_new_tokens.is_some(), max_by_model));
    let min_by_model = model.min_new_tokens.is_some() || model.min_length.is_some();
    push("min_new_tokens", cfg.min_new_tokens.to_string(), from(user.min_new_tokens.is_some(), min_by_model));
    let n = cfg.num_return_sequences.to_string();
    push("num_return_sequences", n, from(user.num_return_sequences.is_some(), model.num_return_sequences.is_some()));
    let rep = cfg.repetition_penalty.to_string();
    push("repetition_penalty", rep, from(user.repetition_penalty.is_some(), model.repetition_penalty.is_some()));
    let ngram = cfg.no_repeat_ngram_size.to_string();
    push("no_repeat_ngram_size", ngram, from(user.no_repeat_ngram_size.is_some(), model.no_repeat_ngram_size.is_some()));
    match &cfg.strategy {
        Strategy::Greedy => {}
        Strategy::Beam { length_penalty, early_stopping, .. } => {
            push("length_penalty", length_penalty.to_string(), from(user.length_penalty.is_some(), model.length_penalty.is_some()));
            let es = early_stopping.key().to_string();
            push("early_stopping", es, from(user.early_stopping.is_some(), model.early_stopping.is_some()));
        }
        Strategy::Sample { warpers, seed } => {
            push("temperature", warpers.temperature.to_string(), from(user.temperature.is_some(), model.temperature.is_some()));
            push("top_k", warpers.top_k.to_string(), from(user.top_k.is_some(), model.top_k.is_some()));
            push("top_p", warpers.top_p.to_string(), from(user.top_p.is_some(), model.top_p.is_some()));
            let min_p = warpers.min_p.unwrap_or(0.0).to_string();
            push("min_p", min_p, from(user.min_p.is_some(), model.min_p.is_some()));
            push("typical_p", warpers.typical_p.to_string(), from(user.typical_p.is_some(), model.typical_p.is_some()));
            push("seed", seed.to_string(), from(user.seed.is_some(), false));
        }
    }
    let eos = if cfg.eos_token_ids.is_empty() {
        "none".to_string()
    } else {
        cfg.eos_token_ids.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
    };
    push("eos_token_id", eos, from(false, !model.eos_token_ids.is_empty()));
    out
}

/// The checkpoint's generation defaults: `generation_config.json`, or the
/// generation keys of `config.json` when there is no such file (what
/// `GenerationConfig.from_model_config` reads). `None` = not set.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckpointDefaults {
    /// The generation keys came from `generation_config.json` (else from `config.json`).
    pub from_generation_config: bool,
    /// `do_sample`.
    pub do_sample: Option<bool>,
    /// `num_beams`.
    pub num_beams: Option<usize>,
    /// `length_penalty`.
    pub length_penalty: Option<f32>,
    /// `early_stopping` (`true`, `false` or `"never"`).
    pub early_stopping: Option<EarlyStopping>,
    /// `num_return_sequences`.
    pub num_return_sequences: Option<usize>,
    /// `no_repeat_ngram_size`.
    pub no_repeat_ngram_size: Option<usize>,
    /// `temperature`.
    pub temperature: Option<f32>,
    /// `top_k`.
    pub top_k: Option<usize>,
    /// `top_p`.
    pub top_p: Option<f32>,
    /// `min_p`.
    pub min_p: Option<f32>,
    /// `typical_p`.
    pub typical_p: Option<f32>,
    /// `repetition_penalty`.
    pub repetition_penalty: Option<f32>,
    /// `max_new_tokens`.
    pub max_new_tokens: Option<usize>,
    /// `max_length`: prompt plus new tokens.
    pub max_length: Option<usize>,
    /// `min_new_tokens`.
    pub min_new_tokens: Option<usize>,
    /// `min_length`: prompt plus new tokens before EOS is allowed.
    pub min_length: Option<usize>,
    /// `eos_token_id` (an id or a list of ids).
    pub eos_token_ids: Vec<u32>,
    /// `pad_token_id`.
    pub pad_token_id: Option<u32>,
    /// `bos_token_id`.
    pub bos_token_id: Option<u32>,
    /// `decoder_start_token_id` (encoder-decoder models).
    pub decoder_start_token_id: Option<u32>,
    /// `config.json`'s `max_position_embeddings` (`n_positions` for GPT-2):
    /// caps transformers' default length.
    pub max_position_embeddings: Option<usize>,
}

/// Token ids under `key`: one id or a list of ids (`eos_token_id` may be
/// either). Entries that are not token ids (negative, `null`) are skipped,
/// as they can never match a generated token.
pub fn token_ids(config: &Value, key: &str) -> Vec<u32> {
    let one = |v: &Value| v.as_u64().and_then(|v| u32::try_from(v).ok());
    match config.get(key) {
        Some(Value::Array(items)) => items.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// The first token id under `key` (see [`token_ids`]).
pub fn token_id(config: &Value, key: &str) -> Option<u32> {
    token_ids(config, key).first().copied()
}

/// Reads typed optional keys of one configuration file.
struct Reader<'a> {
    file: &'static str,
    json: &'a Value,
}

impl Reader<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.json.get(key).filter(|v| !v.is_null())
    }
    fn bad(&self, key: &str, expected: &'static str) -> SettingsError {
        SettingsError::FieldType { file: self.file, key: key.to_string(), expected }
    }
    fn f32(&self, key: &str) -> Result<Option<f32>, SettingsError> {
        self.get(key).map(|v| v.as_f64().map(|x| x as f32).ok_or_else(|| self.bad(key, "a number"))).transpose()
    }
    fn usize(&self, key: &str) -> Result<Option<usize>, SettingsError> {
        self.get(key)
            .map(|v| v.as_u64().and_then(|x| usize::try_from(x).ok()).ok_or_else(|| self.bad(key, "a non-negative integer")))
            .transpose()
    }
    fn bool(&self, key: &str) -> Result<Option<bool>, SettingsError> {
        self.get(key).map(|v| v.as_bool().ok_or_else(|| self.bad(key, "true or false"))).transpose()
    }
    fn early_stopping(&self) -> Result<Option<EarlyStopping>, SettingsError> {
        match self.get("early_stopping") {
            None => Ok(None),
            Some(Value::Bool(true)) => Ok(Some(EarlyStopping::True)),
            Some(Value::Bool(false)) => Ok(Some(EarlyStopping::False)),
            Some(Value::String(s)) if s == "never" => Ok(Some(EarlyStopping::Never)),
            Some(_) => Err(self.bad("early_stopping", "true, false or \"never\"")),
        }
    }
}

fn parse_object(file: &'static str, text: &str) -> Result<Value, SettingsError> {
    let value: Value = serde_json::from_str(text).map_err(|e| SettingsError::NotJson { file, detail: e.to_string() })?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(SettingsError::NotJson { file, detail: "the top level is not an object".to_string() })
    }
}

impl CheckpointDefaults {
    /// Reads `generation_config.json` (when the checkpoint has one) and
    /// `config.json`. Like transformers, the generation keys come from
    /// `generation_config.json` alone when it exists, else from `config.json`.
    pub fn from_json(generation_config_json: Option<&str>, config_json: &str) -> Result<Self, SettingsError> {
        let config = parse_object("config.json", config_json)?;
        let generation = match generation_config_json {
            Some(text) => Some(parse_object("generation_config.json", text)?),
            None => None,
        };
        let (file, json) = match &generation {
            Some(g) => ("generation_config.json", g),
            None => ("config.json", &config),
        };
        let r = Reader { file, json };
        let positions = Reader { file: "config.json", json: &config };
        Ok(Self {
            from_generation_config: generation.is_some(),
            do_sample: r.bool("do_sample")?,
            num_beams: r.usize("num_beams")?,
            length_penalty: r.f32("length_penalty")?,
            early_stopping: r.early_stopping()?,
            num_return_sequences: r.usize("num_return_sequences")?,
            no_repeat_ngram_size: r.usize("no_repeat_ngram_size")?,
            temperature: r.f32("temperature")?,
            top_k: r.usize("top_k")?,
            top_p: r.f32("top_p")?,
            min_p: r.f32("min_p")?,
            typical_p: r.f32("typical_p")?,
            repetition_penalty: r.f32("repetition_penalty")?,
            max_new_tokens: r.usize("max_new_tokens")?,
            max_length: r.usize("max_length")?,
            min_new_tokens: r.usize("min_new_tokens")?,
            min_length: r.usize("min_length")?,
            eos_token_ids: token_ids(json, "eos_token_id"),
            pad_token_id: token_id(json, "pad_token_id"),
            bos_token_id: token_id(json, "bos_token_id"),
            decoder_start_token_id: token_id(json, "decoder_start_token_id"),
            max_position_embeddings: match positions.usize("max_position_embeddings")? {
                Some(n) => Some(n),
                None => positions.usize("n_positions")?,
            },
        })
    }

    /// The first decoder token of an encoder-decoder model:
    /// `decoder_start_token_id`, else `bos_token_id` (transformers' rule).
    pub fn decoder_start(&self) -> Option<u32> {
        self.decoder_start_token_id.or(self.bos_token_id)
    }
}

/// The decoding configuration for a prompt of `prompt_len` tokens (the
/// decoder prompt: the prompt of a decoder-only model, the decoder start ids
/// of an encoder-decoder model): user > checkpoint > transformers' defaults.
pub fn resolve(user: &UserSettings, model: &CheckpointDefaults, prompt_len: usize) -> Result<GenerateConfig, SettingsError> {
    let user_beams = user.num_beams;
    let (do_sample, num_beams) = match user.strategy {
        Some(StrategyChoice::Greedy) => {
            if user_beams.unwrap_or(1) > 1 {
                return Err(SettingsError::Conflict(format!(
                    "num_beams {} needs the beam strategy (greedy decoding has one beam)",
                    user_beams.unwrap_or(1)
                )));
            }
            (false, 1)
        }
        Some(StrategyChoice::Beam) => (false, user_beams.or(model.num_beams).unwrap_or(1)),
        Some(StrategyChoice::Sample) => {
            if user_beams.unwrap_or(1) > 1 {
                return Err(SettingsError::Conflict(format!(
                    "num_beams {} with sampling is beam sampling, which is not supported",
                    user_beams.unwrap_or(1)
                )));
            }
            (true, 1)
        }
        None => (model.do_sample.unwrap_or(false), user_beams.or(model.num_beams).unwrap_or(1)),
    };
    if num_beams == 0 {
        return Err(SettingsError::OutOfRange { field: "num_beams", limit: "at least 1".to_string() });
    }
    if do_sample && num_beams > 1 {
        return Err(SettingsError::Conflict(format!(
            "do_sample with num_beams {num_beams} is beam sampling, which is not supported: choose a strategy"
        )));
    }
    let num_return_sequences = user.num_return_sequences.or(model.num_return_sequences).unwrap_or(1);
    if num_return_sequences == 0 {
        return Err(SettingsError::OutOfRange { field: "num_return_sequences", limit: "at least 1".to_string() });
    }

    let max_new_tokens = match user.max_new_tokens.or(model.max_new_tokens) {
        Some(n) => n,
        None => match model.max_length {
            // A checkpoint's max_length counts the prompt.
            Some(max_length) => match max_length.checked_sub(prompt_len).filter(|&n| n > 0) {
                Some(n) => n,
                None => {
                    return Err(SettingsError::OutOfRange {
                        field: "max_length",
                        limit: format!("above the prompt's {prompt_len} tokens (the checkpoint sets {max_length}): set max_new_tokens"),
                    })
                }
            },
            // transformers' default: 20 new tokens, within the position table.
            None => match model.max_position_embeddings {
                Some(positions) => HF_DEFAULT_NEW_TOKENS.min(positions.saturating_sub(prompt_len)),
                None => HF_DEFAULT_NEW_TOKENS,
            },
        },
    };
    let min_new_tokens = match user.min_new_tokens.or(model.min_new_tokens) {
        Some(n) => n,
        None => model.min_length.map_or(0, |m| m.saturating_sub(prompt_len)),
    };

    let mut cfg = GenerateConfig::greedy(max_new_tokens, model.eos_token_ids.clone());
    cfg.pad_token_id = model.pad_token_id;
    cfg.min_new_tokens = min_new_tokens;
    cfg.repetition_penalty = user.repetition_penalty.or(model.repetition_penalty).unwrap_or(1.0);
    cfg.no_repeat_ngram_size = user.no_repeat_ngram_size.or(model.no_repeat_ngram_size).unwrap_or(0);
    cfg.num_return_sequences = num_return_sequences;
    cfg.stop_strings = user.stop_strings.clone();

    let one_sequence = |why: &str| {
        if num_return_sequences > 1 {
            Err(SettingsError::Conflict(format!(
                "{why}, which returns one sequence: set num_return_sequences to 1 (it is {num_return_sequences})"
            )))
        } else {
            Ok(())
        }
    };
    cfg.strategy = if num_beams > 1 {
        if num_return_sequences > num_beams {
            return Err(SettingsError::Conflict(format!(
                "num_return_sequences ({num_return_sequences}) has to be at most num_beams ({num_beams})"
            )));
        }
        Strategy::Beam {
            num_beams,
            length_penalty: user.length_penalty.or(model.length_penalty).unwrap_or(1.0),
            early_stopping: user.early_stopping.or(model.early_stopping).unwrap_or(EarlyStopping::False),
        }
    } else if do_sample {
        let temperature = user.temperature.or(model.temperature).unwrap_or(1.0);
        if temperature.is_nan() || temperature < 0.0 {
            return Err(SettingsError::OutOfRange { field: "temperature", limit: "at least 0 (0 = greedy)".to_string() });
        }
        if temperature == 0.0 {
            one_sequence("temperature 0 is greedy decoding")?;
            Strategy::Greedy
        } else {
            let warpers = WarperConfig {
                temperature,
                top_k: user.top_k.or(model.top_k).unwrap_or(HF_DEFAULT_TOP_K),
                top_p: user.top_p.or(model.top_p).unwrap_or(1.0),
                // min_p = 0 keeps every token: the same as no min-p warper.
                min_p: user.min_p.or(model.min_p).filter(|&p| p != 0.0),
                typical_p: user.typical_p.or(model.typical_p).unwrap_or(1.0),
                min_tokens_to_keep: 1,
            };
            Strategy::Sample { warpers, seed: user.seed.unwrap_or(0) }
        }
    } else {
        one_sequence("greedy decoding")?;
        Strategy::Greedy
    };
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn defaults(generation: &str) -> CheckpointDefaults {
        CheckpointDefaults::from_json(Some(generation), r#"{"n_positions": 64}"#).unwrap()
    }

    #[test]
    fn checkpoint_num_beams_selects_beam_search_without_user_settings() {
        let d = defaults(r#"{"num_beams": 3, "length_penalty": 0.5, "early_stopping": "never", "eos_token_id": [5, 7]}"#);
        let cfg = resolve(&UserSettings::default(), &d, 4).unwrap();
        assert_eq!(cfg.strategy, Strategy::Beam { num_beams: 3, length_penalty: 0.5, early_stopping: EarlyStopping::Never });
        assert_eq!(cfg.eos_token_ids, vec![5, 7]);
        assert_eq!(cfg.max_new_tokens, HF_DEFAULT_NEW_TOKENS);
    }

    #[test]
    fn user_setting_overrides_checkpoint_which_overrides_hf_default() {
        let d = defaults(r#"{"do_sample": true, "top_p": 0.9, "temperature": 0.7}"#);
        let user = UserSettings { temperature: Some(1.5), ..Default::default() };
        let cfg = resolve(&user, &d, 1).unwrap();
        let Strategy::Sample { warpers, .. } = cfg.strategy else { panic!("not sampling: {:?}", cfg.strategy) };
        assert_eq!((warpers.temperature, warpers.top_p, warpers.top_k), (1.5, 0.9, HF_DEFAULT_TOP_K));
    }

    #[test]
    fn default_length_is_capped_by_the_position_table_and_max_length_counts_the_prompt() {
        let d = defaults("{}");
        assert_eq!(resolve(&UserSettings::default(), &d, 50).unwrap().max_new_tokens, 14);
        let d = defaults(r#"{"max_length": 10, "min_length": 6}"#);
        let cfg = resolve(&UserSettings::default(), &d, 4).unwrap();
        assert_eq!((cfg.max_new_tokens, cfg.min_new_tokens), (6, 2));
        assert!(matches!(resolve(&UserSettings::default(), &d, 10), Err(SettingsError::OutOfRange { field: "max_length", .. })));
    }

    #[test]
    fn impossible_combinations_are_errors_not_silent_changes() {
        let d = defaults(r#"{"do_sample": true, "num_beams": 4}"#);
        assert!(matches!(resolve(&UserSettings::default(), &d, 1), Err(SettingsError::Conflict(_))));
        let greedy_two = UserSettings { strategy: Some(StrategyChoice::Greedy), num_return_sequences: Some(2), ..Default::default() };
        assert!(matches!(resolve(&greedy_two, &defaults("{}"), 1), Err(SettingsError::Conflict(_))));
        assert!(matches!(
            CheckpointDefaults::from_json(Some(r#"{"temperature": "hot"}"#), "{}"),
            Err(SettingsError::FieldType { key, .. }) if key == "temperature"
        ));
        assert!(matches!(StrategyChoice::parse("nucleus"), Err(SettingsError::UnknownChoice { field: "strategy", .. })));
    }

    #[test]
    fn default_share_state_decodes_greedily_whatever_the_beams_control_says() {
        let mut state = share::GenerateSettings { strategy: share::Strategy::Greedy, num_beams: 4, ..Default::default() };
        let cfg = resolve(&UserSettings::from_share_link(&state, 42), &defaults(r#"{"num_beams": 3}"#), 2).unwrap();
        assert_eq!((cfg.strategy, cfg.max_new_tokens), (Strategy::Greedy, state.max_new_tokens as usize));
        state.strategy = share::Strategy::Beam;
        let cfg = resolve(&UserSettings::from_share_link(&state, 42), &defaults("{}"), 2).unwrap();
        assert!(matches!(cfg.strategy, Strategy::Beam { num_beams: 4, .. }));
    }

    #[test]
    fn without_generation_config_the_config_json_keys_apply() {
        let d = CheckpointDefaults::from_json(None, r#"{"eos_token_id": 2, "pad_token_id": -1, "bos_token_id": 1}"#).unwrap();
        assert_eq!((d.eos_token_ids.as_slice(), d.pad_token_id, d.decoder_start()), (&[2u32][..], None, Some(1)));
    }

    #[test]
    fn model_defaults_send_only_the_controls_moved_from_their_defaults() {
        let mut state = share::GenerateSettings { model_defaults: true, ..Default::default() };
        assert_eq!(UserSettings::from_share_link(&state, 7), UserSettings { seed: Some(7), ..Default::default() });
        state.temperature = 0.7;
        state.num_beams = 3;
        let user = UserSettings::from_share_link(&state, 7);
        assert_eq!(user, UserSettings { temperature: Some(0.7), num_beams: Some(3), seed: Some(7), ..Default::default() });
        // An explicit sampling strategy has one beam, whatever the Beams control says.
        state.strategy = share::Strategy::Sample;
        let user = UserSettings::from_share_link(&state, 7);
        assert_eq!((user.strategy, user.num_beams), (Some(StrategyChoice::Sample), None));
    }

    #[test]
    fn untouched_tab_with_model_defaults_decodes_like_generate_without_arguments() {
        let d = defaults(r#"{"do_sample": true, "temperature": 0.3, "top_k": 3, "max_length": 12, "min_length": 9, "eos_token_id": 89}"#);
        let state = share::GenerateSettings { model_defaults: true, ..Default::default() };
        let page = resolve(&UserSettings::from_share_link(&state, 0), &d, 4).unwrap();
        assert_eq!(page, resolve(&UserSettings::default(), &d, 4).unwrap());
        let Strategy::Sample { warpers, .. } = page.strategy else { panic!("not sampling: {:?}", page.strategy) };
        assert_eq!((warpers.temperature, warpers.top_k, page.max_new_tokens, page.min_new_tokens), (0.3, 3, 8, 5));
    }

    #[test]
    fn links_without_the_model_defaults_key_keep_every_control_explicit() {
        let (link, warnings) = share::ShareState::from_hash("#tab=gen&strategy=greedy&max=100&temp=1");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(!link.generate.model_defaults);
        let user = UserSettings::from_share_link(&link.generate, link.seed);
        assert_eq!((user.strategy, user.max_new_tokens, user.temperature), (Some(StrategyChoice::Greedy), Some(100), Some(1.0)));
        let cfg = resolve(&user, &defaults(r#"{"num_beams": 3, "max_new_tokens": 9}"#), 1).unwrap();
        assert_eq!((cfg.strategy, cfg.max_new_tokens), (Strategy::Greedy, 100));
    }

    #[test]
    fn explain_names_the_source_of_every_resolved_setting() {
        let d = defaults(r#"{"num_beams": 3, "length_penalty": 0.6, "eos_token_id": [89, 7]}"#);
        let user = UserSettings { max_new_tokens: Some(5), ..Default::default() };
        let cfg = resolve(&user, &d, 1).unwrap();
        let got: Vec<(String, String, SettingSource)> = explain(&user, &d, &cfg).into_iter().map(|r| (r.name, r.value, r.source)).collect();
        let want = [
            ("strategy", "beam", SettingSource::GenerationConfig),
            ("num_beams", "3", SettingSource::GenerationConfig),
            ("max_new_tokens", "5", SettingSource::User),
            ("min_new_tokens", "0", SettingSource::TransformersDefault),
            ("num_return_sequences", "1", SettingSource::TransformersDefault),
            ("repetition_penalty", "1", SettingSource::TransformersDefault),
            ("no_repeat_ngram_size", "0", SettingSource::TransformersDefault),
            ("length_penalty", "0.6", SettingSource::GenerationConfig),
            ("early_stopping", "false", SettingSource::TransformersDefault),
            ("eos_token_id", "89, 7", SettingSource::GenerationConfig),
        ];
        let want: Vec<(String, String, SettingSource)> = want.iter().map(|&(n, v, s)| (n.to_string(), v.to_string(), s)).collect();
        assert_eq!(got, want);
        let from_config = CheckpointDefaults::from_json(None, r#"{"eos_token_id": 2}"#).unwrap();
        let cfg = resolve(&UserSettings::default(), &from_config, 1).unwrap();
        let eos = explain(&UserSettings::default(), &from_config, &cfg).pop().unwrap();
        assert_eq!((eos.value.as_str(), eos.source), ("2", SettingSource::ConfigJson));
    }
}
