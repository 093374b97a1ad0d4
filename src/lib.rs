//! The Rust core of `crm`: ingest → summarize → derive → emit.
//!
//! Every module except `py` is plain Rust that knows nothing of Python; `py` is the thin
//! binding layer (built only with the `python` feature, which maturin turns on).

pub mod baskets;
pub mod cluster;
pub mod clv;
pub mod clv_summary;
pub mod emit;
pub mod error;
pub mod hashing;
pub mod history;
pub mod ingest;
pub mod memory;
pub mod partial;
pub mod partition;
pub mod period_masks;
pub mod periods;
pub mod pool;
pub mod retention;
pub mod rfm;
pub mod scores;
pub mod segments;
pub mod service;
pub mod summary;
#[cfg(test)]
mod testing;
pub mod trace;
pub mod value;

#[cfg(feature = "python")]
mod py;
