//! Perplexity with Hugging Face's sliding-window method (the "Perplexity of
//! fixed-length models" guide in the transformers docs).
//!
//! A model with a context of `max_length` tokens cannot see a long text at
//! once, so the text is cut into windows that start every `stride` tokens:
//!
//! ```text
//! for begin in (0..seq_len).step_by(stride):
//!     end     = min(begin + max_length, seq_len)
//!     trg_len = end - prev_end          # tokens not scored by an earlier window
//!     labels  = ids[begin..end], all but the last trg_len set to -100
//!     loss    = model(ids[begin..end], labels).loss   # mean NLL of scored labels
//!     n       = (labels != -100).sum() - 1            # "- batch_size" in the guide
//!     nll_sum += loss * n; n_tokens += n
//!     prev_end = end; stop once end == seq_len
//! ppl = exp(nll_sum / n_tokens)
//! ```
//!
//! With overlapping windows (`stride < max_length`) every token after the
//! first window is predicted with at least `max_length - stride` tokens of
//! context, which lowers perplexity towards what the model would reach with
//! unlimited context.
//!
//! Two details of the guide are kept on purpose so our numbers are its
//! numbers: the labels are shifted inside the loss, so the first label of a
//! window is never predicted (the first token of the text has no NLL), and
//! every window's weight is its label count minus one, even for a later
//! window whose first scored label does have context. A window whose loss
//! has no tokens (a 1-token tail) would make HF's loss NaN; here it adds
//! nothing.
//!
//! Use [`windows`] to get the windows, run the model on each
//! (`ids[begin..end]` -> logits `(end - begin, vocab)`), feed the logits to
//! [`PerplexityAccumulator::add_window`], and [`PerplexityAccumulator::finish`].
//! [`perplexity`] does all of that with a closure.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use ndarray::ArrayView2;

/// What can go wrong computing perplexity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PerplexityError {
    /// `max_length` or `stride` is 0.
    ZeroWindow,
    /// Fewer than 2 tokens: nothing can be predicted.
    TooFewTokens(usize),
    /// The logits of a window do not have one row per window token.
    LogitsShape {
        /// Rows expected (window length).
        expected_rows: usize,
        /// Rows given.
        rows: usize,
    },
    /// A token id is not a column of the logits.
    TokenOutOfVocab {
        /// The id.
        id: u32,
        /// Columns of the logits.
        vocab: usize,
    },
    /// The window does not lie inside the token sequence.
    WindowOutOfRange,
    /// The model returned an error for a window (its message).
    Model(alloc::string::String),
}

impl fmt::Display for PerplexityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ZeroWindow => write!(f, "max_length and stride must be at least 1"),
            Self::TooFewTokens(n) => {
                write!(f, "perplexity needs at least 2 tokens, the text has {n}")
            }
            Self::LogitsShape {
                expected_rows,
                rows,
            } => {
                write!(f, "the model returned {rows} rows of logits for a window of {expected_rows} tokens")
            }
            Self::TokenOutOfVocab { id, vocab } => {
                write!(f, "token id {id} is outside the model's {vocab} logits")
            }
            Self::WindowOutOfRange => write!(f, "the window lies outside the token sequence"),
            Self::Model(message) => write!(f, "the model failed: {message}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PerplexityError {}

/// One window of the sliding-window loop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// First token fed to the model.
    pub begin: usize,
    /// One past the last token fed to the model.
    pub end: usize,
    /// `end - prev_end`: how many of the last tokens carry labels.
    pub trg_len: usize,
}

impl Window {
    /// Tokens fed to the model.
    pub fn len(&self) -> usize {
        self.end - self.begin
    }

    /// True for an empty window (never produced by [`windows`]).
    pub fn is_empty(&self) -> bool {
        self.end == self.begin
    }

    /// Labels that are not -100: `trg_len`, or the whole window when the
    /// stride skips tokens (`trg_len` > window length).
    pub fn labelled(&self) -> usize {
        self.trg_len.min(self.len())
    }

    /// Positions (in the text) whose NLL the window's loss averages: the
    /// labelled positions, minus the window's first position, which the
    /// shift leaves without a prediction.
    pub fn scored_positions(&self) -> core::ops::Range<usize> {
        let first_label = self.end - self.labelled();
        first_label.max(self.begin + 1)..self.end
    }
}

