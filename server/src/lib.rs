//! The `sightline` server.
//!
//! It reads the configuration ([`config`]); [`app`] is the composition
//! root — [`app::Services`] opens the metrics and log stores, block upkeep,
//! the rule engine and the dispatcher, and [`app::app`] builds the whole
//! HTTP surface ([`api`]: the Prometheus, remote-write, Loki and
//! Alertmanager dialects, each mapping its errors in one place). A
//! remote-write request flows `api::write` (decode, validate labels) ▶
//! `sightline_tsdb::Tsdb::append` (head + WAL, fsync) ▶ 204; reads flow
//! through the traits of `sightline-read` (`Querier`, `LogQuerier`) into
//! the stores. `rules` adapts the PromQL and LogQL engines to the rule
//! engine; `serve` runs it all with the embedded collector.

pub mod api;
pub mod app;
pub mod cli;
pub mod config;
pub mod import;
pub mod rules;
mod serve;
pub mod telemetry;

pub use serve::{init_logging, serve};
