//! Compressed sample chunks.
//!
//! A chunk holds up to [`MAX_SAMPLES_PER_CHUNK`] samples of one series in
//! Gorilla's XOR encoding: timestamps as delta-of-delta with variable-width
//! buckets, values as the XOR against the previous value with leading/trailing
//! zero runs reused. Values are handled as raw bits, so every NaN payload —
//! Prometheus's staleness marker included — reads back exactly.

mod bits;
mod xor;

pub use xor::{XorAppender, XorChunk, XorIter};

/// Chunks are cut at this many samples, as Prometheus does: beyond ~120 the
/// compression gain flattens while decoding a partial range gets costlier.
pub const MAX_SAMPLES_PER_CHUNK: u16 = 120;
