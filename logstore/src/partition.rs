//! One time partition: a tantivy index holding the entries whose timestamps
//! fall in `[start_ns, end_ns)`.
//!
//! Schema: `ts` (i64 ns, fast field), `stream` (u64, indexed and fast, for
//! selector lookup), `line` (tokenized by [`LogTokenizer`], postings without
//! frequencies or positions, stored), `meta` (structured metadata, stored
//! bytes) and `flags` (marker terms, e.g. "has a token too long to index").
//! The doc store is zstd-compressed.

use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use tantivy::query::{
    BooleanQuery, EnableScoring, Occur, Query, RangeQuery, RegexQuery, TermQuery, TermSetQuery,
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

use crate::record::{bytes, put_bytes};
use crate::tokenizer::{has_long_token, LogTokenizer, Plan};
use crate::{Error, LogEntry, Result, StreamId};

const TOKENIZER: &str = "sightline_log";
const LONG_TOKEN_FLAG: &str = "long_token";
/// Indexing memory per open writer (tantivy's minimum is 15 MB).
const WRITER_MEMORY: usize = 32 << 20;

#[derive(Debug, Clone, Copy)]
struct Fields {
    ts: Field,
    stream: Field,
    line: Field,
    meta: Field,
    flags: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let ts = b.add_i64_field("ts", NumericOptions::default().set_fast());
    let stream = b.add_u64_field("stream", NumericOptions::default().set_fast().set_indexed());
    let line = b.add_text_field(
        "line",
        TextOptions::default().set_stored().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(TOKENIZER)
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        ),
    );
    let meta = b.add_bytes_field("meta", STORED);
    let flags = b.add_text_field(
        "flags",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("raw")
                .set_index_option(IndexRecordOption::Basic)
                .set_fieldnorms(false),
        ),
    );
    (
        b.build(),
        Fields {
            ts,
            stream,
            line,
            meta,
            flags,
        },
    )
}

/// An entry found by the index, not yet read from the doc store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate {
    pub ts_ns: i64,
    pub stream: StreamId,
    pub addr: DocAddress,
}

