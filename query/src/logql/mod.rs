//! LogQL: Loki's query language over Sightline's log store.
//!
//! [`parse`] turns the text into a [`Query`](ast::Query); [`Evaluator`]
//! runs it over any [`LogQuerier`] — the read interface the log store
//! implements (`sightline-read`), so this crate compiles no search engine;
//! the tests use an in-memory implementation that passes the same
//! conformance suite as the store.
//!
//! A log query selects streams from the source's stream table, asks the
//! source for the entries in time order (passing down the `|=` substrings
//! that every result must contain, which the store answers from its index)
//! and runs the pipeline ([`pipeline`]) over each entry until `limit` lines
//! are collected. A metric query does the same over the whole window its
//! ranges need, turns kept entries into samples (1 per line, its byte size,
//! or the `unwrap`ped value) per output label set, and reduces each step's
//! window (`range`). Everything above the range aggregations — vector
//! aggregations, `sort`, binary operators with `on`/`ignoring`/`group_*`,
//! scalars — is evaluated at every step by the PromQL engine's own code
//! (`metric`), so both languages share one implementation of Prometheus's
//! semantics; only errors Loki words differently are reworded.
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
mod metric;
mod parser;
mod pattern;
pub mod pipeline;
mod range;
mod template;
mod values;

#[cfg(test)]
mod memory;
#[cfg(test)]
mod tests;

pub use eval::{
    process_entry, Evaluator, LogqlValue, QueryLimits, QueryStats, SeriesResult, StreamResult,
};
pub use parser::{parse, parse_selector, ParseError};
pub use sightline_read::logs::{Direction, LogQuerier};
use sightline_read::ReadError;

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
    Storage(#[from] ReadError),
}
