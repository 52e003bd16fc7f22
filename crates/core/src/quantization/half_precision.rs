//! 16-bit floats: IEEE half (f16) and bfloat16.
//!
//! - **f16** keeps 1 sign, 5 exponent and 10 mantissa bits: about 3 decimal
//!   digits, and values beyond ±65504 become infinite. numpy's
//!   `astype(float16)` rounds to nearest, ties to even, with subnormals.
//! - **bf16** keeps f32's sign and 8 exponent bits and the top 7 mantissa
//!   bits: f32's range with about 2 decimal digits. `gguf.quants.BF16`
//!   (like ggml's `ggml_compute_fp32_to_bf16`) adds `0x7fff` plus the lowest
//!   kept bit to the f32's bits and drops the low 16 (round to nearest
//!   even), after forcing NaNs to quiet NaNs (`| 0x0040` in the result).
//!   Decoding appends 16 zero bits.

use alloc::vec::Vec;

/// f32 values as little-endian f16 bytes (round to nearest even).
pub fn quantize_f16(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&v| super::f16_bytes(v)).collect()
}

/// Little-endian f16 bytes as f32 (exact).
pub fn dequantize_f16(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(2).map(|c| super::f16_value([c[0], c[1]])).collect()
}

/// The bf16 bits of `value`, rounded as `ggml_compute_fp32_to_bf16`.
pub fn bf16_bits(value: f32) -> u16 {
    let mut bits = value.to_bits();
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        // NaN: keep sign and top payload bits, set the quiet bit.
        bits = (bits & 0xffff_0000) | (64 << 16);
    }
    ((u64::from(bits) + 0x7fff + u64::from((bits >> 16) & 1)) >> 16) as u16
}

/// f32 values as little-endian bf16 bytes.
pub fn quantize_bf16(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|&v| bf16_bits(v).to_le_bytes()).collect()
}

/// Little-endian bf16 bytes as f32 (exact: the bits shifted up by 16).
pub fn dequantize_bf16(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(2).map(|c| f32::from_bits(u32::from(u16::from_le_bytes([c[0], c[1]])) << 16)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_ties_to_even_and_quiets_nan() {
        // 1 + 2^-8 is halfway between two bf16 values: ties go to the even one (1.0).
        assert_eq!(bf16_bits(f32::from_bits(0x3f80_8000)), 0x3f80);
        // 1 + 3·2^-8 is halfway too; the even neighbour is above.
        assert_eq!(bf16_bits(f32::from_bits(0x3f81_8000)), 0x3f82);
        // A signalling NaN whose payload lives only in the low bits stays a NaN.
        assert_eq!(bf16_bits(f32::from_bits(0x7f80_0001)), 0x7fc0);
        assert_eq!(dequantize_bf16(&quantize_bf16(&[1.5, -2.0])), [1.5, -2.0]);
    }
}
