//! Per-channel absmax int8: one f32 scale per output row, one signed byte per weight.
//!
//! For each row (output channel) `scale = max|w| / 127`, and each weight is
//! stored as `q = round(w / scale)` with ties to even (as `torch.round`,
//! which LLM.int8()-style weight quantization uses), clamped to -127..127 so
//! the range is symmetric. Decoding is `w ≈ q · scale`, so every weight is
//! off by at most half a step, `scale / 2` (plus the f32 rounding of the
//! division), and the row's largest weight comes back exactly up to that
//! rounding. A row of zeros has scale 0 and decodes to zeros.
//!
//! Unlike the GGUF block formats the scale is kept in f32 and covers a whole
//! row, so one outlier costs the whole row its resolution — the motivation
//! for the 32-value blocks of [`super::block_formats`].

use alloc::vec::Vec;

/// A matrix quantized row by row.
#[derive(Clone, Debug, PartialEq)]
pub struct Int8Rows {
    /// Rows (output channels).
    pub rows: usize,
    /// Columns (input features).
    pub cols: usize,
    /// One scale per row.
    pub scales: Vec<f32>,
    /// `rows × cols` quantized weights, row-major.
    pub values: Vec<i8>,
}

/// Why a matrix could not be quantized.
#[derive(Clone, Debug, PartialEq)]
pub enum Int8Error {
    /// `rows × cols` differs from the number of values (or overflows).
    ShapeMismatch {
        /// Values given.
        len: usize,
        /// Rows asked for.
        rows: usize,
        /// Columns asked for.
        cols: usize,
    },
    /// A weight is NaN or infinite.
    NonFinite {
        /// Position of the first such weight.
        index: usize,
    },
}

impl core::fmt::Display for Int8Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Int8Error::ShapeMismatch { len, rows, cols } => write!(f, "{len} values do not form a {rows}×{cols} matrix"),
            Int8Error::NonFinite { index } => write!(f, "weight {index} is NaN or infinite"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Int8Error {}

/// Quantizes a row-major `(rows, cols)` matrix.
pub fn quantize(weights: &[f32], rows: usize, cols: usize) -> Result<Int8Rows, Int8Error> {
    if rows.checked_mul(cols) != Some(weights.len()) {
        return Err(Int8Error::ShapeMismatch { len: weights.len(), rows, cols });
    }
    if let Some(index) = weights.iter().position(|w| !w.is_finite()) {
        return Err(Int8Error::NonFinite { index });
    }
    let mut scales = Vec::with_capacity(rows);
    let mut values = Vec::with_capacity(weights.len());
    for row in weights.chunks_exact(cols.max(1)).take(rows) {
        let absmax = row.iter().fold(0.0f32, |m, w| m.max(w.abs()));
        let scale = absmax / 127.0;
        scales.push(scale);
        values.extend(row.iter().map(|&w| if scale == 0.0 { 0 } else { libm::rintf(w / scale).clamp(-127.0, 127.0) as i8 }));
    }
    Ok(Int8Rows { rows, cols, scales, values })
}

impl Int8Rows {
    /// The f32 matrix the bytes stand for, row-major.
    pub fn dequantize(&self) -> Vec<f32> {
        self.values
            .chunks_exact(self.cols.max(1))
            .zip(&self.scales)
            .flat_map(|(row, &scale)| row.iter().map(move |&q| f32::from(q) * scale))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pseudo_random(n: usize, seed: u32, magnitude: f32) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                ((state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * magnitude
            })
            .collect()
    }

    #[test]
    fn every_weight_is_within_half_a_step_and_requantizes_to_itself() {
        for (seed, magnitude) in [(1u32, 1e-3f32), (2, 1.0), (3, 300.0), (4, 1e30)] {
            let (rows, cols) = (7, 33);
            let mut w = pseudo_random(rows * cols, seed, magnitude);
            w[5] = 50.0 * magnitude; // one outlier in row 0
            let q = quantize(&w, rows, cols).unwrap();
            let back = q.dequantize();
            for r in 0..rows {
                let scale = q.scales[r];
                for c in 0..cols {
                    let err = (w[r * cols + c] - back[r * cols + c]).abs();
                    assert!(err <= scale * 0.5 * (1.0 + 1e-6), "row {r} col {c}: error {err} > scale/2 = {}", scale / 2.0);
                }
            }
            // Quantizing the decoded matrix again gives the same integers.
            let again = quantize(&back, rows, cols).unwrap();
            assert_eq!(again.values, q.values);
        }
    }

    #[test]
    fn ties_round_to_even_and_zero_rows_stay_zero() {
        // scale = 127/127 = 1: 2.5 → 2, 3.5 → 4, -0.5 → 0.
        let mut row = vec![0.0f32; 4];
        row[0] = 127.0;
        row[1] = 2.5;
        row[2] = 3.5;
        row[3] = -0.5;
        let q = quantize(&[row, vec![0.0; 4]].concat(), 2, 4).unwrap();
        assert_eq!(q.values, [127, 2, 4, 0, 0, 0, 0, 0]);
        assert_eq!(q.scales[1], 0.0);
        assert_eq!(&q.dequantize()[4..], [0.0; 4]);
    }

    #[test]
    fn refuses_a_shape_that_does_not_match() {
        assert_eq!(quantize(&[1.0; 5], 2, 3), Err(Int8Error::ShapeMismatch { len: 5, rows: 2, cols: 3 }));
    }
}
