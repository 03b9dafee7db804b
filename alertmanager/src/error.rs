//! The crate's error type.

/// What can go wrong loading rules, evaluating them, or running the
/// notification pipeline. Failures of the engines and stores underneath
/// keep their own types as variants, so a caller (and a log line) sees
/// what failed, not a flattened string.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A rule file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Rule files failed validation; every problem is listed.
    #[error("{}", .0.join("\n"))]
    Invalid(Vec<String>),
    /// A template failed to parse or to execute.
    #[error("{0}")]
    Template(String),
    /// A PromQL expression failed to parse or to evaluate.
    #[error(transparent)]
    Query(#[from] sightline_query::QueryError),
    /// A LogQL expression failed to parse or to evaluate.
    #[error(transparent)]
    Logql(#[from] sightline_query::logql::LogqlError),
    /// Reading the metrics store failed.
    #[error(transparent)]
    Read(#[from] sightline_read::ReadError),
    /// A series a rule produced has invalid labels.
    #[error(transparent)]
    Labels(#[from] sightline_model::LabelError),
    /// Writing rule results to the metrics store failed.
    #[error("writing rule results: {0}")]
    Write(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An expression that parses but cannot serve as this rule (a log query
    /// where a metric query is needed, a string result).
    #[error("{0}")]
    Unusable(String),
    /// What the rule asks of the backend is not available here (no store
    /// when only checking files, no log store).
    #[error("{0}")]
    Unavailable(&'static str),
    /// The silences or notification log could not be read or written.
    #[error(transparent)]
    Silences(#[from] crate::notify::silence::SilenceError),
}

/// The crate's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
