//! Quantization: storing weights in fewer bits, exactly as GGUF files do.
//!
//! A quantized tensor is a sequence of *blocks*. Each block covers a fixed
//! number of consecutive values of one row (32 for the classic formats, 256
//! for the "k-quants") and stores a few shared floats (the scale `d`, and for
//! the `_1` formats a minimum `m`) plus one small integer per value. Decoding
//! is `x ≈ d · q` (symmetric formats) or `x ≈ d · q + m` (offset formats).
//!
//! | format | bits/value | block | what a block stores |
//! |---|---|---|---|
//! | F32 | 32 | 1 | the value |
//! | F16 | 16 | 1 | the value rounded to IEEE half (5-bit exponent: range ±65504) |
//! | BF16 | 16 | 1 | the top 16 bits of the f32, rounded to nearest even (f32's range, 8-bit mantissa) |
//! | Q8_0 | 8.5 | 32 | f16 `d = max|x|/127`, 32 × i8 `q = round(x/d)` |
//! | Q4_0 | 4.5 | 32 | f16 `d = max/-8` (signed max), 32 × 4-bit `q = x/d + 8` |
//! | Q4_1 | 5 | 32 | f16 `d = (max-min)/15`, f16 `m = min`, 32 × 4-bit `q = (x-m)/d` |
//! | Q5_0 | 5.5 | 32 | like Q4_0 with 5 bits (`d = max/-16`); the fifth bits packed in a u32 |
//! | Q5_1 | 6 | 32 | like Q4_1 with 5 bits (`d = (max-min)/31`) |
//! | Q6_K | 6.5625 | 256 | 16 sub-blocks of 16 values, an i8 scale each, one f16 super-scale `d`; 6-bit `q` |
//! | Q4_K | 4.5 | 256 | 8 sub-blocks of 32, 6-bit scale and min each, f16 `d` and `dmin`; 4-bit `q` (decoding only) |
//!
//! The reference is the Python `gguf` package (`gguf.quants`, version
//! 0.19), which this module reproduces byte for byte: the same order of
//! float32 operations, the scales rounded to f16 only when stored (the
//! integers are computed with the f32 scale), truncation after adding 0.5
//! or 8.5 for the 4/5-bit formats and round-half-away-from-zero for Q8_0.
//! Where a block overflows (values near f32's maximum make `max - min`
//! infinite; a block of tiny values makes `1/d` infinite) numpy casts the
//! resulting infinities and NaNs to integer 0 on x86-64, and so do we
//! ([`numpy_float_to_byte`]). Q6_K has no quantizer in `gguf.quants`; ours
//! follows llama.cpp's reference `quantize_row_q6_K_ref` and its decoder
//! matches `gguf.quants` exactly.
//!
//! - [`half_precision`]: f16 and bf16.
//! - [`block_formats`]: Q8_0, Q4_0, Q4_1, Q5_0, Q5_1.
//! - [`k_quants`]: Q6_K (both ways) and Q4_K (decoding).
//! - [`int8_absmax`]: per-channel absmax int8 (LLM.int8()-style weights; not a GGUF type).
//! - [`gguf`]: the GGUF container: reader, writer and metadata values.

pub mod block_formats;
pub mod gguf;
pub mod half_precision;
pub mod int8_absmax;
pub mod k_quants;

use alloc::vec::Vec;
use core::fmt;

/// A ggml tensor type, numbered as in GGUF files (`ggml_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GgmlType {
    /// IEEE single precision.
    F32,
    /// IEEE half precision.
    F16,
    /// 32-value blocks: f16 scale + 32 signed 4-bit values.
    Q4_0,
    /// 32-value blocks: f16 scale, f16 minimum + 32 unsigned 4-bit values.
    Q4_1,
    /// 32-value blocks: f16 scale + 32 signed 5-bit values.
    Q5_0,
    /// 32-value blocks: f16 scale, f16 minimum + 32 unsigned 5-bit values.
    Q5_1,
    /// 32-value blocks: f16 scale + 32 signed bytes.
    Q8_0,
    /// 256-value super-blocks with 6-bit scales and minimums, 4-bit values.
    Q4K,
    /// 256-value super-blocks with 8-bit scales, 6-bit values.
    Q6K,
    /// bfloat16.
    BF16,
}

/// Names of the ggml type ids this crate does not handle (so a file using
/// one is refused by name); `None` for ids no ggml version defines.
pub fn unsupported_ggml_type_name(id: u32) -> Option<&'static str> {
    Some(match id {
        4 => "Q4_2 (removed)",
        5 => "Q4_3 (removed)",
        9 => "Q8_1",
        10 => "Q2_K",
        11 => "Q3_K",
        13 => "Q5_K",
        15 => "Q8_K",
        16 => "IQ2_XXS",
        17 => "IQ2_XS",
        18 => "IQ3_XXS",
        19 => "IQ1_S",
        20 => "IQ4_NL",
        21 => "IQ3_S",
        22 => "IQ2_S",
        23 => "IQ4_XS",
        24 => "I8",
        25 => "I16",
        26 => "I32",
        27 => "I64",
        28 => "F64",
        29 => "IQ1_M",
        31..=33 => "Q4_0_4_4/Q4_0_4_8/Q4_0_8_8 (removed)",
        34 => "TQ1_0",
        35 => "TQ2_0",
        36..=38 => "IQ4_NL_4_4/4_8/8_8 (removed)",
        39 => "MXFP4",
        40 => "NVFP4",
        _ => return None,
    })
}

