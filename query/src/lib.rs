//! Query languages for Sightline.
//!
//! This crate owns PromQL and LogQL. PromQL: a `nom` parser producing the
//! typed [`ast`], and the [`engine`] that evaluates it over any
//! [`Querier`](sightline_read::metrics::Querier). LogQL ([`logql`]): its own
//! parser and evaluator over any
//! [`LogQuerier`](sightline_read::logs::LogQuerier). It reads storage only
//! through those traits (no storage engine is compiled into it) and knows
//! nothing of HTTP; the server maps results and errors to the Prometheus and
//! Loki API shapes.
//!
//! ```
//! use sightline_query::parse_series_selector;
//!
//! let matchers = parse_series_selector(r#"up{job=~"node.*", env!="dev"}"#).unwrap();
//! assert_eq!(matchers.len(), 3);
//! assert!(parse_series_selector("{}").is_err());
//! ```

pub mod ast;
pub mod engine;
pub mod functions;
pub mod logql;
mod parser;
mod printer;
pub mod value;

pub use engine::{Engine, EngineOptions, QueryError, QueryStats};
pub use parser::parse;
pub use parser::{parse_series_selector, ParseError};
pub use printer::prettify;
