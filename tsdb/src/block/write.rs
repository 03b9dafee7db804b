//! Writing a block: samples, series table, postings, then `meta.json`, all
//! into a staging directory that the [`BlockStore`] publishes atomically.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, StringBuilder, UInt32Builder};
use arrow_array::{ArrayRef, Int64Array, Int8Array, RecordBatch, UInt32Array};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;
use sightline_model::{Labels, Sample};

use super::decimal;
use super::{postings_schema, samples_schema, series_schema, BlockMeta, BlockStats, Compaction};
use super::{META_FILE, POSTINGS_FILE, SAMPLES_FILE, SERIES_FILE};
use crate::store::BlockStore;
use crate::{Error, Result};

/// Compression and page size of the samples file; the layout itself was
/// chosen by measurement (`docs/storage.md`), these stay tunable for the
/// storage benchmark.
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
            // About 130 series of 2 h at 15 s per page: a selector decodes
            // at most one such page beyond its series (well under a
            // millisecond), and delta encoding and zstd work on long runs
            // (1,024-row pages cost 26 % more bytes, 16 Ki-row pages 10 %;
            // measured in docs/storage.md).
            page_rows: 64 * 1024,
            row_group_rows: 1 << 20,
        }
    }
}

const BATCH_ROWS: usize = 64 * 1024;

/// A block being written. Series are fixed up front (sorted by labels, so
/// the id order is the label order); samples are then added per time slice
/// in series order.
pub struct BlockBuilder {
    store: Arc<dyn BlockStore>,
    dir: PathBuf,
    meta: BlockMeta,
    series: Vec<Labels>,
    writer: ArrowWriter<File>,
    rows: SampleRows,
    /// Last (series, timestamp) written in this slice, and that sample's
    /// value bits (the XOR chain of raw values runs per series per slice).
    last: Option<(u32, i64, u64)>,
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
struct SampleRows {
    series: Vec<u32>,
    timestamp: Vec<i64>,
    mantissa: Vec<Option<i64>>,
    exponent: Vec<i8>,
    value_xor: Vec<Option<i64>>,
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
        let path = dir.join(SAMPLES_FILE);
        let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
        let writer = ArrowWriter::try_new(file, samples_schema(), Some(sample_props(&options)))
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
                encoding: format!(
                    "rows: timestamp delta, value decimal delta | xor byte-stream-split, zstd({})",
                    options.zstd_level
                ),
                head_max_time: None,
            },
            series,
            writer,
            rows: SampleRows::default(),
            last: None,
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

    /// Adds samples (in time order) of series `series` (an index into the
    /// series list). Within a slice, series come in id order; a series may
    /// be added in several calls, each continuing where the last ended.
    pub fn add_samples(
        &mut self,
        series: u32,
        samples: impl IntoIterator<Item = Sample>,
    ) -> Result<()> {
        let samples: Vec<Sample> = samples.into_iter().collect();
        let Some(first) = samples.first() else {
            return Ok(());
        };
        let mut prev = match self.last {
            Some((s, t, bits)) if s == series => {
                if first.timestamp_ms <= t {
                    return Err(order_error(series, first.timestamp_ms, s, t));
                }
                bits
            }
            Some((s, t, _)) if s > series => {
                return Err(order_error(series, first.timestamp_ms, s, t))
            }
            _ => 0,
        };
        if samples
            .windows(2)
            .any(|w| w[1].timestamp_ms <= w[0].timestamp_ms)
        {
            return Err(Error::InvalidArgument(format!(
                "block samples of series {series} are not in strictly increasing time order"
            )));
        }
        let values: Vec<f64> = samples.iter().map(|s| s.value).collect();
        let (exponent, mantissas) = decimal::encode(&values);
        let r = &mut self.rows;
        for (s, m) in samples.iter().zip(mantissas) {
            let bits = s.value.to_bits();
            r.series.push(series);
            r.timestamp.push(s.timestamp_ms);
            r.exponent.push(exponent);
            if exponent == decimal::RAW {
                r.mantissa.push(None);
                r.value_xor.push(Some((bits ^ prev) as i64));
            } else {
                r.mantissa.push(Some(m));
                r.value_xor.push(None);
            }
            prev = bits;
        }
        if let Some(last) = samples.last() {
            self.last = Some((series, last.timestamp_ms, prev));
        }
        self.meta.stats.samples += samples.len() as u64;
        if self.rows.series.len() >= BATCH_ROWS {
            self.write_rows()?;
        }
        Ok(())
    }

    /// Ends a time slice: its samples form their own row group(s), whose
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
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(r.series)),
            Arc::new(Int64Array::from(r.timestamp)),
            Arc::new(Int64Array::from(r.mantissa)),
            Arc::new(Int8Array::from(r.exponent)),
            Arc::new(Int64Array::from(r.value_xor)),
        ];
        let batch = RecordBatch::try_new(samples_schema(), columns)
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
        self.meta.stats.bytes = [SAMPLES_FILE, SERIES_FILE, POSTINGS_FILE]
            .iter()
            .map(|f| std::fs::metadata(self.dir.join(f)).map_or(0, |m| m.len()))
            .sum();
        let path = self.dir.join(META_FILE);
        let json = serde_json::to_vec_pretty(&self.meta)
            .map_err(|e| Error::InvalidArgument(e.to_string()))?;
        std::fs::write(&path, json).map_err(|e| Error::io(&path, e))?;
        self.store.publish(&self.meta.id)?;
        Ok(self.meta)
    }
}

fn sample_props(o: &WriteOptions) -> WriterProperties {
    let zstd = ZstdLevel::try_new(o.zstd_level).unwrap_or_default();
    let col = ColumnPath::from;
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(zstd))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_data_page_row_count_limit(o.page_rows)
        .set_write_batch_size(o.page_rows.min(1024))
        .set_max_row_group_row_count(Some(o.row_group_rows))
        .set_dictionary_enabled(false)
        // A series is one run of one dictionary index; so is its exponent.
        .set_column_dictionary_enabled(col("series"), true)
        .set_column_dictionary_enabled(col("exponent"), true)
        .set_column_encoding(col("timestamp"), Encoding::DELTA_BINARY_PACKED)
        .set_column_encoding(col("mantissa"), Encoding::DELTA_BINARY_PACKED)
        // Raw values XORed with their predecessor: unchanged high bits make
        // whole zero byte planes.
        .set_column_encoding(col("value_xor"), Encoding::BYTE_STREAM_SPLIT)
        .build()
}

fn order_error(series: u32, t: i64, last_series: u32, last_t: i64) -> Error {
    Error::InvalidArgument(format!(
        "block samples out of order: series {series} at {t} after series {last_series} at {last_t}"
    ))
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
