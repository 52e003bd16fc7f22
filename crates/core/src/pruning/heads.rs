//! Removing whole attention heads, so the attention really shrinks.
//!
//! Importance of a head: the L2 norm of every weight that belongs to it:
//! its `D` output rows in the query, key and value projections and its `D`
//! input columns in the output projection (biases are not counted). In a
//! grouped-query model (Llama with `Hkv < H`) one key/value head serves
//! `H / Hkv` query heads, so the unit removed is a whole group: the shared
//! key/value head with its query heads, scored together.
//!
//! Every layer loses the same number of units (`amount` of the units per
//! layer, counted as torch does, see [`super::Amount::count`]), each layer
//! its own least important ones, kept as `torch.topk(importance, kept,
//! largest=True)` picks them. A uniform count keeps the config uniform:
//! - Llama: `num_attention_heads`, `num_key_value_heads` shrink and
//!   `head_dim` is written out (it no longer equals `hidden_size / H`);
//! - GPT-2 derives its head width from `n_embd / n_head`, so `n_head` stays
//!   and `pruned_heads` lists the removed heads per layer, the format
//!   transformers 4.x's `prune_heads` saved and re-applied on load.
//!
//! A removed head contributes nothing afterwards: its query/key/value rows
//! and its slice of the output projection are gone, and the output
//! projection's bias stays (it never belonged to a head).

use super::slicing::{
    columns_sum_of_squares, complement, get, keep_columns, keep_rows, kept_units, replace, rows_sum_of_squares, TensorTable,
};
use super::PruneError;
use alloc::format;
use alloc::vec::Vec;

/// Attention geometry of one model, as read from its config.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HeadLayout {
    /// Query heads `H` per layer.
    pub heads: usize,
    /// Key/value heads `Hkv` per layer (`H` for GPT-2).
    pub kv_heads: usize,
    /// Width of one head `D`.
    pub head_dim: usize,
    /// Model width `C`.
    pub width: usize,
}

/// The GPT-2 heads each layer keeps after removing `count` heads per
/// layer from `transformer.h.{i}.attn` (`root` is `transformer.` or empty).
/// Slices `c_attn` `(C, 3C)` columns and `c_proj` `(C, C)` rows in `table`.
pub fn prune_gpt2_heads(
    table: &mut TensorTable,
    root: &str,
    layers: usize,
    layout: HeadLayout,
    count: usize,
) -> Result<Vec<Vec<usize>>, PruneError> {
    let (c, h, d) = (layout.width, layout.heads, layout.head_dim);
    let mut kept_per_layer = Vec::with_capacity(layers);
    for layer in 0..layers {
        let p = format!("{root}h.{layer}.attn");
        let (c_attn, c_proj) = (get(table, &format!("{p}.c_attn.weight"))?, get(table, &format!("{p}.c_proj.weight"))?);
        let mut importance = Vec::with_capacity(h); // (H,)
        for head in 0..h {
            let mut sum = rows_sum_of_squares(c_proj, head * d..(head + 1) * d)?;
            for part in 0..3 {
                sum += columns_sum_of_squares(c_attn, part * c + head * d..part * c + (head + 1) * d)?;
            }
            importance.push(libm::sqrt(sum) as f32);
        }
        let kept = kept_units(&importance, count);
        let head_columns: Vec<usize> = kept.iter().flat_map(|&k| k * d..(k + 1) * d).collect();
        let fused: Vec<usize> = (0..3).flat_map(|part| head_columns.iter().map(move |&i| part * c + i)).collect();
        let sliced = keep_columns(get(table, &format!("{p}.c_attn.weight"))?, &fused)?;
        replace(table, sliced);
        let sliced = keep_rows(get(table, &format!("{p}.c_attn.bias"))?, &fused)?;
        replace(table, sliced);
        let sliced = keep_rows(get(table, &format!("{p}.c_proj.weight"))?, &head_columns)?;
        replace(table, sliced);
        kept_per_layer.push(kept);
    }
    Ok(kept_per_layer)
}

/// The Llama key/value groups each layer keeps after removing `count`
/// groups per layer from `model.layers.{i}.self_attn`.
pub fn prune_llama_heads(table: &mut TensorTable, layers: usize, layout: HeadLayout, count: usize) -> Result<Vec<Vec<usize>>, PruneError> {
    let (d, hkv) = (layout.head_dim, layout.kv_heads);
    if hkv == 0 || layout.heads % hkv != 0 {
        return Err(PruneError::Unsupported(format!("{} heads in groups of {hkv} key/value heads", layout.heads)));
    }
    let rep = layout.heads / hkv;
    let mut kept_per_layer = Vec::with_capacity(layers);
    for layer in 0..layers {
        let p = format!("model.layers.{layer}.self_attn");
        let name = |proj: &str| format!("{p}.{proj}.weight");
        let mut importance = Vec::with_capacity(hkv); // (Hkv,)
        for g in 0..hkv {
            let q_rows = g * rep * d..(g + 1) * rep * d;
            let sum = rows_sum_of_squares(get(table, &name("q_proj"))?, q_rows.clone())?
                + rows_sum_of_squares(get(table, &name("k_proj"))?, g * d..(g + 1) * d)?
                + rows_sum_of_squares(get(table, &name("v_proj"))?, g * d..(g + 1) * d)?
                + columns_sum_of_squares(get(table, &name("o_proj"))?, q_rows)?;
            importance.push(libm::sqrt(sum) as f32);
        }
        let kept = kept_units(&importance, count);
        let q_rows: Vec<usize> = kept.iter().flat_map(|&g| g * rep * d..(g + 1) * rep * d).collect();
        let kv_rows: Vec<usize> = kept.iter().flat_map(|&g| g * d..(g + 1) * d).collect();
        for (proj, rows) in [("q_proj", &q_rows), ("k_proj", &kv_rows), ("v_proj", &kv_rows)] {
            let sliced = keep_rows(get(table, &name(proj))?, rows)?;
            replace(table, sliced);
            let bias = format!("{p}.{proj}.bias");
            if table.contains_key(&bias) {
                let sliced = keep_rows(get(table, &bias)?, rows)?;
                replace(table, sliced);
            }
        }
        let sliced = keep_columns(get(table, &name("o_proj"))?, &q_rows)?;
        replace(table, sliced);
        kept_per_layer.push(kept);
    }
    Ok(kept_per_layer)
}

/// The removed units of a layer, given the kept ones (for GPT-2's `pruned_heads`).
pub fn removed(units: usize, kept: &[usize]) -> Vec<usize> {
    complement(units, kept)
}
