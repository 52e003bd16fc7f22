//! The fine-tuning recipe shared by `llmlab lora train --data/--builtin` and
//! the Fine-tune tab's worker job, so both compute the same run from the same
//! settings.
//!
//! A run is: a fresh adapter (seeded as peft initialises it; LoRA unless
//! [`FinetuneSettings::method`] asks for prefix tuning or bottleneck
//! adapters) on a frozen base; instruction examples tokenized with the loss on the answer only
//! ([`crate::instruction::data`]); each step draws `batch` training examples
//! uniformly (seeded), right-pads them and takes one AdamW step (constant
//! learning rate, gradients clipped to norm 1, see [`LoraTraining`]).
//! Held-out prompts are answered greedily (until a newline) before and after,
//! and their answer-only loss measured.
//!
//! Data: the built-in set ([`crate::instruction::builtin`]), whose held-out
//! words are never trained on; or the user's examples, whose last tenth
//! (1 to [`MAX_HELD_OUT`] examples) is held out when there are at least two.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::lora::{LoraAdapter, LoraConfig, TargetModules};
use super::adapter_training::{AdapterTraining, TrainedAdapter};
use super::bottleneck::{BottleneckAdapter, BottleneckConfig};
use super::lora_training::{LoraStep, LoraTraining};
use super::prefix_tuning::{PrefixTuningAdapter, PrefixTuningConfig};
use super::AdapterError;
use crate::decoding::greedy::argmax;
use crate::instruction::builtin::builtin_set;
use crate::instruction::data::{pad_batch, tokenize, Example, Tokenized};
use crate::loading::WeightStore;
use crate::models::gradients::GradInput;
use crate::models::AnyModel;
use crate::rng::Rng;
use crate::tokenizers::Tokenizer;

/// Most held-out examples taken from user data.
pub const MAX_HELD_OUT: usize = 8;
/// Most training steps a run may ask for.
pub const MAX_STEPS: u32 = 100_000;
/// Most examples per batch.
pub const MAX_BATCH: usize = 256;
/// Tokens greedy decoding may add beyond the expected answer's length.
const EXTRA_ANSWER_TOKENS: usize = 4;
/// Longest context a run uses even when the model allows more.
const MAX_TOKENS: usize = 512;

/// peft's default `target_modules` for a model family: `c_attn` for GPT-2,
/// `q_proj,v_proj` for Llama.
pub fn default_targets(model_type: &str) -> &'static str {
    if model_type == "gpt2" {
        "c_attn"
    } else {
        "q_proj,v_proj"
    }
}

/// Everything a fine-tuning run is set by.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneSettings {
    /// LoRA rank.
    pub r: usize,
    /// LoRA scale numerator (the update is scaled by α/r).
    pub alpha: f64,
    /// Adapted modules (`c_attn`, `q_proj,v_proj`, `all-linear`); `None`
    /// takes [`default_targets`].
    pub targets: Option<String>,
    /// AdamW steps.
    pub steps: u32,
    /// Constant learning rate.
    pub lr: f64,
    /// Examples per step.
    pub batch: usize,
    /// Seed of the adapter's initialisation, the batches and the built-in set.
    pub seed: u64,
    /// Which adapter is trained (`r`, `alpha` and `targets` are LoRA's).
    pub method: FinetuneMethod,
}

/// The adapter a fine-tuning run trains.
#[derive(Clone, Debug, PartialEq)]
pub enum FinetuneMethod {
    /// LoRA ([`super::lora`]).
    Lora,
    /// Prefix tuning ([`super::prefix_tuning`]): `num_virtual_tokens`
    /// key/value rows per layer, made by peft's MLP with `projection`.
    Prefix {
        /// Virtual tokens `P`.
        num_virtual_tokens: usize,
        /// `prefix_projection` (the encoder's hidden width is the prefix's).
        projection: bool,
    },
    /// Bottleneck adapters ([`super::bottleneck`]).
    Bottleneck {
        /// Inner width `r`.
        size: usize,
        /// Hugging Face name of the nonlinearity (`relu`, `gelu`, ...).
        non_linearity: String,
    },
}

/// What a run steps: a LoRA adapter, or a prefix-tuning / bottleneck one.
pub enum RunTraining {
    /// LoRA.
    Lora(LoraTraining),
    /// Prefix tuning or bottleneck adapters.
    Other(AdapterTraining),
}

