//! Removing FFN neurons.
