//! Immutable, time-bounded blocks of samples in Parquet.
//!
//! A block is a directory of four files:
//!
//! - `samples.parquet`: one row per sample — `series` (u32, dictionary: a
//!   series is one run), `timestamp` (ms, delta-binary-packed), and the value
//!   as `mantissa` (i64, delta-binary-packed) with `exponent` (i8,
//!   dictionary) when a run of values is exactly decimal (`m / 10^e`,
//!   [`decimal`]), else `value_xor`: the value's bits XORed with the series'
//!   previous value's, byte-stream-split. Rows are sorted by series then
//!   time within each time slice; each slice is its own row group(s), so
//!   row-group statistics on `timestamp` skip slices by time, and the page
//!   index on `series` lets a reader fetch only the pages holding the
//!   selected series. Every value reads back bit for bit (NaN payloads and
//!   the staleness marker included).
//! - `series.parquet`: the series table, one row per label
//!   (`series`, `name`, `value`). Series ids are assigned in label order.
//! - `postings.parquet`: `(name, value, series)` sorted — the inverted index
//!   a selector resolves against without reading any sample.
//! - `meta.json`: time range (`max_time` exclusive), counts, bytes,
//!   encodings, and compaction lineage.
//!
//! The layout was chosen by measuring alternatives on node_exporter- and
//! cAdvisor-shaped data (`docs/storage.md`, `benches storage-formats`).

pub mod decimal;
mod index;
mod write;

use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Int64Type, Int8Type, UInt32Type};
use arrow_array::RecordBatch;
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::arrow::ProjectionMask;
use parquet::file::page_index::column_index::ColumnIndexMetaData;
use parquet::file::statistics::Statistics;
use serde::{Deserialize, Serialize};
use sightline_model::{Labels, Matcher};

pub use index::BlockIndex;
pub use write::{BlockBuilder, WriteOptions};

use crate::store::{BlockStore, ParquetFile};
use crate::{Error, Result};
use sightline_model::Sample;
use sightline_read::metrics::{Querier, Series, SeriesSet, TimeRange};
use write::parquet_err;

pub const SAMPLES_FILE: &str = "samples.parquet";
pub const SERIES_FILE: &str = "series.parquet";
pub const POSTINGS_FILE: &str = "postings.parquet";
pub const META_FILE: &str = "meta.json";

/// A block's `meta.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BlockMeta {
    pub version: u32,
    pub id: String,
    /// First millisecond covered.
    pub min_time: i64,
    /// End of the covered range, exclusive.
    pub max_time: i64,
    pub stats: BlockStats,
    pub compaction: Compaction,
    pub encoding: String,
    /// For blocks cut from the head (or compacted from such), the end of the
    /// head data they hold: on open the head refuses and skips older WAL
    /// samples. Imported blocks have none, so backfilling never makes live
    /// data out of bounds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_max_time: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockStats {
    pub series: u64,
    pub samples: u64,
    /// Bytes of the data files (`meta.json` aside); on open, of all files.
    #[serde(default)]
    pub bytes: u64,
}

/// Lineage: level 1 is cut from the head or imported; compaction produces
/// level max(sources)+1 and lists its direct sources, so a crash between
/// publishing the result and deleting the sources is repaired on open.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compaction {
    pub level: u32,
    #[serde(default)]
    pub sources: Vec<String>,
}

fn samples_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("series", DataType::UInt32, false),
            Field::new("timestamp", DataType::Int64, false),
            Field::new("mantissa", DataType::Int64, true),
            Field::new("exponent", DataType::Int8, false),
            Field::new("value_xor", DataType::Int64, true),
        ]))
    }))
}

fn series_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("series", DataType::UInt32, false),
            Field::new("name", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
        ]))
    }))
}

fn postings_schema() -> SchemaRef {
    static S: OnceLock<SchemaRef> = OnceLock::new();
    Arc::clone(S.get_or_init(|| {
        Arc::new(Schema::new(vec![
            Field::new("name", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, false),
            Field::new("series", DataType::UInt32, false),
        ]))
    }))
}

/// An open block: its meta, its index in memory, and the samples file's
/// Parquet metadata (with page index) ready for ranged reads.
#[derive(Debug)]
pub struct Block {
    meta: BlockMeta,
    index: BlockIndex,
    samples: ParquetFile,
    samples_meta: ArrowReaderMetadata,
}

