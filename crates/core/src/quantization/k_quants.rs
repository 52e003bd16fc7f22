//! The "k-quants": 256-value super-blocks whose sub-blocks have their own
//! small integer scales, themselves scaled by one f16 per super-block.
//!
//! **Q6_K** (210 bytes for 256 values, 6.5625 bits each):
//!
//! ```text
//! ql[128]   low 4 bits of the 256 six-bit values
//! qh[64]    high 2 bits, four values per byte
//! scales[16] one i8 scale per sub-block of 16 values
//! d         f16 super-scale
//! ```
//!
//! Value `i` decodes as `(d · scales[i / 16]) · (q_i - 32)` (the product
//! `d · scale` is rounded to f32 first). The bits are interleaved by halves
//! of 128 values: in half `h`, value `j` takes its low nibble from
//! `ql[64h + j % 64]` (low nibble for `j < 64`, high nibble after) and its
//! high two bits from `qh[32h + j % 32]` at bit `2 · (j / 32)`.
//!
//! Encoding follows llama.cpp's `quantize_row_q6_K_ref`: each sub-block's
//! scale is chosen by `make_qx_quants` (a search over 19 candidate scales
//! around `max / -32` minimising the `x²`-weighted squared error), the 16
//! scales are quantized to i8 against the largest (which maps to -128), and
//! the values are re-quantized with the scales actually stored. `gguf.quants`
//! has no Q6_K encoder, so the bytes are llama.cpp's algorithm while the
//! decoder is checked against `gguf.quants`.
//!
//! **Q4_K** (144 bytes, 4.5 bits each; decoding only): f16 `d`, f16 `dmin`,
//! twelve bytes packing eight 6-bit scales and eight 6-bit minimums, then
//! 128 bytes of nibbles (four chunks of 32 bytes; low nibbles are sub-block
//! `2c`, high nibbles sub-block `2c + 1`). Value decodes as
//! `(d · sc) · q - (dmin · m)`.

use super::{f16_bytes, f16_value};
use alloc::vec::Vec;

/// Values per super-block.
pub const QK_K: usize = 256;
/// Bytes per Q6_K super-block.
pub const Q6K_BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;
/// Bytes per Q4_K super-block.
pub const Q4K_BLOCK_BYTES: usize = 2 + 2 + 12 + QK_K / 2;

/// Scales smaller than this count as zero (llama.cpp's `GROUP_MAX_EPS`).
const GROUP_MAX_EPS: f32 = 1e-15;

/// llama.cpp's `nearest_int`: adds 1.5·2^23 so the float addition rounds
/// (to nearest, ties to even) and reads the integer from the mantissa bits.
/// Exact for |x| < 2^22.
fn nearest_int(value: f32) -> i32 {
    let shifted = value + 12_582_912.0;
    (shifted.to_bits() as i32 & 0x007f_ffff) - 0x0040_0000
}

