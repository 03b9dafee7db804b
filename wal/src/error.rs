use std::path::{Path, PathBuf};

/// Errors of the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or directory operation on the log failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An earlier failed write could not be undone (truncating the partial
    /// frame failed too): later records would sit behind garbage and be lost
    /// on replay, so every append is refused until a restart repairs the tail.
    #[error("the WAL refused the write: an earlier failed write could not be undone; restart to repair it")]
    Broken,
    /// [`Wal::checkpoint`](crate::Wal::checkpoint) was asked to cover the
    /// segment still being written: a bug in the caller.
    #[error("invalid argument: checkpoint through segment {through} would cover the open segment {open}")]
    CheckpointCoversOpenSegment { through: u64, open: u64 },
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