impl RunTraining {
    /// The LoRA adapter, when the run trains one.
    pub fn lora(&self) -> Option<&LoraAdapter> {
        match self {
            Self::Lora(t) => Some(&t.adapter),
            Self::Other(_) => None,
        }
    }

    /// Trainable parameters.
    pub fn num_trainable(&self) -> usize {
        match self {
            Self::Lora(t) => t.num_trainable(),
            Self::Other(t) => t.num_trainable(),
        }
    }

    fn loss(&self, input: &GradInput) -> Result<f64, AdapterError> {
        match self {
            Self::Lora(t) => t.loss(input),
            Self::Other(t) => t.loss(input),
        }
    }

    fn step(&mut self, input: &GradInput, lr: f64) -> Result<LoraStep, AdapterError> {
        match self {
            Self::Lora(t) => t.step(input, lr, Some(1.0)),
            Self::Other(t) => t.step(input, lr, Some(1.0)),
        }
    }
}

impl Default for FinetuneSettings {
    /// The tab's and the CLI's defaults: peft's rank, α and targets; a
    /// learning rate at which the default model's held-out answer loss falls
    /// within a few dozen steps.
    fn default() -> Self {
        Self { r: 8, alpha: 16.0, targets: None, steps: 100, lr: 3e-3, batch: 8, seed: 0, method: FinetuneMethod::Lora }
    }
}

/// Where the examples come from.
#[derive(Clone, Debug, PartialEq)]
pub enum FinetuneData {
    /// The built-in set of the run's seed.
    Builtin,
    /// The user's examples (the last tenth is held out).
    Examples(Vec<Example>),
}

/// The training and held-out examples of a run.
pub fn split_data(data: &FinetuneData, seed: u64) -> Result<(Vec<Example>, Vec<Example>), AdapterError> {
    match data {
        FinetuneData::Builtin => {
            let set = builtin_set(seed);
            Ok((set.train, set.held_out))
        }
        FinetuneData::Examples(examples) if examples.is_empty() => Err(AdapterError::Data("there are no examples".into())),
        FinetuneData::Examples(examples) if examples.len() == 1 => Ok((examples.clone(), Vec::new())),
        FinetuneData::Examples(examples) => {
            let held = (examples.len() / 10).clamp(1, MAX_HELD_OUT);
            let (train, held_out) = examples.split_at(examples.len() - held);
            Ok((train.to_vec(), held_out.to_vec()))
        }
    }
}

/// Greedy answers to the held-out prompts, and how many equal the expected answer.
#[derive(Clone, Debug, PartialEq)]
pub struct HeldOutAnswers {
    /// One greedy answer per held-out example (up to its first newline).
    pub answers: Vec<String>,
    /// Answers equal to the expected one.
    pub correct: usize,
    /// Answer-only loss of the held-out examples, nats per answer token.
    pub loss: f64,
}

/// A fine-tuning run in progress.
pub struct Finetune {
    /// The adapter and its optimiser.
    pub training: RunTraining,
    /// The settings it was built from.
    pub settings: FinetuneSettings,
    /// Steps done.
    pub step: u32,
    /// Held-out examples (prompts with expected answers).
    pub held_out: Vec<Example>,
    /// Training examples, tokenized.
    pub train: Vec<Tokenized>,
    held_out_tokens: Vec<Tokenized>,
    config_json: String,
    tokenizer: Tokenizer,
    model_type: String,
    max_len: usize,
    base_parameters: usize,
    rng: Rng,
}

fn model_error(e: impl ToString) -> AdapterError {
    AdapterError::Model(e.to_string())
}

/// The decoder-only network of a GPT-2 or Llama checkpoint (to size an adapter).
fn causal_stack(config_json: &str, store: &WeightStore) -> Result<crate::models::decoder_only::DecoderOnly, AdapterError> {
    let model = crate::models::gradients::CausalLm::load(config_json, store).map_err(model_error)?;
    Ok(model.stack().clone())
}

