//! `exp` and `log` as the Python references get them.
//!
//! sacrebleu calls CPython's `math.exp`/`math.log`, i.e. the platform C
//! library. With `std` we call the same functions (Rust's `f64::exp`/`ln`
//! lower to the system libm), which makes natively computed scores
//! bit-identical to sacrebleu's on the same platform. Without `std` (wasm,
//! bare metal) the `libm` crate's port of musl is used, which can differ
//! in the last bit (measured max |diff| of BLEU scores: ~1e-13).

/// e^x.
#[inline]
pub(crate) fn exp(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.exp()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::exp(x)
    }
}

/// Natural logarithm.
#[inline]
pub(crate) fn log(x: f64) -> f64 {
    #[cfg(feature = "std")]
    {
        x.ln()
    }
    #[cfg(not(feature = "std"))]
    {
        libm::log(x)
    }
}
