//! Background upkeep: cutting blocks from the head, truncating the head and
//! the WAL behind them, compacting blocks, and retention.
//!
//! Ordering is what makes each step crash-safe:
//!
//! 1. a block is written to a staging directory and published by rename
//!    before anything else changes, so a crash leaves no half block;
//! 2. only then does the head forget the block's time range and the WAL get
//!    a checkpoint (series definitions plus the head's remaining chunks)
//!    that replaces the segments before it. A crash between 1 and 2 replays
//!    the old WAL, and replay skips samples the blocks already hold;
//! 3. compaction publishes its result, which names its sources, before
//!    deleting them; on open, blocks named as a source of another are
//!    deleted, so neither data loss nor double counting follows a crash.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sightline_model::Labels;

use crate::block::{Block, BlockBuilder, Compaction};
use crate::chunk::XorChunk;
use crate::db::MaintenanceReport;
use crate::head::samples_in;
use crate::merge::MergeSamples;
use crate::wal::record::{encode_chunks, encode_series};
use crate::{Result, SeriesRef, Tsdb};
use sightline_read::metrics::SampleIter;

/// Series (or chunks) per checkpoint record.
const CHECKPOINT_BATCH: usize = 4096;

impl Tsdb {
    /// One upkeep pass: cut every block the head is due for, compact, and
    /// apply retention. Safe to call at any time; passes never overlap.
    pub fn maintain(&self) -> Result<MaintenanceReport> {
        let _guard = self.lock_maintenance();
        let mut report = MaintenanceReport {
            discovered: self.discover_blocks()?,
            ..MaintenanceReport::default()
        };
        while let Some((mint, maxt)) = self.head_block_due() {
            self.persist_head(mint, maxt)?;
            report.blocks_written += 1;
        }
        while let Some(plan) = self.plan_compaction() {
            if let Err(e) = self.compact(&plan) {
                self.counters()
                    .compaction_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(e);
            }
            report.compactions += 1;
        }
        report.deleted = self.apply_retention()?;
        Ok(report)
    }

    /// Opens blocks published by another process (`sightline import`) since
    /// the store was opened; returns how many.
    fn discover_blocks(&self) -> Result<usize> {
        let known = self.blocks();
        let mut found = Vec::new();
        for id in self.store().list()? {
            if known.iter().any(|b| b.id() == id) {
                continue;
            }
            let block = Block::open(self.store(), &id)?;
            tracing::info!(block = %id, min_time = block.meta().min_time, max_time = block.meta().max_time, "found a new block");
            found.push(Arc::new(block));
        }
        let n = found.len();
        if n > 0 {
            self.set_blocks(|v| v.extend(found));
        }
        Ok(n)
    }

    /// The range of the next block to cut, if the head spans more than
    /// 1.5 block ranges.
    fn head_block_due(&self) -> Option<(i64, i64)> {
        let range = self.options().block_range_ms.max(1);
        let (mint, maxt) = (self.head().min_time(), self.head().max_time());
        if mint > maxt || maxt.saturating_sub(mint) <= range / 2 * 3 {
            return None;
        }
        let start = mint.div_euclid(range) * range;
        Some((start, start + range))
    }

    /// Writes the head's samples in `[mint, maxt)` as a block, then truncates
    /// the head and the WAL behind it.
    pub fn persist_head(&self, mint: i64, maxt: i64) -> Result<()> {
        let head = self.head();
        let mut series: Vec<(Labels, Arc<crate::head::MemSeries>)> = head
            .all_series()
            .into_iter()
            .filter(|s| s.lock().overlaps(mint, maxt - 1))
            .map(|s| (head.labels_of_series(&s), s))
            .collect();
        series.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        if !series.is_empty() {
            let labels: Vec<Labels> = series.iter().map(|(l, _)| l.clone()).collect();
            let mut b = BlockBuilder::new(
                Arc::clone(self.store()),
                labels,
                mint,
                maxt,
                Compaction {
                    level: 1,
                    sources: Vec::new(),
                },
                self.options().block_write,
            )?;
            b.set_head_max_time(Some(maxt));
            for (i, (_, s)) in series.iter().enumerate() {
                let chunks = s.lock().chunks_in(mint, maxt - 1);
                b.add_samples(i as u32, samples_in(chunks, mint, maxt - 1))?;
            }
            let meta = b.finish()?;
            let block = Arc::new(Block::open(self.store(), &meta.id)?);
            tracing::info!(
                block = %meta.id,
                min_time = mint,
                max_time = maxt,
                series = meta.stats.series,
                samples = meta.stats.samples,
                bytes = meta.stats.bytes,
                "wrote block from head"
            );
            self.set_blocks(|v| v.push(block));
            self.counters()
                .head_blocks_written
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        self.truncate_head(maxt)
    }

    /// Drops the head's data before `before` and rewrites the WAL as a
    /// checkpoint of what the head still holds.
    fn truncate_head(&self, before: i64) -> Result<()> {
        let head = self.head();
        // Holding the WAL lock stops appends, so the segment cut divides
        // the log exactly where the snapshot below is taken.
        let mut wal = self.wal().lock();
        let removed = head.truncate(before);
        let through = wal.cut_segment()?;
        let live: Vec<(SeriesRef, Labels, Vec<XorChunk>)> = head
            .all_series()
            .into_iter()
            .map(|s| {
                let chunks = s.lock().chunks_in(i64::MIN, i64::MAX);
                (s.id, head.labels_of_series(&s), chunks)
            })
            .collect();
        drop(wal);
        let mut payloads = Vec::new();
        for part in live.chunks(CHECKPOINT_BATCH) {
            let mut buf = Vec::new();
            encode_series(&mut buf, part.iter().map(|(id, l, _)| (*id, l)));
            payloads.push(buf);
        }
        let all_chunks: Vec<(SeriesRef, &XorChunk)> = live
            .iter()
            .flat_map(|(id, _, cs)| cs.iter().map(move |c| (*id, c)))
            .collect();
        for part in all_chunks.chunks(CHECKPOINT_BATCH) {
            let mut buf = Vec::new();
            encode_chunks(&mut buf, part.iter().copied());
            payloads.push(buf);
        }
        self.wal()
            .checkpoint(through, payloads.iter().map(Vec::as_slice))?;
        self.counters()
            .checkpoints
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            before,
            series_removed = removed,
            series_kept = live.len(),
            through_segment = through,
            "truncated head and WAL"
        );
        Ok(())
    }

