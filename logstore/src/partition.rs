//! One time partition: a tantivy index holding the entries whose timestamps
//! fall in `[start_ns, end_ns)`.
//!
//! A document is a *block*: up to [`BLOCK_LINES`] consecutive entries of one
//! stream (at most [`BLOCK_BYTES`] of text), so postings point at blocks,
//! not lines — a word repeated on every line costs one posting per block,
//! and the doc store compresses runs of one stream's lines together.
//! Entries wait in a per-stream block builder until the block is full or
//! the partition commits.
//!
//! Schema: `stream` (u64, indexed and fast, for selector lookup), `ts_min`
//! and `ts_max` (i64 fast fields: the block's time bounds), `line` (word
//! tokens of the block's lines by [`LogTokenizer`], postings without
//! frequencies, positions or norms, plus [`LONG_TOKEN_TERM`] when a line has
//! a token too long to index), `chunks` (the chunks of the other tokens by
//! [`ChunkTokenizer`], likewise) and `body` (stored bytes: the entries —
//! timestamp, line, structured metadata — see [`encode_block`]).
//! The doc store is zstd-compressed.
//!
//! Each partition directory holds a `FORMAT` file naming the layout; a
//! partition written with another layout is refused at open with a message
//! saying so, rather than read with the wrong schema.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tantivy::query::{
    BooleanQuery, EnableScoring, Occur, Query, RegexQuery, TermQuery, TermSetQuery,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, STORED,
};
use tantivy::store::{Compressor, ZstdCompressor};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy, Searcher,
    TantivyDocument, Term,
};

use crate::record::{bytes, put_bytes, put_uvarint, put_varint, uvarint, varint};
use crate::tokenizer::{ChunkTokenizer, LogTokenizer, Lookup, LONG_TOKEN_TERM};
use crate::{Error, LogEntry, Result, StreamId};

const TOKENIZER: &str = "sightline_log";
const CHUNK_TOKENIZER: &str = "sightline_chunk";
/// The layout written to `FORMAT` in every partition directory.
const FORMAT: &str = "sightline-log-partition 2\n";
/// Indexing memory per open writer (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 32 << 20;
/// Most entries in one block.
pub(crate) const BLOCK_LINES: usize = 512;
/// A block is closed once its lines hold this many bytes.
pub(crate) const BLOCK_BYTES: usize = 96 << 10;
/// zstd level and block size of the doc store (see docs/logs.md).
const DOCSTORE_LEVEL: i32 = 6;
const DOCSTORE_BLOCK: usize = 256 << 10;

#[derive(Debug, Clone, Copy)]
struct Fields {
    stream: Field,
    ts_min: Field,
    ts_max: Field,
    line: Field,
    chunks: Field,
    body: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stream = b.add_u64_field("stream", NumericOptions::default().set_fast().set_indexed());
    let ts_min = b.add_i64_field("ts_min", NumericOptions::default().set_fast());
    let ts_max = b.add_i64_field("ts_max", NumericOptions::default().set_fast());
    let text = |tokenizer: &str| {
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(tokenizer)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        )
    };
    let line = b.add_text_field("line", text(TOKENIZER));
    let chunks = b.add_text_field("chunks", text(CHUNK_TOKENIZER));
    let body = b.add_bytes_field("body", STORED);
    (
        b.build(),
        Fields {
            stream,
            ts_min,
            ts_max,
            line,
            chunks,
            body,
        },
    )
}

/// A block the index found, not yet read from the doc store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub ts_min: i64,
    pub ts_max: i64,
    pub stream: StreamId,
    pub addr: DocAddress,
}

/// Entries of one stream not yet written as a block.
#[derive(Debug, Default)]
struct BlockBuilder {
    entries: Vec<LogEntry>,
    bytes: usize,
}

/// An open index writer and the blocks being filled.
struct OpenWriter {
    writer: IndexWriter<TantivyDocument>,
    blocks: HashMap<StreamId, BlockBuilder>,
}

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
    fields: Fields,
}

impl std::fmt::Debug for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Partition")
            .field("dir", &self.dir)
            .field("pending", &self.pending)
            .finish_non_exhaustive()
    }
}

