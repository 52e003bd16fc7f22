//! Memory-mapping checkpoint files, so a model runs on the file's pages.
//!
//! The core crate forbids `unsafe`, and mapping a file needs one `unsafe`
//! call, so it lives here; the core gets the map as shared bytes
//! ([`SharedBytes`]) and validates every tensor's offset and length against
//! the map's length before it makes a view (a truncated file is a load
//! error). The kernel pages the file in on first touch and may drop clean
//! pages under memory pressure, so a model costs its file size in memory
//! once, shared with the page cache, instead of a private copy.

use llmlab_core::loading::LoadError;
use llmlab_core::nn::storage::SharedBytes;
use std::path::Path;
use std::sync::Arc;

/// Maps `path` read-only.
pub fn map_file(path: &Path) -> Result<SharedBytes, LoadError> {
    let file = std::fs::File::open(path).map_err(|e| LoadError::Io(format!("cannot open {}: {e}", path.display())))?;
    // SAFETY: `Mmap::map` is unsafe because the bytes may change if another
    // process writes to or truncates the file while it is mapped, which Rust's
    // `&[u8]` does not allow for. The map is read-only and private to this
    // short-lived process; checkpoints are not rewritten while a model is
    // running. If the file is truncated underneath anyway, touching the lost
    // pages raises SIGBUS and the process stops: it cannot read garbage as
    // weights. Every offset is checked against the length seen at map time.
    let map = unsafe { memmap2::Mmap::map(&file) }
        .map_err(|e| LoadError::Io(format!("cannot map {}: {e}", path.display())))?;
    Ok(Arc::new(map))
}
