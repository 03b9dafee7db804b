//! Writing a partition: entries wait in per-stream block builders, full
//! blocks become documents of the index writer, and a commit writes the
//! unfinished blocks and records the WAL segment it covers.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::MutexGuard;

use tantivy::tokenizer::{TokenStream, Tokenizer};
use tantivy::{IndexWriter, TantivyDocument};

use super::body::encode_block;
use super::schema::Chunks;
use super::{Partition, PAYLOAD_PREFIX};
use crate::filter;
use crate::tokenizer::ChunkTokenizer;
use crate::{Error, LogEntry, Result, StreamId};

/// Indexing memory per open writer (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 32 << 20;
/// Most entries in one block.
pub(crate) const BLOCK_LINES: usize = 512;
/// A block is closed once its lines hold this many bytes.
pub(crate) const BLOCK_BYTES: usize = 96 << 10;

/// Entries of one stream not yet written as a block.
#[derive(Debug, Default)]
struct BlockBuilder {
    entries: Vec<LogEntry>,
    bytes: usize,
}

/// An open index writer and the blocks being filled.
pub(super) struct OpenWriter {
    writer: IndexWriter<TantivyDocument>,
    blocks: HashMap<StreamId, BlockBuilder>,
    scratch: Scratch,
}

/// Buffers reused from block to block.
#[derive(Default)]
struct Scratch {
    chunker: ChunkTokenizer,
    hashes: Vec<u64>,
    filter: Vec<u64>,
}

impl Partition {
    fn writer(&self) -> MutexGuard<'_, Option<OpenWriter>> {
        // A panic inside tantivy leaves at worst an uncommitted writer,
        // which the next commit or the WAL replay deals with.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets the segment claim (the WAL it referred to is gone), on disk
    /// too: a commit recording none.
    pub fn forget_wal_claim(&self) -> Result<()> {
        if self.committed_through() == 0 {
            return Ok(());
        }
        let err = |e| Error::index(&self.dir, e);
        let mut guard = self.writer();
        let open = match &mut *guard {
            Some(w) => w,
            None => guard.insert(OpenWriter {
                writer: self
                    .index
                    .writer_with_num_threads(1, WRITER_MEMORY)
                    .map_err(err)?,
                blocks: HashMap::new(),
                scratch: Scratch::default(),
            }),
        };
        let mut prepared = open.writer.prepare_commit().map_err(err)?;
        prepared.set_payload(&format!("{PAYLOAD_PREFIX}0"));
        prepared.commit().map_err(err)?;
        self.committed_through.store(0, Ordering::Relaxed);
        Ok(())
    }

    pub fn has_writer(&self) -> bool {
        self.writer().is_some()
    }

    /// Adds an entry to its stream's block; returns the entry's sequence
    /// number in this partition (see [`Self::committed_seq`]).
    pub fn add(&self, e: &LogEntry) -> Result<u64> {
        let mut guard = self.writer();
        let open = match &mut *guard {
            Some(w) => w,
            None => {
                let writer = self
                    .index
                    .writer_with_num_threads(1, WRITER_MEMORY)
                    .map_err(|e| Error::index(&self.dir, e))?;
                guard.insert(OpenWriter {
                    writer,
                    blocks: HashMap::new(),
                    scratch: Scratch::default(),
                })
            }
        };
        let block = open.blocks.entry(e.stream).or_default();
        block.bytes += e.line.len() + 1;
        block.entries.push(e.clone());
        self.pending.fetch_add(1, Ordering::Relaxed);
        let seq = self.added.fetch_add(1, Ordering::Relaxed) + 1;
        if block.entries.len() >= BLOCK_LINES || block.bytes >= BLOCK_BYTES {
            // Emptied only once written: a failure leaves the block to the
            // next attempt (the commit).
            self.write_block(&open.writer, &mut open.scratch, e.stream, &block.entries)?;
            block.entries.clear();
            block.bytes = 0;
        }
        Ok(seq)
    }

