//! Parameter counts from a config, split the way the curriculum explains
//! where a transformer's weights live: embeddings, attention, feed-forward,
//! norms, and the output head. Counting from the config (not the loaded
//! tensors) lets the playground show GPT-3 without loading 175B numbers.

use super::{bert, detect_model_type, gpt2, llama, mixtral, qwen2_moe, t5, ModelError};
use crate::loading::LoadError;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use serde::Serialize;

/// Parameter counts by role.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ParamBreakdown {
    /// Token, position and segment embeddings, and T5's relative-bias tables.
    pub embeddings: u64,
    /// Query/key/value/output projections (and their biases).
    pub attention: u64,
    /// Feed-forward networks.
    pub ffn: u64,
    /// LayerNorm / RMSNorm gains and biases.
    pub norms: u64,
    /// Output head weights not shared with the embeddings (untied LM head,
    /// BERT's MLM transform and output bias).
    pub head: u64,
}

impl ParamBreakdown {
    /// Sum of every part.
    pub fn total(&self) -> u64 {
        self.embeddings + self.attention + self.ffn + self.norms + self.head
    }
}

fn u(x: usize) -> u64 {
    x as u64
}

/// GPT-2 (`GPT2LMHeadModel`).
pub fn gpt2(cfg: &gpt2::Config) -> ParamBreakdown {
    let (v, p, c, l, f) = (u(cfg.vocab_size), u(cfg.n_positions), u(cfg.n_embd), u(cfg.n_layer), u(cfg.inner()));
    ParamBreakdown {
        embeddings: v * c + p * c,
        attention: l * (4 * c * c + 4 * c),
        ffn: l * (2 * c * f + f + c),
        norms: l * 4 * c + 2 * c,
        head: if cfg.tie_word_embeddings { 0 } else { v * c },
    }
}

/// Llama (`LlamaForCausalLM`).
pub fn llama(cfg: &llama::Config) -> ParamBreakdown {
    let (v, c, l, f) = (u(cfg.vocab_size), u(cfg.hidden_size), u(cfg.num_hidden_layers), u(cfg.intermediate_size));
    let (q, kv) = (u(cfg.num_attention_heads * cfg.head_dim()), u(cfg.kv_heads() * cfg.head_dim()));
    let attn_bias = if cfg.attention_bias { q + 2 * kv + c } else { 0 };
    let mlp_bias = if cfg.mlp_bias { 2 * f + c } else { 0 };
    ParamBreakdown {
        embeddings: v * c,
        attention: l * (c * q + 2 * c * kv + q * c + attn_bias),
        ffn: l * (3 * c * f + mlp_bias),
        norms: l * 2 * c + c,
        head: if cfg.tie_word_embeddings { 0 } else { v * c },
    }
}

/// Mixtral (`MixtralForCausalLM`): the feed-forward part counts every
/// expert and the routers, although each token uses only `K` experts.
pub fn mixtral(cfg: &mixtral::Config) -> ParamBreakdown {
    let (c, l, f, e) = (u(cfg.base.hidden_size), u(cfg.base.num_hidden_layers), u(cfg.base.intermediate_size), u(cfg.num_local_experts));
    ParamBreakdown { ffn: l * (e * 3 * c * f + e * c), ..llama(&llama::Config { attention_bias: false, mlp_bias: false, ..cfg.base.clone() }) }
}

