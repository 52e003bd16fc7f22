//! `llmlab quantize --model DIR --format f16|bf16|q8_0|q4_0|q4_1|q5_0|q5_1|q6_k --out FILE.gguf`:
//! a Hugging Face GPT-2 or Llama checkpoint written as GGUF, the way
//! llama.cpp's `convert_hf_to_gguf.py` lays it out:
//!
//! - tensor names are llama.cpp's (`token_embd.weight`, `blk.0.attn_qkv.weight`, …);
//!   GPT-2's `Conv1D` weights are transposed to `(out, in)`, and Llama's
//!   q/k projections are permuted from HF's half-split rotary layout to the
//!   interleaved one llama.cpp's RoPE uses (`LlamaModel.permute`);
//! - 1-D tensors (norms, biases) and GPT-2's position embeddings stay F32;
//!   a matrix whose rows are not a whole number of blocks falls back to F16
//!   (as `convert_hf_to_gguf.py` does on `QuantError`); a tied output head is not written;
//! - metadata: `general.architecture`, `general.file_type`, the
//!   `{arch}.*` hyper-parameters llama.cpp reads, and `tokenizer.ggml.*`
//!   from a BPE `tokenizer.json` when the directory has one.
//!
//! Prints `{"out", "architecture", "format", "tensors", "types", "f32_bytes", "gguf_bytes", "tokenizer"}`.

use llmlab_core::loading::fs::{load_checkpoint, Checkpoint};
use llmlab_core::loading::WeightStore;
use llmlab_core::quantization::gguf::{GgufArray, GgufValue, GgufWriter};
use llmlab_core::quantization::{quantize, GgmlType};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Arguments of `llmlab quantize`.
#[derive(clap::Args)]
pub struct Args {
    /// Hugging Face model directory (config.json + safetensors), GPT-2 or Llama.
    #[arg(long)]
    model: String,
    /// Target type of the matrices: f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1 or q6_k.
    #[arg(long)]
    format: String,
    /// The GGUF file to write.
    #[arg(long)]
    out: String,
}

/// llama.cpp's `general.file_type` (`LlamaFileType`) for a target type.
fn file_type(ty: GgmlType) -> u32 {
    match ty {
        GgmlType::F32 => 0,
        GgmlType::F16 => 1,
        GgmlType::Q4_0 => 2,
        GgmlType::Q4_1 => 3,
        GgmlType::Q8_0 => 7,
        GgmlType::Q5_0 => 8,
        GgmlType::Q5_1 => 9,
        GgmlType::Q6K => 18,
        GgmlType::Q4K => 15,
        GgmlType::BF16 => 32,
    }
}

/// A tensor ready to be written: llama.cpp name, shape (outermost first), f32 values.
struct Converted {
    name: String,
    shape: Vec<usize>,
    values: Vec<f32>,
}

fn usize_field(config: &Value, key: &str) -> Option<usize> {
    config.get(key).and_then(Value::as_u64).map(|v| v as usize)
}

fn required(config: &Value, key: &str) -> Result<usize, String> {
    usize_field(config, key).ok_or_else(|| format!("config.json has no integer '{key}'"))
}

fn u32_value(v: usize) -> GgufValue {
    GgufValue::U32(v as u32)
}

/// `(rows, cols)` row-major → `(cols, rows)`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = values[r * cols + c];
        }
    }
    out
}

/// `LlamaModel.permute`: each head's rows from (2, head_dim/2) to (head_dim/2, 2) order.
fn permute_rotary(values: &[f32], heads: usize, row_len: usize) -> Vec<f32> {
    let rows = values.len() / row_len.max(1);
    let head_dim = rows / heads.max(1);
    let half = head_dim / 2;
    let mut out = vec![0.0; values.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let src = h * head_dim + j * half + i;
                let dst = h * head_dim + i * 2 + j;
                out[dst * row_len..(dst + 1) * row_len].copy_from_slice(&values[src * row_len..(src + 1) * row_len]);
            }
        }
    }
    out
}