/// The guide's windows for `seq_len` tokens, in order.
pub fn windows(
    seq_len: usize,
    max_length: usize,
    stride: usize,
) -> Result<Vec<Window>, PerplexityError> {
    if max_length == 0 || stride == 0 {
        return Err(PerplexityError::ZeroWindow);
    }
    let mut out = Vec::new();
    let mut prev_end = 0;
    let mut begin = 0;
    while begin < seq_len {
        let end = (begin + max_length).min(seq_len);
        out.push(Window {
            begin,
            end,
            trg_len: end - prev_end,
        });
        prev_end = end;
        if end == seq_len {
            break;
        }
        begin += stride;
    }
    Ok(out)
}

/// The result for a whole text.
#[derive(Clone, Debug, PartialEq)]
pub struct Perplexity {
    /// `exp(nll)`.
    pub ppl: f64,
    /// Mean NLL in nats: the guide's `nll_sum / n_tokens`.
    pub nll: f64,
    /// The guide's `n_tokens` (per window, labels minus one).
    pub tokens: usize,
    /// The guide's `nll_sum` in nats (`nll * tokens`).
    pub total_nll: f64,
    /// Per input token, its NLL in nats given the window that scored it;
    /// `None` for the first token (no context) and tokens a stride larger
    /// than `max_length` skips.
    pub token_nll: Vec<Option<f64>>,
}

impl Perplexity {
    /// Bits per character of a text of `characters` Unicode scalar values
    /// (Python's `len(text)`): total nats / ln 2 / characters.
    pub fn bits_per_char(&self, characters: usize) -> f64 {
        if characters == 0 {
            return 0.0;
        }
        self.total_nll / core::f64::consts::LN_2 / characters as f64
    }
}

/// Collects window losses in order.
#[derive(Clone, Debug)]
pub struct PerplexityAccumulator {
    ids: Vec<u32>,
    token_nll: Vec<Option<f64>>,
    nll_sum: f64,
    tokens: usize,
}

impl PerplexityAccumulator {
    /// Starts on the token ids of the whole text.
    pub fn new(ids: Vec<u32>) -> Result<Self, PerplexityError> {
        if ids.len() < 2 {
            return Err(PerplexityError::TooFewTokens(ids.len()));
        }
        let token_nll = vec![None; ids.len()];
        Ok(Self {
            ids,
            token_nll,
            nll_sum: 0.0,
            tokens: 0,
        })
    }

    /// The token ids.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }

    /// Adds one window given the model's logits `(window.len(), vocab)` for
    /// `ids[window.begin..window.end]`. Returns the window's loss (mean NLL
    /// of its scored tokens), `None` when it scores nothing.
    pub fn add_window(
        &mut self,
        window: Window,
        logits: ArrayView2<'_, f32>,
    ) -> Result<Option<f64>, PerplexityError> {
        if window.begin >= window.end || window.end > self.ids.len() {
            return Err(PerplexityError::WindowOutOfRange);
        }
        if logits.nrows() != window.len() {
            return Err(PerplexityError::LogitsShape {
                expected_rows: window.len(),
                rows: logits.nrows(),
            });
        }
        let scored = window.scored_positions();
        let count = scored.len();
        if count == 0 {
            return Ok(None);
        }
        let mut window_sum = 0.0f64;
        for position in scored {
            // The logits at position p - 1 predict token p.
            let row = logits.row(position - 1 - window.begin);
            let target = self.ids[position];
            let nll = token_nll(row.iter().copied(), row.len(), target)?;
            self.token_nll[position] = Some(nll);
            window_sum += nll;
        }
        let loss = window_sum / count as f64;
        // The guide weights the loss by `labelled - 1`, which equals `count`
        // except for later windows of overlapping strides (see module docs).
        let weight = window.labelled() - 1;
        self.nll_sum += loss * weight as f64;
        self.tokens += weight;
        Ok(Some(loss))
    }

    /// The result so far (after the last window, the whole text's).
    pub fn finish(&self) -> Perplexity {
        let nll = if self.tokens == 0 {
            0.0
        } else {
            self.nll_sum / self.tokens as f64
        };
        Perplexity {
            ppl: libm::exp(nll),
            nll,
            tokens: self.tokens,
            total_nll: self.nll_sum,
            token_nll: self.token_nll.clone(),
        }
    }
}

