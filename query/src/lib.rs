//! Query languages for Sightline.
//!
//! This crate owns PromQL and LogQL: `nom` parsers producing a typed AST,
//! evaluators that run over the storage traits (`sightline_tsdb::Querier` for
//! metrics, the log store's querier for logs), and SQL over both stores. It
//! knows nothing of HTTP; the server maps its results and errors to the
//! Prometheus and Loki API shapes.
//!
//! Today it holds the part of the PromQL grammar the metadata endpoints need:
//! series selectors, as in `match[]=up{job=~"node.*"}`.
//!
//! ```
//! use sightline_query::parse_series_selector;
//!
//! let matchers = parse_series_selector(r#"up{job=~"node.*", env!="dev"}"#).unwrap();
//! assert_eq!(matchers.len(), 3);
//! assert!(parse_series_selector("{}").is_err());
//! ```

mod parser;

pub use parser::{parse_series_selector, ParseError};
