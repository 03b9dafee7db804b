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
//! Schema (layout 3): `stream` (u64, indexed and fast, for selector
//! lookup), `ts_min` and `ts_max` (i64 fast fields: the block's time
//! bounds), `lines` and `bytes` (u64 fast fields: entries and line bytes,
//! so sizes are known without reading the block), `line` (word tokens of
//! the block's lines by [`LogTokenizer`], postings without frequencies,
//! positions or norms, plus [`LONG_TOKEN_TERM`] when a line has a token too
//! long to index), `filter` (a multi-valued u64 fast field: the Bloom
//! filter of the chunks of the other tokens by [`ChunkTokenizer`], see
//! [`crate::filter`]) and `body` (stored bytes: the entries — timestamp,
//! line, structured metadata — see [`encode_block`]). The doc store is
//! zstd-compressed.
//!
//! Layout 2 posted the chunks as terms of a `chunks` text field and had no
//! sizes; its partitions are still read and written in their own layout.
//!
//! Each partition directory holds a `FORMAT` file naming the layout; a
//! partition written with a layout this version does not know is refused at
//! open with a message saying so, rather than read with the wrong schema.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, EnableScoring, Occur, Query, RegexQuery, TermQuery, TermSetQuery, Weight,
};
use tantivy::schema::{
    Field, IndexRecordOption, NumericOptions, Schema, TextFieldIndexing, TextOptions, Value, FAST,
    STORED,
};
use tantivy::store::{Compressor, StoreReader, ZstdCompressor};
use tantivy::tokenizer::{TextAnalyzer, TokenStream, Tokenizer};
use tantivy::{
    BitSet, DocAddress, DocId, Index, IndexReader, IndexSettings, IndexWriter, ReloadPolicy,
    Searcher, SegmentReader, TantivyDocument, Term,
};

use crate::filter;
use crate::record::{bytes, put_bytes, put_uvarint, put_varint, uvarint, varint};
use crate::tokenizer::{ChunkTokenizer, LogTokenizer, Lookup, LONG_TOKEN_TERM};
use crate::{Error, LogEntry, Result, StreamId};

const TOKENIZER: &str = "sightline_log";
const CHUNK_TOKENIZER: &str = "sightline_chunk";
/// The layout written to `FORMAT` in new partition directories.
const FORMAT: &str = "sightline-log-partition 3\n";
/// The commit payload: the WAL segment the commit covers (see
/// [`Partition::commit`]).
const PAYLOAD_PREFIX: &str = "wal-through ";
/// The previous layout, still read and written (chunks as terms).
const FORMAT_2: &str = "sightline-log-partition 2\n";
/// Indexing memory per open writer (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 32 << 20;
/// Most entries in one block.
pub(crate) const BLOCK_LINES: usize = 512;
/// A block is closed once its lines hold this many bytes.
pub(crate) const BLOCK_BYTES: usize = 96 << 10;
/// zstd level and block size of the doc store (see docs/logs.md).
const DOCSTORE_LEVEL: i32 = 6;
const DOCSTORE_BLOCK: usize = 256 << 10;
/// Decompressed doc-store blocks (256 KiB each) each segment's reader
/// keeps: 2 MiB per segment read, where tantivy's searcher would keep up
/// to 100.
const STORE_CACHE_BLOCKS: usize = 8;

#[derive(Debug, Clone, Copy)]
struct Fields {
    stream: Field,
    ts_min: Field,
    ts_max: Field,
    line: Field,
    chunks: Chunks,
    body: Field,
}

/// How a partition indexes the chunks of id-like tokens.
#[derive(Debug, Clone, Copy)]
enum Chunks {
    /// Layout 2: terms of the `chunks` text field.
    Terms(Field),
    /// Layout 3: a Bloom filter per block in the `filter` fast field, and
    /// the block's size in `lines` and `bytes`.
    Filter {
        filter: Field,
        lines: Field,
        bytes: Field,
    },
}

fn text_options(tokenizer: &str) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(tokenizer)
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    )
}

