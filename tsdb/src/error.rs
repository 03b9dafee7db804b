use std::path::{Path, PathBuf};

/// Errors of the metrics store.
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
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

impl Error {
    pub(crate) fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Self::Io {
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
            Error::InvalidArgument(detail) => Self::Corrupt {
                path: std::path::PathBuf::new(),
                detail,
            },
            Error::Wal(e) => wal_read_error(e),
        }
    }
}

/// A WAL failure seen by a reader. Matched in full (no `_`), so a new
/// `sightline_wal::Error` variant has to be placed here.
fn wal_read_error(e: sightline_wal::Error) -> sightline_read::ReadError {
    use sightline_read::ReadError;
    use sightline_wal::Error as Wal;
    match e {
        Wal::Io { path, source } => ReadError::io(path, source),
        e @ (Wal::Broken | Wal::CheckpointCoversOpenSegment { .. }) => {
            ReadError::Internal(e.to_string())
        }
    }
}
