//! The layers of a decoder-only transformer, each with its forward pass,
//! its hand-written backward pass and a finite-difference gradient check.
//!
//! Conventions (llm.c's): activations are flat row-major f32 slices with the
//! shape in a comment, e.g. `// (B, T, C)`; backward functions ACCUMULATE
//! (`+=`) into gradient buffers that the caller zeroes.

pub mod activation;
pub mod attention;
pub mod cross_entropy;
pub mod embedding;
pub mod linear;
pub mod math;
pub mod norm;

#[cfg(test)]
pub(crate) mod gradcheck;
