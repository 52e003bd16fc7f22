//! The key/value cache that makes decoding one token cost one token.
//!
//! Without it, generating token `t` recomputes keys and values for all `t-1`
//! earlier tokens. With it, each layer keeps every past key and value and the
//! new token only computes its own, then attends over the stored ones.
//!
//! Layout: one growable `(S, D)` buffer per (batch row, key/value head), so
//! appending a token is amortised O(1) and beam search can reorder rows by
//! cloning buffers ([`KvCache::reorder`]). T5's cross-attention keys and
//! values (a function of the encoder output only) are computed on the first
//! decoder step and kept in [`KvCache::cross_attn`].

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

/// Keys and values of one attention layer for a whole batch.
#[derive(Clone, Debug, Default)]
pub struct LayerKv {
    /// `B * Hkv` buffers, index `b * Hkv + h`, each `(S, D)` row-major.
    pub keys: Vec<Vec<f32>>,
    /// Same layout as `keys`.
    pub values: Vec<Vec<f32>>,
    /// `Hkv`: heads that own keys and values (fewer than query heads in GQA).
    pub kv_heads: usize,
    /// `D`.
    pub head_dim: usize,
}

impl LayerKv {
    /// An empty cache for `batch` rows of `kv_heads` heads of width `head_dim`.
    pub fn new(batch: usize, kv_heads: usize, head_dim: usize) -> Self {
        Self {
            keys: vec![Vec::new(); batch * kv_heads],
            values: vec![Vec::new(); batch * kv_heads],
            kv_heads,
            head_dim,
        }
    }

    /// Stored positions `S` (the same for every row).
    pub fn len(&self) -> usize {
        match (self.keys.first(), self.head_dim) {
            (Some(k), d) if d > 0 => k.len() / d,
            _ => 0,
        }
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn reorder(&mut self, batch: usize, rows: &[usize]) {
        let h = self.kv_heads;
        let pick = |buffers: &Vec<Vec<f32>>| -> Vec<Vec<f32>> {
            rows.iter().flat_map(|&r| (0..h).map(move |j| (r, j))).map(|(r, j)| buffers[r * h + j].clone()).collect()
        };
        debug_assert!(rows.iter().all(|&r| r < batch));
        self.keys = pick(&self.keys);
        self.values = pick(&self.values);
    }
}

/// Errors from cache bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheError {
    /// `reorder` was given a row index that the cache does not have.
    RowOutOfRange { row: usize, batch: usize },
    /// The cache holds a different batch size than the input.
    BatchMismatch { cache: usize, input: usize },
    /// The cache was made for a model with a different number of layers.
    LayerCountMismatch { cache: usize, model: usize },
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CacheError::RowOutOfRange { row, batch } => {
                write!(f, "cache row {row} does not exist (batch of {batch})")
            }
            CacheError::BatchMismatch { cache, input } => {
                write!(f, "the cache holds {cache} sequences but the input has {input}")
            }
            CacheError::LayerCountMismatch { cache, model } => {
                write!(f, "the cache has {cache} layers but the model has {model}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CacheError {}

/// Everything a decoder remembers between steps, for a batch of `B` rows.
#[derive(Clone, Debug, Default)]
pub struct KvCache {
    /// Self-attention keys/values, one entry per decoder layer.
    pub self_attn: Vec<LayerKv>,
    /// Cross-attention keys/values (encoder-decoder models), filled on the
    /// first step; `None` until then.
    pub cross_attn: Vec<Option<LayerKv>>,
    /// `(B, S)`: 1 where the cached position is a real token, 0 for padding.
    pub key_mask: Vec<Vec<u8>>,
    /// Per row, the position id the next real token gets (padding does not
    /// advance it, matching Hugging Face's `cumsum(attention_mask) - 1`).
    pub next_position: Vec<usize>,
    /// `B`, fixed by the first forward call (0 before it).
    pub batch: usize,
}

impl KvCache {
    /// An empty cache for a model with `num_layers` decoder layers.
    pub fn new(num_layers: usize) -> Self {
        Self {
            self_attn: vec![LayerKv::default(); num_layers],
            cross_attn: vec![None; num_layers],
            key_mask: Vec::new(),
            next_position: Vec::new(),
            batch: 0,
        }
    }

    /// Number of cached positions `S` (past tokens, padding included).
    pub fn seq_len(&self) -> usize {
        self.key_mask.first().map_or(0, |m| m.len())
    }

    /// Forgets everything (the layer count stays).
    pub fn clear(&mut self) {
        let layers = self.self_attn.len();
        *self = Self::new(layers);
    }

    /// Keeps row `rows[i]` as new row `i`: beam search calls this after each
    /// step with the beam each surviving hypothesis came from. Rows may be
    /// repeated or dropped, so the batch size may change.
    pub fn reorder(&mut self, rows: &[usize]) -> Result<(), CacheError> {
        if let Some(&row) = rows.iter().find(|&&r| r >= self.batch) {
            return Err(CacheError::RowOutOfRange { row, batch: self.batch });
        }
        for layer in self.self_attn.iter_mut() {
            layer.reorder(self.batch, rows);
        }
        for layer in self.cross_attn.iter_mut().flatten() {
            layer.reorder(self.batch, rows);
        }
        self.key_mask = rows.iter().map(|&r| self.key_mask[r].clone()).collect();
        self.next_position = rows.iter().map(|&r| self.next_position[r]).collect();
        self.batch = rows.len();
        Ok(())
    }

    /// Prepares for a step of `batch` rows with `new_mask: (B, T)` and returns
    /// the position id of every new token, `(B, T)` (padding gets position 0
    /// like Hugging Face's `masked_fill(mask == 0, 1)`, which is never seen).
    pub(crate) fn begin_step(&mut self, batch: usize, new_mask: &[Vec<u8>]) -> Result<Vec<Vec<usize>>, CacheError> {
        if self.batch == 0 && self.seq_len() == 0 {
            self.batch = batch;
            self.key_mask = vec![Vec::new(); batch];
            self.next_position = vec![0; batch];
            for layer in self.self_attn.iter_mut() {
                *layer = LayerKv::default();
            }
        } else if self.batch != batch {
            return Err(CacheError::BatchMismatch { cache: self.batch, input: batch });
        }
        let mut positions = Vec::with_capacity(batch);
        for (row, mask) in new_mask.iter().enumerate() {
            let mut row_positions = Vec::with_capacity(mask.len());
            for &m in mask {
                if m != 0 {
                    row_positions.push(self.next_position[row]);
                    self.next_position[row] += 1;
                } else {
                    row_positions.push(0);
                }
            }
            self.key_mask[row].extend_from_slice(mask);
            positions.push(row_positions);
        }
        Ok(positions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reorder_picks_rows_and_rejects_bad_indices() {
        let mut cache = KvCache::new(1);
        let positions = cache.begin_step(2, &[vec![0, 1, 1], vec![1, 1, 1]]).unwrap();
        assert_eq!(positions, vec![vec![0, 0, 1], vec![0, 1, 2]]);
        cache.self_attn[0] = LayerKv { keys: vec![vec![1.0], vec![2.0]], values: vec![vec![3.0], vec![4.0]], kv_heads: 1, head_dim: 1 };
        cache.reorder(&[1, 1, 0]).unwrap();
        assert_eq!(cache.batch, 3);
        assert_eq!(cache.self_attn[0].keys, vec![vec![2.0], vec![2.0], vec![1.0]]);
        assert_eq!(cache.next_position, vec![3, 3, 2]);
        assert_eq!(cache.reorder(&[3]), Err(CacheError::RowOutOfRange { row: 3, batch: 3 }));
    }
}