/// llama.cpp's `make_qx_quants` with `rmse_type = 1` (weights `x²`) and no
/// importance weights: fills `levels` with `q + nmax` and returns the scale.
fn make_qx_quants(x: &[f32], levels: &mut [i8], nmax: i32) -> f32 {
    let mut max = 0.0f32;
    let mut amax = 0.0f32;
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax < GROUP_MAX_EPS {
        levels.iter_mut().for_each(|l| *l = 0);
        return 0.0;
    }
    let quantize = |iscale: f32, v: f32| nearest_int(iscale * v).clamp(-nmax, nmax - 1);
    let mut iscale = -(nmax as f32) / max;
    let mut sumlx = 0.0f32;
    let mut suml2 = 0.0f32;
    for (l_out, &v) in levels.iter_mut().zip(x) {
        let l = quantize(iscale, v);
        *l_out = (l + nmax) as i8;
        let w = v * v;
        sumlx += w * v * l as f32;
        suml2 += w * l as f32 * l as f32;
    }
    let mut scale = if suml2 != 0.0 { sumlx / suml2 } else { 0.0 };
    let mut best = scale * sumlx;
    for step in -9i32..=9 {
        if step == 0 {
            continue;
        }
        iscale = -(nmax as f32 + 0.1 * step as f32) / max;
        sumlx = 0.0;
        suml2 = 0.0;
        for &v in x {
            let l = quantize(iscale, v);
            let w = v * v;
            sumlx += w * v * l as f32;
            suml2 += w * l as f32 * l as f32;
        }
        if suml2 > 0.0 && sumlx * sumlx > best * suml2 {
            for (l_out, &v) in levels.iter_mut().zip(x) {
                *l_out = (quantize(iscale, v) + nmax) as i8;
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
    scale
}

/// Q6_K bytes of `values` (a whole number of super-blocks; a trailing partial one is ignored).
pub fn quantize_q6_k(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(values.len() / QK_K * Q6K_BLOCK_BYTES);
    for x in values.chunks_exact(QK_K) {
        let mut levels = [0i8; QK_K];
        let mut scales = [0.0f32; QK_K / 16];
        let mut max_scale = 0.0f32;
        let mut max_abs_scale = 0.0f32;
        for (ib, (sub, sub_levels)) in x.chunks_exact(16).zip(levels.chunks_exact_mut(16)).enumerate() {
            let scale = make_qx_quants(sub, sub_levels, 32);
            scales[ib] = scale;
            if scale.abs() > max_abs_scale {
                max_abs_scale = scale.abs();
                max_scale = scale;
            }
        }
        if max_abs_scale < GROUP_MAX_EPS {
            out.resize(out.len() + Q6K_BLOCK_BYTES, 0);
            continue;
        }
        let iscale = -128.0 / max_scale;
        let d_bytes = f16_bytes(1.0 / iscale);
        let mut scale_bytes = [0i8; QK_K / 16];
        for (stored, &scale) in scale_bytes.iter_mut().zip(&scales) {
            *stored = nearest_int(iscale * scale).min(127) as i8;
        }
        let d_stored = f16_value(d_bytes);
        for ((sub, sub_levels), &sc) in x.chunks_exact(16).zip(levels.chunks_exact_mut(16)).zip(&scale_bytes) {
            let d = d_stored * f32::from(sc);
            if d == 0.0 {
                continue;
            }
            for (l_out, &v) in sub_levels.iter_mut().zip(sub) {
                *l_out = (nearest_int(v / d).clamp(-32, 31) + 32) as i8;
            }
        }
        let mut ql = [0u8; QK_K / 2];
        let mut qh = [0u8; QK_K / 4];
        for half in 0..2 {
            let l = |k: usize| levels[128 * half + k] as u8;
            for k in 0..32 {
                ql[64 * half + k] = (l(k) & 0xf) | ((l(k + 64) & 0xf) << 4);
                ql[64 * half + k + 32] = (l(k + 32) & 0xf) | ((l(k + 96) & 0xf) << 4);
                qh[32 * half + k] = (l(k) >> 4) | ((l(k + 32) >> 4) << 2) | ((l(k + 64) >> 4) << 4) | ((l(k + 96) >> 4) << 6);
            }
        }
        out.extend_from_slice(&ql);
        out.extend_from_slice(&qh);
        out.extend(scale_bytes.iter().map(|&s| s as u8));
        out.extend_from_slice(&d_bytes);
    }
    out
}

/// Decodes Q6_K super-blocks (a trailing partial block is ignored).
pub fn dequantize_q6_k(bytes: &[u8]) -> Vec<f32> {
    super::block_formats::decode_blocks(bytes, Q6K_BLOCK_BYTES, QK_K, dequantize_block_q6_k)
}

/// Decodes one Q6_K super-block ([`Q6K_BLOCK_BYTES`] bytes) into `out` (256 values).
pub fn dequantize_block_q6_k(block: &[u8], out: &mut [f32]) {
    if block.len() < Q6K_BLOCK_BYTES || out.len() < QK_K {
        return;
    }
    let (ql, rest) = block.split_at(QK_K / 2);
    let (qh, rest) = rest.split_at(QK_K / 4);
    let (scales, d) = rest.split_at(QK_K / 16);
    let d = f16_value([d[0], d[1]]);
    for (i, o) in out.iter_mut().take(QK_K).enumerate() {
        let (half, j) = (i / 128, i % 128);
        let low = (ql[64 * half + j % 64] >> (4 * (j / 64))) & 0x0f;
        let high = (qh[32 * half + j % 32] >> (2 * (j / 32))) & 0x03;
        let q = (low | (high << 4)) as i8 - 32;
        let dl = d * f32::from(scales[i / 16] as i8);
        *o = dl * f32::from(q);
    }
}

/// The eight 6-bit (scale, min) pairs of a Q4_K block's twelve scale bytes.
fn q4k_scale_min(packed: &[u8]) -> ([u8; 8], [u8; 8]) {
    let mut sc = [0u8; 8];
    let mut mn = [0u8; 8];
    let byte = |k: usize| packed.get(k).copied().unwrap_or(0);
    for k in 0..4 {
        sc[k] = byte(k) & 0x3f;
        mn[k] = byte(4 + k) & 0x3f;
        sc[4 + k] = (byte(8 + k) & 0x0f) | ((byte(k) >> 2) & 0x30);
        mn[4 + k] = (byte(8 + k) >> 4) | ((byte(4 + k) >> 2) & 0x30);
    }
    (sc, mn)
}

/// Decodes Q4_K super-blocks (a trailing partial block is ignored).
pub fn dequantize_q4_k(bytes: &[u8]) -> Vec<f32> {
    super::block_formats::decode_blocks(bytes, Q4K_BLOCK_BYTES, QK_K, dequantize_block_q4_k)
}

/// Decodes one Q4_K super-block ([`Q4K_BLOCK_BYTES`] bytes) into `out` (256 values).
pub fn dequantize_block_q4_k(block: &[u8], out: &mut [f32]) {
    if block.len() < Q4K_BLOCK_BYTES || out.len() < QK_K {
        return;
    }
    let d = f16_value([block[0], block[1]]);
    let dmin = f16_value([block[2], block[3]]);
    let (sc, mn) = q4k_scale_min(&block[4..16]);
    let qs = &block[16..];
    for (sub, values) in out.chunks_exact_mut(32).take(8).enumerate() {
        let dl = d * f32::from(sc[sub]);
        let ml = dmin * f32::from(mn[sub]);
        let chunk = &qs[32 * (sub / 2)..32 * (sub / 2) + 32];
        let shift = 4 * (sub % 2);
        values.iter_mut().zip(chunk).for_each(|(o, &b)| *o = dl * f32::from((b >> shift) & 0x0f) - ml);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_int_rounds_ties_to_even() {
        assert_eq!(nearest_int(2.5), 2);
        assert_eq!(nearest_int(3.5), 4);
        assert_eq!(nearest_int(-2.5), -2);
        assert_eq!(nearest_int(-0.4), 0);
    }

    #[test]
    fn q6_k_round_trip_error_is_within_half_a_sub_block_step() {
        let mut state = 12345u32;
        let values: Vec<f32> = (0..QK_K * 4)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect();
        let bytes = quantize_q6_k(&values);
        assert_eq!(bytes.len(), 4 * Q6K_BLOCK_BYTES);
        let back = dequantize_q6_k(&bytes);
        for (block, (x, y)) in bytes.chunks_exact(Q6K_BLOCK_BYTES).zip(values.chunks_exact(QK_K).zip(back.chunks_exact(QK_K))) {
            let d = f16_value([block[208], block[209]]);
            for i in 0..QK_K {
                let step = (d * f32::from(block[192 + i / 16] as i8)).abs();
                // Values inside the 6-bit range are off by at most half a step.
                if (x[i] / step).abs() < 31.0 {
                    assert!((x[i] - y[i]).abs() <= step * 0.5001, "value {i}: {} vs {}", x[i], y[i]);
                }
            }
        }
    }
}