/// The schema of new partitions (layout 3).
fn schema() -> Schema {
    let mut b = Schema::builder();
    b.add_u64_field("stream", NumericOptions::default().set_fast().set_indexed());
    b.add_i64_field("ts_min", NumericOptions::default().set_fast());
    b.add_i64_field("ts_max", NumericOptions::default().set_fast());
    b.add_u64_field("lines", FAST);
    b.add_u64_field("bytes", FAST);
    b.add_text_field("line", text_options(TOKENIZER));
    b.add_u64_field("filter", FAST);
    b.add_bytes_field("body", STORED);
    b.build()
}

/// A block's size, from layout 3's fast fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BlockSize {
    pub lines: u64,
    /// Line bytes.
    pub bytes: u64,
}

/// A block the index found, not yet read from the doc store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub ts_min: i64,
    pub ts_max: i64,
    pub stream: StreamId,
    pub addr: DocAddress,
    /// Known without reading the block in layout 3.
    pub size: Option<BlockSize>,
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
    scratch: Scratch,
}

/// Buffers reused from block to block.
#[derive(Default)]
struct Scratch {
    chunker: ChunkTokenizer,
    hashes: Vec<u64>,
    filter: Vec<u64>,
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
    let text = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    };
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

    fn writer(&self) -> MutexGuard<'_, Option<OpenWriter>> {
        // A panic inside tantivy leaves at worst an uncommitted writer,
        // which the next commit or the WAL replay deals with.
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The WAL segment through which this partition's entries are in its
    /// committed index (0: none known).
    pub fn committed_through(&self) -> u64 {
        self.committed_through.load(Ordering::Relaxed)
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

    /// Entries with a sequence number ([`Self::add`]) up to this are in
    /// the last committed index.
    pub fn committed_seq(&self) -> u64 {
        self.committed_seq.load(Ordering::Relaxed)
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

    pub fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(|e| Error::index(&self.dir, e))
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
        // Layout 2 answers every lookup from postings; layout 3 takes the
        // blocks of the streams and tests each against the lookups, with
        // word lookups answered from postings (see `Test`).
        let filtered = matches!(f.chunks, Chunks::Filter { .. });
        if !filtered {
            for l in lookups {
                must.push((Occur::Must, self.query(l)?));
            }
        }
        let scoring = EnableScoring::disabled_from_searcher(searcher);
        let weight = BooleanQuery::new(must).weight(scoring).map_err(err)?;
        let mut out = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let fast = segment.fast_fields();
            let ts_min = fast.i64("ts_min").map_err(err)?;
            let ts_max = fast.i64("ts_max").map_err(err)?;
            let stream = fast.u64("stream").map_err(err)?;
            let (sizes, tests) = match f.chunks {
                Chunks::Terms(_) => (None, Vec::new()),
                Chunks::Filter { .. } => {
                    let sizes = (
                        fast.u64("lines").map_err(err)?,
                        fast.u64("bytes").map_err(err)?,
                        fast.u64("filter").map_err(err)?,
                    );
                    let tests = lookups
                        .iter()
                        .map(|l| self.test(l, searcher, segment))
                        .collect::<Result<Vec<_>>>()?;
                    (Some(sizes), tests)
                }
            };
            weight
                .for_each_no_score(segment, &mut |docs| {
                    for &doc in docs {
                        let c = Candidate {
                            ts_min: ts_min.first(doc).unwrap_or(i64::MIN),
                            ts_max: ts_max.first(doc).unwrap_or(i64::MAX),
                            stream: StreamId(stream.first(doc).unwrap_or(u64::MAX)),
                            addr: DocAddress::new(ord as u32, doc),
                            size: sizes.as_ref().map(|(lines, bytes, _)| BlockSize {
                                lines: lines.first(doc).unwrap_or(0),
                                bytes: bytes.first(doc).unwrap_or(0),
                            }),
                        };
                        if c.ts_min >= end_ns || c.ts_max < start_ns {
                            continue;
                        }
                        if let Some((_, _, filter)) = &sizes {
                            if !tests.iter().all(|t| t.passes(doc, filter)) {
                                continue;
                            }
                        }
                        out.push(c);
                    }
                })
                .map_err(err)?;
        }
        Ok(out)
    }

    /// A lookup compiled for one segment of a layout-3 partition.
    fn test(&self, l: &Lookup, searcher: &Searcher, segment: &SegmentReader) -> Result<Test> {
        let err = |e| Error::index(&self.dir, e);
        let many = |items: &[Lookup]| -> Result<Vec<Test>> {
            items
                .iter()
                .map(|i| self.test(i, searcher, segment))
                .collect()
        };
        Ok(match l {
            Lookup::Chunk(t) => Test::Chunk(filter::hash(t)),
            // A Bloom filter cannot answer for part of a chunk.
            Lookup::ChunkPattern(_) => Test::Maybe,
            Lookup::All(items) => Test::All(many(items)?),
            Lookup::Any(items) => Test::Any(many(items)?),
            Lookup::Word(_) | Lookup::WordPattern(_) | Lookup::LongToken => {
                let weight: Box<dyn Weight> = self
                    .query(l)?
                    .weight(EnableScoring::disabled_from_searcher(searcher))
                    .map_err(err)?;
                let mut docs = BitSet::with_max_value(segment.max_doc());
                weight
                    .for_each_no_score(segment, &mut |found| {
                        for &d in found {
                            docs.insert(d);
                        }
                    })
                    .map_err(err)?;
                Test::Docs(docs)
            }
        })
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
        let chunks = |l: &Lookup| match f.chunks {
            Chunks::Terms(field) => Ok(field),
            Chunks::Filter { .. } => Err(Error::Internal(format!(
                "{l:?} is answered by the block filters of {}",
                self.dir.display()
            ))),
        };
        match l {
            Lookup::Word(t) => Ok(term(f.line, t)),
            Lookup::Chunk(t) => Ok(term(chunks(l)?, t)),
            Lookup::WordPattern(p) => regex(f.line, p),
            Lookup::ChunkPattern(p) => regex(chunks(l)?, p),
            Lookup::LongToken => Ok(term(f.line, LONG_TOKEN_TERM)),
            Lookup::All(items) => many(Occur::Must, items),
            Lookup::Any(items) => many(Occur::Should, items),
        }
    }

    /// Reads a candidate block's entries.
    pub fn fetch(&self, searcher: &Searcher, c: &Candidate) -> Result<Vec<LogEntry>> {
        let err = |e| Error::index(&self.dir, e);
        let stores = self.stores(searcher)?;
        let raw = match stores.get(c.addr.segment_ord as usize) {
            Some(store) => Some(store.get_document_bytes(c.addr.doc_id).map_err(err)?),
            None => None,
        };
        let decoded = match raw
            .as_deref()
            .and_then(|r| stored_body(r, self.fields.body))
        {
            Some(body) => decode_block(body, c),
            None => {
                let doc: TantivyDocument = searcher.doc(c.addr).map_err(err)?;
                let body = doc
                    .get_first(self.fields.body)
                    .and_then(|v| v.as_bytes())
                    .unwrap_or_default();
                decode_block(body, c)
            }
        };
        decoded.map_err(|e| Error::Internal(format!("stored block: {e}")))
    }

    /// The doc-store readers of `searcher`'s segments, opened once per
    /// searcher generation.
    fn stores(&self, searcher: &Searcher) -> Result<Arc<Vec<StoreReader>>> {
        let generation = searcher.generation().generation_id();
        let mut cached = self.stores.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((g, stores)) = &*cached {
            if *g == generation {
                return Ok(Arc::clone(stores));
            }
        }
        let stores = searcher
            .segment_readers()
            .iter()
            .map(|s| s.get_store_reader(STORE_CACHE_BLOCKS))
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| Error::io(&self.dir, e))?;
        let stores = Arc::new(stores);
        *cached = Some((generation, Arc::clone(&stores)));
        Ok(stores)
    }
}

