//! Log storage for Sightline.
//!
//! This crate will own everything between an accepted log line and the disk:
//! a write-ahead log that makes pushes durable before they are acknowledged,
//! time-partitioned tantivy indexes (timestamp as a fast field, stream labels
//! indexed, the line tokenized for term lookup and stored compressed), a
//! stream table mapping label sets to stream ids, retention by age and size,
//! and a log `Querier` that the LogQL engine in `sightline-query` reads through.
