//! `llmlab quantize` and `llmlab dequantize` end to end: a GPT-2 and a Llama
//! checkpoint become GGUF files with llama.cpp's names and layout (Conv1D
//! weights transposed, Llama's q/k rows permuted for interleaved RoPE, 1-D
//! tensors in F32, rows that are not whole blocks in F16), and `dequantize`
//! prints exactly what the core decodes from the quantized HF tensor.

use llmlab_core::loading::WeightStore;
use llmlab_core::quantization::gguf::{GgufArray, GgufFile, GgufValue};
use llmlab_core::quantization::{dequantize, quantize, GgmlType};
use serde_json::Value;
use std::path::PathBuf;
mod common;
use common::{llmlab, ok_json, repo};

fn temp(name: &str) -> String {
    std::env::temp_dir().join(format!("llmlab-{}-{name}", std::process::id())).to_string_lossy().into_owned()
}

fn store(dir: &str) -> WeightStore {
    WeightStore::from_safetensors(std::fs::read(repo(dir).join("model.safetensors")).unwrap()).unwrap()
}

fn values_of(v: &Value) -> Vec<u32> {
    v["values"].as_array().unwrap().iter().map(|x| (x.as_f64().unwrap() as f32).to_bits()).collect()
}

#[test]
fn gpt2_becomes_gguf_with_llama_cpp_names_and_transposed_conv1d() {
    let model = repo("web/models/default");
    let out = temp("gpt2-q8_0.gguf");
    let report = ok_json(&["quantize", "--model", model.to_str().unwrap(), "--format", "q8_0", "--out", &out]);
    assert_eq!(report["architecture"], "gpt2");
    assert_eq!(report["format"], "Q8_0");
    assert_eq!(report["tokenizer"], true);
    // 6 layers × (4 norm params + 4 biases) + output_norm (2) + position_embd = 51 F32; 6 × 4 matrices + token_embd = 25 Q8_0.
    assert_eq!(report["types"]["F32"], 51);
    assert_eq!(report["types"]["Q8_0"], 25);
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(report["gguf_bytes"].as_u64().unwrap() as usize, bytes.len());
    let file = GgufFile::parse(&bytes).unwrap();
    assert_eq!(file.get("general.architecture"), Some(&GgufValue::String("gpt2".into())));
    assert_eq!(file.get("gpt2.block_count"), Some(&GgufValue::U32(6)));
    assert_eq!(file.get("gpt2.embedding_length"), Some(&GgufValue::U32(192)));
    assert_eq!(file.get("gpt2.feed_forward_length"), Some(&GgufValue::U32(768)));
    assert_eq!(file.get("general.file_type"), Some(&GgufValue::U32(7)));
    match file.get("tokenizer.ggml.tokens") {
        Some(GgufValue::Array(GgufArray::String(tokens))) => assert_eq!(tokens.len(), 65),
        other => panic!("tokens: {other:?}"),
    }
    assert!(file.tensor("output.weight").is_none(), "a tied head is not written");
    assert_eq!(file.tensor("blk.0.attn_norm.weight").unwrap().ty, GgmlType::F32);
    assert_eq!(file.tensor("position_embd.weight").unwrap().ty, GgmlType::F32);

    // dequantize prints Q8_0(transpose(c_attn)) decoded, shape (out, in).
    let printed = ok_json(&["dequantize", "--in", &out, "--tensor", "blk.0.attn_qkv.weight"]);
    assert_eq!(printed["shape"], serde_json::json!([576, 192]));
    assert_eq!(printed["type"], "Q8_0");
    let hf = store("web/models/default");
    let w = hf.to_f32("transformer.h.0.attn.c_attn.weight").unwrap(); // (192, 576)
    let mut t = vec![0.0f32; w.len()];
    for r in 0..192 {
        for c in 0..576 {
            t[c * 192 + r] = w[r * 576 + c];
        }
    }
    let expected: Vec<u32> =
        dequantize(&quantize(&t, GgmlType::Q8_0).unwrap(), GgmlType::Q8_0).unwrap().iter().map(|v| v.to_bits()).collect();
    assert_eq!(values_of(&printed), expected);
    std::fs::remove_file(&out).ok();
}

