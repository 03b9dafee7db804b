//! The `sightline` server.
//!
//! This crate is the composition root: it reads the configuration
//! ([`config`]), opens the stores, and serves the HTTP API ([`api`]) that
//! Prometheus-ecosystem clients already speak. A remote-write request flows
//! `api::write` (decode, validate labels) ▶ `sightline_tsdb::Tsdb::append`
//! (head + WAL, fsync) ▶ 204; metadata reads flow `api::metadata` ▶ the
//! store's `Querier`.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod import;
pub mod rules;
mod rules_logs;
mod serve;
pub mod telemetry;

pub use serve::{init_logging, serve};
