//! One time partition: a tantivy index holding the entries whose timestamps
//! fall in `[start_ns, end_ns)`.
//!
//! A document is a *block*: up to [`BLOCK_LINES`](write::BLOCK_LINES)
//! consecutive entries of one stream (at most
//! [`BLOCK_BYTES`](write::BLOCK_BYTES) of text), so postings point at
//! blocks, not lines — a word repeated on every line costs one posting per
//! block, and the doc store compresses runs of one stream's lines together.
//! Entries wait in a per-stream block builder until the block is full or
//! the partition commits.
//!
//! Here: [`Partition`], opening it (its layout checked against `FORMAT`)
//! and the state the store reads. By job:
//!
//! - `schema.rs`: the layouts, their `FORMAT` names and fields;
//! - `body.rs`: a block's stored form, the entries column by column;
//! - `write.rs`: block builders, writing blocks and committing them with
//!   the WAL segment they cover;
//! - `read.rs`: candidate blocks for a scan (postings and Bloom filters)
//!   and reading them from the doc store;
//! - `tests.rs`: round trips through both layouts.

mod body;
mod read;
mod schema;
#[cfg(test)]
mod tests;
mod write;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tantivy::store::{Compressor, StoreReader, ZstdCompressor};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexSettings, ReloadPolicy, Searcher};

use crate::tokenizer::{ChunkTokenizer, LogTokenizer};
use crate::{Error, Result};

use schema::{
    schema, Chunks, Fields, CHUNK_TOKENIZER, DOCSTORE_BLOCK, DOCSTORE_LEVEL, FORMAT, FORMAT_2,
    TOKENIZER,
};
use write::OpenWriter;

/// The commit payload: the WAL segment the commit covers (see
/// [`Partition::commit`]).
const PAYLOAD_PREFIX: &str = "wal-through ";

pub(crate) struct Partition {
    pub start_ns: i64,
    pub end_ns: i64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    /// Its own lock: a commit holds it while reads go on with the last
    /// committed searcher.
    writer: Mutex<Option<OpenWriter>>,
    /// Entries added since the last commit.
    pending: AtomicU64,
    /// The WAL segment through which every entry of this partition is in
    /// the committed index (0: none known); from the last commit's payload.
    committed_through: AtomicU64,
    /// Entries added since open, and how many of them the last commit
    /// holds.
    added: AtomicU64,
    committed_seq: AtomicU64,
    fields: Fields,
    /// Doc-store readers of the latest searcher generation read.
    stores: Mutex<Option<(u64, Arc<Vec<StoreReader>>)>>,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("dir", &self.dir)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

impl Partition {
    /// Opens the partition in `dir`, creating it if it does not exist.
    pub fn open(dir: &Path, start_ns: i64, end_ns: i64) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let exists = dir.join("meta.json").exists();
        let format_path = dir.join("FORMAT");
        if exists {
            let found = std::fs::read_to_string(&format_path).unwrap_or_default();
            if found != FORMAT && found != FORMAT_2 {
                return Err(Error::Format {
                    path: dir.to_path_buf(),
                    found: found.trim().to_string(),
                    expected: FORMAT.trim().to_string(),
                });
            }
        } else {
            std::fs::write(&format_path, FORMAT).map_err(|e| Error::io(&format_path, e))?;
        }
        let index = if exists {
            Index::open_in_dir(dir).map_err(|e| Error::index(dir, e))?
        } else {
            Index::builder()
                .schema(schema())
                .settings(IndexSettings {
                    docstore_compression: Compressor::Zstd(ZstdCompressor {
                        compression_level: Some(DOCSTORE_LEVEL),
                    }),
                    docstore_blocksize: DOCSTORE_BLOCK,
                    ..IndexSettings::default()
                })
                .create_in_dir(dir)
                .map_err(|e| Error::index(dir, e))?
        };
        index
            .tokenizers()
            .register(TOKENIZER, TextAnalyzer::from(LogTokenizer::default()));
        index
            .tokenizers()
            .register(CHUNK_TOKENIZER, TextAnalyzer::from(ChunkTokenizer::new()));
        let committed_through = index
            .load_metas()
            .ok()
            .and_then(|m| m.payload)
            .and_then(|p| p.strip_prefix(PAYLOAD_PREFIX)?.parse().ok())
            .unwrap_or(0);
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| Error::index(dir, e))?;
        // Fields by name from the index's own schema, so a partition written
        // by another version is read by its schema or refused, never misread.
        let stored = index.schema();
        let field = |name: &str| stored.get_field(name).map_err(|e| Error::index(dir, e));
        let chunks = match stored.get_field("chunks") {
            Ok(terms) => Chunks::Terms(terms),
            Err(_) => Chunks::Filter {
                filter: field("filter")?,
                lines: field("lines")?,
                bytes: field("bytes")?,
            },
        };
        let fields = Fields {
            stream: field("stream")?,
            ts_min: field("ts_min")?,
            ts_max: field("ts_max")?,
            line: field("line")?,
            chunks,
            body: field("body")?,
        };
        Ok(Self {
            start_ns,
            end_ns,
            dir: dir.to_path_buf(),
            index,
            reader,
            writer: Mutex::new(None),
            pending: AtomicU64::new(0),
            committed_through: AtomicU64::new(committed_through),
            added: AtomicU64::new(0),
            committed_seq: AtomicU64::new(0),
            fields,
            stores: Mutex::new(None),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The WAL segment through which this partition's entries are in its
    /// committed index (0: none known).
    pub fn committed_through(&self) -> u64 {
        self.committed_through.load(Ordering::Relaxed)
    }

    /// Entries with a sequence number ([`Self::add`]) up to this are in
    /// the last committed index.
    pub fn committed_seq(&self) -> u64 {
        self.committed_seq.load(Ordering::Relaxed)
    }

    pub fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(|e| Error::index(&self.dir, e))
    }

    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }
}
