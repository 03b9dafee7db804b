//! LogQL: Loki's query language over Sightline's log store.
//!
//! [`parse`] turns the text into a [`Query`](ast::Query); [`Evaluator`]
//! runs it over any [`LogSource`] — the trait the log store is read
//! through. The trait lives here, not in the store, so this crate needs no
//! search engine: the server adapts `sightline-logstore` to it, and the
//! tests use an in-memory source.
//!
//! A log query selects streams from the source's stream table, asks the
//! source for the entries in time order (passing down the `|=` substrings
//! that every result must contain, which the store answers from its index)
//! and runs the pipeline ([`pipeline`]) over each entry until `limit` lines
//! are collected. A metric query does the same over the whole window its
//! ranges need, turns kept entries into samples (1 per line, its byte size,
//! or the `unwrap`ped value) per output label set, and evaluates range
//! functions, aggregations and binary operators at every step.
//!
//! ```
//! use sightline_query::logql::{parse, ast::Query};
//!
//! let q = parse(r#"sum by (level) (count_over_time({app="api"} |= "timeout" | logfmt [5m]))"#).unwrap();
//! assert!(matches!(q, Query::Metric(_)));
//! let err = parse(r#"{app=~".*"}"#).unwrap_err();
//! assert!(err.to_string().starts_with("parse error at line 1, col 1:"));
//! ```

pub mod ast;
mod eval;
mod parser;
mod pattern;
pub mod pipeline;
mod template;
mod values;

#[cfg(test)]
mod tests;

use std::ops::ControlFlow;

use sightline_model::{Labels, Matcher};

pub use eval::{
    process_entry, Evaluator, LogqlValue, QueryLimits, QueryStats, SeriesResult, StreamResult,
};
pub use parser::{parse, parse_selector, ParseError};

/// Read order of log entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Forward,
    Backward,
}

/// A stream as the source knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStream {
    pub id: u64,
    pub labels: Labels,
}

/// What a scan asks for: entries of `streams` in `[start_ns, end_ns)`
/// whose line contains every string in `contains`, in `direction` order.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub streams: Vec<u64>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub direction: Direction,
    pub contains: Vec<String>,
}

/// One entry handed out by a scan.
#[derive(Debug, Clone, Copy)]
pub struct SourceEntry<'a> {
    pub stream: u64,
    pub ts_ns: i64,
    pub line: &'a str,
    pub metadata: &'a [(String, String)],
}

/// Work a source did for a scan.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanSummary {
    pub lines_read: u64,
    pub bytes_read: u64,
}

/// A storage failure, reported by the source in its own words.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct SourceError(pub String);

/// Where log entries come from.
pub trait LogSource {
    /// Streams matching every matcher with entries in `[start_ns, end_ns]`.
    fn streams(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<SourceStream>, SourceError>;

    /// Visits matching entries in time order; an entry repeated with the
    /// same stream, timestamp and line is visited once. Stops when `visit`
    /// breaks.
    fn scan(
        &self,
        request: &ScanRequest,
        visit: &mut dyn FnMut(SourceEntry<'_>) -> ControlFlow<()>,
    ) -> Result<ScanSummary, SourceError>;
}

/// Why a LogQL query failed.
#[derive(Debug, thiserror::Error)]
pub enum LogqlError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The query cannot be answered as asked (Loki answers 400).
    #[error("{0}")]
    BadQuery(String),
    /// A limit was reached (Loki answers 400 with the limit named).
    #[error("{0}")]
    Limit(String),
    /// The query ran past its deadline.
    #[error("{0}")]
    Timeout(String),
    #[error("storage: {0}")]
    Source(#[from] SourceError),
}
