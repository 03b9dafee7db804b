//! Query languages for Sightline.
//!
//! This crate will own PromQL and LogQL: `nom` parsers producing a typed AST,
//! evaluators that run over the storage traits (`sightline_tsdb::Querier` for
//! metrics, the log store's querier for logs), and SQL over both stores through
//! DataFusion. It knows nothing of HTTP; the server maps its results and errors
//! to the Prometheus and Loki API shapes.