fn gpt2_tensors(config: &Value, store: &WeightStore) -> Result<Vec<Converted>, String> {
    let tied = config.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(true);
    let mut out = Vec::new();
    for (hf_name, tensor) in &store.tensors {
        let name = hf_name.strip_prefix("transformer.").unwrap_or(hf_name);
        if name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") || (tied && name == "lm_head.weight") {
            continue;
        }
        let mapped = if let Some(rest) = name.strip_prefix("h.") {
            let (layer, part) = rest.split_once('.').ok_or_else(|| format!("unexpected tensor '{hf_name}'"))?;
            let suffix = match part {
                "ln_1.weight" => "attn_norm.weight",
                "ln_1.bias" => "attn_norm.bias",
                "attn.c_attn.weight" => "attn_qkv.weight",
                "attn.c_attn.bias" => "attn_qkv.bias",
                "attn.c_proj.weight" => "attn_output.weight",
                "attn.c_proj.bias" => "attn_output.bias",
                "ln_2.weight" => "ffn_norm.weight",
                "ln_2.bias" => "ffn_norm.bias",
                "mlp.c_fc.weight" => "ffn_up.weight",
                "mlp.c_fc.bias" => "ffn_up.bias",
                "mlp.c_proj.weight" => "ffn_down.weight",
                "mlp.c_proj.bias" => "ffn_down.bias",
                _ => return Err(format!("unexpected GPT-2 tensor '{hf_name}'")),
            };
            format!("blk.{layer}.{suffix}")
        } else {
            match name {
                "wte.weight" => "token_embd.weight",
                "wpe.weight" => "position_embd.weight",
                "ln_f.weight" => "output_norm.weight",
                "ln_f.bias" => "output_norm.bias",
                "lm_head.weight" => "output.weight",
                _ => return Err(format!("unexpected GPT-2 tensor '{hf_name}'")),
            }
            .to_string()
        };
        let mut values = store.to_f32(hf_name).map_err(|e| e.to_string())?;
        let mut shape = tensor.shape.clone();
        // Conv1D stores (in, out); llama.cpp wants (out, in) like nn.Linear.
        if mapped.ends_with(".weight") && shape.len() == 2 && mapped.starts_with("blk.") && !mapped.contains("norm") {
            values = transpose(&values, shape[0], shape[1]);
            shape.swap(0, 1);
        }
        out.push(Converted { name: mapped, shape, values });
    }
    Ok(out)
}

fn llama_tensors(config: &Value, store: &WeightStore) -> Result<Vec<Converted>, String> {
    let tied = config.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false);
    let heads = required(config, "num_attention_heads")?;
    let kv_heads = usize_field(config, "num_key_value_heads").unwrap_or(heads);
    let mut out = Vec::new();
    for (hf_name, tensor) in &store.tensors {
        if tied && hf_name == "lm_head.weight" {
            continue;
        }
        let mapped = if let Some(rest) = hf_name.strip_prefix("model.layers.") {
            let (layer, part) = rest.split_once('.').ok_or_else(|| format!("unexpected tensor '{hf_name}'"))?;
            let (module, kind) = part.rsplit_once('.').ok_or_else(|| format!("unexpected tensor '{hf_name}'"))?;
            let base = match module {
                "input_layernorm" => "attn_norm",
                "self_attn.q_proj" => "attn_q",
                "self_attn.k_proj" => "attn_k",
                "self_attn.v_proj" => "attn_v",
                "self_attn.o_proj" => "attn_output",
                "post_attention_layernorm" => "ffn_norm",
                "mlp.gate_proj" => "ffn_gate",
                "mlp.up_proj" => "ffn_up",
                "mlp.down_proj" => "ffn_down",
                _ => return Err(format!("unexpected Llama tensor '{hf_name}'")),
            };
            format!("blk.{layer}.{base}.{kind}")
        } else {
            match hf_name.as_str() {
                "model.embed_tokens.weight" => "token_embd.weight",
                "model.norm.weight" => "output_norm.weight",
                "lm_head.weight" => "output.weight",
                _ => return Err(format!("unexpected Llama tensor '{hf_name}'")),
            }
            .to_string()
        };
        let mut values = store.to_f32(hf_name).map_err(|e| e.to_string())?;
        let row_len = if tensor.shape.len() == 2 { tensor.shape[1] } else { 1 };
        if mapped.contains(".attn_q.") {
            values = permute_rotary(&values, heads, row_len);
        } else if mapped.contains(".attn_k.") {
            values = permute_rotary(&values, kv_heads, row_len);
        }
        out.push(Converted { name: mapped, shape: tensor.shape.clone(), values });
    }
    Ok(out)
}

