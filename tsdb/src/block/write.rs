//! Writing a block: series table, postings, chunks, then `meta.json`, all
//! into a staging directory that the [`BlockStore`] publishes atomically.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, BinaryBuilder, StringBuilder, UInt32Builder};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, UInt32Array};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sightline_model::Labels;

use super::{chunks_schema, postings_schema, series_schema, BlockMeta, BlockStats, Compaction};
use super::{CHUNKS_FILE, META_FILE, POSTINGS_FILE, SERIES_FILE};
use crate::chunk::XorChunk;
use crate::store::BlockStore;
use crate::{Error, Result};

/// How chunk rows are laid out and compressed; chosen by measurement (see
/// `docs/storage.md`), kept configurable for the storage benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    pub zstd_level: i32,
    /// Rows per data page: the granularity at which a selector's series are
    /// read through the page index.
    pub page_rows: usize,
    /// Rows per row group at most (a time slice may span several).
    pub row_group_rows: usize,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self {
            zstd_level: 3,
            page_rows: 1024,
            row_group_rows: 256 * 1024,
        }
    }
}

const BATCH_ROWS: usize = 8192;

/// A block being written. Series are fixed up front (sorted by labels, so
/// the id order is the label order); chunks are then added per time slice
/// in series order.
pub struct BlockBuilder {
    store: Arc<dyn BlockStore>,
    dir: PathBuf,
    meta: BlockMeta,
    series: Vec<Labels>,
    writer: ArrowWriter<File>,
    rows: ChunkRows,
    last: Option<(u32, i64)>,
    options: WriteOptions,
}

impl std::fmt::Debug for BlockBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBuilder")
            .field("dir", &self.dir)
            .field("meta", &self.meta)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct ChunkRows {
    series: Vec<u32>,
    min_t: Vec<i64>,
    max_t: Vec<i64>,
    count: Vec<u32>,
    data: Vec<Arc<[u8]>>,
}

impl BlockBuilder {
    /// Starts a block covering `[min_time, max_time)` over `series`, which
    /// must be sorted and distinct.
    pub fn new(
        store: Arc<dyn BlockStore>,
        series: Vec<Labels>,
        min_time: i64,
        max_time: i64,
        compaction: Compaction,
        options: WriteOptions,
    ) -> Result<Self> {
        debug_assert!(series.windows(2).all(|w| w[0] < w[1]));
        let id = new_block_id();
        let dir = store.staging_dir(&id)?;
        let path = dir.join(CHUNKS_FILE);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let writer = ArrowWriter::try_new(file, chunks_schema(), Some(chunk_props(&options)))
            .map_err(|e| parquet_err(&path, e))?;
        Ok(Self {
            store,
            dir,
            meta: BlockMeta {
                version: 1,
                id,
                min_time,
                max_time,
                stats: BlockStats::default(),
                compaction,
                encoding: format!("xor-chunks, zstd({})", options.zstd_level),
                head_max_time: None,
            },
            series,
            writer,
            rows: ChunkRows::default(),
            last: None,
            options,
        })
    }

    pub fn id(&self) -> &str {
        &self.meta.id
    }

    /// Marks the block as holding head data up to `t`; see
    /// [`BlockMeta::head_max_time`].
    pub fn set_head_max_time(&mut self, t: Option<i64>) {
        self.meta.head_max_time = t;
    }

    /// Adds a chunk of series `series` (an index into the series list).
    /// Within a slice, chunks come in series order, then time order.
    pub fn add_chunk(&mut self, series: u32, chunk: &XorChunk) -> Result<()> {
        if let Some((s, t)) = self.last {
            if (series, chunk.min_t()) <= (s, t) {
                return Err(Error::InvalidArgument(format!(
                    "block chunks out of order: series {series} at {} after series {s} at {t}",
                    chunk.min_t()
                )));
            }
        }
        self.last = Some((series, chunk.min_t()));
        let r = &mut self.rows;
        r.series.push(series);
        r.min_t.push(chunk.min_t());
        r.max_t.push(chunk.max_t());
        r.count.push(u32::from(chunk.count()));
        r.data.push(chunk.bytes().into());
        self.meta.stats.chunks += 1;
        self.meta.stats.samples += u64::from(chunk.count());
        if r.series.len() >= BATCH_ROWS {
            self.write_rows()?;
        }
        Ok(())
    }

    /// Encodes samples of one series into chunks and adds them.
    pub fn add_samples(
        &mut self,
        series: u32,
        samples: impl IntoIterator<Item = sightline_model::Sample>,
    ) -> Result<()> {
        for c in XorChunk::encode_all(samples) {
            self.add_chunk(series, &c)?;
        }
        Ok(())
    }

    /// Ends a time slice: its chunks form their own row group(s), whose
    /// statistics let readers skip the slice by time.
    pub fn end_slice(&mut self) -> Result<()> {
        self.write_rows()?;
        self.writer.flush().map_err(|e| parquet_err(&self.dir, e))?;
        self.last = None;
        Ok(())
    }

