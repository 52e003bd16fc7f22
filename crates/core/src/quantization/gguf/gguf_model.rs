//! A GGUF file as a Hugging Face checkpoint: `config.json` text and a
//! [`WeightStore`] under HF names, so every model in this crate can run it.
//!
//! This undoes what `llmlab quantize` (like `convert_hf_to_gguf.py`) did:
//! llama.cpp names back to HF names, GPT-2's `(out, in)` matrices back to
//! `Conv1D`'s `(in, out)`, Llama's interleaved q/k rows back to HF's
//! half-split order, and the `{arch}.*` metadata back to a `config.json`.
//!
//! Two ways to load:
//!
//! - [`to_hf_checkpoint`]: every tensor dequantized to f32 (as
//!   `gguf.quants.dequantize` does); memory is that of an f32 checkpoint.
//! - [`to_hf_checkpoint_quantized`]: block-quantized matrices (Q8_0, Q4_0,
//!   Q4_1, Q5_0, Q5_1, Q6_K, Q4_K) stay in the file's bytes, zero-copy, and
//!   the model multiplies by them block by block (see `nn::linear`).
//!   GPT-2's matrices are not transposed but marked as stored transposed
//!   (blocks run along GGUF's rows); Llama's q/k rows are put back in HF's
//!   order by moving whole rows of blocks (a row is a whole number of
//!   blocks), into a copy of just those two tensors. Other tensors (norms,
//!   biases, F32/F16 matrices) are decoded to f32 as before.
//!
//! GGUF does not record GPT-2's activation; llama.cpp uses the tanh GELU, so
//! the config says `gelu_new`.

use super::gguf_reader::GgufFile;
use super::GgufError;
use crate::loading::WeightStore;
use crate::nn::linear::Activations;
use crate::nn::storage::SharedBytes;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

fn meta_u64(file: &GgufFile, key: &str) -> Result<u64, GgufError> {
    file.get(key).and_then(|v| v.as_u64()).ok_or_else(|| GgufError::MissingMetadata(key.to_string()))
}

fn meta_f64(file: &GgufFile, key: &str, default: f64) -> f64 {
    file.get(key).and_then(|v| v.as_f64()).unwrap_or(default)
}

/// `(rows, cols)` row-major → `(cols, rows)`.
fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    for (i, &v) in values.iter().enumerate().take(rows * cols) {
        let (r, c) = (i / cols, i % cols);
        if let Some(slot) = out.get_mut(c * rows + r) {
            *slot = v;
        }
    }
    out
}

/// Undoes `LlamaModel.permute`: each head's rows from interleaved (head_dim/2, 2) back to (2, head_dim/2).
/// Rows are `row_len` items (values, or bytes of quantized blocks).
fn unpermute_rotary<T: Copy>(values: &[T], heads: usize, row_len: usize) -> Vec<T> {
    let rows = values.len() / row_len.max(1);
    let head_dim = rows / heads.max(1);
    let half = head_dim / 2;
    let mut out = values.to_vec();
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let hf_row = h * head_dim + j * half + i;
                let gguf_row = h * head_dim + i * 2 + j;
                if let (Some(src), true) = (values.get(gguf_row * row_len..(gguf_row + 1) * row_len), (hf_row + 1) * row_len <= out.len()) {
                    out[hf_row * row_len..(hf_row + 1) * row_len].copy_from_slice(src);
                }
            }
        }
    }
    out
}