/// `tokenizer.ggml.*` from a BPE tokenizer.json (`None` for other models).
fn tokenizer_metadata(path: &Path, vocab_size: usize) -> Result<Option<Vec<(&'static str, GgufValue)>>, String> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(None) };
    let json: Value = serde_json::from_str(&text).map_err(|e| format!("invalid tokenizer.json: {e}"))?;
    if json["model"]["type"].as_str() != Some("BPE") {
        return Ok(None);
    }
    let mut tokens: BTreeMap<usize, (String, i32)> = BTreeMap::new();
    for (token, id) in json["model"]["vocab"].as_object().into_iter().flatten() {
        if let Some(id) = id.as_u64() {
            tokens.insert(id as usize, (token.clone(), 1));
        }
    }
    for added in json["added_tokens"].as_array().into_iter().flatten() {
        if let (Some(id), Some(content)) = (added["id"].as_u64(), added["content"].as_str()) {
            let kind = if added["special"].as_bool() == Some(true) { 3 } else { 4 };
            tokens.insert(id as usize, (content.to_string(), kind));
        }
    }
    let count = vocab_size.max(tokens.keys().next_back().map_or(0, |m| m + 1));
    if count > 10_000_000 {
        return Err(format!("tokenizer.json names a token id beyond 10 million ({count})"));
    }
    let (mut names, mut types) = (Vec::with_capacity(count), Vec::with_capacity(count));
    for id in 0..count {
        let (name, kind) = tokens.remove(&id).unwrap_or_else(|| (format!("[PAD{id}]"), 5));
        names.push(name);
        types.push(kind);
    }
    let merges: Vec<String> = json["model"]["merges"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| match m {
            Value::String(s) => Some(s.clone()),
            Value::Array(pair) => Some(format!("{} {}", pair.first()?.as_str()?, pair.get(1)?.as_str()?)),
            _ => None,
        })
        .collect();
    let mut out = vec![
        ("tokenizer.ggml.model", GgufValue::String("gpt2".into())),
        ("tokenizer.ggml.pre", GgufValue::String("default".into())),
        ("tokenizer.ggml.tokens", GgufValue::Array(GgufArray::String(names))),
        ("tokenizer.ggml.token_type", GgufValue::Array(GgufArray::I32(types))),
    ];
    if !merges.is_empty() {
        out.push(("tokenizer.ggml.merges", GgufValue::Array(GgufArray::String(merges))));
    }
    Ok(Some(out))
}

