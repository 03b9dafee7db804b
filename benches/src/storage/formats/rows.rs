//! Row-per-sample layouts: one Parquet row per sample, `(series, timestamp,
//! value)`, sorted by series then time, written straight through
//! `ArrowWriter` with Parquet's own encodings doing the work the Gorilla
//! chunks do in the block layout. Only the samples file differs from a
//! block; the series table and postings would be the same.

use std::sync::Arc;

use anyhow::{ensure, Context};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, Int8Type, UInt32Type};
use arrow_array::{ArrayRef, Float64Array, Int64Array, Int8Array, RecordBatch, UInt32Array};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::dataset::Dataset;
use sightline_tsdb::block::decimal;

/// Rows handed to the writer at a time.
const BATCH_ROWS: usize = 64 * 1024;

/// How the series id column is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeriesColumn {
    /// Dictionary with RLE indices: a series is one run.
    Dictionary,
    /// `DELTA_BINARY_PACKED`: almost every delta is 0.
    Delta,
    Plain,
}

/// How values are represented and encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueColumn {
    /// `f64`, `PLAIN`.
    Plain,
    /// `f64`, `BYTE_STREAM_SPLIT`: the byte planes (sign and exponent,
    /// high mantissa, …) each compress on their own.
    ByteStreamSplit,
    /// The value's bits XORed with the series' previous value's (the
    /// Gorilla idea without its bit packing) as `i64`, `BYTE_STREAM_SPLIT`:
    /// unchanged high bits become zero planes.
    XorByteStreamSplit,
    /// Decimal-scaled integers ([`decimal`]) as `i64`,
    /// `DELTA_BINARY_PACKED`, with a per-row exponent (dictionary, one run
    /// per series).
    DecimalDelta,
    /// [`ValueColumn::DecimalDelta`] for the series with an exact decimal
    /// scale; the others' values in a second, nullable column as
    /// [`ValueColumn::XorByteStreamSplit`] rather than raw bits.
    DecimalOrXor,
}

/// One row-per-sample layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowLayout {
    pub series: SeriesColumn,
    pub values: ValueColumn,
    /// `None`: uncompressed.
    pub zstd: Option<i32>,
}

impl RowLayout {
    pub fn name(&self) -> String {
        let series = match self.series {
            SeriesColumn::Dictionary => "series dict",
            SeriesColumn::Delta => "series delta",
            SeriesColumn::Plain => "series plain",
        };
        let values = match self.values {
            ValueColumn::Plain => "value plain",
            ValueColumn::ByteStreamSplit => "value BSS",
            ValueColumn::XorByteStreamSplit => "value XOR-prev BSS",
            ValueColumn::DecimalDelta => "value decimal delta",
            ValueColumn::DecimalOrXor => "value decimal delta | XOR BSS",
        };
        let codec = self
            .zstd
            .map_or_else(|| "none".to_string(), |l| format!("zstd {l}"));
        format!("rows: {series}, ts delta, {values}, {codec}")
    }

    fn schema(&self) -> SchemaRef {
        let mut fields = vec![
            Field::new("series", DataType::UInt32, false),
            Field::new("timestamp", DataType::Int64, false),
        ];
        match self.values {
            ValueColumn::Plain | ValueColumn::ByteStreamSplit => {
                fields.push(Field::new("value", DataType::Float64, false));
            }
            ValueColumn::XorByteStreamSplit => {
                fields.push(Field::new("value_xor", DataType::Int64, false));
            }
            ValueColumn::DecimalDelta => {
                fields.push(Field::new("mantissa", DataType::Int64, false));
                fields.push(Field::new("exponent", DataType::Int8, false));
            }
            ValueColumn::DecimalOrXor => {
                fields.push(Field::new("mantissa", DataType::Int64, true));
                fields.push(Field::new("exponent", DataType::Int8, false));
                fields.push(Field::new("value_xor", DataType::Int64, true));
            }
        }
        Arc::new(Schema::new(fields))
    }