impl Finetune {
    /// Checks the settings, tokenizes the data and starts a fresh adapter on
    /// the base model (`config_json`, `store`).
    pub fn new(
        settings: FinetuneSettings,
        data: &FinetuneData,
        config_json: &str,
        store: WeightStore,
        tokenizer: Tokenizer,
    ) -> Result<Self, AdapterError> {
        let s = &settings;
        if s.r == 0 || s.r > 256 {
            return Err(AdapterError::Settings("the rank r must be between 1 and 256".into()));
        }
        if !(s.alpha.is_finite() && s.alpha > 0.0) {
            return Err(AdapterError::Settings("alpha must be a positive number".into()));
        }
        if !(s.lr.is_finite() && s.lr > 0.0 && s.lr <= 1.0) {
            return Err(AdapterError::Settings("the learning rate must be in (0, 1]".into()));
        }
        if s.steps == 0 || s.steps > MAX_STEPS || s.batch == 0 || s.batch > MAX_BATCH {
            return Err(AdapterError::Settings(format!("steps must be 1..={MAX_STEPS} and the batch 1..={MAX_BATCH}")));
        }
        let model = crate::models::load(config_json, &store).map_err(model_error)?;
        let AnyModel::Causal(causal) = &model else {
            return Err(AdapterError::Model(format!(
                "{} is not a causal language model: only GPT-2 and Llama can be tuned here",
                model.model_type()
            )));
        };
        let model_type = causal.model_type().to_string();
        let max_len = causal.max_positions().unwrap_or(MAX_TOKENS).min(MAX_TOKENS);
        let base_parameters = store.names().iter().filter_map(|n| store.shape(n)).map(|s| s.iter().product::<usize>()).sum();
        let (train_examples, held_out) = split_data(data, s.seed)?;
        let tokenize_all = |examples: &[Example]| -> Result<Vec<Tokenized>, AdapterError> {
            examples
                .iter()
                .enumerate()
                .map(|(i, e)| tokenize(&tokenizer, e, max_len).map_err(|err| AdapterError::Data(format!("example {}: {err}", i + 1))))
                .collect()
        };
        let train = tokenize_all(&train_examples)?;
        let held_out_tokens = tokenize_all(&held_out)?;
        let training = match &s.method {
            FinetuneMethod::Lora => {
                let targets = s.targets.clone().unwrap_or_else(|| default_targets(&model_type).to_string());
                let lora = LoraConfig {
                    r: s.r,
                    lora_alpha: s.alpha,
                    use_rslora: false,
                    lora_dropout: 0.0,
                    target_modules: TargetModules::parse(&targets)?,
                    fan_in_fan_out: model_type == "gpt2",
                    init_lora_weights: true,
                };
                let adapter = LoraAdapter::init(lora, &store, &model_type, &mut Rng::new(s.seed))?;
                RunTraining::Lora(LoraTraining::new(adapter, config_json.to_string(), store))
            }
            method => {
                let stack = causal_stack(config_json, &store)?;
                let attn = stack.blocks.first().map(|b| &b.attn).ok_or_else(|| AdapterError::Model("the model has no layer".into()))?;
                let (layers, width) = (stack.blocks.len(), stack.embed.weight.dim().1);
                let mut rng = Rng::new(s.seed);
                let adapter = match method {
                    FinetuneMethod::Prefix { num_virtual_tokens, projection } => {
                        if *num_virtual_tokens == 0 || *num_virtual_tokens > 256 {
                            return Err(AdapterError::Settings("the virtual tokens must be between 1 and 256".into()));
                        }
                        let token_dim = attn.num_kv_heads * attn.head_dim;
                        let config = PrefixTuningConfig {
                            num_virtual_tokens: *num_virtual_tokens,
                            token_dim,
                            num_attention_heads: attn.num_kv_heads,
                            num_layers: layers,
                            prefix_projection: *projection,
                            encoder_hidden_size: token_dim,
                        };
                        TrainedAdapter::PrefixTuning(PrefixTuningAdapter::init(config, &mut rng)?)
                    }
                    FinetuneMethod::Bottleneck { size, non_linearity } => {
                        if *size == 0 || *size > 4096 {
                            return Err(AdapterError::Settings("the bottleneck size must be between 1 and 4096".into()));
                        }
                        let config = BottleneckConfig { bottleneck_size: *size, non_linearity: non_linearity.clone(), num_layers: layers, hidden_size: width };
                        TrainedAdapter::Bottleneck(BottleneckAdapter::init(config, &mut rng)?)
                    }
                    FinetuneMethod::Lora => return Err(AdapterError::Settings("unreachable: LoRA is handled above".into())),
                };
                RunTraining::Other(AdapterTraining::new(adapter, config_json, &store)?)
            }
        };
        let rng = Rng::new(s.seed ^ 0x5eed);
        Ok(Self {
            training,
            settings,
            step: 0,
            held_out,
            train,
            held_out_tokens,
            config_json: config_json.to_string(),
            tokenizer,
            model_type,
            max_len,
            base_parameters,
            rng,
        })
    }

