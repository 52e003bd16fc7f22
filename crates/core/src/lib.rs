//! # llmlab-core
//!
//! The engine behind LLM Lab. Everything here is `no_std` + `alloc` so that the
//! very same code runs natively (the `llmlab` CLI), in the browser's Web Worker
//! (wasm32) and on a bare-metal target (the no_std proof in the test command).
//!
//! Layout (one folder per stage of the curriculum):
//! - [`share`]: the URL-hash state that makes a shared link reproduce a run.
//! - [`rng`]: the seeded, pinned random number generator (PCG) shared by
//!   sampling and training, so a seed gives the same numbers everywhere.
#![cfg_attr(not(feature = "std"), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod adapters;
pub mod decoding;
pub mod instruction;
pub mod data;
pub mod metrics;
pub mod rng;
pub mod nn;
pub mod models;
pub mod objectives;
pub mod pruning;
pub mod quantization;
pub mod loading;
pub mod share;
pub mod tokenizers;
pub mod train;
