//! Integer dot products of block-quantized weight rows with activations
//! quantized to Q8_0, as llama.cpp's `ggml_vec_dot_q4_0_q8_0` and
//! `ggml_vec_dot_q8_0_q8_0` compute them.
//!
//! An activation row is quantized once per matmul with the same Q8_0
//! encoder as weights ([`quantize_q8_0`]: `d = max|x|/127` rounded to f16,
//! `q = round(x/d)`), so per 32-value block both operands are small integers
//! with one scale each, and
//!
//! ```text
//! Σⱼ w[j]·x[j] ≈ d_w·d_x · Σⱼ q_w[j]·q_x[j]          (Q8_0, Q4_0, Q5_0: q_w centred on 0)
//! Σⱼ w[j]·x[j] ≈ d_w·d_x · Σⱼ q_w[j]·q_x[j] + m_w·s_x  (Q4_1, Q5_1: s_x = d_x·Σⱼ q_x[j])
//! ```
//!
//! The inner sum is exact in i32; only the per-block scaling is in f32. The
//! weight bytes are read once, 4.5 or 8.5 bits per value instead of 32,
//! which is what makes decode faster: it is bound by memory traffic.
//!
//! Kernels: Q8_0 and Q4_0 have explicit SIMD128 versions on wasm32
//! (`+simd128`, see `.cargo/config.toml`). Natively they are written over
//! fixed 32-byte arrays so that LLVM vectorises them for the target's
//! features (`pmaddwd` with SSE2, `vpmaddwd` with AVX2 under
//! `-C target-cpu=native`): the crate forbids `unsafe`, and calling an x86
//! intrinsic needs it (even SSE2's, outside a `#[target_feature]` function),
//! whereas wasm's are safe. Q4_1, Q5_0 and Q5_1 use the generic integer
//! kernel; other types have no integer kernel ([`has_integer_kernel`]) and
//! run with f32 activations.

use crate::quantization::block_formats::{quantize_q8_0, BLOCK};
use crate::quantization::GgmlType;
use alloc::vec::Vec;

/// The f32 value of little-endian f16 bytes: exact, like `half::f16::to_f32`,
/// but inlined (the decode kernels convert one scale per 32 weights, and a
/// call through `half`'s run-time CPU detection there costs about as much as
/// the block's arithmetic).
#[inline(always)]
fn f16_value(bytes: [u8; 2]) -> f32 {
    let h = u32::from(u16::from_le_bytes(bytes));
    let sign = (h & 0x8000) << 16;
    let magnitude = (h & 0x7fff) << 13; // exponent and mantissa in f32 position, exponent still biased by 15
    let exponent = magnitude & (0x7c00 << 13);
    let value = if exponent == 0x7c00 << 13 {
        f32::from_bits(magnitude + ((255 - 31) << 23)) // infinity or NaN
    } else if exponent == 0 {
        // Zero or subnormal: mantissa · 2^-24, exactly.
        f32::from_bits(magnitude + (1 << 23) + ((127 - 15) << 23)) - f32::from_bits(113 << 23)
    } else {
        f32::from_bits(magnitude + ((127 - 15) << 23))
    };
    f32::from_bits(value.to_bits() | sign)
}

/// Bytes of one Q8_0 block (f16 scale + 32 signed bytes).
const Q8_0_BYTES: usize = 34;

/// One activation row as Q8_0 blocks, with each block's scale and scaled sum in f32.
#[derive(Clone, Debug)]
pub struct Q8Row {
    /// Q8_0 bytes of the row (34 per block).
    bytes: Vec<u8>,
    /// `d` of each block, as f32.
    scales: Vec<f32>,
    /// `d · Σ q` of each block (for the offset formats' `m · Σ x` term).
    sums: Vec<f32>,
}

impl Q8Row {
    /// Quantizes `x` (a whole number of 32-value blocks; a trailing partial block is ignored).
    pub fn quantize(x: &[f32]) -> Self {
        let bytes = quantize_q8_0(x);
        let mut scales = Vec::with_capacity(bytes.len() / Q8_0_BYTES);
        let mut sums = Vec::with_capacity(bytes.len() / Q8_0_BYTES);
        for block in bytes.chunks_exact(Q8_0_BYTES) {
            let d = f16_value([block[0], block[1]]);
            let s: i32 = block[2..].iter().map(|&q| i32::from(q as i8)).sum();
            scales.push(d);
            sums.push(d * s as f32);
        }
        Self { bytes, scales, sums }
    }

    /// The 32 quantized values of block `b`.
    fn qs(&self, b: usize) -> &[u8] {
        self.bytes.get(b * Q8_0_BYTES + 2..(b + 1) * Q8_0_BYTES).unwrap_or(&[])
    }
}

/// Whether [`dot_q8`] handles weights of type `ty`.
pub fn has_integer_kernel(ty: GgmlType) -> bool {
    matches!(ty, GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1)
}