fn gpt2_name(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("blk.") {
        let (layer, part) = rest.split_once('.')?;
        let hf = match part {
            "attn_norm.weight" => "ln_1.weight",
            "attn_norm.bias" => "ln_1.bias",
            "attn_qkv.weight" => "attn.c_attn.weight",
            "attn_qkv.bias" => "attn.c_attn.bias",
            "attn_output.weight" => "attn.c_proj.weight",
            "attn_output.bias" => "attn.c_proj.bias",
            "ffn_norm.weight" => "ln_2.weight",
            "ffn_norm.bias" => "ln_2.bias",
            "ffn_up.weight" => "mlp.c_fc.weight",
            "ffn_up.bias" => "mlp.c_fc.bias",
            "ffn_down.weight" => "mlp.c_proj.weight",
            "ffn_down.bias" => "mlp.c_proj.bias",
            _ => return None,
        };
        return Some(format!("transformer.h.{layer}.{hf}"));
    }
    Some(
        match name {
            "token_embd.weight" => "transformer.wte.weight",
            "position_embd.weight" => "transformer.wpe.weight",
            "output_norm.weight" => "transformer.ln_f.weight",
            "output_norm.bias" => "transformer.ln_f.bias",
            "output.weight" => "lm_head.weight",
            _ => return None,
        }
        .to_string(),
    )
}

fn llama_name(name: &str) -> Option<String> {
    if let Some(rest) = name.strip_prefix("blk.") {
        let (layer, part) = rest.split_once('.')?;
        let (module, kind) = part.rsplit_once('.')?;
        let hf = match module {
            "attn_norm" => "input_layernorm",
            "attn_q" => "self_attn.q_proj",
            "attn_k" => "self_attn.k_proj",
            "attn_v" => "self_attn.v_proj",
            "attn_output" => "self_attn.o_proj",
            "ffn_norm" => "post_attention_layernorm",
            "ffn_gate" => "mlp.gate_proj",
            "ffn_up" => "mlp.up_proj",
            "ffn_down" => "mlp.down_proj",
            _ => return None,
        };
        return Some(format!("model.layers.{layer}.{hf}.{kind}"));
    }
    Some(
        match name {
            "token_embd.weight" => "model.embed_tokens.weight",
            "output_norm.weight" => "model.norm.weight",
            "output.weight" => "lm_head.weight",
            _ => return None,
        }
        .to_string(),
    )
}

/// `config.json` text and the f32 weights, under HF names, of a GPT-2 or Llama GGUF file.
pub fn to_hf_checkpoint(bytes: &[u8]) -> Result<(String, WeightStore), GgufError> {
    convert(bytes, None)
}

/// `config.json` text and the weights, under HF names, of a GPT-2 or Llama
/// GGUF file, its block-quantized matrices kept quantized (views into
/// `bytes`) and run with `activations`.
pub fn to_hf_checkpoint_quantized(bytes: SharedBytes, activations: Activations) -> Result<(String, WeightStore), GgufError> {
    convert((*bytes).as_ref(), Some((bytes.clone(), activations)))
}