impl GgmlType {
    /// Every supported type.
    pub const ALL: [GgmlType; 10] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q6K,
        GgmlType::Q4K,
    ];

    /// The type's id in GGUF files.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q4_1 => 3,
            GgmlType::Q5_0 => 6,
            GgmlType::Q5_1 => 7,
            GgmlType::Q8_0 => 8,
            GgmlType::Q4K => 12,
            GgmlType::Q6K => 14,
            GgmlType::BF16 => 30,
        }
    }

    /// The type with GGUF id `id`, if supported.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        GgmlType::ALL.into_iter().find(|t| t.id() == id)
    }

    /// The name ggml and `gguf-py` use (`Q4_K`, `BF16`, …).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q4_1 => "Q4_1",
            GgmlType::Q5_0 => "Q5_0",
            GgmlType::Q5_1 => "Q5_1",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q4K => "Q4_K",
            GgmlType::Q6K => "Q6_K",
            GgmlType::BF16 => "BF16",
        }
    }

    /// The type named `name` (case-insensitive, as in `--format q4_k`).
    pub fn from_name(name: &str) -> Option<GgmlType> {
        GgmlType::ALL.into_iter().find(|t| t.name().eq_ignore_ascii_case(name))
    }

    /// Values per block.
    pub fn block_size(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0 | GgmlType::Q4_1 | GgmlType::Q5_0 | GgmlType::Q5_1 | GgmlType::Q8_0 => 32,
            GgmlType::Q4K | GgmlType::Q6K => k_quants::QK_K,
        }
    }

    /// Bytes per block.
    pub fn type_size(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => 18,
            GgmlType::Q4_1 => 20,
            GgmlType::Q5_0 => 22,
            GgmlType::Q5_1 => 24,
            GgmlType::Q8_0 => 34,
            GgmlType::Q4K => k_quants::Q4K_BLOCK_BYTES,
            GgmlType::Q6K => k_quants::Q6K_BLOCK_BYTES,
        }
    }

    /// Bytes taken by `values` values, or `None` when `values` is not a
    /// whole number of blocks or the size overflows.
    pub fn byte_len(self, values: usize) -> Option<usize> {
        if values % self.block_size() != 0 {
            return None;
        }
        (values / self.block_size()).checked_mul(self.type_size())
    }
}

/// Why values could not be quantized or bytes decoded.
#[derive(Clone, Debug, PartialEq)]
pub enum QuantizeError {
    /// The number of values is not a multiple of the format's block size.
    PartialBlock {
        /// The format.
        ty: GgmlType,
        /// Values given.
        len: usize,
    },
    /// The byte length is not a multiple of the format's block bytes.
    PartialBlockBytes {
        /// The format.
        ty: GgmlType,
        /// Bytes given.
        len: usize,
    },
    /// A value to quantize is NaN or infinite (quantizing it is meaningless).
    NonFinite {
        /// Position of the first such value.
        index: usize,
    },
    /// The format can be decoded but this crate does not encode it.
    EncodeUnsupported(GgmlType),
}

impl fmt::Display for QuantizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QuantizeError::PartialBlock { ty, len } => {
                write!(f, "{len} values are not a whole number of {} blocks of {}", ty.name(), ty.block_size())
            }
            QuantizeError::PartialBlockBytes { ty, len } => {
                write!(f, "{len} bytes are not a whole number of {} blocks of {} bytes", ty.name(), ty.type_size())
            }
            QuantizeError::NonFinite { index } => write!(f, "value {index} is NaN or infinite and cannot be quantized"),
            QuantizeError::EncodeUnsupported(ty) => write!(f, "encoding {} is not supported (decoding is)", ty.name()),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for QuantizeError {}

/// Quantizes `values` (a whole number of blocks, all finite) to `ty`'s bytes.
pub fn quantize(values: &[f32], ty: GgmlType) -> Result<Vec<u8>, QuantizeError> {
    if values.len() % ty.block_size() != 0 {
        return Err(QuantizeError::PartialBlock { ty, len: values.len() });
    }
    if let Some(index) = values.iter().position(|v| !v.is_finite()) {
        return Err(QuantizeError::NonFinite { index });
    }
    Ok(match ty {
        GgmlType::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        GgmlType::F16 => half_precision::quantize_f16(values),
        GgmlType::BF16 => half_precision::quantize_bf16(values),
        GgmlType::Q8_0 => block_formats::quantize_q8_0(values),
        GgmlType::Q4_0 => block_formats::quantize_q4_0(values),
        GgmlType::Q4_1 => block_formats::quantize_q4_1(values),
        GgmlType::Q5_0 => block_formats::quantize_q5_0(values),
        GgmlType::Q5_1 => block_formats::quantize_q5_1(values),
        GgmlType::Q6K => k_quants::quantize_q6_k(values),
        GgmlType::Q4K => return Err(QuantizeError::EncodeUnsupported(ty)),
    })
}