/// A block's stored form, column by column so that like compresses with
/// like: the entry count; every timestamp (zig-zag varint, each relative to
/// the one before, the first to `ts_min`); every line (length-prefixed);
/// every entry's structured metadata (pair count, then length-prefixed
/// names and values).
fn encode_block(entries: &[LogEntry], ts_min: i64, out: &mut Vec<u8>) {
    put_uvarint(out, entries.len() as u64);
    let mut prev = ts_min;
    for e in entries {
        put_varint(out, e.ts_ns.wrapping_sub(prev));
        prev = e.ts_ns;
    }
    for e in entries {
        put_bytes(out, e.line.as_bytes());
    }
    for e in entries {
        put_uvarint(out, e.metadata.len() as u64);
        for (n, v) in &e.metadata {
            put_bytes(out, n.as_bytes());
            put_bytes(out, v.as_bytes());
        }
    }
}

fn decode_block(mut r: &[u8], c: &Candidate) -> std::result::Result<Vec<LogEntry>, String> {
    let r = &mut r;
    let n = uvarint(r)?;
    if n > r.len() as u64 {
        return Err(format!("{n} entries in {} bytes", r.len()));
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let mut out = Vec::with_capacity(n as usize);
    let mut ts_ns = c.ts_min;
    for _ in 0..n {
        ts_ns = ts_ns.wrapping_add(varint(r)?);
        out.push(LogEntry {
            stream: c.stream,
            ts_ns,
            line: String::new(),
            metadata: Vec::new(),
        });
    }
    for e in &mut out {
        e.line = text(bytes(r)?);
    }
    for e in &mut out {
        for _ in 0..uvarint(r)? {
            e.metadata.push((text(bytes(r)?), text(bytes(r)?)));
        }
    }
    Ok(out)
}

impl Partition {
    /// Opens the partition in `dir`, creating it if it does not exist.
    pub fn open(dir: &Path, start_ns: i64, end_ns: i64) -> Result<Self> {
        let (schema, _) = schema();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let exists = dir.join("meta.json").exists();
        let format_path = dir.join("FORMAT");
        if exists {
            let found = std::fs::read_to_string(&format_path).unwrap_or_default();
            if found != FORMAT {
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
                .schema(schema)
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
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e| Error::index(dir, e))?;
        // Fields by name from the index's own schema, so a partition written
        // by another version is read by its schema or refused, never misread.
        let stored = index.schema();
        let field = |name: &str| stored.get_field(name).map_err(|e| Error::index(dir, e));
        let fields = Fields {
            stream: field("stream")?,
            ts_min: field("ts_min")?,
            ts_max: field("ts_max")?,
            line: field("line")?,
            chunks: field("chunks")?,
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
            fields,
        })
    }

    fn writer(&self) -> MutexGuard<'_, Option<OpenWriter>> {
        // A panic inside tantivy leaves at worst an uncommitted writer,
        // which the next commit or the WAL replay deals with.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn has_writer(&self) -> bool {
        self.writer().is_some()
    }

    pub fn add(&self, e: &LogEntry) -> Result<()> {
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
                })
            }
        };
        let block = open.blocks.entry(e.stream).or_default();
        block.bytes += e.line.len() + 1;
        block.entries.push(e.clone());
        self.pending.fetch_add(1, Ordering::Relaxed);
        if block.entries.len() >= BLOCK_LINES || block.bytes >= BLOCK_BYTES {
            // Emptied only once written: a failure leaves the block to the
            // next attempt (the commit).
            self.write_block(&open.writer, e.stream, &block.entries)?;
            block.entries.clear();
            block.bytes = 0;
        }
        Ok(())
    }

    /// Adds one block document to the writer.
    fn write_block(
        &self,
        writer: &IndexWriter<TantivyDocument>,
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
        doc.add_text(f.chunks, &text);
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
    pub fn commit(&self) -> Result<()> {
        let mut guard = self.writer();
        let pending = self.pending.swap(0, Ordering::Relaxed);
        if pending == 0 {
            *guard = None;
            return Ok(());
        }
        if let Some(open) = &mut *guard {
            let result = self.write_blocks(open).and_then(|()| {
                open.writer
                    .commit()
                    .map(|_| ())
                    .map_err(|e| Error::index(&self.dir, e))
            });
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
                self.write_block(&open.writer, stream, &b.entries)?;
            }
            open.blocks.remove(&stream);
        }
        Ok(())
    }

    pub fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(|e| Error::index(&self.dir, e))
    }

    /// Commits what was added and closes the writer, freeing its indexing
    /// memory. Entries committed here may also still be in the store's
    /// head until the next full commit; reads de-duplicate them.
    pub fn commit_and_close(&self) -> Result<()> {
        self.commit()?;
        self.reload()?;
        self.close();
        Ok(())
    }

    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
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

    /// Blocks of `streams` overlapping `[start_ns, end_ns)` whose lines may
    /// satisfy every lookup.
    pub fn candidates(
        &self,
        searcher: &Searcher,
        streams: &[StreamId],
        start_ns: i64,
        end_ns: i64,
        lookups: &[Lookup],
    ) -> Result<Vec<Candidate>> {
        let f = self.fields;
        let err = |e| Error::index(&self.dir, e);
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermSetQuery::new(
                streams.iter().map(|s| Term::from_field_u64(f.stream, s.0)),
            )),
        )];
        for l in lookups {
            must.push((Occur::Must, self.query(l)?));
        }
        let query = BooleanQuery::new(must);
        let weight = query
            .weight(EnableScoring::disabled_from_searcher(searcher))
            .map_err(err)?;
        let mut out = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let ts_min = segment.fast_fields().i64("ts_min").map_err(err)?;
            let ts_max = segment.fast_fields().i64("ts_max").map_err(err)?;
            let stream = segment.fast_fields().u64("stream").map_err(err)?;
            weight
                .for_each_no_score(segment, &mut |docs| {
                    for &doc in docs {
                        let c = Candidate {
                            ts_min: ts_min.first(doc).unwrap_or(i64::MIN),
                            ts_max: ts_max.first(doc).unwrap_or(i64::MAX),
                            stream: StreamId(stream.first(doc).unwrap_or(u64::MAX)),
                            addr: DocAddress::new(ord as u32, doc),
                        };
                        if c.ts_min < end_ns && c.ts_max >= start_ns {
                            out.push(c);
                        }
                    }
                })
                .map_err(err)?;
        }
        Ok(out)
    }

    /// The tantivy query for a lookup.
    fn query(&self, l: &Lookup) -> Result<Box<dyn Query>> {
        let f = self.fields;
        let term = |field, text: &str| -> Box<dyn Query> {
            Box::new(TermQuery::new(
                Term::from_field_text(field, text),
                IndexRecordOption::Basic,
            ))
        };
        let regex = |field, pattern: &str| -> Result<Box<dyn Query>> {
            Ok(Box::new(
                RegexQuery::from_pattern(pattern, field).map_err(|e| Error::index(&self.dir, e))?,
            ))
        };
        let many = |occur, items: &[Lookup]| -> Result<Box<dyn Query>> {
            let clauses = items
                .iter()
                .map(|i| Ok((occur, self.query(i)?)))
                .collect::<Result<Vec<_>>>()?;
            Ok(Box::new(BooleanQuery::new(clauses)))
        };
        match l {
            Lookup::Word(t) => Ok(term(f.line, t)),
            Lookup::Chunk(t) => Ok(term(f.chunks, t)),
            Lookup::WordPattern(p) => regex(f.line, p),
            Lookup::ChunkPattern(p) => regex(f.chunks, p),
            Lookup::LongToken => Ok(term(f.line, LONG_TOKEN_TERM)),
            Lookup::All(items) => many(Occur::Must, items),
            Lookup::Any(items) => many(Occur::Should, items),
        }
    }

    /// Reads a candidate block's entries.
    pub fn fetch(&self, searcher: &Searcher, c: &Candidate) -> Result<Vec<LogEntry>> {
        let doc: TantivyDocument = searcher
            .doc(c.addr)
            .map_err(|e| Error::index(&self.dir, e))?;
        let body = doc
            .get_first(self.fields.body)
            .and_then(|v| v.as_bytes())
            .unwrap_or_default();
        decode_block(body, c).map_err(|e| Error::Internal(format!("stored block: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_round_trip() {
        let entries: Vec<LogEntry> = (0..5)
            .map(|i| LogEntry {
                stream: StreamId(7),
                ts_ns: 1_000 - i * 300,
                line: format!("line {i} é"),
                metadata: if i == 2 {
                    vec![("trace".into(), "abc".into())]
                } else {
                    vec![]
                },
            })
            .collect();
        let mut buf = Vec::new();
        encode_block(&entries, -200, &mut buf);
        let c = Candidate {
            ts_min: -200,
            ts_max: 1_000,
            stream: StreamId(7),
            addr: DocAddress::new(0, 0),
        };
        assert_eq!(decode_block(&buf, &c).unwrap_or_default(), entries);
        assert!(decode_block(&buf[..buf.len() - 1], &c).is_err());
    }
}