    fn properties(&self) -> anyhow::Result<WriterProperties> {
        let compression = match self.zstd {
            Some(level) => Compression::ZSTD(ZstdLevel::try_new(level)?),
            None => Compression::UNCOMPRESSED,
        };
        let col = ColumnPath::from;
        let mut b = WriterProperties::builder()
            .set_compression(compression)
            .set_dictionary_enabled(false)
            .set_column_encoding(col("timestamp"), Encoding::DELTA_BINARY_PACKED);
        b = match self.series {
            SeriesColumn::Dictionary => b.set_column_dictionary_enabled(col("series"), true),
            SeriesColumn::Delta => {
                b.set_column_encoding(col("series"), Encoding::DELTA_BINARY_PACKED)
            }
            SeriesColumn::Plain => b.set_column_encoding(col("series"), Encoding::PLAIN),
        };
        b = match self.values {
            ValueColumn::Plain => b.set_column_encoding(col("value"), Encoding::PLAIN),
            ValueColumn::ByteStreamSplit => {
                b.set_column_encoding(col("value"), Encoding::BYTE_STREAM_SPLIT)
            }
            ValueColumn::XorByteStreamSplit => {
                b.set_column_encoding(col("value_xor"), Encoding::BYTE_STREAM_SPLIT)
            }
            ValueColumn::DecimalDelta => b
                .set_column_encoding(col("mantissa"), Encoding::DELTA_BINARY_PACKED)
                .set_column_dictionary_enabled(col("exponent"), true),
            ValueColumn::DecimalOrXor => b
                .set_column_encoding(col("mantissa"), Encoding::DELTA_BINARY_PACKED)
                .set_column_dictionary_enabled(col("exponent"), true)
                .set_column_encoding(col("value_xor"), Encoding::BYTE_STREAM_SPLIT),
        };
        Ok(b.build())
    }