#[test]
fn llama_q_and_k_rows_are_permuted_for_interleaved_rope() {
    let dir = "tests/fixtures/models/llama_gqa_untied";
    let out = temp("llama-f16.gguf");
    let report = ok_json(&["quantize", "--model", repo(dir).to_str().unwrap(), "--format", "f16", "--out", &out]);
    assert_eq!(report["architecture"], "llama");
    let bytes = std::fs::read(&out).unwrap();
    let file = GgufFile::parse(&bytes).unwrap();
    assert_eq!(file.get("llama.attention.head_count_kv"), Some(&GgufValue::U32(2)));
    assert_eq!(file.get("llama.rope.dimension_count"), Some(&GgufValue::U32(8)));
    assert_eq!(file.get("llama.rope.freq_base"), Some(&GgufValue::F32(500.0)), "from rope_parameters");
    assert!(file.tensor("output.weight").is_some(), "an untied head is written");
    let hf = store(dir);
    for (gguf_name, hf_name, heads) in [
        ("blk.0.attn_q.weight", "model.layers.0.self_attn.q_proj.weight", 4),
        ("blk.0.attn_k.weight", "model.layers.0.self_attn.k_proj.weight", 2),
    ] {
        let w = hf.to_f32(hf_name).unwrap();
        let shape = hf.shape(hf_name).unwrap().to_vec();
        let (rows, cols) = (shape[0], shape[1]);
        let head_dim = rows / heads;
        let got = file.tensor_f32(&bytes, gguf_name).unwrap();
        for h in 0..heads {
            for i in 0..head_dim / 2 {
                for j in 0..2 {
                    let src = h * head_dim + j * (head_dim / 2) + i;
                    let dst = h * head_dim + 2 * i + j;
                    for c in 0..cols {
                        let want = dequantize(&quantize(&[w[src * cols + c]], GgmlType::F16).unwrap(), GgmlType::F16).unwrap()[0];
                        assert_eq!(got[dst * cols + c].to_bits(), want.to_bits(), "{gguf_name} row {dst} col {c}");
                    }
                }
            }
        }
    }
    std::fs::remove_file(&out).ok();
}

#[test]
fn rows_that_are_not_whole_blocks_fall_back_to_f16() {
    let dir = repo("tests/fixtures/models/llama_gqa_untied");
    let out = temp("llama-q4_0.gguf");
    let report = ok_json(&["quantize", "--model", dir.to_str().unwrap(), "--format", "q4_0", "--out", &out]);
    let bytes = std::fs::read(&out).unwrap();
    let file = GgufFile::parse(&bytes).unwrap();
    assert_eq!(file.tensor("blk.0.ffn_down.weight").unwrap().ty, GgmlType::F16, "rows of 48");
    assert_eq!(file.tensor("blk.0.ffn_up.weight").unwrap().ty, GgmlType::Q4_0, "rows of 32");
    assert!(report["types"]["F16"].as_u64().unwrap() > 0);
    std::fs::remove_file(&out).ok();
}

#[test]
fn bad_format_missing_tensor_and_non_gguf_files_are_clear_errors() {
    let model = repo("web/models/default");
    let out = llmlab(&["quantize", "--model", model.to_str().unwrap(), "--format", "q3_k", "--out", &temp("x.gguf")]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown --format"));
    let config = model.join("config.json");
    let out = llmlab(&["dequantize", "--in", config.to_str().unwrap(), "--tensor", "x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a GGUF file"));
    let gguf = temp("small.gguf");
    ok_json(&["quantize", "--model", model.to_str().unwrap(), "--format", "bf16", "--out", &gguf]);
    let out = llmlab(&["dequantize", "--in", &gguf, "--tensor", "nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no tensor 'nope'"));
    std::fs::remove_file(&gguf).ok();
}

/// A safetensors file of f32 tensors (header JSON, then the data in order).
fn f32_safetensors(tensors: &[(String, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, shape, values) in tensors {
        header
            .insert(name.clone(), serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + values.len() * 4]}));
        offset += values.len() * 4;
    }
    let mut text = Value::Object(header).to_string();
    while text.len() % 8 != 0 {
        text.push(' ');
    }
    let mut out = (text.len() as u64).to_le_bytes().to_vec();
    out.extend(text.as_bytes());
    for (_, _, values) in tensors {
        out.extend(values.iter().flat_map(|v| v.to_le_bytes()));
    }
    out
}

