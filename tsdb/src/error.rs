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
    #[error("the WAL refused the write: an earlier failed write could not be undone; restart to repair it")]
    WalBroken,
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
            e @ Error::WalBroken => Self::Internal(e.to_string()),
        }
    }
}
