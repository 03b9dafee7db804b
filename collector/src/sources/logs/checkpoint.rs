//! Read positions: which file (device, inode and a fingerprint of its first
//! bytes) has been shipped up to which offset.
//!
//! Positions are updated only when the server acknowledged the batch that
//! carried the lines, and written to the positions file atomically (temp
//! file, fsync, rename, fsync of the directory), so after a crash the file
//! holds a consistent, acknowledged state.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde::{Deserialize, Serialize};

/// A file by device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    pub fn of(meta: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Where reading of one file resumes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// Length and CRC-32 of the file's first bytes when the position was
    /// taken: an inode reused by another file does not match.
    pub fingerprint_len: u32,
    pub fingerprint_crc: u32,
    pub offset: u64,
}

impl Position {
    pub fn id(&self) -> FileId {
        FileId {
            dev: self.dev,
            ino: self.ino,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct PositionsFile {
    version: u32,
    files: Vec<Position>,
}

/// Reads the positions file; a missing file is an empty state, an
/// unreadable one is logged and ignored (lines are then read again).
pub fn load(path: &Path) -> HashMap<FileId, Position> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return HashMap::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read log positions; starting over");
            return HashMap::new();
        }
    };
    match serde_json::from_slice::<PositionsFile>(&bytes) {
        Ok(f) => f.files.into_iter().map(|p| (p.id(), p)).collect(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "log positions unreadable; starting over");
            HashMap::new()
        }
    }
}

/// Writes `positions` to `path` atomically.
pub fn save(path: &Path, positions: &HashMap<FileId, Position>) -> std::io::Result<()> {
    let mut files: Vec<Position> = positions.values().cloned().collect();
    files.sort_by(|a, b| a.path.cmp(&b.path).then(a.ino.cmp(&b.ino)));
    let body = serde_json::to_vec_pretty(&PositionsFile { version: 1, files })
        .map_err(std::io::Error::other)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&body)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

/// Acknowledged positions, shared by the sender's acknowledgement
/// callbacks and the writer of the positions file.
#[derive(Debug, Clone)]
pub struct AckedPositions {
    inner: Arc<Mutex<Acked>>,
    path: PathBuf,
}

#[derive(Debug, Default)]
struct Acked {
    positions: HashMap<FileId, Position>,
    dirty: bool,
}

/// A change carried by a batch, applied when it is acknowledged.
#[derive(Debug, Clone)]
pub enum Update {
    Set(Position),
    /// The file was read to its end and let go.
    Remove(FileId),
}

impl AckedPositions {
    pub fn new(path: PathBuf, initial: HashMap<FileId, Position>) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Acked {
                positions: initial,
                dirty: false,
            })),
            path,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Acked> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn apply(&self, updates: Vec<Update>) {
        let mut acked = self.lock();
        for update in updates {
            match update {
                Update::Set(p) => {
                    acked.positions.insert(p.id(), p);
                }
                Update::Remove(id) => {
                    acked.positions.remove(&id);
                }
            }
        }
        acked.dirty = true;
    }

    /// Writes the positions file if anything changed since the last write.
    pub fn save_if_changed(&self) -> std::io::Result<()> {
        let snapshot = {
            let mut acked = self.lock();
            if !acked.dirty {
                return Ok(());
            }
            acked.dirty = false;
            acked.positions.clone()
        };
        let result = save(&self.path, &snapshot);
        if result.is_err() {
            self.lock().dirty = true;
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position(ino: u64, offset: u64) -> Position {
        Position {
            path: format!("/var/log/pods/ns_p_u/c/{ino}.log").into(),
            dev: 1,
            ino,
            fingerprint_len: 10,
            fingerprint_crc: 7,
            offset,
        }
    }

    #[test]
    fn save_and_load_round_trip_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/positions.json");
        assert!(load(&path).is_empty());
        let acked = AckedPositions::new(path.clone(), HashMap::new());
        acked.apply(vec![
            Update::Set(position(1, 100)),
            Update::Set(position(2, 5)),
        ]);
        acked.save_if_changed().unwrap();
        acked.apply(vec![
            Update::Set(position(1, 200)),
            Update::Remove(FileId { dev: 1, ino: 2 }),
        ]);
        acked.save_if_changed().unwrap();
        let back = load(&path);
        assert_eq!(back.len(), 1);
        assert_eq!(back[&FileId { dev: 1, ino: 1 }].offset, 200);
        assert!(!dir.path().join("state/positions.json.tmp").exists());

        std::fs::write(&path, "{ torn").unwrap();
        assert!(load(&path).is_empty());
    }
}
