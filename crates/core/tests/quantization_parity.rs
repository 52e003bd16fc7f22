//! Quantization parity with the Python `gguf` package (`gguf.quants`, 0.19).
//!
//! Fixtures: `tests/fixtures/quantization/`, made by
//! `scripts/fixtures/quantization.py`: random tensors at several scales,
//! all-zero blocks, one huge outlier per block, subnormals, exact rounding
//! ties, negative-only blocks and values up to f32's maximum. For every
//! format the bytes of `gguf.quants.quantize` must equal ours, and
//! `gguf.quants.dequantize` of those bytes must equal our decoding bit for
//! bit. Q6_K and Q4_K (no Python encoder) are checked on random super-blocks.

use llmlab_core::quantization::{dequantize, quantize, GgmlType};
use std::path::PathBuf;

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/quantization").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

struct Case {
    name: String,
    offset: usize,
    count: usize,
}

fn cases() -> Vec<Case> {
    let manifest: serde_json::Value = serde_json::from_slice(&fixture("manifest.json")).unwrap();
    manifest["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().unwrap().to_string(),
            offset: c["offset"].as_u64().unwrap() as usize,
            count: c["count"].as_u64().unwrap() as usize,
        })
        .collect()
}

/// Compares f32 bit patterns; returns the number of mismatching values.
fn bit_mismatches(ours: &[f32], theirs: &[f32]) -> usize {
    assert_eq!(ours.len(), theirs.len());
    ours.iter().zip(theirs).filter(|(a, b)| a.to_bits() != b.to_bits()).count()
}

#[test]
fn bytes_and_decodings_equal_gguf_quants_for_every_case() {
    let inputs = f32s(&fixture("inputs.f32"));
    let cases = cases();
    let mut failures = Vec::new();
    for (file, ty) in [
        ("f16", GgmlType::F16),
        ("bf16", GgmlType::BF16),
        ("q8_0", GgmlType::Q8_0),
        ("q4_0", GgmlType::Q4_0),
        ("q4_1", GgmlType::Q4_1),
        ("q5_0", GgmlType::Q5_0),
        ("q5_1", GgmlType::Q5_1),
    ] {
        let expected_bytes = fixture(&format!("{file}.quant"));
        let expected_values = f32s(&fixture(&format!("{file}.dequant.f32")));
        let (mut byte_offset, mut blocks, mut byte_mismatch_blocks, mut value_mismatches) = (0, 0, 0, 0);
        for case in &cases {
            let values = &inputs[case.offset..case.offset + case.count];
            let ours = quantize(values, ty).unwrap();
            let theirs = &expected_bytes[byte_offset..byte_offset + ours.len()];
            for (block, (a, b)) in ours.chunks(ty.type_size()).zip(theirs.chunks(ty.type_size())).enumerate() {
                blocks += 1;
                if a != b {
                    byte_mismatch_blocks += 1;
                    failures.push(format!("{file} {} block {block}: ours {a:02x?} gguf {b:02x?}", case.name));
                }
            }
            let decoded = dequantize(theirs, ty).unwrap();
            let mism = bit_mismatches(&decoded, &expected_values[case.offset..case.offset + case.count]);
            if mism > 0 {
                failures.push(format!("{file} {}: {mism} decoded values differ", case.name));
            }
            value_mismatches += mism;
            byte_offset += ours.len();
        }
        assert_eq!(byte_offset, expected_bytes.len(), "{file}: fixture length");
        println!(
            "{file}: {blocks} blocks compared ({} cases), {byte_mismatch_blocks} byte mismatches, {value_mismatches} decoding mismatches",
            cases.len()
        );
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures[..failures.len().min(20)].join("\n"));
}

#[test]
fn k_quant_decodings_equal_gguf_quants_on_random_super_blocks() {
    for (file, ty) in [("q6_k", GgmlType::Q6K), ("q4_k", GgmlType::Q4K)] {
        let blocks = fixture(&format!("{file}.blocks"));
        let expected = f32s(&fixture(&format!("{file}.blocks.dequant.f32")));
        let ours = dequantize(&blocks, ty).unwrap();
        let mismatches = bit_mismatches(&ours, &expected);
        println!("{file}: {} blocks decoded, {mismatches} mismatches", blocks.len() / ty.type_size());
        assert_eq!(mismatches, 0, "{file}");
    }
}

#[test]
fn q6_k_encoding_decodes_close_to_the_input() {
    // No Python encoder exists for Q6_K; the fixtures' inputs that fit f16's
    // range must come back within a few percent of each super-block's largest magnitude.
    let inputs = f32s(&fixture("inputs.f32"));
    for case in cases() {
        let values = &inputs[case.offset..case.offset + case.count];
        let bytes = quantize(values, GgmlType::Q6K).unwrap();
        let back = dequantize(&bytes, GgmlType::Q6K).unwrap();
        for (x, y) in values.chunks(256).zip(back.chunks(256)) {
            let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            if !(1e-30..6e4).contains(&amax) {
                continue;
            }
            for (a, b) in x.iter().zip(y) {
                assert!((a - b).abs() <= amax / 20.0, "{}: {a} decoded as {b} (block max {amax})", case.name);
            }
        }
    }
}