impl Block {
    pub fn open(store: &Arc<dyn BlockStore>, id: &str) -> Result<Self> {
        let raw = store.read(id, META_FILE)?;
        let mut meta: BlockMeta = serde_json::from_slice(&raw).map_err(|e| {
            Error::InvalidArgument(format!("block {id}: unreadable {META_FILE}: {e}"))
        })?;
        meta.stats.bytes = store.size(id)?;
        let index = BlockIndex::load(
            ParquetFile(store.open(id, SERIES_FILE)?),
            ParquetFile(store.open(id, POSTINGS_FILE)?),
        )
        .map_err(|e| parquet_err(format!("{id}/{SERIES_FILE}"), e))?;
        let samples = ParquetFile(store.open(id, SAMPLES_FILE)?);
        let samples_meta = ArrowReaderMetadata::load(
            &samples,
            ArrowReaderOptions::new()
                .with_page_index_policy(parquet::file::metadata::PageIndexPolicy::Optional),
        )
        .map_err(|e| parquet_err(format!("{id}/{SAMPLES_FILE}"), e))?;
        Ok(Self {
            meta,
            index,
            samples,
            samples_meta,
        })
    }

    pub fn meta(&self) -> &BlockMeta {
        &self.meta
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    pub fn index(&self) -> &BlockIndex {
        &self.index
    }

    fn overlaps(&self, range: TimeRange) -> bool {
        self.meta.min_time <= range.end_ms && self.meta.max_time > range.start_ms
    }

    /// Samples of the series `wanted` (ascending ids) within `range`,
    /// grouped per series in id order, read lazily row group by row group.
    pub fn samples(
        &self,
        wanted: Arc<[u32]>,
        range: TimeRange,
    ) -> Result<impl Iterator<Item = Result<(u32, Vec<Sample>)>> + Send + 'static> {
        let md = self.samples_meta.metadata();
        let mut streams = Vec::new();
        for rg in 0..md.num_row_groups() {
            let group = md.row_group(rg);
            let (lo, hi) = match group.column(1).statistics() {
                Some(Statistics::Int64(s)) => (s.min_opt().copied(), s.max_opt().copied()),
                _ => (None, None),
            };
            if lo.is_some_and(|lo| lo > range.end_ms) || hi.is_some_and(|hi| hi < range.start_ms) {
                continue;
            }
            let Some(selection) = self.page_selection(rg, &wanted) else {
                continue;
            };
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(
                self.samples.clone(),
                self.samples_meta.clone(),
            )
            .with_row_groups(vec![rg])
            .with_row_selection(selection)
            .with_batch_size(8192)
            .with_projection(ProjectionMask::all())
            .build()
            .map_err(|e| parquet_err(SAMPLES_FILE, e))?;
            streams.push(RowStream::new(reader, Arc::clone(&wanted), range));
        }
        Ok(MergeRowGroups { streams })
    }

    /// Pages of row group `rg` whose `series` range holds a wanted id, as a
    /// row selection; `None` when no page does.
    fn page_selection(&self, rg: usize, wanted: &[u32]) -> Option<RowSelection> {
        let md = self.samples_meta.metadata();
        let rows = md.row_group(rg).num_rows() as usize;
        let hit = |lo: u32, hi: u32| {
            let i = wanted.partition_point(|&w| w < lo);
            wanted.get(i).is_some_and(|&w| w <= hi)
        };
        let pages = md
            .offset_index()
            .and_then(|oi| oi.get(rg))
            .and_then(|cols| cols.first());
        let bounds = md
            .column_index()
            .and_then(|ci| ci.get(rg))
            .and_then(|cols| cols.first());
        let (Some(pages), Some(ColumnIndexMetaData::INT32(bounds))) = (pages, bounds) else {
            return hit(0, u32::MAX).then(|| RowSelection::from(vec![RowSelector::select(rows)]));
        };
        let locs = pages.page_locations();
        let mut selectors: Vec<RowSelector> = Vec::new();
        let mut any = false;
        for (p, loc) in locs.iter().enumerate() {
            let start = loc.first_row_index as usize;
            let end = locs.get(p + 1).map_or(rows, |n| n.first_row_index as usize);
            let lo = bounds.min_value(p).map_or(0, |&v| v as u32);
            let hi = bounds.max_value(p).map_or(u32::MAX, |&v| v as u32);
            let take = hit(lo, hi);
            any |= take;
            let sel = if take {
                RowSelector::select(end - start)
            } else {
                RowSelector::skip(end - start)
            };
            match selectors.last_mut() {
                Some(last) if last.skip == sel.skip => last.row_count += sel.row_count,
                _ => selectors.push(sel),
            }
        }
        any.then(|| RowSelection::from(selectors))
    }
}