    /// The next set of blocks to merge: overlapping blocks first, then the
    /// blocks of a completed compaction window.
    fn plan_compaction(&self) -> Option<Vec<Arc<Block>>> {
        let blocks = self.blocks();
        // Overlapping blocks (from an import) are merged first.
        for (i, b) in blocks.iter().enumerate() {
            let mut group = vec![Arc::clone(b)];
            let mut end = b.meta().max_time;
            for other in &blocks[i + 1..] {
                if other.meta().min_time < end {
                    end = end.max(other.meta().max_time);
                    group.push(Arc::clone(other));
                }
            }
            if group.len() > 1 {
                return Some(group);
            }
        }
        let newest = blocks
            .iter()
            .map(|b| b.meta().max_time)
            .max()
            .unwrap_or(i64::MIN)
            .max(self.head().min_valid());
        for &range in &self.options().compaction_ranges_ms {
            if range <= 0 {
                continue;
            }
            let mut window: Vec<Arc<Block>> = Vec::new();
            let mut window_start = i64::MIN;
            for b in blocks.iter() {
                let start = b.meta().min_time.div_euclid(range) * range;
                let fits = b.meta().max_time <= start + range;
                if !fits {
                    continue;
                }
                if start != window_start {
                    if window.len() > 1 && window_start + range <= newest {
                        return Some(window);
                    }
                    window.clear();
                    window_start = start;
                }
                window.push(Arc::clone(b));
            }
            if window.len() > 1 && window_start + range <= newest {
                return Some(window);
            }
        }
        None
    }