/// The `body` bytes of a stored document as tantivy's doc store encodes
/// it: a VInt count of values, then per value the field id (u32, little
/// endian), a type code and, for bytes, a VInt length and the bytes. Read
/// here in place because tantivy's deserializer copies bytes values one
/// byte at a time, which cost more than decompressing them. `None` when the
/// document is anything but exactly one bytes value of `body` (another
/// encoding): the caller then asks tantivy.
fn stored_body(raw: &[u8], body: Field) -> Option<&[u8]> {
    /// tantivy's VInt: seven bits per byte, low first, the last byte
    /// flagged by its high bit.
    fn vint(r: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for (i, &b) in r.iter().enumerate().take(10) {
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 != 0 {
                *r = &r[i + 1..];
                return Some(v);
            }
        }
        None
    }
    const BYTES_CODE: u8 = 4;
    let mut r = raw;
    if vint(&mut r)? != 1 {
        return None;
    }
    let (field, rest) = r.split_first_chunk::<4>()?;
    let (&code, mut rest) = rest.split_first()?;
    if u32::from_le_bytes(*field) != body.field_id() || code != BYTES_CODE {
        return None;
    }
    let len = usize::try_from(vint(&mut rest)?).ok()?;
    (rest.len() == len).then_some(rest)
}

/// A lookup compiled for one segment of a layout-3 partition: word
/// lookups as the set of documents their postings name, chunks as filter
/// probes.
enum Test {
    Docs(BitSet),
    Chunk(u64),
    /// The index cannot tell.
    Maybe,
    All(Vec<Test>),
    Any(Vec<Test>),
}

