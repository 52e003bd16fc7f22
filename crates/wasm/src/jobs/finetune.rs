//! Worker jobs of the fine-tune area: LoRA on the session's model with
//! instruction data, through the core's shared recipe
//! ([`llmlab_core::adapters::finetune`]), so the tab computes what
//! `llmlab lora train --data/--builtin` computes for the same settings.
//!
//! The run lives in a thread-local after training, for `export`. Training
//! takes one step at a time and yields to the event loop between steps, so
//! a Cancel stops it at a step boundary.

use std::cell::{Cell, RefCell};

use crate::protocol::finetune::{FinetuneData, FinetuneRequest, FinetuneResponse, FinetuneSettings, HeldOut, LossPoint};
use crate::protocol::model::NamedFile;
use crate::protocol::Response;
use crate::runtime::{checkpoint, now_millis, post, Cancelled};
use crate::session;
use llmlab_core::adapters::finetune::{self as recipe, split_data, Finetune, HeldOutAnswers};
use llmlab_core::adapters::lora::{CONFIG_FILE, WEIGHTS_FILE};
use llmlab_core::instruction::data::{self, tokenize, IGNORE_INDEX};
use llmlab_core::loading::WeightStore;
use llmlab_core::models::AnyModel;
use llmlab_core::tokenizers::Tokenizer;

/// How often step losses are posted to the UI, in milliseconds.
const POST_MILLIS: f64 = 250.0;
/// Largest pasted data accepted, in bytes.
const MAX_DATA_BYTES: usize = 8 * 1024 * 1024;
/// Tokens of the preview at most.
const PREVIEW_TOKENS: usize = 256;

thread_local! {
    /// The last run (trained or cancelled), for `export`.
    static RUN: RefCell<Option<(Finetune, String)>> = const { RefCell::new(None) };
    /// True while a start job trains.
    static TRAINING: Cell<bool> = const { Cell::new(false) };
}

/// Run one request of this area for job `id`.
pub async fn run(id: u32, request: FinetuneRequest) -> Result<Response, Cancelled> {
    if TRAINING.with(Cell::get) {
        return Ok(Response::Error { message: "Fine-tuning is running: cancel it first.".into() });
    }
    let result = match request {
        FinetuneRequest::Preview { data, seed } => preview(&data, seed),
        FinetuneRequest::Start { settings } => return start(id, settings).await,
        FinetuneRequest::Export => export().map(|files| FinetuneResponse::Exported { files }),
    };
    Ok(match result {
        Ok(r) => Response::Finetune(r),
        Err(message) => Response::Error { message },
    })
}

/// The core's data from the protocol's.
fn core_data(data: &FinetuneData) -> Result<recipe::FinetuneData, String> {
    match data {
        FinetuneData::Builtin => Ok(recipe::FinetuneData::Builtin),
        FinetuneData::Jsonl { text } if text.len() > MAX_DATA_BYTES => {
            Err(format!("The data is {} MB; the tab takes at most {} MB.", text.len() >> 20, MAX_DATA_BYTES >> 20))
        }
        FinetuneData::Jsonl { text } if text.trim().is_empty() => {
            Err("Paste some Alpaca JSONL (instruction, input, output) or chat JSONL (messages) first, or pick the built-in set.".into())
        }
        FinetuneData::Jsonl { text } => data::parse(text).map(recipe::FinetuneData::Examples).map_err(|e| format!("{e}.")),
    }
}

/// The session's model as a base: config, weights and tokenizer.
fn session_base() -> Result<(String, WeightStore, Tokenizer, String), String> {
    let loaded = session::require()?;
    let name = &loaded.label;
    let tokenizer = loaded
        .tokenizer
        .clone()
        .ok_or_else(|| format!("{name} has no tokenizer.json: fine-tuning needs the checkpoint's own tokenizer."))?;
    let named = match &loaded.model {
        AnyModel::Causal(m) => m.named_parameters(),
        _ => None,
    }
    .ok_or_else(|| format!("{name} is a {} model: only GPT-2 and Llama-shaped models can be fine-tuned.", loaded.model.model_type()))?;
    let mut store = WeightStore::new();
    for t in named {
        store.insert_f32(&t.name, t.shape, t.data);
    }
    Ok((loaded.config_json.clone(), store, tokenizer, name.clone()))
}

fn preview(data: &FinetuneData, seed: u64) -> Result<FinetuneResponse, String> {
    let loaded = session::require()?;
    let tokenizer = loaded.tokenizer.as_ref().ok_or_else(|| format!("{} has no tokenizer.json.", loaded.label))?;
    let (train, held_out) = split_data(&core_data(data)?, seed).map_err(|e| format!("{e}."))?;
    let first = train.first().ok_or("There are no training examples.")?;
    let t = tokenize(tokenizer, first, PREVIEW_TOKENS).map_err(|e| format!("{e}."))?;
    Ok(FinetuneResponse::Preview {
        tokens: t.ids.iter().map(|&id| tokenizer.decode(&[id], false)).collect(),
        loss: t.labels.iter().map(|&l| l != IGNORE_INDEX).collect(),
        train_examples: train.len() as u32,
        held_out_examples: held_out.len() as u32,
    })
}

