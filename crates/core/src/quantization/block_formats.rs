//! The classic 32-value block formats: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1.
//!
//! Every block holds 32 consecutive values of a row and starts with its
//! scale `d` as an f16. Then:
//!
//! - **Q8_0** (34 bytes): `d = max|x| / 127`, then 32 signed bytes
//!   `q = round(x / d)` with ties away from zero (`gguf.quants.np_roundf`,
//!   llama.cpp's `roundf`). Decoding: `x = q · d`.
//! - **Q4_0** (18 bytes): `d = max / -8`, where `max` is the value of
//!   largest magnitude *with its sign*, so that value maps to -8, the end of
//!   the 4-bit range that has room (-8..7). `q = trunc(x/d + 8.5)` clipped to
//!   0..15 (the +0.5 inside the truncation rounds half up). 16 bytes of
//!   nibbles: value `j` in the low nibble of byte `j`, value `j + 16` in its
//!   high nibble. Decoding: `x = d · (q - 8)`.
//! - **Q4_1** (20 bytes): `d = (max - min) / 15` and `m = min` (both f16),
//!   `q = trunc((x - min)/d + 0.5)` in 0..15. Decoding: `x = d · q + m`.
//!   The offset suits blocks that are not centred on zero.
//! - **Q5_0** (22 bytes) and **Q5_1** (24 bytes): as Q4_0 (with `d = max /
//!   -16`, `q` in 0..31) and Q4_1 (`d = (max - min) / 31`); the low four bits
//!   of each `q` are packed as in Q4, the fifth bits of the 32 values form a
//!   little-endian u32 `qh` (bit `j` belongs to value `j`) stored before them.
//!
//! The integers are computed with the f32 scale and its f32 reciprocal
//! (`1/d`, or 0 when `d` is 0); only the stored scale is rounded to f16, so
//! decoding uses a slightly different `d` than encoding did — exactly what
//! llama.cpp and `gguf.quants` do.

use super::{f16_bytes, f16_value, numpy_float_to_byte};
use alloc::vec::Vec;

/// Values per block.
pub const BLOCK: usize = 32;

/// `1/d`, or 0 when `d` is 0 (`np.where(d == 0, 0, 1 / d)`).
fn reciprocal_or_zero(d: f32) -> f32 {
    if d == 0.0 {
        0.0
    } else {
        1.0 / d
    }
}

/// `gguf.quants.np_roundf`: round half away from zero, written as numpy does it.
fn round_half_away(value: f32) -> f32 {
    let magnitude = value.abs();
    let floored = libm::floorf(magnitude);
    let rounded = floored + libm::floorf(2.0 * (magnitude - floored));
    let sign = if value > 0.0 {
        1.0
    } else if value < 0.0 {
        -1.0
    } else if value.is_nan() {
        f32::NAN
    } else {
        0.0
    };
    sign * rounded
}

/// The entry of largest magnitude with its sign (the first one on ties).
fn signed_absmax(block: &[f32]) -> f32 {
    let mut best = 0.0f32;
    let mut best_abs = -1.0f32;
    for &v in block {
        if v.abs() > best_abs {
            best_abs = v.abs();
            best = v;
        }
    }
    best
}

/// Smallest and largest entry (the first one on ties, so ±0 keep their order).
fn min_max(block: &[f32]) -> (f32, f32) {
    let first = block.first().copied().unwrap_or(0.0);
    block.iter().fold((first, first), |(lo, hi), &v| (if v < lo { v } else { lo }, if v > hi { v } else { hi }))
}

/// Packs 32 values of 4 (or the low 4 of 5) bits: value `j` low, `j + 16` high.
fn pack_nibbles(q: &[u8; BLOCK], out: &mut Vec<u8>) {
    for j in 0..BLOCK / 2 {
        out.push((q[j] & 0x0f) | (q[j + BLOCK / 2] << 4));
    }
}

/// The fifth bits of 32 values as a little-endian u32.
fn pack_high_bits(q: &[u8; BLOCK], out: &mut Vec<u8>) {
    let mut qh = 0u32;
    for (j, &v) in q.iter().enumerate() {
        if v >> 4 != 0 {
            qh |= 1 << j;
        }
    }
    out.extend_from_slice(&qh.to_le_bytes());
}