    /// The samples file, in memory.
    pub fn write(&self, data: &Dataset) -> anyhow::Result<Vec<u8>> {
        let schema = self.schema();
        let n = data.per_series;
        let series: Vec<u32> = (0..data.series())
            .flat_map(|id| std::iter::repeat_n(id as u32, n))
            .collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(UInt32Array::from(series)),
            Arc::new(Int64Array::from(data.timestamps.clone())),
        ];
        match self.values {
            ValueColumn::Plain | ValueColumn::ByteStreamSplit => {
                columns.push(Arc::new(Float64Array::from(data.values.clone())));
            }
            ValueColumn::XorByteStreamSplit => {
                let mut xored = Vec::with_capacity(data.samples());
                for id in 0..data.series() {
                    xored.extend(xor_previous(data.series_samples(id).1));
                }
                columns.push(Arc::new(Int64Array::from(xored)));
            }
            ValueColumn::DecimalDelta => {
                let mut mantissas = Vec::with_capacity(data.samples());
                let mut exponents = Vec::with_capacity(data.samples());
                for id in 0..data.series() {
                    let (exponent, m) = decimal::encode(data.series_samples(id).1);
                    exponents.extend(std::iter::repeat_n(exponent, m.len()));
                    mantissas.extend(m);
                }
                columns.push(Arc::new(Int64Array::from(mantissas)));
                columns.push(Arc::new(Int8Array::from(exponents)));
            }
            ValueColumn::DecimalOrXor => {
                let mut mantissas: Vec<Option<i64>> = Vec::with_capacity(data.samples());
                let mut exponents = Vec::with_capacity(data.samples());
                let mut xored: Vec<Option<i64>> = Vec::with_capacity(data.samples());
                for id in 0..data.series() {
                    let values = data.series_samples(id).1;
                    let (exponent, m) = decimal::encode(values);
                    exponents.extend(std::iter::repeat_n(exponent, m.len()));
                    if exponent == decimal::RAW {
                        mantissas.extend(std::iter::repeat_n(None, m.len()));
                        xored.extend(xor_previous(values).map(Some));
                    } else {
                        mantissas.extend(m.into_iter().map(Some));
                        xored.extend(std::iter::repeat_n(None, values.len()));
                    }
                }
                columns.push(Arc::new(Int64Array::from(mantissas)));
                columns.push(Arc::new(Int8Array::from(exponents)));
                columns.push(Arc::new(Int64Array::from(xored)));
            }
        }
        let all = RecordBatch::try_new(Arc::clone(&schema), columns)?;
        let mut writer = ArrowWriter::try_new(Vec::new(), schema, Some(self.properties()?))?;
        let mut offset = 0;
        while offset < all.num_rows() {
            let len = BATCH_ROWS.min(all.num_rows() - offset);
            writer.write(&all.slice(offset, len))?;
            offset += len;
        }
        Ok(writer.into_inner()?)
    }

    /// Reads `file` back and checks every sample against `data`, bit for bit.
    pub fn verify(&self, data: &Dataset, file: Vec<u8>) -> anyhow::Result<()> {
        let reader = ParquetRecordBatchReaderBuilder::try_new(Bytes::from(file))?
            .with_batch_size(BATCH_ROWS)
            .build()?;
        let n = data.per_series;
        let mut row = 0usize;
        let mut previous = 0u64;
        for batch in reader {
            let batch = batch?;
            let series = batch.column(0).as_primitive::<UInt32Type>();
            let times = batch.column(1).as_primitive::<Int64Type>();
            for i in 0..batch.num_rows() {
                ensure!(row < data.samples(), "more rows than samples");
                let (id, at) = (row / n, row % n);
                ensure!(series.value(i) as usize == id, "row {row}: wrong series");
                ensure!(
                    times.value(i) == data.timestamps[row],
                    "row {row}: wrong time"
                );
                let bits = match self.values {
                    ValueColumn::Plain | ValueColumn::ByteStreamSplit => batch
                        .column(2)
                        .as_primitive::<Float64Type>()
                        .value(i)
                        .to_bits(),
                    ValueColumn::XorByteStreamSplit => {
                        if at == 0 {
                            previous = 0;
                        }
                        let x = batch.column(2).as_primitive::<Int64Type>().value(i) as u64;
                        previous ^= x;
                        previous
                    }
                    ValueColumn::DecimalDelta => {
                        let m = batch.column(2).as_primitive::<Int64Type>().value(i);
                        let e = batch.column(3).as_primitive::<Int8Type>().value(i);
                        decimal::decode_one(e, m).to_bits()
                    }
                    ValueColumn::DecimalOrXor => {
                        let e = batch.column(3).as_primitive::<Int8Type>().value(i);
                        if e == decimal::RAW {
                            if at == 0 {
                                previous = 0;
                            }
                            previous ^= batch.column(4).as_primitive::<Int64Type>().value(i) as u64;
                            previous
                        } else {
                            let m = batch.column(2).as_primitive::<Int64Type>().value(i);
                            decimal::decode_one(e, m).to_bits()
                        }
                    }
                };
                ensure!(
                    bits == data.values[row].to_bits(),
                    "row {row}: value bits {bits:#x}, wrote {:#x}",
                    data.values[row].to_bits()
                );
                row += 1;
            }
        }
        ensure!(
            row == data.samples(),
            "read {row} rows of {}",
            data.samples()
        );
        Ok(())
    }

    /// How many series ended up with each decimal exponent (for
    /// [`ValueColumn::DecimalDelta`]), `RAW` first.
    pub fn exponent_histogram(data: &Dataset) -> Vec<(i8, usize)> {
        let mut counts = std::collections::BTreeMap::new();
        for id in 0..data.series() {
            let (e, _) = decimal::encode(data.series_samples(id).1);
            *counts.entry(e).or_insert(0usize) += 1;
        }
        counts.into_iter().collect()
    }
}

/// Each value's bits XORed with the previous value's (the first with 0).
fn xor_previous(values: &[f64]) -> impl Iterator<Item = i64> + '_ {
    let mut previous = 0u64;
    values.iter().map(move |v| {
        let x = v.to_bits() ^ previous;
        previous = v.to_bits();
        x as i64
    })
}

/// Per column of a written file: its path, the encodings the writer used
/// (a layout that silently fell back would be measured under a wrong name)
/// and its compressed bytes over all row groups.
pub fn column_report(file: &[u8]) -> anyhow::Result<Vec<(String, Vec<Encoding>, i64)>> {
    use parquet::file::reader::FileReader;
    let reader =
        parquet::file::serialized_reader::SerializedFileReader::new(Bytes::copy_from_slice(file))
            .context("reading the samples file's metadata")?;
    let meta = reader.metadata();
    let mut out: Vec<(String, Vec<Encoding>, i64)> = Vec::new();
    for (i, rg) in meta.row_groups().iter().enumerate() {
        for (c, column) in rg.columns().iter().enumerate() {
            if i == 0 {
                out.push((
                    column.column_path().string(),
                    column.encodings().collect(),
                    0,
                ));
            }
            if let Some(entry) = out.get_mut(c) {
                entry.2 += column.compressed_size();
            }
        }
    }
    Ok(out)
}
