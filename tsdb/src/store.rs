//! Where blocks live: a small trait over "a set of immutable directories of
//! files", with the local filesystem as the default implementation.
//!
//! The tsdb only ever (a) stages a new block in a local directory and asks
//! the store to publish it atomically, (b) lists published blocks, (c) reads
//! byte ranges of their files and (d) deletes whole blocks. Those four verbs
//! map one-to-one onto an object store (upload the files, then `meta.json`
//! last as the commit point; ranged GETs; prefix delete), so an
//! `object_store`-backed implementation can follow without touching the
//! tsdb's logic.

use std::fmt::Debug;
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::{Error, Result};

/// Random access to one file of a published block.
pub trait BlockFile: Send + Sync + Debug {
    fn len(&self) -> u64;
    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Bytes>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The published blocks and their files.
pub trait BlockStore: Send + Sync + Debug {
    /// Ids of the published blocks, in no particular order.
    fn list(&self) -> Result<Vec<String>>;
    /// Opens one file of a published block.
    fn open(&self, block: &str, file: &str) -> Result<Arc<dyn BlockFile>>;
    /// A fresh local directory to write a new block's files into.
    fn staging_dir(&self, block: &str) -> Result<PathBuf>;
    /// Publishes a staged block atomically: afterwards it is listed with all
    /// its files, and a crash at any point before leaves no trace of it.
    fn publish(&self, block: &str) -> Result<()>;
    /// Deletes a published block.
    fn delete(&self, block: &str) -> Result<()>;
    /// Total bytes of a published block's files.
    fn size(&self, block: &str) -> Result<u64>;

    /// Reads a whole (small) file.
    fn read(&self, block: &str, file: &str) -> Result<Bytes> {
        let f = self.open(block, file)?;
        f.read_at(0, f.len() as usize)
            .map_err(|e| Error::io(format!("{block}/{file}"), e))
    }
}

/// Blocks as directories under `<root>`: `<root>/<id>/…`, staged in
/// `<root>/<id>.tmp` and published by rename.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

const STAGING_SUFFIX: &str = ".tmp";

impl LocalStore {
    /// Opens the store, creating `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        Ok(Self { root })
    }

    /// Deletes staging directories a crash left behind. Only the store's
    /// owner calls this on open: another writer (an import) may be staging.
    pub fn remove_unfinished(&self) -> Result<()> {
        let root = &self.root;
        for entry in fs::read_dir(root).map_err(|e| Error::io(root, e))? {
            let entry = entry.map_err(|e| Error::io(root, e))?;
            let name = entry.file_name();
            if name.to_string_lossy().ends_with(STAGING_SUFFIX) {
                let path = entry.path();
                tracing::info!(path = %path.display(), "removing an unfinished block");
                fs::remove_dir_all(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        Ok(())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn dir(&self, block: &str) -> PathBuf {
        self.root.join(block)
    }
}

impl BlockStore for LocalStore {
    fn list(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in fs::read_dir(&self.root).map_err(|e| Error::io(&self.root, e))? {
            let entry = entry.map_err(|e| Error::io(&self.root, e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !name.ends_with(STAGING_SUFFIX) && entry.path().join("meta.json").exists() {
                out.push(name);
            }
        }
        Ok(out)
    }

    fn open(&self, block: &str, file: &str) -> Result<Arc<dyn BlockFile>> {
        let path = self.dir(block).join(file);
        let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let len = f.metadata().map_err(|e| Error::io(&path, e))?.len();
        Ok(Arc::new(LocalFile { file: f, len }))
    }

    fn staging_dir(&self, block: &str) -> Result<PathBuf> {
        let dir = self.root.join(format!("{block}{STAGING_SUFFIX}"));
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir)
    }

    fn publish(&self, block: &str) -> Result<()> {
        let staged = self.root.join(format!("{block}{STAGING_SUFFIX}"));
        for entry in fs::read_dir(&staged).map_err(|e| Error::io(&staged, e))? {
            let path = entry.map_err(|e| Error::io(&staged, e))?.path();
            File::open(&path)
                .and_then(|f| f.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
        sync_dir(&staged)?;
        let dest = self.dir(block);
        fs::rename(&staged, &dest).map_err(|e| Error::io(&dest, e))?;
        sync_dir(&self.root)
    }

    fn delete(&self, block: &str) -> Result<()> {
        // Renamed first so a crash mid-delete never leaves a half block that
        // still lists as published.
        let dir = self.dir(block);
        let doomed = self.root.join(format!("{block}.deleting{STAGING_SUFFIX}"));
        match fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(&dir, e)),
        }
        sync_dir(&self.root)?;
        fs::remove_dir_all(&doomed).map_err(|e| Error::io(&doomed, e))
    }

    fn size(&self, block: &str) -> Result<u64> {
        let dir = self.dir(block);
        let mut total = 0;
        for entry in fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            total += entry
                .metadata()
                .map_err(|e| Error::io(entry.path(), e))?
                .len();
        }
        Ok(total)
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

#[derive(Debug)]
struct LocalFile {
    file: File,
    len: u64,
}

impl BlockFile for LocalFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, len: usize) -> std::io::Result<Bytes> {
        let mut buf = vec![0; len];
        self.file.read_exact_at(&mut buf, offset)?;
        Ok(buf.into())
    }
}

/// A [`BlockFile`] as Parquet's reader wants it.
#[derive(Debug, Clone)]
pub(crate) struct ParquetFile(pub Arc<dyn BlockFile>);

impl parquet::file::reader::Length for ParquetFile {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl parquet::file::reader::ChunkReader for ParquetFile {
    type T = RangeReader;

    fn get_read(&self, start: u64) -> parquet::errors::Result<RangeReader> {
        Ok(RangeReader {
            file: Arc::clone(&self.0),
            pos: start,
        })
    }

    fn get_bytes(&self, start: u64, length: usize) -> parquet::errors::Result<Bytes> {
        self.0
            .read_at(start, length)
            .map_err(|e| parquet::errors::ParquetError::External(Box::new(e)))
    }
}

/// Sequential reads over a [`BlockFile`] from an offset.
#[derive(Debug)]
pub(crate) struct RangeReader {
    file: Arc<dyn BlockFile>,
    pos: u64,
}

impl Read for RangeReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.file.len().saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let bytes = self.file.read_at(self.pos, n)?;
        buf[..n].copy_from_slice(&bytes);
        self.pos += n as u64;
        Ok(n)
    }
}