/// Value `j` of the nibbles packed by [`pack_nibbles`].
fn nibble(qs: &[u8], j: usize) -> u8 {
    let byte = qs.get(j % (BLOCK / 2)).copied().unwrap_or(0);
    if j < BLOCK / 2 {
        byte & 0x0f
    } else {
        byte >> 4
    }
}

/// Symmetric 4/5-bit blocks: `d = max / -(levels/2)`, `q = trunc(x/d + levels/2 + 0.5)`.
fn quantize_symmetric(values: &[f32], half_levels: f32, with_high_bits: bool) -> Vec<u8> {
    let max_q = (2.0 * half_levels - 1.0) as u8;
    let mut out = Vec::with_capacity(values.len() / BLOCK * if with_high_bits { 22 } else { 18 });
    for block in values.chunks_exact(BLOCK) {
        let d = signed_absmax(block) / -half_levels;
        let id = reciprocal_or_zero(d);
        let mut q = [0u8; BLOCK];
        for (qj, &x) in q.iter_mut().zip(block) {
            *qj = numpy_float_to_byte(libm::truncf(x * id + (half_levels + 0.5))).min(max_q);
        }
        out.extend_from_slice(&f16_bytes(d));
        if with_high_bits {
            pack_high_bits(&q, &mut out);
        }
        pack_nibbles(&q, &mut out);
    }
    out
}

/// Offset 4/5-bit blocks: `d = (max - min) / (levels - 1)`, `q = trunc((x - min)/d + 0.5)`.
fn quantize_offset(values: &[f32], top_level: f32, with_high_bits: bool) -> Vec<u8> {
    let max_q = top_level as u8;
    let mut out = Vec::with_capacity(values.len() / BLOCK * if with_high_bits { 24 } else { 20 });
    for block in values.chunks_exact(BLOCK) {
        let (min, max) = min_max(block);
        let d = (max - min) / top_level;
        let id = reciprocal_or_zero(d);
        let mut q = [0u8; BLOCK];
        for (qj, &x) in q.iter_mut().zip(block) {
            *qj = numpy_float_to_byte(libm::truncf((x - min) * id + 0.5)).min(max_q);
        }
        out.extend_from_slice(&f16_bytes(d));
        out.extend_from_slice(&f16_bytes(min));
        if with_high_bits {
            pack_high_bits(&q, &mut out);
        }
        pack_nibbles(&q, &mut out);
    }
    out
}

/// Q8_0 bytes of `values` (a whole number of blocks; trailing values are ignored).
pub fn quantize_q8_0(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / BLOCK * 34);
    for block in values.chunks_exact(BLOCK) {
        let amax = block.iter().fold(0.0f32, |m, v| if v.abs() > m { v.abs() } else { m });
        let d = amax / 127.0;
        let id = reciprocal_or_zero(d);
        out.extend_from_slice(&f16_bytes(d));
        out.extend(block.iter().map(|&x| numpy_float_to_byte(round_half_away(x * id))));
    }
    out
}

/// Q4_0 bytes of `values`.
pub fn quantize_q4_0(values: &[f32]) -> Vec<u8> {
    quantize_symmetric(values, 8.0, false)
}

/// Q5_0 bytes of `values`.
pub fn quantize_q5_0(values: &[f32]) -> Vec<u8> {
    quantize_symmetric(values, 16.0, true)
}

/// Q4_1 bytes of `values`.
pub fn quantize_q4_1(values: &[f32]) -> Vec<u8> {
    quantize_offset(values, 15.0, false)
}

/// Q5_1 bytes of `values`.
pub fn quantize_q5_1(values: &[f32]) -> Vec<u8> {
    quantize_offset(values, 31.0, true)
}

/// Decodes whole `type_size`-byte blocks of `block_len` values with `decode_block` (trailing partial bytes are ignored).
pub(crate) fn decode_blocks(bytes: &[u8], type_size: usize, block_len: usize, decode_block: fn(&[u8], &mut [f32])) -> Vec<f32> {
    let blocks = bytes.chunks_exact(type_size);
    let mut out = alloc::vec![0.0f32; blocks.len() * block_len];
    for (block, values) in blocks.zip(out.chunks_exact_mut(block_len)) {
        decode_block(block, values);
    }
    out
}

/// Decodes one Q8_0 block (34 bytes) into `out` (32 values).
pub fn dequantize_block_q8_0(block: &[u8], out: &mut [f32]) {
    if let [d0, d1, qs @ ..] = block {
        let d = f16_value([*d0, *d1]);
        out.iter_mut().zip(qs).for_each(|(o, &q)| *o = f32::from(q as i8) * d);
    }
}

