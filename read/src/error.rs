//! Why a read failed.

use std::path::PathBuf;
use std::sync::Arc;

/// A store failed to answer a read. Every variant is a server-side failure
/// (HTTP APIs answer 5xx); the causes are kept as typed sources so the log
/// line written for the failure carries the whole chain. `Clone` (sources
/// are shared) so query results that hold an error can be cached and
/// compared.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// Reading a file (or an object) failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: Arc<std::io::Error>,
    },
    /// Stored data could not be decoded: a damaged file, or one written by
    /// a version this one cannot read.
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },
    /// The engine under the store (e.g. the search index) failed; its own
    /// error is the source.
    #[error("{context}: {source}")]
    Engine {
        context: String,
        #[source]
        source: Arc<dyn std::error::Error + Send + Sync>,
    },
    /// A bug: a state the store should have made impossible.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ReadError {
    /// An I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// A failure of the engine under the store, kept as the source.
    pub fn engine(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Engine {
            context: context.into(),
            source: Arc::new(source),
        }
    }
}

/// The result of a read.
pub type Result<T, E = ReadError> = std::result::Result<T, E>;
