//! Token (and learned position) embeddings: a table lookup forward, a
//! scatter-add backward.

use crate::train::TrainError;

/// out (B·T, C) = wte[token] (+ wpe[position]); position = row % seq.
/// Fails on a token id outside the table instead of reading past it.
pub fn forward(
    out: &mut [f32],
    tokens: &[u32],
    wte: &[f32],
    wpe: Option<&[f32]>,
    seq: usize,
    c: usize,
) -> Result<(), TrainError> {
    if out.len() < tokens.len() * c {
        return Err(TrainError::Shape("embedding output too small"));
    }
    for (r, (row, &tok)) in out.chunks_exact_mut(c).zip(tokens).enumerate() {
        let start = tok as usize * c;
        let emb = wte.get(start..start + c).ok_or(TrainError::TokenOutOfRange(tok))?;
        row.copy_from_slice(emb);
        if let Some(wpe) = wpe {
            let pos = r % seq.max(1);
            let p = wpe.get(pos * c..(pos + 1) * c).ok_or(TrainError::Shape("sequence longer than the position table"))?;
            for (o, &v) in row.iter_mut().zip(p) {
                *o += v;
            }
        }
    }
    Ok(())
}

/// d_wte[token] += d_out row; d_wpe[position] += d_out row.
pub fn backward(
    d_wte: &mut [f32],
    d_wpe: Option<&mut [f32]>,
    d_out: &[f32],
    tokens: &[u32],
    seq: usize,
    c: usize,
) -> Result<(), TrainError> {
    for (&tok, row) in tokens.iter().zip(d_out.chunks_exact(c)) {
        let start = tok as usize * c;
        let dst = d_wte.get_mut(start..start + c).ok_or(TrainError::TokenOutOfRange(tok))?;
        for (d, &g) in dst.iter_mut().zip(row) {
            *d += g;
        }
    }
    if let Some(d_wpe) = d_wpe {
        for (r, row) in d_out.chunks_exact(c).take(tokens.len()).enumerate() {
            let pos = r % seq.max(1);
            let dst = d_wpe.get_mut(pos * c..(pos + 1) * c).ok_or(TrainError::Shape("sequence longer than the position table"))?;
            for (d, &g) in dst.iter_mut().zip(row) {
                *d += g;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::layers::gradcheck::{check_gradient, random_vec};

    #[test]
    fn gradients_match_finite_differences() {
        let (v, c, seq) = (5, 3, 2);
        let tokens = [1u32, 4, 1, 0];
        let wte = random_vec(v * c, 1);
        let wpe = random_vec(seq * c, 2);
        let probe = random_vec(tokens.len() * c, 3);
        let loss = |wte: &[f32], wpe: &[f32]| {
            let mut out = vec![0.0; tokens.len() * c];
            forward(&mut out, &tokens, wte, Some(wpe), seq, c).unwrap();
            out.iter().zip(&probe).map(|(&a, &b)| a as f64 * b as f64).sum::<f64>()
        };
        let (mut dte, mut dpe) = (vec![0.0; v * c], vec![0.0; seq * c]);
        backward(&mut dte, Some(&mut dpe), &probe, &tokens, seq, c).unwrap();
        check_gradient(&wte, &dte, |x| loss(x, &wpe));
        check_gradient(&wpe, &dpe, |x| loss(&wte, x));
    }

    #[test]
    fn out_of_range_token_is_an_error() {
        let mut out = vec![0.0; 3];
        assert!(matches!(forward(&mut out, &[7], &[0.0; 6], None, 1, 3), Err(TrainError::TokenOutOfRange(7))));
    }
}