fn held_out_rows(run: &Finetune, before: &HeldOutAnswers, after: Option<&HeldOutAnswers>) -> Vec<HeldOut> {
    run.held_out
        .iter()
        .enumerate()
        .map(|(i, e)| HeldOut {
            prompt: e.prompt.clone(),
            expected: e.expected().to_string(),
            before: before.answers.get(i).cloned().unwrap_or_default(),
            after: after.and_then(|a| a.answers.get(i).cloned()).unwrap_or_default(),
        })
        .collect()
}

fn build(settings: &FinetuneSettings) -> Result<(Finetune, String), String> {
    let (config_json, store, tokenizer, _) = session_base()?;
    let data = core_data(&settings.data)?;
    let core_settings = recipe::FinetuneSettings {
        r: settings.r as usize,
        alpha: settings.alpha,
        targets: (settings.targets != "default").then(|| settings.targets.clone()),
        steps: settings.steps,
        lr: settings.lr,
        batch: settings.batch as usize,
        seed: settings.seed,
        method: recipe::FinetuneMethod::Lora,
    };
    let run = Finetune::new(core_settings, &data, &config_json, store, tokenizer).map_err(|e| format!("{e}."))?;
    Ok((run, config_json))
}

async fn start(id: u32, settings: FinetuneSettings) -> Result<Response, Cancelled> {
    TRAINING.with(|t| t.set(true));
    let _guard = crate::runtime::ClearOnDrop(&TRAINING);
    post(id, Response::Progress { fraction: 0.0, message: "Preparing the adapter and the data…".into() });
    checkpoint(id).await?;
    RUN.with(|r| *r.borrow_mut() = None);
    let (mut run, config_json) = match build(&settings) {
        Ok(built) => built,
        Err(message) => return Ok(Response::Error { message }),
    };
    post(id, Response::Progress { fraction: 0.0, message: "Answering the held-out prompts before training…".into() });
    checkpoint(id).await?;
    let before = match run.held_out_answers() {
        Ok(b) => b,
        Err(e) => return Ok(Response::Error { message: format!("{e}.") }),
    };
    post(
        id,
        Response::Finetune(FinetuneResponse::Started {
            trainable: run.trainable_parameters() as u64,
            base: run.base_parameters() as u64,
            total_steps: run.settings.steps,
            held_out: held_out_rows(&run, &before, None),
            held_out_loss: before.loss,
            correct: before.correct as u32,
        }),
    );
    let total = run.settings.steps;
    let mut pending = Vec::new();
    let mut last_post = now_millis();
    while !run.is_done() {
        if let Err(cancelled) = checkpoint(id).await {
            post(id, Response::Finetune(FinetuneResponse::Steps { points: std::mem::take(&mut pending) }));
            RUN.with(|r| *r.borrow_mut() = Some((run, config_json)));
            return Err(cancelled);
        }
        match run.step() {
            Ok(stats) => pending.push(LossPoint { step: run.step, loss: stats.loss }),
            Err(e) => return Ok(Response::Error { message: format!("{e}.") }),
        }
        if now_millis() - last_post >= POST_MILLIS || run.is_done() {
            post(id, Response::Finetune(FinetuneResponse::Steps { points: std::mem::take(&mut pending) }));
            let fraction = f64::from(run.step) / f64::from(total.max(1));
            post(id, Response::Progress { fraction, message: format!("Step {} of {total}", run.step) });
            last_post = now_millis();
        }
    }
    post(id, Response::Progress { fraction: 1.0, message: "Answering the held-out prompts after training…".into() });
    checkpoint(id).await?;
    let after = match run.held_out_answers() {
        Ok(a) => a,
        Err(e) => return Ok(Response::Error { message: format!("{e}.") }),
    };
    let finished = FinetuneResponse::Finished {
        held_out: held_out_rows(&run, &before, Some(&after)),
        loss_before: before.loss,
        loss_after: after.loss,
        correct_before: before.correct as u32,
        correct_after: after.correct as u32,
    };
    RUN.with(|r| *r.borrow_mut() = Some((run, config_json)));
    Ok(Response::Finetune(finished))
}

