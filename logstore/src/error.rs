use std::path::{Path, PathBuf};

/// Errors of the log store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("write-ahead log: {0}")]
    Wal(#[from] sightline_wal::Error),
    #[error("index {path}: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: tantivy::TantivyError,
    },
    #[error(
        "log partition {path} has layout {found:?}, this version reads {expected:?}; \
         move the directory away (its entries cannot be searched by this version)"
    )]
    Format {
        path: PathBuf,
        found: String,
        expected: String,
    },
    /// A bug: state the store itself should have prevented.
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    pub(crate) fn index(path: impl AsRef<Path>, source: tantivy::TantivyError) -> Self {
        Self::Index {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<Error> for sightline_read::ReadError {
    fn from(e: Error) -> Self {
        match e {
            Error::Io { path, source } => Self::io(path, source),
            Error::Index { path, source } => Self::engine(path.display().to_string(), source),
            Error::Format {
                path,
                found,
                expected,
            } => Self::Corrupt {
                path,
                detail: format!("layout {found:?}, this version reads {expected:?}"),
            },
            // Matched in full (no `_`): a new WAL error has to be placed.
            Error::Wal(sightline_wal::Error::Io { path, source }) => Self::io(path, source),
            Error::Wal(
                e @ (sightline_wal::Error::Broken
                | sightline_wal::Error::CheckpointCoversOpenSegment { .. }),
            ) => Self::Internal(e.to_string()),
            Error::Internal(detail) => Self::Internal(detail),
        }
    }
}
