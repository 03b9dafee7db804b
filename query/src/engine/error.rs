//! Query errors, each mapping to one of Prometheus's `errorType`s.

/// Why a query failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum QueryError {
    /// Malformed query text: `bad_data`, 400.
    #[error("{0}")]
    Parse(#[from] crate::ParseError),
    /// A well-formed query that cannot be evaluated (e.g. many-to-many
    /// matching, invalid `label_replace` target): `execution`, 422.
    #[error("{0}")]
    Execution(String),
    /// The sample limit was hit: `execution`, 422.
    #[error("query processing would load too many samples into memory in {0}")]
    TooManySamples(&'static str),
    /// The time limit was hit: `timeout`, 503.
    #[error("query timed out in {0}")]
    Timeout(&'static str),
    /// Storage failed: `internal`, 500.
    #[error("storage error: {0}")]
    Storage(#[from] sightline_read::ReadError),
}

impl QueryError {
    pub fn execution(msg: impl Into<String>) -> Self {
        QueryError::Execution(msg.into())
    }
}

pub type Result<T, E = QueryError> = std::result::Result<T, E>;
