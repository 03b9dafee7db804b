//! The Sightline web UI.
//!
//! This crate will own the UI's static assets and its page routes, served by
//! the `sightline` binary. It reads only through the public HTTP API shapes,
//! never through storage internals.
