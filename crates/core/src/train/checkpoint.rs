//! Hugging Face files in and out: `model.safetensors` with HF tensor names
//! (f32) and `config.json` for `GPT2LMHeadModel` / `LlamaForCausalLM`.
//!
//! Because the flat buffer already uses HF names and layouts (`params.rs`),
//! loading and saving are range copies. GPT-2's `Conv1D` weights are stored
//! `(in, out)` in HF checkpoints and we keep them that way.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde_json::{json, Value};

use super::config::{Arch, Config};
use crate::loading::WeightStore;
use crate::models::gradients::{NamedTensor, Trainable};
use super::model::Model;
use super::TrainError;

fn format_err(msg: impl Into<String>) -> TrainError {
    TrainError::Format(msg.into())
}

/// Serialises named f32 tensors (little-endian) as safetensors, with the
/// `{"format": "pt"}` metadata transformers expects.
pub fn write_tensors(tensors: &[(String, Vec<usize>, &[f32])]) -> Result<Vec<u8>, TrainError> {
    let bytes: Vec<Vec<u8>> = tensors.iter().map(|(_, _, data)| data.iter().flat_map(|v| v.to_le_bytes()).collect()).collect();
    let mut views = Vec::with_capacity(tensors.len());
    for ((name, shape, _), data) in tensors.iter().zip(&bytes) {
        let view = TensorView::new(Dtype::F32, shape.clone(), data).map_err(|e| format_err(format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let metadata = Some([("format".to_string(), "pt".to_string())].into_iter().collect());
    safetensors::serialize(views, metadata).map_err(|e| format_err(format!("safetensors: {e}")))
}

/// Reads one tensor as f32, converting from f16/bf16/f64 if needed, and
/// checks its shape.
pub fn read_tensor(st: &SafeTensors<'_>, name: &str, shape: &[usize]) -> Result<Vec<f32>, TrainError> {
    let view = st.tensor(name).map_err(|_| format_err(format!("missing tensor {name}")))?;
    if view.shape() != shape {
        return Err(format_err(format!("tensor {name} has shape {:?}, expected {shape:?}", view.shape())));
    }
    let data = view.data();
    let out: Vec<f32> = match view.dtype() {
        Dtype::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect(),
        Dtype::F64 => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32)
            .collect(),
        Dtype::F16 => data.chunks_exact(2).map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        Dtype::BF16 => data.chunks_exact(2).map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32()).collect(),
        other => return Err(format_err(format!("tensor {name} has unsupported dtype {other:?}"))),
    };
    if out.len() != shape.iter().product::<usize>() {
        return Err(format_err(format!("tensor {name} has the wrong byte length")));
    }
    Ok(out)
}

/// Reads the tensor `name` of safetensors `bytes` as f32 with the given shape.
pub fn read_tensor_from_bytes(bytes: &[u8], name: &str, shape: &[usize]) -> Result<Vec<f32>, TrainError> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| format_err(format!("safetensors: {e}")))?;
    read_tensor(&st, name, shape)
}

/// The model's parameters as HF safetensors bytes.
pub fn model_to_safetensors(model: &Model) -> Result<Vec<u8>, TrainError> {
    let named = model.named_parameters();
    let tensors: Vec<(String, Vec<usize>, &[f32])> = named.iter().map(|t| (t.name.clone(), t.shape.clone(), &t.data[..])).collect();
    write_tensors(&tensors)
}

/// Tensors a checkpoint may hold that are not parameters: the buffers
/// transformers itself stores and ignores (GPT-2's causal-mask `attn.bias` /
/// `attn.masked_bias`, Llama's `rotary_emb.inv_freq`) and the duplicate of a
/// tied `lm_head.weight`.
pub fn is_ignored_buffer(name: &str) -> bool {
    name.ends_with(".attn.bias")
        || name.ends_with(".attn.masked_bias")
        || name.ends_with(".rotary_emb.inv_freq")
        || name == "lm_head.weight"
}

