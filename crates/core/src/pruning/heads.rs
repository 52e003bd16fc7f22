//! Removing whole attention heads (filled in below).
