//! Karpathy's llama2.c checkpoints (`.bin`, legacy version 0).
//!
//! Layout: a header of 7 little-endian i32 — `dim, hidden_dim, n_layers,
//! n_heads, n_kv_heads, vocab_size, seq_len` — then f32 arrays in a fixed
//! order (see [`load`]). A negative `vocab_size` is the format's flag for an
//! unshared classifier: the output matrix `wcls` then follows the other
//! weights; otherwise the classifier is the token embedding table.
//!
//! llama2.c rotates interleaved feature pairs `(2i, 2i+1)`; Hugging Face's
//! Llama pairs `i` with `i + D/2`. The query/key rows are permuted on load
//! (the inverse of what `export.py` does), so the checkpoint becomes an
//! ordinary [`Llama`].

use super::llama::{Config, Llama};
use super::{ModelError, SpecialTokens};
use crate::loading::config::{check_divides, check_size, MAX_HEADS, MAX_LAYERS, MAX_POSITIONS, MAX_VOCAB, MAX_WIDTH};
use crate::loading::{LoadError, WeightStore};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// The seven header fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// dim aka hidden_size.
    pub dim: usize,
    /// hidden_dim aka intermediate_size.
    pub hidden_dim: usize,
    /// n_layers.
    pub n_layers: usize,
    /// n_heads.
    pub n_heads: usize,
    /// n_kv_heads.
    pub n_kv_heads: usize,
    /// |vocab_size|.
    pub vocab_size: usize,
    /// seq_len aka max_position_embeddings.
    pub seq_len: usize,
    /// vocab_size > 0 in the file: the classifier is the embedding table.
    pub shared_classifier: bool,
}

const HEADER_BYTES: usize = 7 * 4;

fn bad(msg: impl Into<String>) -> ModelError {
    ModelError::Load(LoadError::Llama2c(msg.into()))
}

/// Parses and validates the header.
pub fn read_header(bytes: &[u8]) -> Result<Header, ModelError> {
    let head = bytes.get(..HEADER_BYTES).ok_or_else(|| bad("file is shorter than the 28-byte header"))?;
    let field = |i: usize| i32::from_le_bytes([head[4 * i], head[4 * i + 1], head[4 * i + 2], head[4 * i + 3]]);
    let positive = |i: usize, name: &str| -> Result<usize, ModelError> {
        let v = field(i);
        if v <= 0 {
            return Err(bad(format!("{name} must be positive, got {v}")));
        }
        Ok(v as usize)
    };
    let vocab = field(5);
    if vocab == 0 || vocab == i32::MIN {
        return Err(bad("vocab_size must be non-zero"));
    }
    let h = Header {
        dim: positive(0, "dim")?,
        hidden_dim: positive(1, "hidden_dim")?,
        n_layers: positive(2, "n_layers")?,
        n_heads: positive(3, "n_heads")?,
        n_kv_heads: positive(4, "n_kv_heads")?,
        vocab_size: vocab.unsigned_abs() as usize,
        seq_len: positive(6, "seq_len")?,
        shared_classifier: vocab > 0,
    };
    check_size("dim", h.dim, MAX_WIDTH)?;
    check_size("hidden_dim", h.hidden_dim, MAX_WIDTH)?;
    check_size("n_layers", h.n_layers, MAX_LAYERS)?;
    check_size("n_heads", h.n_heads, MAX_HEADS)?;
    check_size("vocab_size", h.vocab_size, MAX_VOCAB)?;
    check_size("seq_len", h.seq_len, MAX_POSITIONS)?;
    check_divides("dim", h.dim, "n_heads", h.n_heads)?;
    check_divides("n_heads", h.n_heads, "n_kv_heads", h.n_kv_heads)?;
    if (h.dim / h.n_heads) % 2 != 0 {
        return Err(bad("head size must be even for RoPE"));
    }
    Ok(h)
}

/// Reads consecutive f32 arrays out of the body.
struct Cursor<'a> {
    bytes: &'a [u8],
    offset: usize,
}

impl Cursor<'_> {
    fn take(&mut self, count: usize) -> Result<Vec<f32>, ModelError> {
        let len = count.checked_mul(4).ok_or_else(|| bad("size overflow"))?;
        let end = self.offset.checked_add(len).ok_or_else(|| bad("size overflow"))?;
        let chunk = self.bytes.get(self.offset..end).ok_or_else(|| bad("file ends before the last weight"))?;
        self.offset = end;
        let values: Vec<f32> = chunk.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(bad("weights contain NaN or infinity"));
        }
        Ok(values)
    }
}

/// Interleaved-pair rows -> rotate-half rows, per head: old row `2i + j`
/// becomes row `j·D/2 + i`.
fn interleaved_to_rotate_half(w: &[f32], heads: usize, head_dim: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; w.len()];
    let half = head_dim / 2;
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let old = (h * head_dim + 2 * i + j) * cols;
                let new = (h * head_dim + j * half + i) * cols;
                out[new..new + cols].copy_from_slice(&w[old..old + cols]);
            }
        }
    }
    out
}