/// The adapter's peft files (`adapter_config.json`, `adapter_model.safetensors`).
fn export() -> Result<Vec<NamedFile>, String> {
    RUN.with(|r| {
        let borrow = r.borrow();
        let (run, config_json) = borrow.as_ref().ok_or("There is no adapter yet: press Start.")?;
        let v: serde_json::Value = serde_json::from_str(config_json).map_err(|e| format!("config.json: {e}"))?;
        let class = v["architectures"][0].as_str().unwrap_or_default();
        let lora = run.training.lora().ok_or("The run trains no LoRA adapter.")?;
        let (config, weights) = lora.to_files(class).map_err(|e| format!("{e}."))?;
        Ok(vec![
            NamedFile { name: CONFIG_FILE.into(), bytes: config.into_bytes() },
            NamedFile { name: WEIGHTS_FILE.into(), bytes: weights },
        ])
    })
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::runtime::{block_on, take_posted};
    use crate::session::Loaded;
    use llmlab_core::adapters::lora::LoraAdapter;
    use llmlab_core::loading::safetensors::DEFAULT_HEADER_BUDGET;

    fn load_default_model() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/models/default");
        let config_json = std::fs::read_to_string(format!("{dir}/config.json")).unwrap();
        let mut store = WeightStore::new();
        store.add_safetensors(std::fs::read(format!("{dir}/model.safetensors")).unwrap(), DEFAULT_HEADER_BUDGET).unwrap();
        let model = llmlab_core::models::load(&config_json, &store).unwrap();
        let tokenizer = Tokenizer::from_json(&std::fs::read_to_string(format!("{dir}/tokenizer.json")).unwrap()).unwrap();
        let loaded = Loaded {
            label: "default".into(),
            model,
            tokenizer: Some(tokenizer),
            config_json,
            generation_config_json: None,
            bytes: 0,
            from_cache: false,
        };
        session::set(loaded);
    }

    fn settings(steps: u32) -> FinetuneSettings {
        FinetuneSettings { data: FinetuneData::Builtin, r: 8, alpha: 16.0, targets: "default".into(), lr: 3e-3, steps, batch: 8, seed: 0 }
    }

    #[test]
    fn preview_marks_exactly_the_answer_tokens() {
        load_default_model();
        let Response::Finetune(FinetuneResponse::Preview { tokens, loss, held_out_examples, .. }) =
            block_on(run(1, FinetuneRequest::Preview { data: FinetuneData::Builtin, seed: 0 })).unwrap()
        else {
            panic!("no preview")
        };
        let answer: String = tokens.iter().zip(&loss).filter(|(_, &l)| l).map(|(t, _)| t.as_str()).collect();
        let prompt: String = tokens.iter().zip(&loss).filter(|(_, &l)| !l).map(|(t, _)| t.as_str()).collect();
        assert!(prompt.starts_with("Instruction: ") && prompt.ends_with("\nResponse: "), "{prompt:?}");
        assert!(answer.ends_with('\n') && !answer.contains(' '), "{answer:?}");
        assert!(held_out_examples > 0);
        let bad = block_on(run(2, FinetuneRequest::Preview { data: FinetuneData::Jsonl { text: "{oops".into() }, seed: 0 })).unwrap();
        assert!(matches!(bad, Response::Error { message } if message.contains("line 1")));
    }

    #[test]
    fn finetune_job_streams_losses_and_exports_a_peft_adapter_equal_to_the_recipes() {
        load_default_model();
        take_posted();
        let Response::Finetune(FinetuneResponse::Finished { held_out, loss_before, loss_after, .. }) =
            block_on(run(3, FinetuneRequest::Start { settings: settings(6) })).unwrap()
        else {
            panic!("not finished")
        };
        assert!(held_out.iter().all(|h| !h.expected.is_empty()));
        assert!(loss_after < loss_before, "{loss_before} -> {loss_after}");
        let steps: Vec<u32> = take_posted()
            .into_iter()
            .filter_map(|(_, r)| match r {
                Response::Finetune(FinetuneResponse::Steps { points }) => Some(points),
                _ => None,
            })
            .flatten()
            .map(|p| p.step)
            .collect();
        assert_eq!(steps, (1..=6).collect::<Vec<_>>());
        let Response::Finetune(FinetuneResponse::Exported { files }) = block_on(run(4, FinetuneRequest::Export)).unwrap() else {
            panic!("not exported")
        };
        assert_eq!(files[0].name, CONFIG_FILE);
        let adapter = LoraAdapter::from_files(std::str::from_utf8(&files[0].bytes).unwrap(), files[1].bytes.clone()).unwrap();
        // The same recipe run natively from the checkpoint files gives the same adapter.
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../web/models/default");
        let config_json = std::fs::read_to_string(format!("{dir}/config.json")).unwrap();
        let mut store = WeightStore::new();
        store.add_safetensors(std::fs::read(format!("{dir}/model.safetensors")).unwrap(), DEFAULT_HEADER_BUDGET).unwrap();
        let tokenizer = Tokenizer::from_json(&std::fs::read_to_string(format!("{dir}/tokenizer.json")).unwrap()).unwrap();
        let core = recipe::FinetuneSettings { steps: 6, ..recipe::FinetuneSettings::default() };
        let mut native = Finetune::new(core, &recipe::FinetuneData::Builtin, &config_json, store, tokenizer).unwrap();
        while !native.is_done() {
            native.step().unwrap();
        }
        assert_eq!(adapter.named_tensors(), native.training.lora().unwrap().named_tensors());
    }
}