/// `-log softmax(row)[target]` in f64, with the max subtracted for stability.
fn token_nll(
    row: impl Iterator<Item = f32> + Clone,
    vocab: usize,
    target: u32,
) -> Result<f64, PerplexityError> {
    let index = target as usize;
    if index >= vocab {
        return Err(PerplexityError::TokenOutOfVocab { id: target, vocab });
    }
    let max = row.clone().fold(f64::NEG_INFINITY, |m, x| m.max(x as f64));
    let mut sum = 0.0f64;
    let mut target_logit = 0.0f64;
    for (i, x) in row.enumerate() {
        let x = x as f64;
        sum += libm::exp(x - max);
        if i == index {
            target_logit = x;
        }
    }
    Ok(max + libm::log(sum) - target_logit)
}

/// Runs the whole loop: `forward(ids[begin..end])` must return logits
/// `(end - begin, vocab)`.
pub fn perplexity<E: fmt::Display>(
    ids: &[u32],
    max_length: usize,
    stride: usize,
    mut forward: impl FnMut(&[u32]) -> Result<ndarray::Array2<f32>, E>,
) -> Result<Perplexity, PerplexityError> {
    let mut accumulator = PerplexityAccumulator::new(ids.to_vec())?;
    for window in windows(ids.len(), max_length, stride)? {
        let slice = ids
            .get(window.begin..window.end)
            .ok_or(PerplexityError::WindowOutOfRange)?;
        let logits = forward(slice).map_err(|e| PerplexityError::Model(alloc::format!("{e}")))?;
        accumulator.add_window(window, logits.view())?;
    }
    Ok(accumulator.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn windows_follow_the_guide() {
        // seq 10, max 4, stride 2: [0,4) trg 4, [2,6) trg 2, [4,8) trg 2, [6,10) trg 2.
        let w = windows(10, 4, 2).unwrap();
        let got: Vec<_> = w.iter().map(|w| (w.begin, w.end, w.trg_len)).collect();
        assert_eq!(got, [(0, 4, 4), (2, 6, 2), (4, 8, 2), (6, 10, 2)]);
        assert_eq!(w[0].scored_positions(), 1..4);
        assert_eq!(w[1].scored_positions(), 4..6);
        // A stride past max_length skips tokens 3 and 4.
        let w = windows(8, 3, 5).unwrap();
        let got: Vec<_> = w.iter().map(|w| (w.begin, w.end, w.trg_len)).collect();
        assert_eq!(got, [(0, 3, 3), (5, 8, 5)]);
        assert_eq!(w[1].labelled(), 3);
        assert_eq!(w[1].scored_positions(), 6..8);
        assert_eq!(windows(5, 0, 1), Err(PerplexityError::ZeroWindow));
    }

    #[test]
    fn uniform_logits_give_vocab_size_perplexity() {
        let ids = [0u32, 1, 2, 3, 0, 1, 2];
        let result = perplexity(&ids, 7, 7, |s: &[u32]| {
            Ok::<_, PerplexityError>(Array2::<f32>::zeros((s.len(), 4)))
        })
        .unwrap();
        assert!((result.ppl - 4.0).abs() < 1e-12);
        assert_eq!(result.tokens, 6);
        assert_eq!(result.token_nll[0], None);
        // 6 tokens x ln 4 nats over 12 characters = 6 * 2 bits / 12.
        assert!((result.bits_per_char(12) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        assert_eq!(
            PerplexityAccumulator::new(vec![1]).unwrap_err(),
            PerplexityError::TooFewTokens(1)
        );
        let mut acc = PerplexityAccumulator::new(vec![0, 9]).unwrap();
        let window = Window {
            begin: 0,
            end: 2,
            trg_len: 2,
        };
        let logits = Array2::<f32>::zeros((2, 4));
        assert_eq!(
            acc.add_window(window, logits.view()),
            Err(PerplexityError::TokenOutOfVocab { id: 9, vocab: 4 })
        );
        let short = Array2::<f32>::zeros((1, 4));
        assert!(matches!(
            acc.add_window(window, short.view()),
            Err(PerplexityError::LogitsShape { .. })
        ));
        let outside = Window {
            begin: 1,
            end: 3,
            trg_len: 2,
        };
        assert_eq!(
            acc.add_window(outside, logits.view()),
            Err(PerplexityError::WindowOutOfRange)
        );
    }
}