    /// Adds one block document to the writer.
    fn write_block(
        &self,
        writer: &IndexWriter<TantivyDocument>,
        scratch: &mut Scratch,
        stream: StreamId,
        entries: &[LogEntry],
    ) -> Result<()> {
        let (Some(ts_min), Some(ts_max)) = (
            entries.iter().map(|e| e.ts_ns).min(),
            entries.iter().map(|e| e.ts_ns).max(),
        ) else {
            return Ok(());
        };
        let f = self.fields;
        let mut text = String::with_capacity(entries.iter().map(|e| e.line.len() + 1).sum());
        for e in entries {
            text.push_str(&e.line);
            text.push('\n');
        }
        let mut body = Vec::with_capacity(text.len() + entries.len() * 8);
        encode_block(entries, ts_min, &mut body);
        let mut doc = TantivyDocument::new();
        doc.add_u64(f.stream, stream.0);
        doc.add_i64(f.ts_min, ts_min);
        doc.add_i64(f.ts_max, ts_max);
        match f.chunks {
            Chunks::Terms(chunks) => doc.add_text(chunks, &text),
            Chunks::Filter {
                filter,
                lines,
                bytes,
            } => {
                scratch.hashes.clear();
                // The token stream emits each distinct chunk once.
                let mut chunks = scratch.chunker.token_stream(&text);
                while chunks.advance() {
                    scratch.hashes.push(filter::hash(&chunks.token().text));
                }
                filter::build(&scratch.hashes, &mut scratch.filter);
                for &word in &scratch.filter {
                    doc.add_u64(filter, word);
                }
                doc.add_u64(lines, entries.len() as u64);
                let size: usize = entries.iter().map(|e| e.line.len()).sum();
                doc.add_u64(bytes, size as u64);
            }
        }
        doc.add_text(f.line, text);
        doc.add_bytes(f.body, &body);
        writer
            .add_document(doc)
            .map_err(|e| Error::index(&self.dir, e))?;
        Ok(())
    }

    /// Commits what was added, filling blocks included. New searchers see
    /// it after [`Self::reload`]. A writer that had nothing to commit is
    /// closed (partitions that stopped receiving data hold no indexing
    /// memory).
    ///
    /// `through` is the WAL segment through which every entry logged for
    /// this partition has been added (`None`: no new claim); it is
    /// recorded with the commit, so that a replay after a crash between
    /// this commit and the WAL's checkpoint skips what the index holds.
    pub fn commit(&self, through: Option<u64>) -> Result<()> {
        let mut guard = self.writer();
        // Adds take the writer lock: every entry added so far is in this
        // commit.
        let upto = self.added.load(Ordering::Relaxed);
        let pending = self.pending.swap(0, Ordering::Relaxed);
        if pending == 0 {
            *guard = None;
            self.committed_seq.store(upto, Ordering::Relaxed);
            return Ok(());
        }
        if let Some(open) = &mut *guard {
            // A commit forced outside the store's commit claims no new
            // segment.
            let through = through.unwrap_or_else(|| self.committed_through.load(Ordering::Relaxed));
            let result = self.write_blocks(open).and_then(|()| {
                let mut prepared = open
                    .writer
                    .prepare_commit()
                    .map_err(|e| Error::index(&self.dir, e))?;
                prepared.set_payload(&format!("{PAYLOAD_PREFIX}{through}"));
                prepared
                    .commit()
                    .map(|_| ())
                    .map_err(|e| Error::index(&self.dir, e))
            });
            if result.is_ok() {
                self.committed_through.store(through, Ordering::Relaxed);
                self.committed_seq.store(upto, Ordering::Relaxed);
            }
            if let Err(e) = result {
                // Still to commit: the next attempt must not take the
                // writer for idle and drop it. Blocks not written stay in
                // their builders; the WAL is not checkpointed past them.
                self.pending.fetch_add(pending, Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    }

    /// Writes every unfinished block; a block leaves its builder only once
    /// it is in the writer.
    fn write_blocks(&self, open: &mut OpenWriter) -> Result<()> {
        let streams: Vec<StreamId> = open.blocks.keys().copied().collect();
        for stream in streams {
            if let Some(b) = open.blocks.get(&stream) {
                self.write_block(&open.writer, &mut open.scratch, stream, &b.entries)?;
            }
            open.blocks.remove(&stream);
        }
        Ok(())
    }

    /// Commits what was added and closes the writer, freeing its indexing
    /// memory. Entries committed here may also still be in the store's
    /// head until the next full commit; reads de-duplicate them.
    pub fn commit_and_close(&self) -> Result<()> {
        self.commit(None)?;
        self.reload()?;
        self.close();
        Ok(())
    }

    /// Closes the writer (waiting for its merges) so the directory can go.
    /// Blocks still filling are dropped: callers commit first, or are
    /// deleting the partition.
    pub fn close(&self) {
        let open = self.writer().take();
        if let Some(open) = open {
            if let Err(e) = open.writer.wait_merging_threads() {
                tracing::warn!(dir = %self.dir.display(), error = %e, "closing a log index writer");
            }
        }
    }
}
