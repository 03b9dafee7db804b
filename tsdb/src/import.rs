//! Backfill: samples with their own timestamps written straight into blocks,
//! one per aligned block range, bypassing the head and the WAL.

use std::collections::HashMap;
use std::sync::Arc;

use sightline_model::{Labels, Sample};

use crate::block::{BlockBuilder, BlockMeta, Compaction, WriteOptions};
use crate::store::BlockStore;
use crate::Result;

/// Gathers samples per series in memory, then writes them as blocks.
#[derive(Debug, Default)]
pub struct Importer {
    series: HashMap<Labels, Vec<Sample>>,
    samples: u64,
}

/// What [`Importer::write_blocks`] wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportReport {
    pub blocks: Vec<BlockMeta>,
    pub series: usize,
    pub samples: u64,
    /// Samples dropped because their series already had one at that
    /// timestamp (the first one read is kept).
    pub duplicates: u64,
}

impl Importer {
    pub fn add(&mut self, labels: Labels, sample: Sample) {
        self.samples += 1;
        self.series.entry(labels).or_default().push(sample);
    }

    pub fn samples(&self) -> u64 {
        self.samples
    }

    /// Writes one block per `block_range_ms`-aligned window holding data,
    /// calling `progress` with the samples written so far.
    pub fn write_blocks(
        self,
        store: &Arc<dyn BlockStore>,
        block_range_ms: i64,
        options: WriteOptions,
        mut progress: impl FnMut(u64),
    ) -> Result<ImportReport> {
        let range = block_range_ms.max(1);
        let mut report = ImportReport::default();
        let mut series: Vec<(Labels, Vec<Sample>)> = self.series.into_iter().collect();
        series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (_, samples) in &mut series {
            samples.sort_by_key(|s| s.timestamp_ms);
            let before = samples.len();
            samples.dedup_by_key(|s| s.timestamp_ms);
            report.duplicates += (before - samples.len()) as u64;
        }
        report.series = series.len();
        let (Some(min), Some(max)) = (
            series
                .iter()
                .filter_map(|(_, s)| s.first())
                .map(|s| s.timestamp_ms)
                .min(),
            series
                .iter()
                .filter_map(|(_, s)| s.last())
                .map(|s| s.timestamp_ms)
                .max(),
        ) else {
            return Ok(report);
        };
        // Per series, the index of its first sample not yet written.
        let mut cursor = vec![0usize; series.len()];
        let mut start = min.div_euclid(range) * range;
        while start <= max {
            let end = start.saturating_add(range);
            let members: Vec<usize> = (0..series.len())
                .filter(|&i| {
                    series[i]
                        .1
                        .get(cursor[i])
                        .is_some_and(|s| s.timestamp_ms < end)
                })
                .collect();
            if !members.is_empty() {
                let labels = members.iter().map(|&i| series[i].0.clone()).collect();
                let mut b = BlockBuilder::new(
                    Arc::clone(store),
                    labels,
                    start,
                    end,
                    Compaction {
                        level: 1,
                        sources: Vec::new(),
                    },
                    options,
                )?;
                for (new_id, &i) in members.iter().enumerate() {
                    let samples = &series[i].1;
                    let from = cursor[i];
                    let to = from + samples[from..].partition_point(|s| s.timestamp_ms < end);
                    b.add_samples(new_id as u32, samples[from..to].iter().copied())?;
                    cursor[i] = to;
                    report.samples += (to - from) as u64;
                }
                report.blocks.push(b.finish()?);
                progress(report.samples);
            }
            start = end;
        }
        Ok(report)
    }
}