fn convert(bytes: &[u8], keep: Option<(SharedBytes, Activations)>) -> Result<(String, WeightStore), GgufError> {
    let file = GgufFile::parse(bytes)?;
    let arch = file
        .get("general.architecture")
        .and_then(|v| v.as_str())
        .ok_or_else(|| GgufError::MissingMetadata("general.architecture".into()))?;
    let vocab = file.tensor("token_embd.weight").ok_or_else(|| GgufError::MissingTensor("token_embd.weight".into()))?.shape();
    let vocab_size = vocab.first().copied().unwrap_or(0);
    let tied = file.tensor("output.weight").is_none();
    let (config, heads, kv_heads) = match arch {
        "gpt2" => {
            let ctx = meta_u64(&file, "gpt2.context_length")?;
            let config = serde_json::json!({
                "model_type": "gpt2",
                "n_layer": meta_u64(&file, "gpt2.block_count")?,
                "n_embd": meta_u64(&file, "gpt2.embedding_length")?,
                "n_inner": meta_u64(&file, "gpt2.feed_forward_length")?,
                "n_head": meta_u64(&file, "gpt2.attention.head_count")?,
                "n_positions": ctx,
                "n_ctx": ctx,
                "layer_norm_epsilon": meta_f64(&file, "gpt2.attention.layer_norm_epsilon", 1e-5),
                "activation_function": "gelu_new",
                "vocab_size": vocab_size,
                "tie_word_embeddings": tied,
            });
            (config, 0, 0)
        }
        "llama" => {
            let heads = meta_u64(&file, "llama.attention.head_count")?;
            let kv_heads = file.get("llama.attention.head_count_kv").and_then(|v| v.as_u64()).unwrap_or(heads);
            let hidden = meta_u64(&file, "llama.embedding_length")?;
            let config = serde_json::json!({
                "model_type": "llama",
                "num_hidden_layers": meta_u64(&file, "llama.block_count")?,
                "hidden_size": hidden,
                "intermediate_size": meta_u64(&file, "llama.feed_forward_length")?,
                "num_attention_heads": heads,
                "num_key_value_heads": kv_heads,
                "head_dim": file.get("llama.rope.dimension_count").and_then(|v| v.as_u64()).unwrap_or(hidden / heads.max(1)),
                "max_position_embeddings": meta_u64(&file, "llama.context_length")?,
                "rms_norm_eps": meta_f64(&file, "llama.attention.layer_norm_rms_epsilon", 1e-6),
                "rope_theta": meta_f64(&file, "llama.rope.freq_base", 10000.0),
                "hidden_act": "silu",
                "attention_bias": file.tensor("blk.0.attn_q.bias").is_some(),
                "vocab_size": vocab_size,
                "tie_word_embeddings": tied,
            });
            (config, heads as usize, kv_heads as usize)
        }
        other => return Err(GgufError::UnsupportedArchitecture(other.to_string())),
    };
    let mut store = WeightStore::new();
    let source = keep.map(|(shared, activations)| {
        store.activations = activations;
        store.add_file(shared)
    });
    for t in &file.tensors {
        let hf_name = match arch {
            "gpt2" => gpt2_name(&t.name),
            _ => llama_name(&t.name),
        }
        .ok_or_else(|| GgufError::UnexpectedTensor(t.name.clone()))?;
        let mut shape = t.shape();
        if let (Some(source), true, &[rows, cols]) = (source, t.ty.is_block_quantized(), shape.as_slice()) {
            let raw = file.tensor_bytes(bytes, &t.name)?;
            let start = file.data_start + t.offset as usize;
            let range = start..start + raw.len();
            let row_bytes = cols / t.ty.block_size() * t.ty.type_size();
            let rotary_heads = match arch {
                "llama" if t.name.contains(".attn_q.") => Some(heads),
                "llama" if t.name.contains(".attn_k.") => Some(kv_heads),
                _ => None,
            };
            if let Some(heads) = rotary_heads {
                // Whole rows of blocks move, into a copy of this tensor's bytes.
                let copy: SharedBytes = alloc::sync::Arc::new(unpermute_rotary(raw, heads, row_bytes));
                let index = store.add_file(copy);
                store.insert_quantized(&hf_name, shape, index, 0..raw.len(), t.ty, false);
            } else if arch == "gpt2" && t.name.starts_with("blk.") && !t.name.contains("norm") {
                // Conv1D's (in, out) is GGUF's (out, in) read transposed.
                store.insert_quantized(&hf_name, alloc::vec![cols, rows], source, range, t.ty, true);
            } else {
                store.insert_quantized(&hf_name, shape, source, range, t.ty, false);
            }
            continue;
        }
        let mut values = file.tensor_f32(bytes, &t.name)?;
        if arch == "gpt2" && t.name.starts_with("blk.") && t.name.ends_with(".weight") && shape.len() == 2 && !t.name.contains("norm") {
            values = transpose(&values, shape[0], shape[1]);
            shape.swap(0, 1);
        }
        if arch == "llama" {
            let row_len = if shape.len() == 2 { shape[1] } else { 1 };
            if t.name.contains(".attn_q.") {
                values = unpermute_rotary(&values, heads, row_len);
            } else if t.name.contains(".attn_k.") {
                values = unpermute_rotary(&values, kv_heads, row_len);
            }
        }
        store.insert_f32(&hf_name, shape, values);
    }
    Ok((config.to_string(), store))
}
