//! Removing FFN neurons (hidden units of the MLP), so the MLP shrinks.
//!
//! Neuron `j` of a layer is everything that only serves it: row `j` of the
//! up projection (and of the gate, in Llama's SwiGLU), entry `j` of their
//! biases, and column `j` of the down projection. Its importance is the L2
//! norm of those weights (biases not counted). Every layer drops the same
//! number (`amount` of the intermediate size, counted as torch does), each
//! its least important neurons, kept as `torch.topk(importance, kept,
//! largest=True)` picks them; the config's `n_inner` / `intermediate_size`
//! becomes the new width. The MLP computes exactly what the old one did with
//! those neurons' outputs forced to zero, the down projection's bias included.
//!
//! GPT-2 stores `Conv1D` weights `(in, out)`: there the neuron is column `j`
//! of `c_fc` and row `j` of `c_proj`.

use super::slicing::{columns_sum_of_squares, get, keep_columns, keep_rows, kept_units, replace, rows_sum_of_squares, TensorTable};
use super::PruneError;
use alloc::format;
use alloc::vec::Vec;

/// Removes `count` neurons from each of GPT-2's `layers` MLPs of width `inner`; returns the kept ones per layer.
pub fn prune_gpt2_neurons(
    table: &mut TensorTable,
    root: &str,
    layers: usize,
    inner: usize,
    count: usize,
) -> Result<Vec<Vec<usize>>, PruneError> {
    let mut kept_per_layer = Vec::with_capacity(layers);
    for layer in 0..layers {
        let p = format!("{root}h.{layer}.mlp");
        let (fc, proj) = (format!("{p}.c_fc.weight"), format!("{p}.c_proj.weight"));
        let importance = (0..inner) // (I,)
            .map(|j| {
                Ok(libm::sqrt(columns_sum_of_squares(get(table, &fc)?, j..j + 1)? + rows_sum_of_squares(get(table, &proj)?, j..j + 1)?)
                    as f32)
            })
            .collect::<Result<Vec<f32>, PruneError>>()?;
        let kept = kept_units(&importance, count);
        let sliced = keep_columns(get(table, &fc)?, &kept)?;
        replace(table, sliced);
        let sliced = keep_rows(get(table, &format!("{p}.c_fc.bias"))?, &kept)?;
        replace(table, sliced);
        let sliced = keep_rows(get(table, &proj)?, &kept)?;
        replace(table, sliced);
        kept_per_layer.push(kept);
    }
    Ok(kept_per_layer)
}

/// Removes `count` neurons from each of Llama's `layers` SwiGLU MLPs of width `inner`; returns the kept ones per layer.
pub fn prune_llama_neurons(table: &mut TensorTable, layers: usize, inner: usize, count: usize) -> Result<Vec<Vec<usize>>, PruneError> {
    let mut kept_per_layer = Vec::with_capacity(layers);
    for layer in 0..layers {
        let p = format!("model.layers.{layer}.mlp");
        let name = |proj: &str| format!("{p}.{proj}.weight");
        let importance = (0..inner) // (I,)
            .map(|j| {
                let sum = rows_sum_of_squares(get(table, &name("gate_proj"))?, j..j + 1)?
                    + rows_sum_of_squares(get(table, &name("up_proj"))?, j..j + 1)?
                    + columns_sum_of_squares(get(table, &name("down_proj"))?, j..j + 1)?;
                Ok(libm::sqrt(sum) as f32)
            })
            .collect::<Result<Vec<f32>, PruneError>>()?;
        let kept = kept_units(&importance, count);
        for proj in ["gate_proj", "up_proj"] {
            let sliced = keep_rows(get(table, &name(proj))?, &kept)?;
            replace(table, sliced);
            let bias = format!("{p}.{proj}.bias");
            if table.contains_key(&bias) {
                let sliced = keep_rows(get(table, &bias)?, &kept)?;
                replace(table, sliced);
            }
        }
        let sliced = keep_columns(get(table, &name("down_proj"))?, &kept)?;
        replace(table, sliced);
        kept_per_layer.push(kept);
    }
    Ok(kept_per_layer)
}