/// Loads a model of shape `config` from HF safetensors bytes. A missing or
/// misshapen tensor is an error, and so is a tensor the model does not use
/// (named in the message), apart from [`is_ignored_buffer`]s.
pub fn model_from_safetensors(config: Config, bytes: &[u8]) -> Result<Model, TrainError> {
    // Every parameter needs at least two bytes (f16/bf16): refuse before
    // allocating for a file that cannot possibly hold the model.
    if bytes.len() / 2 < config.num_params() {
        return Err(format_err("safetensors file too small for this model"));
    }
    let st = SafeTensors::deserialize(bytes).map_err(|e| format_err(format!("safetensors: {e}")))?;
    let mut names: Vec<&str> = st.names();
    names.sort_unstable();
    let mut named = Vec::with_capacity(names.len());
    for name in names {
        let is_head = name == "lm_head.weight" && !config.tie_embeddings;
        if is_ignored_buffer(name) && !is_head {
            continue;
        }
        let shape = st.tensor(name).map_err(|e| format_err(format!("tensor {name}: {e}")))?.shape().to_vec();
        let data = read_tensor(&st, name, &shape)?;
        named.push(NamedTensor { name: name.to_string(), shape, data });
    }
    Model::from_named(config, &named).map_err(|e| match e {
        TrainError::Format(msg) if msg.contains("has no place") => {
            let name = msg.trim_start_matches("parameter ").split(' ').next().unwrap_or_default().to_string();
            format_err(format!("checkpoint tensor '{name}' is not used by this model"))
        }
        other => other,
    })
}

/// Starts training from a loaded Hugging Face checkpoint: `config.json` must
/// describe a model this trainer represents exactly ([`config_from_json`]
/// refuses the other options by name), and the parameters come from the
/// inference model's name table ([`Trainable::named_parameters`]), so the
/// two engines agree on every tensor.
pub fn model_from_checkpoint(config_json: &str, store: &WeightStore) -> Result<Model, TrainError> {
    let config = config_from_json(config_json)?;
    let model = Trainable::load(config_json, store).map_err(|e| format_err(format!("{e}")))?;
    Model::from_named(config, &model.named_parameters())
}

/// The trainable model from an inference model's named parameters
/// (`CausalLm::named_parameters`) and its `config.json`: every tensor of the
/// trainer's model must be there with its shape, and every named tensor must
/// have a place in it.
pub fn model_from_named(config_json: &str, named: &[NamedTensor]) -> Result<Model, TrainError> {
    Model::from_named(config_from_json(config_json)?, named)
}

/// HF `config.json` for the model.
pub fn config_to_json(c: &Config) -> Value {
    match c.arch {
        Arch::Gpt2 => json!({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": c.vocab_size,
            "n_positions": c.context,
            "n_ctx": c.context,
            "n_embd": c.width,
            "n_layer": c.layers,
            "n_head": c.heads,
            "n_inner": c.ffn_width,
            "activation_function": "gelu_new",
            "layer_norm_epsilon": c.norm_eps,
            "resid_pdrop": 0.0,
            "embd_pdrop": 0.0,
            "attn_pdrop": 0.0,
            "initializer_range": 0.02,
            "scale_attn_weights": true,
            "tie_word_embeddings": c.tie_embeddings,
            "bos_token_id": null,
            "eos_token_id": null,
            "use_cache": true,
            "torch_dtype": "float32",
        }),
        Arch::Llama => json!({
            "architectures": ["LlamaForCausalLM"],
            "model_type": "llama",
            "vocab_size": c.vocab_size,
            "hidden_size": c.width,
            "intermediate_size": c.ffn_width,
            "num_hidden_layers": c.layers,
            "num_attention_heads": c.heads,
            "num_key_value_heads": c.kv_heads,
            "head_dim": c.head_dim(),
            "max_position_embeddings": c.context,
            "rms_norm_eps": c.norm_eps,
            "rope_theta": c.rope_theta,
            "rope_parameters": {"rope_type": "default", "rope_theta": c.rope_theta},
            "hidden_act": "silu",
            "attention_bias": false,
            "attention_dropout": 0.0,
            "mlp_bias": false,
            "initializer_range": 0.02,
            "tie_word_embeddings": c.tie_embeddings,
            "bos_token_id": null,
            "eos_token_id": null,
            "use_cache": true,
            "torch_dtype": "float32",
        }),
    }
}