    fn write_rows(&mut self) -> Result<()> {
        if self.rows.series.is_empty() {
            return Ok(());
        }
        let r = std::mem::take(&mut self.rows);
        let mut data =
            BinaryBuilder::with_capacity(r.data.len(), r.data.iter().map(|d| d.len()).sum());
        for d in &r.data {
            data.append_value(d);
        }
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(r.series)),
            Arc::new(Int64Array::from(r.min_t)),
            Arc::new(Int64Array::from(r.max_t)),
            Arc::new(UInt32Array::from(r.count)),
            Arc::new(data.finish()),
        ];
        let batch = RecordBatch::try_new(chunks_schema(), columns)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.writer
            .write(&batch)
            .map_err(|e| parquet_err(&self.dir, e))
    }

    /// Writes the series table, postings and meta, and publishes the block.
    pub fn finish(mut self) -> Result<BlockMeta> {
        self.end_slice()?;
        self.writer.close().map_err(|e| parquet_err(&self.dir, e))?;
        self.meta.stats.series = self.series.len() as u64;
        write_series(&self.dir, &self.series)?;
        write_postings(&self.dir, &self.series)?;
        let _ = self.options;
        let path = self.dir.join(META_FILE);
        let json = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))?;
        self.store.publish(&self.meta.id)?;
        self.meta.stats.bytes = self.store.size(&self.meta.id)?;
        Ok(self.meta)
    }
}

fn chunk_props(o: &WriteOptions) -> WriterProperties {
    let zstd = ZstdLevel::try_new(o.zstd_level).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(o.page_rows)
        .set_write_batch_size(o.page_rows.min(1024))
        .set_max_row_group_row_count(Some(o.row_group_rows))
        .set_dictionary_enabled(false);
    for col in ["series", "min_time", "max_time", "count"] {
        b = b.set_column_encoding(ColumnPath::from(col), Encoding::DELTA_BINARY_PACKED);
    }
    b.build()
}

fn table_props() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Chunk)
        .build()
}

/// One row per label: `(series, name, value)`, by series.
fn write_series(dir: &std::path::Path, series: &[Labels]) -> Result<()> {
    let path = dir.join(SERIES_FILE);
    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut w = ArrowWriter::try_new(file, series_schema(), Some(table_props()))
        .map_err(|e| parquet_err(&path, e))?;
    let mut ids = UInt32Builder::new();
    let mut names = StringBuilder::new();
    let mut values = StringBuilder::new();
    let flush = |ids: &mut UInt32Builder,
                 names: &mut StringBuilder,
                 values: &mut StringBuilder,
                 w: &mut ArrowWriter<File>| {
        let cols: Vec<ArrayRef> = vec![
            Arc::new(ids.finish()),
            Arc::new(names.finish()),
            Arc::new(values.finish()),
        ];
        let batch = RecordBatch::try_new(series_schema(), cols)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        w.write(&batch).map_err(|e| parquet_err(&path, e))
    };
    for (i, labels) in series.iter().enumerate() {
        for l in labels.iter() {
            ids.append_value(i as u32);
            names.append_value(&l.name);
            values.append_value(&l.value);
        }
        if ids.len() >= BATCH_ROWS {
            flush(&mut ids, &mut names, &mut values, &mut w)?;
        }
    }
    flush(&mut ids, &mut names, &mut values, &mut w)?;
    w.close().map_err(|e| parquet_err(dir, e))?;
    Ok(())
}

/// One row per (label pair, series): `(name, value, series)`, sorted, so
/// a matcher's series are a contiguous run per value.
fn write_postings(dir: &std::path::Path, series: &[Labels]) -> Result<()> {
    let mut pairs: Vec<(&str, &str, u32)> = series
        .iter()
        .enumerate()
        .flat_map(|(i, l)| {
            l.iter()
                .map(move |l| (l.name.as_str(), l.value.as_str(), i as u32))
        })
        .collect();
    pairs.sort_unstable();
    let path = dir.join(POSTINGS_FILE);
    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let mut w = ArrowWriter::try_new(file, postings_schema(), Some(table_props()))
        .map_err(|e| parquet_err(&path, e))?;
    for part in pairs.chunks(BATCH_ROWS.max(1)) {
        let mut names = StringBuilder::new();
        let mut values = StringBuilder::new();
        let mut ids = UInt32Builder::new();
        for &(n, v, i) in part {
            names.append_value(n);
            values.append_value(v);
            ids.append_value(i);
        }
        let cols: Vec<ArrayRef> = vec![
            Arc::new(names.finish()),
            Arc::new(values.finish()),
            Arc::new(ids.finish()),
        ];
        let batch = RecordBatch::try_new(postings_schema(), cols)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        w.write(&batch).map_err(|e| parquet_err(&path, e))?;
    }
    w.close().map_err(|e| parquet_err(&path, e))?;
    Ok(())
}

pub(crate) fn parquet_err(
    path: impl AsRef<std::path::Path>,
    e: parquet::errors::ParquetError,
) -> Error {
    Error::io(path, std::io::Error::other(e))
}

/// A new block id: creation time in ms (hex, so ids sort by age) and a
/// random tail.
fn new_block_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let mut h = foldhash::fast::RandomState::default().build_hasher();
    h.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    format!("{now:012x}{:016x}", h.finish())
}