/// `Σ w·x` for one weight row of `ty` blocks and a quantized activation row
/// (0 for a type without an integer kernel, see [`has_integer_kernel`]).
pub fn dot_q8(ty: GgmlType, row: &[u8], x: &Q8Row) -> f32 {
    match ty {
        GgmlType::Q8_0 => dot_q8_0(row, x),
        GgmlType::Q4_0 => dot_q4_0(row, x),
        GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 => dot_scalar(ty, row, x),
        _ => 0.0,
    }
}

/// The integer weights of block `block` of type `ty` (centred for the `_0`
/// formats), its scale `d` and its minimum `m` (0 for the `_0` formats).
fn block_ints(ty: GgmlType, block: &[u8], q: &mut [i32; BLOCK]) -> (f32, f32) {
    let scale = |o: usize| block.get(o..o + 2).map_or(0.0, |b| f16_value([b[0], b[1]]));
    let nibbles = |qs: &[u8], q: &mut [i32; BLOCK]| {
        for (j, &byte) in qs.iter().take(BLOCK / 2).enumerate() {
            q[j] = i32::from(byte & 0x0f);
            q[j + BLOCK / 2] = i32::from(byte >> 4);
        }
    };
    let high_bits = |h: &[u8], q: &mut [i32; BLOCK]| {
        let qh = match h {
            [a, b, c, d, ..] => u32::from_le_bytes([*a, *b, *c, *d]),
            _ => 0,
        };
        for (j, v) in q.iter_mut().enumerate() {
            *v |= (((qh >> j) & 1) as i32) << 4;
        }
    };
    match ty {
        GgmlType::Q8_0 => {
            for (v, &b) in q.iter_mut().zip(block.get(2..).unwrap_or(&[])) {
                *v = i32::from(b as i8);
            }
            (scale(0), 0.0)
        }
        GgmlType::Q4_0 => {
            nibbles(block.get(2..).unwrap_or(&[]), q);
            q.iter_mut().for_each(|v| *v -= 8);
            (scale(0), 0.0)
        }
        GgmlType::Q4_1 => {
            nibbles(block.get(4..).unwrap_or(&[]), q);
            (scale(0), scale(2))
        }
        GgmlType::Q5_0 => {
            nibbles(block.get(6..).unwrap_or(&[]), q);
            high_bits(block.get(2..).unwrap_or(&[]), q);
            q.iter_mut().for_each(|v| *v -= 16);
            (scale(0), 0.0)
        }
        GgmlType::Q5_1 => {
            nibbles(block.get(8..).unwrap_or(&[]), q);
            high_bits(block.get(4..).unwrap_or(&[]), q);
            (scale(0), scale(2))
        }
        _ => (0.0, 0.0),
    }
}

/// The portable kernel for every type with an integer kernel.
pub fn dot_scalar(ty: GgmlType, row: &[u8], x: &Q8Row) -> f32 {
    let mut acc = 0.0f32;
    let mut q = [0i32; BLOCK];
    for (b, block) in row.chunks_exact(ty.type_size()).enumerate() {
        let (d, m) = block_ints(ty, block, &mut q);
        let sum: i32 = q.iter().zip(x.qs(b)).map(|(&w, &v)| w * i32::from(v as i8)).sum();
        let (dx, sx) = (x.scales.get(b).copied().unwrap_or(0.0), x.sums.get(b).copied().unwrap_or(0.0));
        acc += d * dx * sum as f32 + m * sx;
    }
    acc
}

/// Q8_0 weights · Q8_0 activations.
fn dot_q8_0(row: &[u8], x: &Q8Row) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::dot_q8_0(row, x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut acc = 0.0f32;
        for (b, (block, &dx)) in row.chunks_exact(Q8_0_BYTES).zip(&x.scales).enumerate() {
            let (Some(w), Some(v)) = (block.get(2..Q8_0_BYTES).and_then(as_block), as_block(x.qs(b))) else { break };
            acc += f16_value([block[0], block[1]]) * dx * sum_products(bytemuck::cast_ref(w), bytemuck::cast_ref(v)) as f32;
        }
        acc
    }
}

/// 32 bytes as an array (`None` when the slice is shorter).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
fn as_block(bytes: &[u8]) -> Option<&[u8; BLOCK]> {
    bytes.get(..BLOCK)?.try_into().ok()
}

/// `Σ w·x` of two blocks of signed bytes, in i32 (exact). Fixed-size
/// arrays let LLVM unroll and vectorise it (`pmaddwd`).
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline]
fn sum_products(w: &[i8; BLOCK], x: &[i8; BLOCK]) -> i32 {
    let mut acc = 0i32;
    for j in 0..BLOCK {
        acc += i32::from(i16::from(w[j]) * i16::from(x[j]));
    }
    acc
}

/// Q4_0 weights · Q8_0 activations.
fn dot_q4_0(row: &[u8], x: &Q8Row) -> f32 {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    {
        simd128::dot_q4_0(row, x)
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let mut acc = 0.0f32;
        for (b, (block, &dx)) in row.chunks_exact(18).zip(&x.scales).enumerate() {
            let (Some(packed), Some(v)) = (block.get(2..18), as_block(x.qs(b))) else { break };
            let mut w = [0i8; BLOCK];
            for (j, &byte) in packed.iter().enumerate().take(BLOCK / 2) {
                w[j] = (byte & 0x0f) as i8 - 8;
                w[j + BLOCK / 2] = (byte >> 4) as i8 - 8;
            }
            let v: &[u8; BLOCK] = v;
            acc += f16_value([block[0], block[1]]) * dx * sum_products(&w, bytemuck::cast_ref(v)) as f32;
        }
        acc
    }
}

