//! The store's own block layout (see `sightline_tsdb::block`), written
//! through `BlockBuilder` exactly as the head is persisted, and read back
//! through the block's `Querier`.

use std::path::Path;
use std::sync::Arc;

use anyhow::{ensure, Context};
use sightline_model::Sample;
use sightline_read::metrics::{Querier, TimeRange};
use sightline_tsdb::block::{
    Block, BlockBuilder, Compaction, WriteOptions, META_FILE, POSTINGS_FILE, SAMPLES_FILE,
    SERIES_FILE,
};
use sightline_tsdb::store::{BlockStore, LocalStore};

use super::dataset::Dataset;

/// Bytes of a written block, per file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlockFiles {
    pub samples: u64,
    pub series: u64,
    pub postings: u64,
    pub meta: u64,
}

impl BlockFiles {
    /// Everything but the samples: series table, postings and meta.
    pub fn index(&self) -> u64 {
        self.series + self.postings + self.meta
    }
}

/// The block layout with one set of writer options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLayout {
    pub options: WriteOptions,
}

impl StoreLayout {
    pub fn name(&self) -> String {
        let o = &self.options;
        let default = if *o == WriteOptions::default() {
            " (default)"
        } else {
            ""
        };
        format!(
            "store blocks: zstd {}, {} rows/page{default}",
            o.zstd_level, o.page_rows
        )
    }

    /// Writes `data` as one block under `root` (a fresh directory).
    pub fn write(
        &self,
        data: &Dataset,
        root: &Path,
    ) -> anyhow::Result<(Arc<dyn BlockStore>, String)> {
        let store: Arc<dyn BlockStore> = Arc::new(LocalStore::open(root)?);
        let (min_time, max_time) = data.time_range();
        let mut builder = BlockBuilder::new(
            Arc::clone(&store),
            data.labels.clone(),
            min_time,
            max_time,
            Compaction {
                level: 1,
                sources: Vec::new(),
            },
            self.options,
        )?;
        for id in 0..data.series() {
            let (times, values) = data.series_samples(id);
            let samples = times.iter().zip(values).map(|(&t, &v)| Sample::new(t, v));
            builder.add_samples(id as u32, samples)?;
        }
        let meta = builder.finish()?;
        ensure!(
            meta.stats.samples == data.samples() as u64,
            "the block holds {} samples of {}",
            meta.stats.samples,
            data.samples()
        );
        Ok((store, meta.id))
    }

    /// The sizes of the block's files.
    pub fn files(root: &Path, id: &str) -> anyhow::Result<BlockFiles> {
        let size = |file: &str| -> anyhow::Result<u64> {
            let path = root.join(id).join(file);
            Ok(std::fs::metadata(&path)
                .with_context(|| format!("reading the size of {}", path.display()))?
                .len())
        };
        Ok(BlockFiles {
            samples: size(SAMPLES_FILE)?,
            series: size(SERIES_FILE)?,
            postings: size(POSTINGS_FILE)?,
            meta: size(META_FILE)?,
        })
    }

    /// Opens the block and checks every series and sample against `data`,
    /// bit for bit.
    pub fn verify(data: &Dataset, store: &Arc<dyn BlockStore>, id: &str) -> anyhow::Result<()> {
        let block = Block::open(store, id)?;
        let mut seen = 0usize;
        for (expected_id, series) in block.select(&[], TimeRange::ALL)?.enumerate() {
            let series = series?;
            ensure!(
                data.labels.get(expected_id) == Some(&series.labels),
                "series {expected_id}: read {}",
                series.labels
            );
            let (times, values) = data.series_samples(expected_id);
            let mut count = 0usize;
            for (i, sample) in series.samples.enumerate() {
                ensure!(i < times.len(), "series {expected_id}: too many samples");
                ensure!(
                    sample.timestamp_ms == times[i]
                        && sample.value.to_bits() == values[i].to_bits(),
                    "series {expected_id} sample {i}: read ({}, {:#x}), wrote ({}, {:#x})",
                    sample.timestamp_ms,
                    sample.value.to_bits(),
                    times[i],
                    values[i].to_bits()
                );
                count += 1;
            }
            ensure!(
                count == times.len(),
                "series {expected_id}: read {count} samples of {}",
                times.len()
            );
            seen += 1;
        }
        ensure!(
            seen == data.series(),
            "read {seen} series of {}",
            data.series()
        );
        Ok(())
    }
}