/// Qwen2-MoE (`Qwen2MoeForCausalLM`): q/k/v biases; sparse layers count
/// every routed expert, the router, the shared expert and its gate.
pub fn qwen2_moe(cfg: &qwen2_moe::Config) -> ParamBreakdown {
    let base = &cfg.base;
    let (c, f) = (u(base.hidden_size), u(base.intermediate_size));
    let (e, fe, fs) = (u(cfg.num_experts), u(cfg.moe_intermediate_size), u(cfg.shared_expert_intermediate_size));
    let sparse = u((0..base.num_hidden_layers).filter(|&i| cfg.is_sparse_layer(i)).count());
    let dense = u(base.num_hidden_layers) - sparse;
    let dense_like = llama(&llama::Config { attention_bias: false, mlp_bias: false, ..base.clone() });
    let (q, kv) = (u(base.num_attention_heads * base.head_dim()), u(base.kv_heads() * base.head_dim()));
    let qkv_bias = if cfg.qkv_bias { q + 2 * kv } else { 0 };
    ParamBreakdown {
        attention: dense_like.attention + u(base.num_hidden_layers) * qkv_bias,
        ffn: dense * 3 * c * f + sparse * (e * 3 * c * fe + e * c + 3 * c * fs + c),
        ..dense_like
    }
}

/// BERT (`BertForMaskedLM`: no pooler; MLM head with tied decoder).
pub fn bert(cfg: &bert::Config) -> ParamBreakdown {
    let (v, c, l, f) = (u(cfg.vocab_size), u(cfg.hidden_size), u(cfg.num_hidden_layers), u(cfg.intermediate_size));
    let (p, t) = (u(cfg.max_position_embeddings), u(cfg.type_vocab_size));
    ParamBreakdown {
        embeddings: (v + p + t) * c,
        attention: l * (4 * c * c + 4 * c),
        ffn: l * (2 * c * f + f + c),
        norms: 2 * c + l * 4 * c + 2 * c, // embeddings LN, 2 per layer, MLM transform LN
        head: c * c + c + v + if cfg.tie_word_embeddings { 0 } else { v * c },
    }
}

/// T5 (`T5ForConditionalGeneration`).
pub fn t5(cfg: &t5::Config) -> ParamBreakdown {
    let (v, c, f) = (u(cfg.vocab_size), u(cfg.d_model), u(cfg.d_ff));
    let inner = u(cfg.num_heads * cfg.d_kv);
    let (enc, dec) = (u(cfg.num_layers), u(cfg.decoder_layers()));
    let attention_block = 4 * c * inner;
    let ffn_block = if cfg.ffn_kind().map(|(gated, _)| gated).unwrap_or(false) { 3 * c * f } else { 2 * c * f };
    ParamBreakdown {
        embeddings: v * c + 2 * u(cfg.relative_attention_num_buckets * cfg.num_heads),
        attention: enc * attention_block + dec * 2 * attention_block,
        ffn: (enc + dec) * ffn_block,
        norms: enc * 2 * c + dec * 3 * c + 2 * c,
        head: if cfg.scales_decoder_output() { 0 } else { v * c },
    }
}

/// Family name and breakdown for any supported `config.json`.
pub fn from_config_json(config_json: &str) -> Result<(String, ParamBreakdown), ModelError> {
    let family = detect_model_type(config_json)?;
    let breakdown = match family.as_str() {
        "gpt2" => gpt2(&gpt2::Config::from_json(config_json)?),
        "llama" | "mistral" => llama(&llama::Config::from_json(config_json)?),
        "mixtral" => mixtral(&mixtral::Config::from_json(config_json)?),
        "qwen2_moe" => qwen2_moe(&qwen2_moe::Config::from_json(config_json)?),
        "bert" => bert(&bert::Config::from_json(config_json)?),
        "t5" => t5(&t5::Config::from_json(config_json)?),
        other => return Err(ModelError::Load(LoadError::Config(format!("no parameter count for '{other}'")))),
    };
    Ok((family, breakdown))
}

