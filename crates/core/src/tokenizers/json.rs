//! Small helpers to read tokenizer.json fields with errors that name the field.

use super::error::TokenizerError;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{Map, Value};

/// Largest vocabulary / merge list / added-token list we accept. Real models
/// stay well below (Gemma: 256k); a hostile file with millions of entries is
/// refused before we build tables for it.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Largest tokenizer.json we parse, in bytes.
pub const MAX_JSON_BYTES: usize = 256 * 1024 * 1024;

pub type Obj = Map<String, Value>;

pub fn field_err(path: &str, key: &str, expected: &'static str) -> TokenizerError {
    TokenizerError::Field { path: join(path, key), expected }
}

pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

pub fn as_obj<'a>(v: &'a Value, path: &str) -> Result<&'a Obj, TokenizerError> {
    v.as_object().ok_or_else(|| TokenizerError::Field { path: path.to_string(), expected: "an object" })
}

pub fn get_type<'a>(o: &'a Obj, path: &str) -> Result<&'a str, TokenizerError> {
    o.get("type").and_then(Value::as_str).ok_or_else(|| field_err(path, "type", "a string"))
}

pub fn req<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a Value, TokenizerError> {
    o.get(key).ok_or_else(|| field_err(path, key, "present"))
}

pub fn req_str<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a str, TokenizerError> {
    o.get(key).and_then(Value::as_str).ok_or_else(|| field_err(path, key, "a string"))
}

pub fn opt_str<'a>(o: &'a Obj, key: &str, path: &str) -> Result<Option<&'a str>, TokenizerError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(field_err(path, key, "a string or null")),
    }
}

pub fn bool_or(o: &Obj, key: &str, path: &str, default: bool) -> Result<bool, TokenizerError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(field_err(path, key, "a boolean")),
    }
}

pub fn opt_bool(o: &Obj, key: &str, path: &str) -> Result<Option<bool>, TokenizerError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(field_err(path, key, "a boolean or null")),
    }
}

pub fn usize_or(o: &Obj, key: &str, path: &str, default: usize) -> Result<usize, TokenizerError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| field_err(path, key, "a non-negative integer")),
    }
}

pub fn req_array<'a>(o: &'a Obj, key: &str, path: &str) -> Result<&'a Vec<Value>, TokenizerError> {
    let arr = o.get(key).and_then(Value::as_array).ok_or_else(|| field_err(path, key, "an array"))?;
    check_len(arr.len(), "array")?;
    Ok(arr)
}

pub fn check_len(len: usize, what: &'static str) -> Result<(), TokenizerError> {
    if len > MAX_ENTRIES {
        return Err(TokenizerError::TooLarge { what, size: len, limit: MAX_ENTRIES });
    }
    Ok(())
}

/// A token id from JSON: a non-negative integer that fits in u32.
pub fn as_id(v: &Value, path: &str) -> Result<u32, TokenizerError> {
    v.as_u64()
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| TokenizerError::Field { path: path.to_string(), expected: "a token id (u32)" })
}

/// A single char stored as a one-char string.
pub fn req_char(o: &Obj, key: &str, path: &str) -> Result<char, TokenizerError> {
    let s = req_str(o, key, path)?;
    let mut it = s.chars();
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        _ => Err(field_err(path, key, "a single character")),
    }
}

pub fn unsupported(stage: &'static str, name: &str) -> TokenizerError {
    TokenizerError::Unsupported { stage, name: name.to_string() }
}
