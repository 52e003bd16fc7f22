//! Block-quantized weights kept in their blocks (`nn::storage::Storage::Quantized`)
//! against the f32 layer on the same weights dequantized:
//!
//! - rows decoded from the blocks equal `quantization::dequantize` bit for bit,
//!   from any start column;
//! - with f32 activations a quantized `Linear` equals the f32 `Linear` on the
//!   dequantized weights within 1e-5 (relative to the largest output), in the
//!   decode kernel (1..8 rows) and the prompt kernel (more rows), for weights
//!   stored `(out, in)`, GPT-2's `(in, out)` Conv1D read from GGUF's `(out, in)`,
//!   and blocks running along the logical columns (read transposed);
//! - with Q8 activations (the default) the error stays small;
//! - scales that are not finite and partial blocks are refused.

use llmlab_core::loading::WeightStore;
use llmlab_core::nn::linear::{Activations, Linear};
use llmlab_core::nn::storage::{Matrix, SharedBytes, Storage, StorageError};
use llmlab_core::quantization::{dequantize, quantize, GgmlType};
use llmlab_core::rng::Rng;
use ndarray::{Array1, Array2, Axis, Slice};
use std::sync::Arc;

/// Every block type this crate encodes (Q4_K decodes through the same per-block path).
const TYPES: [GgmlType; 6] = [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1, GgmlType::Q6K];

fn random(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.uniform_f32() * 2.0 - 1.0) * scale).collect()
}

/// Quantized bytes of a `(rows, cols)` matrix and its dequantized values.
fn quantized(rng: &mut Rng, rows: usize, cols: usize, ty: GgmlType) -> (SharedBytes, Array2<f32>) {
    let values = random(rng, rows * cols, 0.5);
    let bytes = quantize(&values, ty).unwrap();
    let back = Array2::from_shape_vec((rows, cols), dequantize(&bytes, ty).unwrap()).unwrap();
    (Arc::new(bytes), back)
}

fn max_abs(a: &Array2<f32>) -> f32 {
    a.iter().fold(0.0f32, |m, v| m.max(v.abs()))
}

fn max_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
}

#[test]
fn decoded_rows_equal_dequantize_from_any_column() {
    let mut rng = Rng::new(1);
    for ty in TYPES {
        let cols = 2 * ty.block_size();
        let (bytes, expected) = quantized(&mut rng, 3, cols, ty);
        let len = (*bytes).as_ref().len();
        let m = Matrix::new(Storage::from_block_bytes(bytes, 0..len, ty).unwrap(), (3, cols)).unwrap();
        for r in 0..3 {
            for first in [0, 1, 17, ty.block_size() - 1, ty.block_size() + 5] {
                let mut row = vec![f32::NAN; cols - first];
                m.widen_stored_row(r, first, &mut row);
                let want: Vec<u32> = expected.row(r).iter().skip(first).map(|v| v.to_bits()).collect();
                assert_eq!(row.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), want, "{ty:?} row {r} from {first}");
            }
        }
        assert_eq!(m.view(), expected.view());
    }
}

#[test]
fn non_finite_scales_and_partial_blocks_are_refused() {
    let mut bytes = quantize(&[0.5f32; 32], GgmlType::Q8_0).unwrap();
    let shared: SharedBytes = Arc::new(bytes.clone());
    assert!(matches!(Storage::from_block_bytes(shared.clone(), 0..33, GgmlType::Q8_0), Err(StorageError::PartialElement { .. })));
    assert!(matches!(Storage::from_block_bytes(shared.clone(), 0..68, GgmlType::Q8_0), Err(StorageError::OutOfBounds { .. })));
    assert_eq!(Storage::from_block_bytes(shared, 0..34, GgmlType::F16).unwrap_err(), StorageError::NotBlockQuantized(GgmlType::F16));
    bytes[..2].copy_from_slice(&half::f16::NAN.to_le_bytes());
    assert_eq!(Storage::from_block_bytes(Arc::new(bytes), 0..34, GgmlType::Q8_0).unwrap_err(), StorageError::NonFinite);
}