/// Decoded rows of one row group, filtered to wanted series and the time
/// range, in (series, time) order.
struct RowStream {
    reader: ParquetRecordBatchReader,
    batch: Option<RecordBatch>,
    row: usize,
    wanted: Arc<[u32]>,
    range: TimeRange,
    /// Series and value bits of the previous row (the XOR chain).
    prev: Option<(u32, u64)>,
    peeked: Option<(u32, Sample)>,
    failed: bool,
}

impl RowStream {
    fn new(reader: ParquetRecordBatchReader, wanted: Arc<[u32]>, range: TimeRange) -> Self {
        Self {
            reader,
            batch: None,
            row: 0,
            wanted,
            range,
            prev: None,
            peeked: None,
            failed: false,
        }
    }

    fn peek(&mut self) -> Result<Option<&(u32, Sample)>> {
        if self.peeked.is_none() {
            self.peeked = self.next_row()?;
        }
        Ok(self.peeked.as_ref())
    }

    fn next_row(&mut self) -> Result<Option<(u32, Sample)>> {
        loop {
            if self.failed {
                return Ok(None);
            }
            let batch = match &self.batch {
                Some(b) if self.row < b.num_rows() => b,
                _ => match self.reader.next() {
                    Some(Ok(b)) => {
                        self.batch = Some(b);
                        self.row = 0;
                        continue;
                    }
                    Some(Err(e)) => {
                        self.failed = true;
                        return Err(Error::io(SAMPLES_FILE, std::io::Error::other(e)));
                    }
                    None => return Ok(None),
                },
            };
            let i = self.row;
            self.row += 1;
            let series = batch.column(0).as_primitive::<UInt32Type>().value(i);
            let exponent = batch.column(3).as_primitive::<Int8Type>().value(i);
            // Every row of a selected series is read (its pages are
            // selected whole), so the chain is unbroken within a series.
            let prev = match self.prev {
                Some((s, bits)) if s == series => bits,
                _ => 0,
            };
            let bits = if exponent == decimal::RAW {
                let x = batch.column(4).as_primitive::<Int64Type>();
                (x.value(i) as u64) ^ prev
            } else {
                let m = batch.column(2).as_primitive::<Int64Type>().value(i);
                decimal::decode_one(exponent, m).to_bits()
            };
            self.prev = Some((series, bits));
            if self.wanted.binary_search(&series).is_err() {
                continue;
            }
            let t = batch.column(1).as_primitive::<Int64Type>().value(i);
            if t < self.range.start_ms || t > self.range.end_ms {
                continue;
            }
            return Ok(Some((series, Sample::new(t, f64::from_bits(bits)))));
        }
    }
}

/// Merges the per-row-group streams (time slices) by series: each series'
/// samples come out in slice order, which is time order.
struct MergeRowGroups {
    streams: Vec<RowStream>,
}

impl Iterator for MergeRowGroups {
    type Item = Result<(u32, Vec<Sample>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut min: Option<u32> = None;
        for s in &mut self.streams {
            match s.peek() {
                Ok(Some((id, _))) => min = Some(min.map_or(*id, |m: u32| m.min(*id))),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        let id = min?;
        let mut samples = Vec::new();
        for s in &mut self.streams {
            loop {
                match s.peek() {
                    Ok(Some((sid, _))) if *sid == id => {
                        if let Some((_, x)) = s.peeked.take() {
                            samples.push(x);
                        }
                    }
                    Ok(_) => break,
                    Err(e) => return Some(Err(e)),
                }
            }
        }
        Some(Ok((id, samples)))
    }
}

impl Querier for Block {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> sightline_read::Result<SeriesSet> {
        if !self.overlaps(range) {
            return Ok(Box::new(std::iter::empty()));
        }
        let ids: Arc<[u32]> = self.index.select(matchers).into();
        if ids.is_empty() {
            return Ok(Box::new(std::iter::empty()));
        }
        let labels: Vec<Labels> = ids.iter().map(|&i| self.index.labels(i)).collect();
        let positions = Arc::clone(&ids);
        let samples = self.samples(ids, range)?;
        Ok(Box::new(samples.map(move |r| {
            let (id, samples) = r?;
            let labels = positions
                .binary_search(&id)
                .ok()
                .and_then(|i| labels.get(i).cloned())
                .unwrap_or_default();
            Ok(Series {
                labels,
                samples: Box::new(samples.into_iter()),
            })
        })))
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> sightline_read::Result<Vec<String>> {
        if !self.overlaps(range) {
            return Ok(Vec::new());
        }
        Ok(self.index.label_names(matchers))
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> sightline_read::Result<Vec<String>> {
        if !self.overlaps(range) {
            return Ok(Vec::new());
        }
        Ok(self.index.label_values(name, matchers))
    }
}
