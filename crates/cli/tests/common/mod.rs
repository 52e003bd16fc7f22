//! Helpers shared by the CLI's end-to-end tests: run the built `llmlab`
//! binary and read its JSON, with paths relative to the repository root.

#![allow(dead_code)] // each test file uses its own subset

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

/// A path inside the repository.
pub fn repo(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

/// Runs `llmlab ARGS`.
pub fn llmlab(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_llmlab")).args(args).output().unwrap()
}

/// Runs `llmlab ARGS`, asserts success and parses stdout as JSON.
pub fn ok_json(args: &[&str]) -> Value {
    let out = llmlab(args);
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}