/// Runs `args`.
pub fn run(args: Args) -> Result<(), String> {
    let format = GgmlType::from_name(&args.format)
        .filter(|t| !matches!(t, GgmlType::F32 | GgmlType::Q4K))
        .ok_or_else(|| format!("unknown --format '{}': use f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1 or q6_k", args.format))?;
    let model_dir = Path::new(&args.model);
    let (config_json, store) = match load_checkpoint(model_dir).map_err(|e| e.to_string())? {
        Checkpoint::HuggingFace { config_json, store } => (config_json, store),
        Checkpoint::Llama2c(_) => return Err("quantize needs a Hugging Face checkpoint directory".into()),
    };
    let config: Value = serde_json::from_str(&config_json).map_err(|e| format!("invalid config.json: {e}"))?;
    let arch = config["model_type"].as_str().unwrap_or_default().to_string();
    let mut w = GgufWriter::new();
    w.add_metadata("general.architecture", GgufValue::String(arch.clone()));
    let tensors = match arch.as_str() {
        "gpt2" => {
            let n_embd = required(&config, "n_embd")?;
            let ctx =
                usize_field(&config, "n_ctx").or(usize_field(&config, "n_positions")).ok_or("config.json has no n_ctx or n_positions")?;
            w.add_metadata("gpt2.block_count", u32_value(required(&config, "n_layer")?));
            w.add_metadata("gpt2.context_length", u32_value(ctx));
            w.add_metadata("gpt2.embedding_length", u32_value(n_embd));
            w.add_metadata("gpt2.feed_forward_length", u32_value(usize_field(&config, "n_inner").unwrap_or(4 * n_embd)));
            w.add_metadata("gpt2.attention.head_count", u32_value(required(&config, "n_head")?));
            let eps = config["layer_norm_epsilon"].as_f64().unwrap_or(1e-5);
            w.add_metadata("gpt2.attention.layer_norm_epsilon", GgufValue::F32(eps as f32));
            gpt2_tensors(&config, &store)?
        }
        "llama" => {
            // transformers >= 5 nests RoPE settings in `rope_parameters`; older configs use `rope_theta` / `rope_scaling`.
            let rope = &config["rope_parameters"];
            let rope_type = rope["rope_type"].as_str().unwrap_or("default");
            if config["rope_scaling"].is_object() || rope_type != "default" {
                return Err("Llama checkpoints with RoPE scaling are not converted yet (llama.cpp needs a rope_freqs tensor)".into());
            }
            let rope_theta = rope["rope_theta"].as_f64().or(config["rope_theta"].as_f64()).unwrap_or(10000.0);
            let hidden = required(&config, "hidden_size")?;
            let heads = required(&config, "num_attention_heads")?;
            let head_dim = usize_field(&config, "head_dim").unwrap_or(hidden / heads.max(1));
            w.add_metadata("llama.block_count", u32_value(required(&config, "num_hidden_layers")?));
            w.add_metadata("llama.context_length", u32_value(required(&config, "max_position_embeddings")?));
            w.add_metadata("llama.embedding_length", u32_value(hidden));
            w.add_metadata("llama.feed_forward_length", u32_value(required(&config, "intermediate_size")?));
            w.add_metadata("llama.attention.head_count", u32_value(heads));
            w.add_metadata("llama.attention.head_count_kv", u32_value(usize_field(&config, "num_key_value_heads").unwrap_or(heads)));
            w.add_metadata("llama.rope.freq_base", GgufValue::F32(rope_theta as f32));
            w.add_metadata(
                "llama.attention.layer_norm_rms_epsilon",
                GgufValue::F32(config["rms_norm_eps"].as_f64().unwrap_or(1e-6) as f32),
            );
            w.add_metadata("llama.vocab_size", u32_value(required(&config, "vocab_size")?));
            w.add_metadata("llama.rope.dimension_count", u32_value(head_dim));
            llama_tensors(&config, &store)?
        }
        other => return Err(format!("quantize converts GPT-2 and Llama checkpoints, not model_type '{other}'")),
    };
    w.add_metadata("general.file_type", GgufValue::U32(file_type(format)));
    let vocab_size = usize_field(&config, "vocab_size").unwrap_or(0);
    let tokenizer = tokenizer_metadata(&model_dir.join("tokenizer.json"), vocab_size)?;
    let has_tokenizer = tokenizer.is_some();
    for (key, value) in tokenizer.into_iter().flatten() {
        w.add_metadata(key, value);
    }
    for (key, field) in [("tokenizer.ggml.bos_token_id", "bos_token_id"), ("tokenizer.ggml.eos_token_id", "eos_token_id")] {
        if let (true, Some(id)) = (has_tokenizer, usize_field(&config, field)) {
            w.add_metadata(key, u32_value(id));
        }
    }
    let mut types: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut f32_bytes = 0usize;
    for t in &tensors {
        let row = t.shape.last().copied().unwrap_or(1);
        let ty = if t.shape.len() <= 1 || t.name == "position_embd.weight" {
            GgmlType::F32
        } else if row % format.block_size() != 0 {
            GgmlType::F16
        } else {
            format
        };
        let bytes = quantize(&t.values, ty).map_err(|e| format!("{}: {e}", t.name))?;
        w.add_tensor(&t.name, &t.shape, ty, bytes).map_err(|e| e.to_string())?;
        *types.entry(ty.name()).or_default() += 1;
        f32_bytes += t.values.len() * 4;
    }
    let bytes = w.to_bytes();
    std::fs::write(&args.out, &bytes).map_err(|e| format!("cannot write {}: {e}", args.out))?;
    println!(
        "{}",
        serde_json::json!({
            "out": args.out,
            "architecture": arch,
            "format": format.name(),
            "tensors": tensors.len(),
            "types": types,
            "f32_bytes": f32_bytes,
            "gguf_bytes": bytes.len(),
            "tokenizer": has_tokenizer,
        })
    );
    Ok(())
}