/// The classic models of the curriculum's table, as `config.json` text.
pub fn classic_configs() -> Vec<(&'static str, &'static str)> {
    alloc::vec![
        // GPT-1 had the same layer shapes as GPT-2 small, 512 positions and a 40k BPE vocabulary.
        ("GPT-1", r#"{"model_type":"gpt2","vocab_size":40478,"n_positions":512,"n_embd":768,"n_layer":12,"n_head":12}"#),
        ("GPT-2 (1.5B)", r#"{"model_type":"gpt2","vocab_size":50257,"n_positions":1024,"n_embd":1600,"n_layer":48,"n_head":25}"#),
        ("GPT-3 (175B)", r#"{"model_type":"gpt2","vocab_size":50257,"n_positions":2048,"n_embd":12288,"n_layer":96,"n_head":96}"#),
        ("BERT-Base", r#"{"model_type":"bert","vocab_size":30522,"hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,"intermediate_size":3072}"#),
        ("BERT-Large", r#"{"model_type":"bert","vocab_size":30522,"hidden_size":1024,"num_hidden_layers":24,"num_attention_heads":16,"intermediate_size":4096}"#),
        ("T5-Base", r#"{"model_type":"t5","vocab_size":32128,"d_model":768,"d_kv":64,"d_ff":3072,"num_layers":12,"num_heads":12}"#),
        ("T5-XXL (11B)", r#"{"model_type":"t5","vocab_size":32128,"d_model":1024,"d_kv":128,"d_ff":65536,"num_layers":24,"num_heads":128}"#),
    ]
}

/// The rounded figure each paper quotes for the models of
/// [`classic_configs`], by the same names.
pub const CLASSIC_PAPER_FIGURES: [(&str, &str); 7] = [
    ("GPT-1", "117M"),
    ("GPT-2 (1.5B)", "1.5B"),
    ("GPT-3 (175B)", "175B"),
    ("BERT-Base", "110M"),
    ("BERT-Large", "340M"),
    ("T5-Base", "220M"),
    ("T5-XXL (11B)", "11B"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn total(name: &str) -> f64 {
        let (_, json) = classic_configs().into_iter().find(|(n, _)| *n == name).unwrap();
        from_config_json(json).unwrap().1.total() as f64
    }

    /// `count` equals `paper` (in millions) within `tolerance` (relative).
    fn close(count: f64, paper_millions: f64, tolerance: f64) -> bool {
        ((count / 1e6) - paper_millions).abs() / paper_millions <= tolerance
    }

    #[test]
    fn classic_parameter_counts_match_the_papers() {
        // Papers round to 2-3 significant figures: 117M, 1.5B, 175B, 110M,
        // 340M, 220M, 11B. BERT-Large's exact count is 335M (reported as
        // 340M); everything else is within 2% of the quoted figure.
        assert!(close(total("GPT-1"), 117.0, 0.01), "{}", total("GPT-1"));
        assert!(close(total("GPT-2 (1.5B)"), 1558.0, 0.01), "{}", total("GPT-2 (1.5B)"));
        assert!(close(total("GPT-2 (1.5B)"), 1500.0, 0.04), "{}", total("GPT-2 (1.5B)"));
        assert!(close(total("GPT-3 (175B)"), 175_000.0, 0.01), "{}", total("GPT-3 (175B)"));
        assert!(close(total("BERT-Base"), 110.0, 0.01), "{}", total("BERT-Base"));
        assert!(close(total("BERT-Large"), 340.0, 0.02), "{}", total("BERT-Large"));
        assert!(close(total("T5-Base"), 220.0, 0.02), "{}", total("T5-Base"));
        assert!(close(total("T5-XXL (11B)"), 11_000.0, 0.03), "{}", total("T5-XXL (11B)"));
    }

    #[test]
    fn every_classic_model_has_a_paper_figure() {
        let names: Vec<&str> = classic_configs().into_iter().map(|(n, _)| n).collect();
        let figures: Vec<&str> = CLASSIC_PAPER_FIGURES.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, figures);
    }

    #[test]
    fn breakdown_parts_add_up_and_ffn_dominates_large_models() {
        let (_, json) = classic_configs().into_iter().find(|(n, _)| *n == "GPT-3 (175B)").unwrap();
        let b = from_config_json(json).unwrap().1;
        assert_eq!(b.total(), b.embeddings + b.attention + b.ffn + b.norms + b.head);
        assert!(b.ffn > b.attention && b.attention > b.embeddings);
    }
}