/// The three ways a logical `(out, in)` weight can sit in blocks, with its dequantized values.
fn layouts(rng: &mut Rng, out_f: usize, in_f: usize, ty: GgmlType, activations: Activations) -> Vec<(&'static str, Matrix, Array2<f32>)> {
    let mut cases = Vec::new();
    // Stored (out, in), blocks along `in` (Llama's Linear, GGUF's rows).
    let (bytes, w) = quantized(rng, out_f, in_f, ty);
    let len = (*bytes).as_ref().len();
    let m = Matrix::new(Storage::from_block_bytes(bytes.clone(), 0..len, ty).unwrap(), (out_f, in_f)).unwrap();
    cases.push(("(out, in)", m.with_activations(activations), w.clone()));
    // GPT-2's Conv1D: the HF tensor is (in, out), GGUF stores (out, in); the model reads it transposed.
    let mut store = WeightStore::new();
    store.activations = activations;
    let file = store.add_file(bytes);
    store.insert_quantized("c_fc.weight", vec![in_f, out_f], file, 0..len, ty, true);
    let m = store.matrix("c_fc.weight", (in_f, out_f)).unwrap().transposed();
    cases.push(("Conv1D from GGUF", m, w));
    // Blocks along `out`: stored (in, out) read transposed (the generic, decoded path).
    if out_f % ty.block_size() == 0 {
        let (bytes, w_t) = quantized(rng, in_f, out_f, ty);
        let len = (*bytes).as_ref().len();
        let m = Matrix::new(Storage::from_block_bytes(bytes, 0..len, ty).unwrap(), (in_f, out_f)).unwrap().transposed();
        cases.push(("(in, out) transposed", m.with_activations(activations), w_t.t().to_owned()));
    }
    cases
}

#[test]
fn a_quantized_linear_with_f32_activations_equals_the_f32_linear_on_dequantized_weights() {
    let mut rng = Rng::new(7);
    for ty in TYPES {
        let bl = ty.block_size();
        for (out_f, in_f) in [(37usize, bl), (300, 3 * bl), (2 * bl, 2 * bl)] {
            let x_all = Array2::from_shape_vec((20, in_f), random(&mut rng, 20 * in_f, 1.0)).unwrap();
            let bias = Array1::from(random(&mut rng, out_f, 0.1));
            for (layout, matrix, w) in layouts(&mut rng, out_f, in_f, ty, Activations::F32) {
                assert_eq!(matrix.dim(), (out_f, in_f));
                let quantized = Linear::from_matrix(matrix, Some(bias.clone()));
                let reference = Linear::new(w, Some(bias.clone()));
                for rows in [1usize, 3, 8, 9, 20] {
                    let x = x_all.slice_axis(Axis(0), Slice::from(..rows));
                    let (got, want) = (quantized.forward(x), reference.forward(x));
                    let rel = max_diff(&got, &want) / max_abs(&want).max(1e-6);
                    assert!(rel <= 1e-5, "{ty:?} {layout} ({out_f}, {in_f}) rows {rows}: relative diff {rel}");
                }
            }
        }
    }
}

#[test]
fn q8_activations_stay_close_to_the_f32_result() {
    let mut rng = Rng::new(11);
    for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1] {
        let (out_f, in_f) = (64, 256);
        let x = Array2::from_shape_vec((2, in_f), random(&mut rng, 2 * in_f, 1.0)).unwrap();
        for ((layout, q8, _), (_, f32_acts, _)) in layouts(&mut Rng::new(3), out_f, in_f, ty, Activations::Q8).into_iter().zip(layouts(
            &mut Rng::new(3),
            out_f,
            in_f,
            ty,
            Activations::F32,
        )) {
            assert_eq!(q8.activations(), Activations::Q8);
            let (got, want) = (Linear::from_matrix(q8, None).forward(x.view()), Linear::from_matrix(f32_acts, None).forward(x.view()));
            let rel = max_diff(&got, &want) / max_abs(&want);
            // Q8_0 activations carry ~0.4% per-value error; summed over 256 products it averages out.
            assert!(rel < 1e-2, "{ty:?} {layout}: relative diff {rel}");
            assert!(rel > 0.0 || layout == "(in, out) transposed", "{ty:?} {layout}: the Q8 kernel was not used");
        }
    }
}