impl Test {
    fn passes(&self, doc: DocId, filter: &Column<u64>) -> bool {
        match self {
            Test::Docs(docs) => docs.contains(doc),
            Test::Chunk(h) => {
                let rows = filter.index.value_row_ids(doc);
                let words = (rows.end - rows.start) as usize;
                filter::may_contain(words, *h, |i| filter.values.get_val(rows.start + i as u32))
            }
            Test::Maybe => true,
            Test::All(items) => items.iter().all(|t| t.passes(doc, filter)),
            Test::Any(items) => items.iter().any(|t| t.passes(doc, filter)),
        }
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
            size: None,
        };
        assert_eq!(decode_block(&buf, &c).unwrap_or_default(), entries);
        assert!(decode_block(&buf[..buf.len() - 1], &c).is_err());
    }

    fn entry(stream: u64, ts_ns: i64, line: String) -> LogEntry {
        LogEntry {
            stream: StreamId(stream),
            ts_ns,
            line,
            metadata: vec![],
        }
    }

    fn lookup(needle: &str) -> Vec<Lookup> {
        match crate::tokenizer::plan(needle) {
            crate::tokenizer::Plan::Lookup(l) => vec![l],
            crate::tokenizer::Plan::Scan => panic!("{needle} plans a scan"),
        }
    }

    /// 600 lines of stream 1 with ids, committed: a full block and the rest.
    fn fill(p: &Partition) -> Vec<LogEntry> {
        let entries: Vec<LogEntry> = (0..600)
            .map(|i| {
                let id = format!(
                    "{:032x}",
                    (i as u128).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c)
                );
                entry(
                    1,
                    1_000 + i,
                    format!("GET /orders trace_id={id} took={i}ms"),
                )
            })
            .collect();
        for e in &entries {
            p.add(e).unwrap();
        }
        p.commit(None).unwrap();
        p.reload().unwrap();
        entries
    }

    #[test]
    fn blocks_carry_sizes_and_bodies_are_read_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let p = Partition::open(dir.path(), 0, 1 << 40).unwrap();
        let entries = fill(&p);
        let searcher = p.searcher();
        let blocks = p
            .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &[])
            .unwrap();
        let sizes: Vec<Option<BlockSize>> = blocks.iter().map(|b| b.size).collect();
        let bytes = |r: std::ops::Range<usize>| -> u64 {
            entries[r].iter().map(|e| e.line.len() as u64).sum()
        };
        assert_eq!(
            sizes,
            [
                Some(BlockSize {
                    lines: 512,
                    bytes: bytes(0..512)
                }),
                Some(BlockSize {
                    lines: 88,
                    bytes: bytes(512..600)
                }),
            ]
        );
        let stores = p.stores(&searcher).unwrap();
        let mut read = Vec::new();
        for b in &blocks {
            let raw = stores[b.addr.segment_ord as usize]
                .get_document_bytes(b.addr.doc_id)
                .unwrap();
            assert!(
                stored_body(&raw, p.fields.body).is_some(),
                "read through tantivy"
            );
            read.extend(p.fetch(&searcher, b).unwrap());
        }
        assert_eq!(read, entries);
        // The filter finds an id of the second block and nothing else.
        let id = entries[555]
            .line
            .split('=')
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let found = p
            .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &lookup(id))
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].ts_min, entries[512].ts_ns);
        let absent = p
            .candidates(
                &searcher,
                &[StreamId(1)],
                0,
                1 << 40,
                &lookup("trace_id=0123456789abcdef0123456789abcdef"),
            )
            .unwrap();
        assert!(absent.is_empty());
        // A word and a chunk of the same query: both must hold.
        let both = p
            .candidates(
                &searcher,
                &[StreamId(1)],
                0,
                1 << 40,
                &[lookup("orders")[0].clone(), lookup(id)[0].clone()],
            )
            .unwrap();
        assert_eq!(both.len(), 1);
    }

    #[test]
    fn stored_bodies_parse_only_in_the_expected_encoding() {
        let body = Field::from_field_id(5);
        // count 1, field 5 (u32 le), bytes code 4, length 3, "abc"
        let doc = [0x81, 5, 0, 0, 0, 4, 0x83, b'a', b'b', b'c'];
        assert_eq!(stored_body(&doc, body), Some(&b"abc"[..]));
        // A longer length: two VInt bytes, low seven bits first.
        let mut long = vec![0x81, 5, 0, 0, 0, 4, 0x2c, 0x82];
        long.extend(std::iter::repeat_n(b'x', 300));
        assert_eq!(stored_body(&long, body).map(<[u8]>::len), Some(300));
        let mut two = doc;
        two[0] = 0x82;
        assert_eq!(stored_body(&two, body), None, "two values");
        assert_eq!(
            stored_body(&doc, Field::from_field_id(6)),
            None,
            "another field"
        );
        let mut text = doc;
        text[5] = 0;
        assert_eq!(stored_body(&text, body), None, "a text value");
        assert_eq!(stored_body(&doc[..9], body), None, "cut short");
        assert_eq!(stored_body(&[], body), None);
    }

    /// The schema partitions had before block filters.
    fn schema_2() -> Schema {
        let mut b = Schema::builder();
        b.add_u64_field("stream", NumericOptions::default().set_fast().set_indexed());
        b.add_i64_field("ts_min", NumericOptions::default().set_fast());
        b.add_i64_field("ts_max", NumericOptions::default().set_fast());
        b.add_text_field("line", text_options(TOKENIZER));
        b.add_text_field("chunks", text_options(CHUNK_TOKENIZER));
        b.add_bytes_field("body", STORED);
        b.build()
    }

    #[test]
    fn layout_2_partitions_are_still_read_and_written() {
        let dir = tempfile::tempdir().unwrap();
        Index::create_in_dir(dir.path(), schema_2()).unwrap();
        std::fs::write(dir.path().join("FORMAT"), FORMAT_2).unwrap();
        let p = Partition::open(dir.path(), 0, 1 << 40).unwrap();
        assert!(matches!(p.fields.chunks, Chunks::Terms(_)));
        let entries = fill(&p);
        let searcher = p.searcher();
        let blocks = p
            .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &[])
            .unwrap();
        assert!(blocks.iter().all(|b| b.size.is_none()));
        let id = entries[7]
            .line
            .split('=')
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let found = p
            .candidates(&searcher, &[StreamId(1)], 0, 1 << 40, &lookup(id))
            .unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(p.fetch(&searcher, &found[0]).unwrap()[7], entries[7]);
        assert_eq!(
            std::fs::read_to_string(dir.path().join("FORMAT")).unwrap(),
            FORMAT_2
        );
        // An unknown layout is refused, naming it.
        let other = tempfile::tempdir().unwrap();
        Index::create_in_dir(other.path(), schema_2()).unwrap();
        std::fs::write(other.path().join("FORMAT"), "sightline-log-partition 9\n").unwrap();
        let e = Partition::open(other.path(), 0, 1 << 40).unwrap_err();
        assert!(e.to_string().contains("sightline-log-partition 9"), "{e}");
    }
}