    /// Merges `sources` (sorted by time) into one block, publishes it, then
    /// deletes them.
    fn compact(&self, sources: &[Arc<Block>]) -> Result<()> {
        let mut labels: Vec<Labels> = Vec::new();
        for b in sources {
            let idx = b.index();
            labels.extend((0..idx.series_count() as u32).map(|i| idx.labels(i)));
        }
        labels.sort_unstable();
        labels.dedup();
        let mint = sources.iter().map(|b| b.meta().min_time).min().unwrap_or(0);
        let maxt = sources.iter().map(|b| b.meta().max_time).max().unwrap_or(0);
        let level = sources
            .iter()
            .map(|b| b.meta().compaction.level)
            .max()
            .unwrap_or(0)
            + 1;
        let overlapping = sources
            .windows(2)
            .any(|w| w[1].meta().min_time < w[0].meta().max_time);
        let mut out = BlockBuilder::new(
            Arc::clone(self.store()),
            labels.clone(),
            mint,
            maxt,
            Compaction {
                level,
                sources: sources.iter().map(|b| b.id().to_string()).collect(),
            },
            self.options().block_write,
        )?;
        out.set_head_max_time(sources.iter().filter_map(|b| b.meta().head_max_time).max());
        // Maps each source's series ids onto the merged table.
        let map_ids = |b: &Block| -> Vec<u32> {
            let idx = b.index();
            (0..idx.series_count() as u32)
                .map(|i| labels.binary_search(&idx.labels(i)).unwrap_or(0) as u32)
                .collect()
        };
        let all = sightline_read::metrics::TimeRange::ALL;
        let every = |b: &Block| -> Arc<[u32]> { (0..b.index().series_count() as u32).collect() };
        if overlapping {
            // Per series, the sources' samples merged by time.
            let mut streams = Vec::new();
            for b in sources {
                streams.push((map_ids(b), b.samples(every(b), all)?.peekable()));
            }
            for new_id in 0..labels.len() as u32 {
                let mut parts: Vec<SampleIter> = Vec::new();
                for (map, stream) in &mut streams {
                    let next_is_ours =
                        matches!(stream.peek(), Some(Ok((id, _))) if map[*id as usize] == new_id);
                    if next_is_ours {
                        if let Some(r) = stream.next() {
                            let (_, samples) = r?;
                            parts.push(Box::new(samples.into_iter()));
                        }
                    } else if matches!(stream.peek(), Some(Err(_))) {
                        if let Some(Err(e)) = stream.next() {
                            return Err(e);
                        }
                    }
                }
                if !parts.is_empty() {
                    out.add_samples(new_id, MergeSamples::new(parts))?;
                }
            }
            out.end_slice()?;
        } else {
            // Disjoint in time: each source becomes one slice.
            for b in sources {
                let map = map_ids(b);
                for r in b.samples(every(b), all)? {
                    let (id, samples) = r?;
                    out.add_samples(map[id as usize], samples)?;
                }
                out.end_slice()?;
            }
        }
        let meta = out.finish()?;
        let block = Arc::new(Block::open(self.store(), &meta.id)?);
        let doomed: Vec<String> = sources.iter().map(|b| b.id().to_string()).collect();
        self.set_blocks(|v| {
            v.retain(|b| !doomed.iter().any(|d| d == b.id()));
            v.push(block);
        });
        for id in &doomed {
            self.store().delete(id)?;
        }
        self.counters()
            .compactions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(
            block = %meta.id,
            level,
            sources = doomed.len(),
            min_time = mint,
            max_time = maxt,
            samples = meta.stats.samples,
            bytes = meta.stats.bytes,
            "compacted blocks"
        );
        Ok(())
    }

    /// Deletes blocks past the retention age or beyond the size budget;
    /// returns how many.
    fn apply_retention(&self) -> Result<usize> {
        use std::sync::atomic::Ordering::Relaxed;
        let opts = self.options();
        let blocks = self.blocks();
        let mut doomed: Vec<String> = Vec::new();
        if opts.retention_ms > 0 {
            let newest = blocks
                .iter()
                .map(|b| b.meta().max_time - 1)
                .max()
                .unwrap_or(i64::MIN)
                .max(self.head().max_time());
            let cutoff = newest.saturating_sub(opts.retention_ms);
            for b in blocks.iter() {
                if b.meta().max_time <= cutoff {
                    doomed.push(b.id().to_string());
                    self.counters().retention_deleted_time.fetch_add(1, Relaxed);
                }
            }
        }
        if opts.retention_bytes > 0 {
            let mut total = self.wal_bytes()
                + blocks
                    .iter()
                    .filter(|b| !doomed.iter().any(|d| d == b.id()))
                    .map(|b| b.meta().stats.bytes)
                    .sum::<u64>();
            for b in blocks.iter() {
                if total <= opts.retention_bytes {
                    break;
                }
                if doomed.iter().any(|d| d == b.id()) {
                    continue;
                }
                total = total.saturating_sub(b.meta().stats.bytes);
                doomed.push(b.id().to_string());
                self.counters().retention_deleted_size.fetch_add(1, Relaxed);
            }
        }
        if doomed.is_empty() {
            return Ok(0);
        }
        self.set_blocks(|v| v.retain(|b| !doomed.iter().any(|d| d == b.id())));
        for id in &doomed {
            tracing::info!(block = %id, "deleting block past retention");
            self.store().delete(id)?;
        }
        Ok(doomed.len())
    }

    /// Bytes of the WAL directory.
    pub fn wal_bytes(&self) -> u64 {
        std::fs::read_dir(self.wal().dir())
            .map(|rd| {
                rd.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }

    /// Bytes of all open blocks.
    pub fn block_bytes(&self) -> u64 {
        self.blocks().iter().map(|b| b.meta().stats.bytes).sum()
    }
}

/// Runs [`Tsdb::maintain`] every `every` on a background thread until the
/// store is dropped or the handle stopped.
pub fn spawn_maintenance(db: &Arc<Tsdb>, every: Duration) -> MaintenanceHandle {
    let weak: Weak<Tsdb> = Arc::downgrade(db);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("tsdb-maintenance".into())
        .spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::park_timeout(every);
                if flag.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                let Some(db) = weak.upgrade() else { break };
                if let Err(e) = db.maintain() {
                    tracing::error!(error = %e, "tsdb maintenance failed; will retry");
                }
            }
        })
        .ok();
    MaintenanceHandle { stop, thread }
}

/// Stops the maintenance thread when dropped.
#[derive(Debug)]
pub struct MaintenanceHandle {
    stop: Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MaintenanceHandle {
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for MaintenanceHandle {
    fn drop(&mut self) {
        self.halt();
    }
}