/// Decodes `bytes` (a whole number of `ty` blocks) to f32, as `gguf.quants.dequantize` does.
pub fn dequantize(bytes: &[u8], ty: GgmlType) -> Result<Vec<f32>, QuantizeError> {
    if bytes.len() % ty.type_size() != 0 {
        return Err(QuantizeError::PartialBlockBytes { ty, len: bytes.len() });
    }
    Ok(match ty {
        GgmlType::F32 => bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect(),
        GgmlType::F16 => half_precision::dequantize_f16(bytes),
        GgmlType::BF16 => half_precision::dequantize_bf16(bytes),
        GgmlType::Q8_0 => block_formats::dequantize_q8_0(bytes),
        GgmlType::Q4_0 => block_formats::dequantize_q4_0(bytes),
        GgmlType::Q4_1 => block_formats::dequantize_q4_1(bytes),
        GgmlType::Q5_0 => block_formats::dequantize_q5_0(bytes),
        GgmlType::Q5_1 => block_formats::dequantize_q5_1(bytes),
        GgmlType::Q6K => k_quants::dequantize_q6_k(bytes),
        GgmlType::Q4K => k_quants::dequantize_q4_k(bytes),
    })
}

/// Decodes one block of `ty` (`ty.type_size()` bytes) into `out` (`ty.block_size()` values), as
/// [`dequantize`] decodes it; plain types decode their single value. Short input leaves `out` untouched.
pub fn dequantize_block(ty: GgmlType, block: &[u8], out: &mut [f32]) {
    match ty {
        GgmlType::F32 => {
            if let (Some(o), [a, b, c, d, ..]) = (out.first_mut(), block) {
                *o = f32::from_le_bytes([*a, *b, *c, *d]);
            }
        }
        GgmlType::F16 | GgmlType::BF16 => {
            if let (Some(o), [a, b, ..]) = (out.first_mut(), block) {
                *o = if ty == GgmlType::F16 { f16_value([*a, *b]) } else { half::bf16::from_le_bytes([*a, *b]).to_f32() };
            }
        }
        GgmlType::Q8_0 => block_formats::dequantize_block_q8_0(block, out),
        GgmlType::Q4_0 => block_formats::dequantize_block_q4_0(block, out),
        GgmlType::Q4_1 => block_formats::dequantize_block_q4_1(block, out),
        GgmlType::Q5_0 => block_formats::dequantize_block_q5_0(block, out),
        GgmlType::Q5_1 => block_formats::dequantize_block_q5_1(block, out),
        GgmlType::Q6K => k_quants::dequantize_block_q6_k(block, out),
        GgmlType::Q4K => k_quants::dequantize_block_q4_k(block, out),
    }
}

impl GgmlType {
    /// Whether the type stores blocks of several values with shared scales (Q8_0 … Q6_K).
    pub fn is_block_quantized(self) -> bool {
        self.block_size() > 1
    }

    /// Byte offsets, inside one block, of the f16 scales (and minimums) that
    /// decoding multiplies by; every decoded value is finite when they are.
    pub fn scale_offsets(self) -> &'static [usize] {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => &[],
            GgmlType::Q8_0 | GgmlType::Q4_0 | GgmlType::Q5_0 => &[0],
            GgmlType::Q4_1 | GgmlType::Q5_1 | GgmlType::Q4K => &[0, 2],
            GgmlType::Q6K => &[k_quants::Q6K_BLOCK_BYTES - 2],
        }
    }
}

/// numpy's cast of a float32 to `uint8`/`int8` on x86-64: truncate toward
/// zero through a 32-bit integer (`cvttss2si`), whose result for NaN,
/// infinities and values out of `i32`'s range is `i32::MIN`, then keep the
/// low byte. So NaN and ±inf become 0, and -1.0 becomes 255.
pub fn numpy_float_to_byte(value: f32) -> u8 {
    if value.is_nan() || !(-2_147_483_648.0..2_147_483_648.0).contains(&value) {
        0
    } else {
        (value as i32) as u8
    }
}

/// An f32 rounded to f16 (round to nearest even, as numpy's `astype(float16)`), as little-endian bytes.
pub(crate) fn f16_bytes(value: f32) -> [u8; 2] {
    half::f16::from_f32(value).to_le_bytes()
}

/// The f32 value of little-endian f16 bytes.
pub(crate) fn f16_value(bytes: [u8; 2]) -> f32 {
    half::f16::from_le_bytes(bytes).to_f32()
}