    /// Whether every step of the settings is done.
    pub fn is_done(&self) -> bool {
        self.step >= self.settings.steps
    }

    /// Trainable parameters (LoRA's `A` and `B`).
    pub fn trainable_parameters(&self) -> usize {
        self.training.num_trainable()
    }

    /// Parameters of the frozen base model (what full fine-tuning trains).
    pub fn base_parameters(&self) -> usize {
        self.base_parameters
    }

    /// The base model's family (`gpt2`, `llama`).
    pub fn model_type(&self) -> &str {
        &self.model_type
    }

    /// One AdamW step on a seeded batch of training examples.
    pub fn step(&mut self) -> Result<LoraStep, AdapterError> {
        let n = self.train.len() as u64;
        let rows: Vec<&Tokenized> = (0..self.settings.batch).map(|_| &self.train[self.rng.below(n) as usize]).collect();
        let (input_ids, labels) = pad_batch(&rows);
        let stats = self.training.step(&GradInput { input_ids, labels: Some(labels), attention_mask: None }, self.settings.lr)?;
        self.step += 1;
        Ok(stats)
    }

    /// Held-out loss and greedy answers of the adapted model as it is now.
    pub fn held_out_answers(&self) -> Result<HeldOutAnswers, AdapterError> {
        if self.held_out.is_empty() {
            return Ok(HeldOutAnswers { answers: Vec::new(), correct: 0, loss: f64::NAN });
        }
        let rows: Vec<&Tokenized> = self.held_out_tokens.iter().collect();
        let (input_ids, labels) = pad_batch(&rows);
        let loss = self.training.loss(&GradInput { input_ids, labels: Some(labels), attention_mask: None })?;
        let lora = match &self.training {
            RunTraining::Lora(training) => {
                let store = training.merged()?;
                match crate::models::load(&self.config_json, &store).map_err(model_error)? {
                    AnyModel::Causal(model) => Some(model),
                    _ => return Err(AdapterError::Model("not a causal language model".into())),
                }
            }
            RunTraining::Other(_) => None,
        };
        let mut answers = Vec::with_capacity(self.held_out.len());
        for t in &self.held_out_tokens {
            let expected_len = t.ids.len() - t.prompt_len;
            let budget = (expected_len + EXTRA_ANSWER_TOKENS).min(self.max_len.saturating_sub(t.prompt_len));
            let mut cache = lora.as_ref().map(|m| m.new_cache());
            let mut next_input: Vec<u32> = t.ids[..t.prompt_len].to_vec();
            let mut sequence = next_input.clone(); // the whole text so far, for adapters decoded without a cache
            let mut out: Vec<u32> = Vec::new();
            let mut text = String::new();
            for _ in 0..budget {
                let logits = match (&lora, &self.training, cache.as_mut()) {
                    (Some(model), _, Some(cache)) => model.forward(&next_input, Some(cache)).map_err(model_error)?,
                    (_, RunTraining::Other(training), _) => training.logits(&sequence)?,
                    _ => return Err(AdapterError::Model("no model to decode with".into())),
                };
                let last = logits.nrows().checked_sub(1).ok_or_else(|| AdapterError::Model("no logits".into()))?;
                let row = logits.row(last);
                let id = argmax(row.as_slice().ok_or_else(|| AdapterError::Model("logits are not contiguous".into()))?)
                    .ok_or_else(|| AdapterError::Model("empty logits".into()))? as u32;
                out.push(id);
                text = self.tokenizer.decode(&out, true);
                if text.contains('\n') {
                    break;
                }
                next_input = alloc::vec![id];
                sequence.push(id);
            }
            answers.push(text.split('\n').next().unwrap_or("").to_string());
        }
        let correct = answers.iter().zip(&self.held_out).filter(|(a, e)| a.as_str() == e.expected()).count();
        Ok(HeldOutAnswers { answers, correct, loss })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instruction::data::IGNORE_INDEX;

    fn default_model() -> (String, WeightStore, Tokenizer) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/models/default");
        let config = std::fs::read_to_string(format!("{dir}/config.json")).unwrap();
        let mut store = WeightStore::new();
        store.add_safetensors(std::fs::read(format!("{dir}/model.safetensors")).unwrap(), u64::MAX).unwrap();
        let tokenizer = Tokenizer::from_json(&std::fs::read_to_string(format!("{dir}/tokenizer.json")).unwrap()).unwrap();
        (config, store, tokenizer)
    }

