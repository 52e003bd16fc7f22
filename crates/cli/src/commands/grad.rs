//! `llmlab grad --model DIR --ids 1,2,3[;4,5,6] [--labels ..] [--attention-mask ..] --out grads.safetensors`:
//! the loss transformers' `model(input_ids, attention_mask=.., labels=..)`
//! returns, printed as `{"loss": ..}`, and the gradient of every trainable
//! parameter written to `--out` (f32 safetensors) under its Hugging Face
//! name. The model type in config.json picks the loss:
//! - gpt2, llama (`*ForCausalLM`): position `t` predicts label `t+1`;
//!   without `--labels` the labels are the ids.
//! - bert (`BertForMaskedLM`, token types all 0): position `t` predicts
//!   label `t`; usually `-100` everywhere except the masked positions.
//! - t5 (`T5ForConditionalGeneration`): `--ids` is the encoder input and
//!   `--labels` (required) the target, of any length; the decoder reads the
//!   labels shifted right after `decoder_start_token_id`.
//! - mixtral, qwen2_moe: as a causal LM, plus `router_aux_loss_coef` times
//!   the load-balancing loss of the routers (padding left out), as the HF
//!   model returns with `output_router_logits=True`.
//!
//! `-100` labels are ignored. Rows separated by `;` form a batch of equal length.
//! With `--adapter ADIR` (a peft LoRA or prefix-tuning directory on a GPT-2
//! or Llama model, told apart by `peft_type`) the loss is the adapted
//! model's and only the adapter's gradients are written, under peft's saved
//! key names (`base_model.model.….lora_A.weight`; `prompt_embeddings`, or
//! with `prefix_projection` and `prefix_encoder.safetensors` in the
//! directory the encoder's `embedding.weight`, `transform.0.weight`, ...).
//! A bottleneck adapter (`peft_type` `BOTTLENECK`, see
//! `llmlab_core::adapters::bottleneck`) writes its own tensors' gradients.
//! With `--teacher DIR` (a GPT-2 or Llama with the student's vocabulary) the
//! loss is knowledge distillation,
//! `α·T²·KL(softmax(teacher/T) ‖ softmax(student/T)) + (1−α)·CE(student, labels)`
//! with `--temperature T` (default 2) and `--alpha A` (default 0.5), both
//! terms means over the scored positions (`kl_div(..., reduction="batchmean")`
//! on the flattened tokens); it prints `{"loss", "kl", "cross_entropy"}` and
//! writes the student's gradients.
//! Parsing, loss and gradients live in `llmlab_core::models::gradients`;
//! this file only reads and writes files.

use super::adapter::Adapter;
use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::models::gradients::{DistillationSettings, GradInput, Trainable};
use std::path::Path;

/// Arguments of `llmlab grad`.
#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face model directory (config.json + safetensors): GPT-2, Llama, BERT, T5, Mixtral or Qwen2-MoE.
    #[arg(long)]
    model: String,
    /// Token ids: `1,2,3`, rows of a batch separated by `;`.
    #[arg(long, allow_hyphen_values = true)]
    ids: String,
    /// Labels with the shape of --ids (`-100` = ignored); default: the ids. T5: the target rows (any length).
    #[arg(long, allow_hyphen_values = true)]
    labels: Option<String>,
    /// Attention mask with the shape of --ids (1 = token, 0 = padding).
    #[arg(long)]
    attention_mask: Option<String>,
    /// Where to write the gradients (safetensors).
    #[arg(long)]
    out: String,
    /// Adapter directory (peft LoRA or prefix tuning, or bottleneck): gradients of its parameters only.
    #[arg(long)]
    adapter: Option<String>,
    /// Teacher model directory: the loss becomes knowledge distillation (GPT-2/Llama, same vocabulary).
    #[arg(long, conflicts_with = "adapter")]
    teacher: Option<String>,
    /// Distillation temperature T > 0 (with --teacher).
    #[arg(long, default_value_t = 2.0, requires = "teacher")]
    temperature: f32,
    /// Distillation mix α in [0, 1]: weight of T²·KL; 1 − α weighs the cross-entropy (with --teacher).
    #[arg(long, default_value_t = 0.5, requires = "teacher")]
    alpha: f32,
}

/// Reads a Hugging Face checkpoint directory as config text and tensors.
fn read_hf(dir: &str) -> Result<(String, llmlab_core::loading::WeightStore), String> {
    match load_checkpoint(Path::new(dir)).map_err(|e| e.to_string())? {
        Checkpoint::HuggingFace { config_json, store } => Ok((config_json, store)),
        Checkpoint::Llama2c(_) => Err(format!("{dir}: grad needs a Hugging Face checkpoint directory, not a llama2.c .bin")),
    }
}

/// Runs `args`.
pub fn run(args: Args) -> Result<(), String> {
    let (config_json, store) = read_hf(&args.model)?;
    if let Some(teacher_dir) = &args.teacher {
        let student = Trainable::load(&config_json, &store).map_err(|e| e.to_string())?;
        let (teacher_config, teacher_store) = read_hf(teacher_dir)?;
        let teacher = Trainable::load(&teacher_config, &teacher_store).map_err(|e| format!("teacher: {e}"))?;
        let input = student
            .parse_input(&args.ids, args.labels.as_deref(), args.attention_mask.as_deref())
            .map_err(|e| e.to_string())?;
        let settings = DistillationSettings { temperature: args.temperature, alpha: args.alpha };
        let out = student.distillation_gradients(&teacher, &input, settings).map_err(|e| e.to_string())?;
        let bytes = out.grad.to_safetensors().map_err(|e| e.to_string())?;
        std::fs::write(&args.out, bytes).map_err(|e| format!("cannot write {}: {e}", args.out))?;
        println!(
            "{}",
            serde_json::json!({ "loss": out.grad.loss, "kl": out.kl, "cross_entropy": out.cross_entropy,
                                "temperature": args.temperature, "alpha": args.alpha })
        );
        return Ok(());
    }
    let out = match &args.adapter {
        Some(dir) => {
            let input = GradInput::parse(&args.ids, args.labels.as_deref(), args.attention_mask.as_deref()).map_err(|e| e.to_string())?;
            match super::adapter::read(Path::new(dir))? {
                Adapter::Lora(lora) => lora.loss_and_gradients(&config_json, store, &input).map_err(|e| e.to_string())?,
                Adapter::PrefixTuning(prefix) => prefix.loss_and_gradients(&config_json, &store, &input).map_err(|e| e.to_string())?,
                Adapter::Bottleneck(bottleneck) => bottleneck.loss_and_gradients(&config_json, &store, &input).map_err(|e| e.to_string())?,
            }
        }
        None => {
            let model = Trainable::load(&config_json, &store).map_err(|e| e.to_string())?;
            let input = model
                .parse_input(&args.ids, args.labels.as_deref(), args.attention_mask.as_deref())
                .map_err(|e| e.to_string())?;
            model.gradients(&input).map_err(|e| e.to_string())?
        }
    };
    let bytes = out.to_safetensors().map_err(|e| e.to_string())?;
    std::fs::write(&args.out, bytes).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    println!("{}", serde_json::json!({ "loss": out.loss }));
    Ok(())
}