#[test]
fn logits_of_a_gguf_equal_the_hf_model_on_the_dequantized_weights() {
    for format in ["f16", "q8_0"] {
        let model = repo("web/models/default");
        let gguf = temp(&format!("logits-{format}.gguf"));
        ok_json(&["quantize", "--model", model.to_str().unwrap(), "--format", format, "--out", &gguf]);
        // The same model in HF layout with every weight replaced by its decoded GGUF value.
        let bytes = std::fs::read(&gguf).unwrap();
        let file = GgufFile::parse(&bytes).unwrap();
        let hf = store("web/models/default");
        let mut tensors = Vec::new();
        for name in hf.tensors.keys() {
            let shape = hf.shape(name).unwrap().to_vec();
            let gguf_name = name
                .strip_prefix("transformer.")
                .unwrap()
                .replace("wte.weight", "token_embd.weight")
                .replace("wpe.weight", "position_embd.weight")
                .replace("ln_f.", "output_norm.")
                .replace(".ln_1.", ".attn_norm.")
                .replace(".ln_2.", ".ffn_norm.")
                .replace(".attn.c_attn.", ".attn_qkv.")
                .replace(".attn.c_proj.", ".attn_output.")
                .replace(".mlp.c_fc.", ".ffn_up.")
                .replace(".mlp.c_proj.", ".ffn_down.")
                .replace("h.", "blk.");
            let mut values = file.tensor_f32(&bytes, &gguf_name).unwrap();
            if shape.len() == 2 && gguf_name.starts_with("blk.") {
                // GGUF holds (out, in); Conv1D wants (in, out).
                let (rows, cols) = (shape[1], shape[0]);
                let mut t = vec![0.0; values.len()];
                for r in 0..rows {
                    for c in 0..cols {
                        t[c * rows + r] = values[r * cols + c];
                    }
                }
                values = t;
            }
            tensors.push((name.clone(), shape, values));
        }
        let dir = PathBuf::from(temp(&format!("dequantized-{format}")));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy(model.join("config.json"), dir.join("config.json")).unwrap();
        std::fs::write(dir.join("model.safetensors"), f32_safetensors(&tensors)).unwrap();
        // Q8_0 matrices stay quantized: with f32 activations only the order of the additions differs.
        let from_gguf = llmlab(&["logits", "--model", &gguf, "--ids", "1,5,9,2,7", "--all-positions", "--activations", "f32"]);
        let from_hf = llmlab(&["logits", "--model", dir.to_str().unwrap(), "--ids", "1,5,9,2,7", "--all-positions"]);
        assert!(from_gguf.status.success(), "{}", String::from_utf8_lossy(&from_gguf.stderr));
        assert!(from_hf.status.success(), "{}", String::from_utf8_lossy(&from_hf.stderr));
        assert!(from_gguf.stdout.len() > 100);
        if format == "f16" {
            assert_eq!(String::from_utf8_lossy(&from_gguf.stdout), String::from_utf8_lossy(&from_hf.stdout), "{format}");
        } else {
            let (a, b): (Value, Value) = (serde_json::from_slice(&from_gguf.stdout).unwrap(), serde_json::from_slice(&from_hf.stdout).unwrap());
            let flat = |v: &Value| -> Vec<f64> {
                v["logits"].as_array().unwrap().iter().flat_map(|r| r.as_array().unwrap().iter().map(|x| x.as_f64().unwrap())).collect()
            };
            let (a, b) = (flat(&a), flat(&b));
            assert_eq!(a.len(), b.len());
            let diff = a.iter().zip(&b).fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
            assert!(diff <= 1e-4, "{format}: max |Δlogit| {diff}");
        }
        std::fs::remove_file(&gguf).ok();
        std::fs::remove_dir_all(&dir).ok();
    }
}

#[test]
fn logits_of_a_llama_gguf_equal_the_hf_model_on_f16_rounded_weights() {
    // f16 rounding is element-wise, so the permuted q/k rows must come back
    // to HF's order for the logits to match; 1-D tensors stay F32.
    let dir_name = "tests/fixtures/models/llama_gqa_untied";
    let model = repo(dir_name);
    let gguf = temp("logits-llama-f16.gguf");
    ok_json(&["quantize", "--model", model.to_str().unwrap(), "--format", "f16", "--out", &gguf]);
    let hf = store(dir_name);
    let tensors: Vec<(String, Vec<usize>, Vec<f32>)> = hf
        .tensors
        .keys()
        .map(|name| {
            let shape = hf.shape(name).unwrap().to_vec();
            let values = hf.to_f32(name).unwrap();
            let values =
                if shape.len() == 2 { dequantize(&quantize(&values, GgmlType::F16).unwrap(), GgmlType::F16).unwrap() } else { values };
            (name.clone(), shape, values)
        })
        .collect();
    let dir = PathBuf::from(temp("dequantized-llama"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(model.join("config.json"), dir.join("config.json")).unwrap();
    std::fs::write(dir.join("model.safetensors"), f32_safetensors(&tensors)).unwrap();
    let from_gguf = llmlab(&["logits", "--model", &gguf, "--ids", "1,5,9,2,7", "--all-positions"]);
    let from_hf = llmlab(&["logits", "--model", dir.to_str().unwrap(), "--ids", "1,5,9,2,7", "--all-positions"]);
    assert!(from_gguf.status.success(), "{}", String::from_utf8_lossy(&from_gguf.stderr));
    assert!(from_hf.status.success(), "{}", String::from_utf8_lossy(&from_hf.stderr));
    assert_eq!(String::from_utf8_lossy(&from_gguf.stdout), String::from_utf8_lossy(&from_hf.stdout));
    std::fs::remove_file(&gguf).ok();
    std::fs::remove_dir_all(&dir).ok();
}
