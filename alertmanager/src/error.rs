//! The crate's error type.

/// What can go wrong loading rules or evaluating them.
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
    /// The query backend or the store failed.
    #[error("{0}")]
    Backend(String),
}

/// The crate's result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