fn get_usize(v: &Value, keys: &[&str]) -> Result<usize, TrainError> {
    keys.iter()
        .find_map(|k| v.get(*k).and_then(Value::as_u64))
        .and_then(|x| usize::try_from(x).ok())
        .ok_or_else(|| format_err(format!("config.json lacks {}", keys.join(" / "))))
}

fn get_f64(v: &Value, keys: &[&str], default: f64) -> f64 {
    keys.iter().find_map(|k| v.get(*k).and_then(Value::as_f64)).unwrap_or(default)
}

/// Parses an HF `config.json` (GPT-2 or Llama).
pub fn config_from_json(text: &str) -> Result<Config, TrainError> {
    let v: Value = serde_json::from_str(text).map_err(|e| format_err(format!("config.json: {e}")))?;
    let model_type = v.get("model_type").and_then(Value::as_str).unwrap_or("").to_owned();
    // Options this trainer cannot represent: refuse them by name rather than
    // train a different model than the one the checkpoint describes.
    let flag = |key: &str| v.get(key).and_then(Value::as_bool);
    let refuse = |what: String| Err(format_err(format!("config.json: {what} is not supported by the trainer")));
    let config = match model_type.as_str() {
        "gpt2" => {
            if flag("scale_attn_by_inverse_layer_idx") == Some(true) {
                return refuse("scale_attn_by_inverse_layer_idx = true".into());
            }
            if flag("scale_attn_weights") == Some(false) {
                return refuse("scale_attn_weights = false".into());
            }
            let width = get_usize(&v, &["n_embd"])?;
            let activation = v.get("activation_function").and_then(Value::as_str).unwrap_or("gelu_new");
            if activation != "gelu_new" && activation != "gelu_pytorch_tanh" {
                return Err(format_err(format!("activation {activation} is not supported (only gelu_new)")));
            }
            Config {
                arch: Arch::Gpt2,
                vocab_size: get_usize(&v, &["vocab_size"])?,
                context: get_usize(&v, &["n_positions", "n_ctx"])?,
                layers: get_usize(&v, &["n_layer"])?,
                heads: get_usize(&v, &["n_head"])?,
                kv_heads: get_usize(&v, &["n_head"])?,
                width,
                ffn_width: v.get("n_inner").and_then(Value::as_u64).map_or(4 * width, |x| x as usize),
                norm_eps: get_f64(&v, &["layer_norm_epsilon"], 1e-5) as f32,
                rope_theta: 10000.0,
                tie_embeddings: v.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(true),
            }
        }
        "llama" => {
            for key in ["attention_bias", "mlp_bias"] {
                if flag(key) == Some(true) {
                    return refuse(format!("{key} = true"));
                }
            }
            let act = v.get("hidden_act").and_then(Value::as_str).unwrap_or("silu");
            if act != "silu" && act != "swish" {
                return refuse(format!("hidden_act '{act}' (only silu)"));
            }
            let rope_type = |key: &str| {
                v.get(key).filter(|r| !r.is_null()).map(|r| {
                    r.get("rope_type").or_else(|| r.get("type")).and_then(Value::as_str).unwrap_or("default").to_owned()
                })
            };
            if let Some(kind) = rope_type("rope_parameters").or_else(|| rope_type("rope_scaling")).filter(|k| k != "default") {
                return refuse(format!("rope scaling '{kind}' (only default RoPE)"));
            }
            let heads = get_usize(&v, &["num_attention_heads"])?;
            let width = get_usize(&v, &["hidden_size"])?;
            if let Some(hd) = v.get("head_dim").and_then(Value::as_u64) {
                if hd as usize * heads != width {
                    return Err(format_err("head_dim × heads must equal hidden_size"));
                }
            }
            let theta = v
                .get("rope_parameters")
                .and_then(|r| r.get("rope_theta"))
                .and_then(Value::as_f64)
                .unwrap_or_else(|| get_f64(&v, &["rope_theta"], 10000.0));
            Config {
                arch: Arch::Llama,
                vocab_size: get_usize(&v, &["vocab_size"])?,
                context: get_usize(&v, &["max_position_embeddings"])?,
                layers: get_usize(&v, &["num_hidden_layers"])?,
                heads,
                kv_heads: v.get("num_key_value_heads").and_then(Value::as_u64).map_or(heads, |x| x as usize),
                width,
                ffn_width: get_usize(&v, &["intermediate_size"])?,
                norm_eps: get_f64(&v, &["rms_norm_eps"], 1e-6) as f32,
                rope_theta: theta,
                tie_embeddings: v.get("tie_word_embeddings").and_then(Value::as_bool).unwrap_or(false),
            }
        }
        other => return Err(format_err(format!("model_type {other:?} is not trainable here (gpt2 or llama)"))),
    };
    config.validate().map_err(TrainError::Config)?;
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::Rng;

    #[test]
    fn safetensors_and_config_round_trip() {
        for config in [Config::gpt2(11, 8, 2, 2, 8), Config { kv_heads: 1, ..Config::llama(11, 8, 1, 2, 8) }] {
            let model = Model::new(config.clone(), &mut Rng::new(3)).unwrap();
            let bytes = model_to_safetensors(&model).unwrap();
            let back = model_from_safetensors(config.clone(), &bytes).unwrap();
            assert_eq!(back.named_parameters(), model.named_parameters());
            let text = config_to_json(&config).to_string();
            assert_eq!(config_from_json(&text).unwrap(), config);
        }
    }

    #[test]
    fn malformed_inputs_are_errors() {
        assert!(model_from_safetensors(Config::gpt2(11, 8, 1, 2, 8), b"not safetensors").is_err());
        assert!(config_from_json("{\"model_type\": \"bert\"}").is_err());
        assert!(config_from_json("{\"model_type\": \"gpt2\", \"n_embd\": 7, \"n_head\": 2, \"n_layer\": 1, \"vocab_size\": 3, \"n_positions\": 4}").is_err());
    }

    #[test]
    fn options_the_trainer_cannot_represent_are_refused_by_name() {
        let llama = |extra: &str| {
            format!(
                "{{\"model_type\": \"llama\", \"hidden_size\": 8, \"num_attention_heads\": 2, \"num_hidden_layers\": 1, \
                 \"vocab_size\": 11, \"max_position_embeddings\": 8, \"intermediate_size\": 8{extra}}}"
            )
        };
        assert!(config_from_json(&llama("")).is_ok());
        for (extra, named) in [
            (", \"attention_bias\": true", "attention_bias"),
            (", \"mlp_bias\": true", "mlp_bias"),
            (", \"hidden_act\": \"gelu\"", "gelu"),
            (", \"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 2.0}", "linear"),
        ] {
            let err = config_from_json(&llama(extra)).unwrap_err();
            assert!(format!("{err}").contains(named), "{err}");
        }
    }

    #[test]
    fn an_unused_tensor_is_named_and_known_buffers_are_accepted() {
        let config = Config::gpt2(11, 8, 1, 2, 8);
        let named = Model::new(config.clone(), &mut Rng::new(3)).unwrap().named_parameters();
        let mut tensors: Vec<(String, Vec<usize>, &[f32])> = named.iter().map(|t| (t.name.clone(), t.shape.clone(), &t.data[..])).collect();
        let small = [0.0f32; 2];
        tensors.push(("transformer.h.0.attn.bias".into(), vec![2], &small));
        assert!(model_from_safetensors(config.clone(), &write_tensors(&tensors).unwrap()).is_ok());
        tensors.push(("transformer.h.0.mlp.extra.weight".into(), vec![2], &small));
        let err = model_from_safetensors(config, &write_tensors(&tensors).unwrap()).err().unwrap();
        assert!(format!("{err}").contains("transformer.h.0.mlp.extra.weight"), "{err}");
    }
}