/// wasm SIMD128: bytes widened to i16, then `i32x4.dot_i16x8_s`.
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::{f16_value, Q8Row, Q8_0_BYTES};
    use core::arch::wasm32::*;

    /// `Σ x·y` of 16 signed bytes, as 4 i32 partial sums.
    #[inline]
    fn mul_sum_i8(x: v128, y: v128) -> v128 {
        let lo = i32x4_dot_i16x8(i16x8_extend_low_i8x16(x), i16x8_extend_low_i8x16(y));
        let hi = i32x4_dot_i16x8(i16x8_extend_high_i8x16(x), i16x8_extend_high_i8x16(y));
        i32x4_add(lo, hi)
    }

    #[inline]
    fn hsum(acc: v128) -> f32 {
        (f32x4_extract_lane::<0>(acc) + f32x4_extract_lane::<2>(acc)) + (f32x4_extract_lane::<1>(acc) + f32x4_extract_lane::<3>(acc))
    }

    fn x_halves(x: &Q8Row, b: usize) -> Option<(v128, v128)> {
        let qs = x.bytes.get(b * Q8_0_BYTES + 2..(b + 1) * Q8_0_BYTES)?;
        Some((bytemuck::pod_read_unaligned(&qs[..16]), bytemuck::pod_read_unaligned(&qs[16..])))
    }

    pub(super) fn dot_q8_0(row: &[u8], x: &Q8Row) -> f32 {
        let mut acc = f32x4_splat(0.0);
        for (b, (block, &dx)) in row.chunks_exact(Q8_0_BYTES).zip(&x.scales).enumerate() {
            let (Some((x0, x1)), Some(qs)) = (x_halves(x, b), block.get(2..34)) else { break };
            let w0 = bytemuck::pod_read_unaligned::<v128>(&qs[..16]);
            let w1 = bytemuck::pod_read_unaligned::<v128>(&qs[16..]);
            let sum = f32x4_convert_i32x4(i32x4_add(mul_sum_i8(w0, x0), mul_sum_i8(w1, x1)));
            acc = f32x4_add(acc, f32x4_mul(f32x4_splat(f16_value([block[0], block[1]]) * dx), sum));
        }
        hsum(acc)
    }

    pub(super) fn dot_q4_0(row: &[u8], x: &Q8Row) -> f32 {
        let mut acc = f32x4_splat(0.0);
        let low4 = u8x16_splat(0x0f);
        let eight = i8x16_splat(8);
        for (b, (block, &dx)) in row.chunks_exact(18).zip(&x.scales).enumerate() {
            let (Some((x0, x1)), Some(qs)) = (x_halves(x, b), block.get(2..18)) else { break };
            let packed = bytemuck::pod_read_unaligned::<v128>(qs);
            let w0 = i8x16_sub(v128_and(packed, low4), eight);
            let w1 = i8x16_sub(u8x16_shr(packed, 4), eight);
            let sum = f32x4_convert_i32x4(i32x4_add(mul_sum_i8(w0, x0), mul_sum_i8(w1, x1)));
            acc = f32x4_add(acc, f32x4_mul(f32x4_splat(f16_value([block[0], block[1]]) * dx), sum));
        }
        hsum(acc)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inlined_f16_conversion_is_exact_for_every_value() {
        for bits in 0..=u16::MAX {
            let (fast, reference) = (f16_value(bits.to_le_bytes()), half::f16::from_bits(bits).to_f32());
            assert!(fast.to_bits() == reference.to_bits() || (fast.is_nan() && reference.is_nan()), "{bits:#06x}: {fast} vs {reference}");
        }
    }
    use crate::quantization::{dequantize, quantize};

    #[test]
    fn simd_kernels_equal_the_scalar_kernel_and_approximate_the_f32_dot() {
        let k = 256;
        let w: Vec<f32> = (0..k).map(|i| libm::sinf(i as f32 * 0.37) * (1.0 + (i % 7) as f32)).collect();
        let x: Vec<f32> = (0..k).map(|i| libm::cosf(i as f32 * 0.11) - 0.2).collect();
        let xq = Q8Row::quantize(&x);
        for ty in [GgmlType::Q8_0, GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1] {
            let row = quantize(&w, ty).unwrap();
            let exact: f32 = dequantize(&row, ty).unwrap().iter().zip(&x).map(|(a, b)| a * b).sum();
            let (fast, scalar) = (dot_q8(ty, &row, &xq), dot_scalar(ty, &row, &xq));
            // Integer sums are exact; the per-block scaling may add in another order.
            assert!((fast - scalar).abs() <= 1e-4 * scalar.abs().max(1.0), "{ty:?}: {fast} vs {scalar}");
            assert!((fast - exact).abs() < 0.02 * exact.abs().max(1.0), "{ty:?}: {fast} vs {exact}");
        }
    }
}