/// Decodes one Q4_0 block (18 bytes) into `out` (32 values).
pub fn dequantize_block_q4_0(block: &[u8], out: &mut [f32]) {
    if let [d0, d1, qs @ ..] = block {
        let d = f16_value([*d0, *d1]);
        out.iter_mut().take(BLOCK).enumerate().for_each(|(j, o)| *o = d * f32::from(nibble(qs, j) as i8 - 8));
    }
}

/// Decodes one Q4_1 block (20 bytes) into `out` (32 values).
pub fn dequantize_block_q4_1(block: &[u8], out: &mut [f32]) {
    if let [d0, d1, m0, m1, qs @ ..] = block {
        let (d, m) = (f16_value([*d0, *d1]), f16_value([*m0, *m1]));
        out.iter_mut().take(BLOCK).enumerate().for_each(|(j, o)| *o = d * f32::from(nibble(qs, j)) + m);
    }
}

/// The 5-bit value `j` of a block's `qh` and nibbles.
fn five_bit(qh: u32, qs: &[u8], j: usize) -> u8 {
    nibble(qs, j) | ((((qh >> j) & 1) as u8) << 4)
}

/// Decodes one Q5_0 block (22 bytes) into `out` (32 values).
pub fn dequantize_block_q5_0(block: &[u8], out: &mut [f32]) {
    if let [d0, d1, h0, h1, h2, h3, qs @ ..] = block {
        let d = f16_value([*d0, *d1]);
        let qh = u32::from_le_bytes([*h0, *h1, *h2, *h3]);
        out.iter_mut().take(BLOCK).enumerate().for_each(|(j, o)| *o = d * f32::from(five_bit(qh, qs, j) as i8 - 16));
    }
}

/// Decodes one Q5_1 block (24 bytes) into `out` (32 values).
pub fn dequantize_block_q5_1(block: &[u8], out: &mut [f32]) {
    if let [d0, d1, m0, m1, h0, h1, h2, h3, qs @ ..] = block {
        let (d, m) = (f16_value([*d0, *d1]), f16_value([*m0, *m1]));
        let qh = u32::from_le_bytes([*h0, *h1, *h2, *h3]);
        out.iter_mut().take(BLOCK).enumerate().for_each(|(j, o)| *o = d * f32::from(five_bit(qh, qs, j)) + m);
    }
}

/// Decodes Q8_0 blocks (trailing partial bytes are ignored).
pub fn dequantize_q8_0(bytes: &[u8]) -> Vec<f32> {
    decode_blocks(bytes, 34, BLOCK, dequantize_block_q8_0)
}

/// Decodes Q4_0 blocks.
pub fn dequantize_q4_0(bytes: &[u8]) -> Vec<f32> {
    decode_blocks(bytes, 18, BLOCK, dequantize_block_q4_0)
}

/// Decodes Q4_1 blocks.
pub fn dequantize_q4_1(bytes: &[u8]) -> Vec<f32> {
    decode_blocks(bytes, 20, BLOCK, dequantize_block_q4_1)
}

/// Decodes Q5_0 blocks.
pub fn dequantize_q5_0(bytes: &[u8]) -> Vec<f32> {
    decode_blocks(bytes, 22, BLOCK, dequantize_block_q5_0)
}

/// Decodes Q5_1 blocks.
pub fn dequantize_q5_1(bytes: &[u8]) -> Vec<f32> {
    decode_blocks(bytes, 24, BLOCK, dequantize_block_q5_1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_half_away_rounds_ties_away_from_zero() {
        assert_eq!(round_half_away(2.5), 3.0);
        assert_eq!(round_half_away(-2.5), -3.0);
        assert_eq!(round_half_away(2.4999998), 2.0);
        assert!(round_half_away(f32::INFINITY).is_nan());
    }

    #[test]
    fn q4_0_maps_the_signed_extreme_to_minus_eight() {
        let mut block = [0.0f32; BLOCK];
        block[3] = -4.0;
        block[5] = 2.0;
        let bytes = quantize_q4_0(&block);
        let back = dequantize_q4_0(&bytes);
        assert_eq!(back[3], -4.0);
        assert_eq!(back[5], 2.0);
    }
}