pub(crate) struct Partition {
    pub start_ns: i64,
    pub end_ns: i64,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    /// Its own lock: a commit holds it while reads go on with the last
    /// committed searcher.
    writer: Mutex<Option<IndexWriter<TantivyDocument>>>,
    /// Documents added since the last commit.
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

impl Partition {
    /// Opens the partition in `dir`, creating it if it does not exist.
    pub fn open(dir: &Path, start_ns: i64, end_ns: i64) -> Result<Self> {
        let (schema, _) = schema();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let exists = dir.join("meta.json").exists();
        let index = if exists {
            Index::open_in_dir(dir).map_err(|e| Error::index(dir, e))?
        } else {
            Index::builder()
                .schema(schema)
                .settings(IndexSettings {
                    docstore_compression: Compressor::Zstd(ZstdCompressor {
                        compression_level: Some(9),
                    }),
                    docstore_blocksize: 256 << 10,
                    ..IndexSettings::default()
                })
                .create_in_dir(dir)
                .map_err(|e| Error::index(dir, e))?
        };
        index
            .tokenizers()
            .register(TOKENIZER, TextAnalyzer::from(LogTokenizer::default()));
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
            ts: field("ts")?,
            stream: field("stream")?,
            line: field("line")?,
            meta: field("meta")?,
            flags: field("flags")?,
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

    fn writer(&self) -> MutexGuard<'_, Option<IndexWriter<TantivyDocument>>> {
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
        let writer = match &mut *guard {
            Some(w) => w,
            None => {
                let w = self
                    .index
                    .writer_with_num_threads(1, WRITER_MEMORY)
                    .map_err(|e| Error::index(&self.dir, e))?;
                guard.insert(w)
            }
        };
        let f = self.fields;
        let mut doc = TantivyDocument::new();
        doc.add_i64(f.ts, e.ts_ns);
        doc.add_u64(f.stream, e.stream.0);
        doc.add_text(f.line, &e.line);
        if !e.metadata.is_empty() {
            let mut buf = Vec::new();
            for (n, v) in &e.metadata {
                put_bytes(&mut buf, n.as_bytes());
                put_bytes(&mut buf, v.as_bytes());
            }
            doc.add_bytes(f.meta, &buf);
        }
        if has_long_token(&e.line) {
            doc.add_text(f.flags, LONG_TOKEN_FLAG);
        }
        writer
            .add_document(doc)
            .map_err(|e| Error::index(&self.dir, e))?;
        self.pending.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Commits what was added. New searchers see it after [`Self::reload`].
    /// A writer that had nothing to commit is closed (partitions that
    /// stopped receiving data hold no indexing memory).
    pub fn commit(&self) -> Result<()> {
        let mut guard = self.writer();
        let pending = self.pending.swap(0, Ordering::Relaxed);
        if pending == 0 {
            *guard = None;
            return Ok(());
        }
        if let Some(w) = &mut *guard {
            if let Err(e) = w.commit() {
                // Still to commit: the next attempt must not take the
                // writer for idle and drop it.
                self.pending.fetch_add(pending, Ordering::Relaxed);
                return Err(Error::index(&self.dir, e));
            }
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
    pub fn close(&self) {
        let writer = self.writer().take();
        if let Some(w) = writer {
            if let Err(e) = w.wait_merging_threads() {
                tracing::warn!(dir = %self.dir.display(), error = %e, "closing a log index writer");
            }
        }
    }

    /// Entries of `streams` in `[start_ns, end_ns)` whose lines may satisfy
    /// every plan.
    pub fn candidates(
        &self,
        searcher: &Searcher,
        streams: &[StreamId],
        start_ns: i64,
        end_ns: i64,
        plans: &[Plan],
    ) -> Result<Vec<Candidate>> {
        let f = self.fields;
        let err = |e| Error::index(&self.dir, e);
        let mut must: Vec<(Occur, Box<dyn Query>)> = vec![(
            Occur::Must,
            Box::new(TermSetQuery::new(
                streams.iter().map(|s| Term::from_field_u64(f.stream, s.0)),
            )),
        )];
        if start_ns > self.start_ns || end_ns < self.end_ns {
            must.push((
                Occur::Must,
                Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_i64(f.ts, start_ns)),
                    Bound::Excluded(Term::from_field_i64(f.ts, end_ns)),
                )),
            ));
        }
        for p in plans {
            match p {
                Plan::Terms(terms) => {
                    for t in terms {
                        must.push((
                            Occur::Must,
                            Box::new(TermQuery::new(
                                Term::from_field_text(f.line, t),
                                IndexRecordOption::Basic,
                            )),
                        ));
                    }
                }
                Plan::TermPattern(pattern) => {
                    let regex = RegexQuery::from_pattern(pattern, f.line).map_err(err)?;
                    let long = TermQuery::new(
                        Term::from_field_text(f.flags, LONG_TOKEN_FLAG),
                        IndexRecordOption::Basic,
                    );
                    must.push((
                        Occur::Must,
                        Box::new(BooleanQuery::new(vec![
                            (Occur::Should, Box::new(regex) as Box<dyn Query>),
                            (Occur::Should, Box::new(long)),
                        ])),
                    ));
                }
                Plan::Scan => {}
            }
        }
        let query = BooleanQuery::new(must);
        let weight = query
            .weight(EnableScoring::disabled_from_searcher(searcher))
            .map_err(err)?;
        let mut out = Vec::new();
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let ts = segment.fast_fields().i64("ts").map_err(err)?;
            let stream = segment.fast_fields().u64("stream").map_err(err)?;
            weight
                .for_each_no_score(segment, &mut |docs| {
                    for &doc in docs {
                        out.push(Candidate {
                            ts_ns: ts.first(doc).unwrap_or(i64::MIN),
                            stream: StreamId(stream.first(doc).unwrap_or(u64::MAX)),
                            addr: DocAddress::new(ord as u32, doc),
                        });
                    }
                })
                .map_err(err)?;
        }
        Ok(out)
    }

    /// Reads a candidate's line and structured metadata.
    pub fn fetch(
        &self,
        searcher: &Searcher,
        c: &Candidate,
    ) -> Result<(String, Vec<(String, String)>)> {
        let f = self.fields;
        let doc: TantivyDocument = searcher
            .doc(c.addr)
            .map_err(|e| Error::index(&self.dir, e))?;
        let line = doc
            .get_first(f.line)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string();
        let mut metadata = Vec::new();
        if let Some(mut b) = doc.get_first(f.meta).and_then(|v| v.as_bytes()) {
            let r = &mut b;
            while !r.is_empty() {
                let pair = bytes(r)
                    .and_then(|n| Ok((n, bytes(r)?)))
                    .map_err(|e| Error::Internal(format!("stored metadata: {e}")))?;
                metadata.push((
                    String::from_utf8_lossy(pair.0).into_owned(),
                    String::from_utf8_lossy(pair.1).into_owned(),
                ));
            }
        }
        Ok((line, metadata))
    }
}