/// Total f32 count the header implies (checked arithmetic).
fn expected_floats(h: &Header) -> Option<usize> {
    let head_size = h.dim / h.n_heads;
    let kv_dim = h.n_kv_heads.checked_mul(head_size)?;
    let per_layer = h
        .dim
        .checked_mul(2)? // two RMSNorm weights
        .checked_add(h.dim.checked_mul(h.dim)?.checked_mul(2)?)? // wq, wo
        .checked_add(h.dim.checked_mul(kv_dim)?.checked_mul(2)?)? // wk, wv
        .checked_add(h.dim.checked_mul(h.hidden_dim)?.checked_mul(3)?)?; // w1, w2, w3
    let embed = h.vocab_size.checked_mul(h.dim)?;
    let freqs = h.seq_len.checked_mul(head_size)?; // real + imaginary halves
    let classifier = if h.shared_classifier { 0 } else { embed };
    embed.checked_add(per_layer.checked_mul(h.n_layers)?)?.checked_add(h.dim)?.checked_add(freqs)?.checked_add(classifier)
}

/// Loads a llama2.c checkpoint as a [`Llama`]. The file length must be
/// exactly what the header implies.
pub fn load(bytes: &[u8]) -> Result<Llama, ModelError> {
    let h = read_header(bytes)?;
    let floats = expected_floats(&h).ok_or_else(|| bad("header sizes overflow"))?;
    let expected_len = floats.checked_mul(4).and_then(|n| n.checked_add(HEADER_BYTES)).ok_or_else(|| bad("header sizes overflow"))?;
    if bytes.len() != expected_len {
        return Err(bad(format!("file has {} bytes but its header implies {expected_len}", bytes.len())));
    }
    let (dim, hidden, layers) = (h.dim, h.hidden_dim, h.n_layers);
    let head_size = dim / h.n_heads;
    let kv_dim = h.n_kv_heads * head_size;
    let mut cur = Cursor { bytes, offset: HEADER_BYTES };
    let mut store = WeightStore::new();
    store.insert_f32("model.embed_tokens.weight", vec![h.vocab_size, dim], cur.take(h.vocab_size * dim)?);
    // Each field is stored for all layers at once: (L, rows, cols).
    let per_layer = |name: &str, rows: usize, cols: usize, store: &mut WeightStore, cur: &mut Cursor| -> Result<(), ModelError> {
        for l in 0..layers {
            let mut w = cur.take(rows * cols)?;
            if name == "self_attn.q_proj" {
                w = interleaved_to_rotate_half(&w, h.n_heads, head_size, cols);
            } else if name == "self_attn.k_proj" {
                w = interleaved_to_rotate_half(&w, h.n_kv_heads, head_size, cols);
            }
            let shape = if cols == 1 { vec![rows] } else { vec![rows, cols] };
            store.insert_f32(&format!("model.layers.{l}.{name}.weight"), shape, w);
        }
        Ok(())
    };
    per_layer("input_layernorm", dim, 1, &mut store, &mut cur)?;
    per_layer("self_attn.q_proj", dim, dim, &mut store, &mut cur)?;
    per_layer("self_attn.k_proj", kv_dim, dim, &mut store, &mut cur)?;
    per_layer("self_attn.v_proj", kv_dim, dim, &mut store, &mut cur)?;
    per_layer("self_attn.o_proj", dim, dim, &mut store, &mut cur)?;
    per_layer("post_attention_layernorm", dim, 1, &mut store, &mut cur)?;
    per_layer("mlp.gate_proj", hidden, dim, &mut store, &mut cur)?;
    per_layer("mlp.down_proj", dim, hidden, &mut store, &mut cur)?;
    per_layer("mlp.up_proj", hidden, dim, &mut store, &mut cur)?;
    store.insert_f32("model.norm.weight", vec![dim], cur.take(dim)?);
    cur.take(h.seq_len * head_size)?; // freq_cis_real and freq_cis_imag: recomputed instead
    if !h.shared_classifier {
        store.insert_f32("lm_head.weight", vec![h.vocab_size, dim], cur.take(h.vocab_size * dim)?);
    }
    let config = Config {
        vocab_size: h.vocab_size,
        hidden_size: dim,
        intermediate_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: h.n_heads,
        num_key_value_heads: Some(h.n_kv_heads),
        head_dim: None,
        hidden_act: "silu".into(),
        max_position_embeddings: h.seq_len,
        rms_norm_eps: 1e-5,
        rope_theta: Some(10000.0),
        rope_parameters: None,
        rope_scaling: None,
        attention_bias: false,
        mlp_bias: false,
        tie_word_embeddings: h.shared_classifier,
    };
    // llama2.c's tokenizer: 1 = BOS, 2 = EOS.
    let special = SpecialTokens { bos: Some(1), eos: vec![2], pad: None };
    Llama::from_config(config, &store, special)
}