    #[test]
    fn user_data_holds_out_its_last_tenth() {
        let examples: Vec<Example> = (0..25).map(|i| Example::alpaca(&format!("n{i}"), "", "x")).collect();
        let (train, held) = split_data(&FinetuneData::Examples(examples.clone()), 0).unwrap();
        assert_eq!((train.len(), held.len()), (23, 2));
        assert_eq!(held[1], examples[24]);
        assert!(split_data(&FinetuneData::Examples(Vec::new()), 0).is_err());
    }

    #[test]
    fn bad_settings_are_refused_before_training() {
        let (config, store, tokenizer) = default_model();
        let bad = |s: FinetuneSettings| Finetune::new(s, &FinetuneData::Builtin, &config, store.clone(), tokenizer.clone()).err();
        assert!(matches!(bad(FinetuneSettings { r: 0, ..FinetuneSettings::default() }), Some(AdapterError::Settings(_))));
        assert!(matches!(bad(FinetuneSettings { lr: 0.0, ..FinetuneSettings::default() }), Some(AdapterError::Settings(_))));
        assert!(matches!(bad(FinetuneSettings { targets: Some("nope".into()), ..FinetuneSettings::default() }), Some(_)));
        let digits = FinetuneData::Examples(alloc::vec![Example::alpaca("add", "1", "2")]);
        assert!(matches!(
            Finetune::new(FinetuneSettings::default(), &digits, &config, store, tokenizer).err(),
            Some(AdapterError::Data(_))
        ));
    }

    #[test]
    fn prefix_and_bottleneck_runs_lower_the_held_out_loss() {
        let (config, store, tokenizer) = default_model();
        for method in [
            FinetuneMethod::Prefix { num_virtual_tokens: 8, projection: false },
            FinetuneMethod::Bottleneck { size: 16, non_linearity: "relu".into() },
        ] {
            let settings = FinetuneSettings { steps: 30, lr: 1e-2, method: method.clone(), ..FinetuneSettings::default() };
            let mut run = Finetune::new(settings, &FinetuneData::Builtin, &config, store.clone(), tokenizer.clone()).unwrap();
            assert!(run.training.lora().is_none());
            let before = run.held_out_answers().unwrap();
            while !run.is_done() {
                run.step().unwrap();
            }
            let after = run.held_out_answers().unwrap();
            println!("{method:?}: held-out loss {:.4} -> {:.4}; answers {:?}", before.loss, after.loss, after.answers);
            assert_eq!(after.answers.len(), run.held_out.len());
            assert!(after.loss < before.loss, "{method:?}: held-out loss {} -> {}", before.loss, after.loss);
        }
    }

    #[test]
    fn loss_on_the_builtin_set_falls() {
        let (config, store, tokenizer) = default_model();
        let settings = FinetuneSettings { steps: 30, ..FinetuneSettings::default() };
        let mut run = Finetune::new(settings, &FinetuneData::Builtin, &config, store, tokenizer).unwrap();
        assert!(run.train.iter().all(|t| t.labels.iter().any(|&l| l != IGNORE_INDEX)));
        let before = run.held_out_answers().unwrap();
        assert_eq!(before.answers.len(), run.held_out.len());
        let first = run.step().unwrap().loss;
        while !run.is_done() {
            run.step().unwrap();
        }
        let after = run.held_out_answers().unwrap();
        println!("held-out loss {:.4} -> {:.4}; first train loss {first:.4}", before.loss, after.loss);
        println!("before {:?}\nafter  {:?}", before.answers, after.answers);
        assert!(after.loss < before.loss * 0.7, "held-out loss {} -> {}", before.loss, after.loss);
        assert!(run.trainable_parameters() * 10 < run.base_parameters());
    }
}
