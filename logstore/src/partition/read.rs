//! Reading a partition: the candidate blocks of a scan — selected by
//! stream and time bounds, and by the lookups a substring filter implies
//! (postings in layout 2; word postings and block Bloom filters in layout
//! 3) — and their entries, read from the doc store.

use std::sync::Arc;

use tantivy::columnar::Column;
use tantivy::query::{
    BooleanQuery, EnableScoring, Occur, Query, RegexQuery, TermQuery, TermSetQuery, Weight,
};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::store::StoreReader;
use tantivy::{BitSet, DocAddress, DocId, Searcher, SegmentReader, TantivyDocument, Term};

use super::body::decode_block;
use super::schema::Chunks;
use super::Partition;
use crate::filter;
use crate::tokenizer::{Lookup, LONG_TOKEN_TERM};
use crate::{Error, LogEntry, Result, StreamId};

/// Decompressed doc-store blocks (256 KiB each) each segment's reader
/// keeps: 2 MiB per segment read, where tantivy's searcher would keep up
/// to 100.
const STORE_CACHE_BLOCKS: usize = 8;

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

impl Partition {
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
    pub(super) fn stores(&self, searcher: &Searcher) -> Result<Arc<Vec<StoreReader>>> {
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
pub(super) fn stored_body(raw: &[u8], body: Field) -> Option<&[u8]> {
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
