//! The store as a whole: WAL plus head, opened from and closed to a directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use sightline_model::{Labels, Matcher, Sample};

use crate::appender::Appender;
use crate::block::{Block, BlockMeta, WriteOptions};
use crate::head::{Head, Tally};
use crate::merge::merge_series_sets;
use crate::store::{BlockStore, LocalStore};
use crate::wal::record::Record;
use crate::wal::{self, ReplayReport, Wal, WalOptions};
use crate::{Rejection, Result, SeriesRef};
use sightline_read::metrics::{Querier, SeriesSet, TimeRange};
use sightline_wal::IntervalSyncer;

pub(crate) const HOUR_MS: i64 = 3_600_000;

/// Store settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub wal: WalOptions,
    /// Span of a block cut from the head; a block is cut once the head
    /// spans 1.5× this, as Prometheus does.
    pub block_range_ms: i64,
    /// Spans blocks are compacted into, after `block_range_ms`.
    pub compaction_ranges_ms: Vec<i64>,
    /// Blocks whose data is entirely older than this (behind the newest
    /// sample) are deleted; 0 keeps everything.
    pub retention_ms: i64,
    /// The oldest blocks are deleted while blocks and WAL together exceed
    /// this many bytes; 0 means no budget.
    pub retention_bytes: u64,
    pub block_write: WriteOptions,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            wal: WalOptions::default(),
            block_range_ms: 2 * HOUR_MS,
            compaction_ranges_ms: vec![12 * HOUR_MS, 48 * HOUR_MS],
            retention_ms: 15 * 24 * HOUR_MS,
            retention_bytes: 0,
            block_write: WriteOptions::default(),
        }
    }
}

/// Counters of the block lifecycle, exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct BlockCounters {
    pub head_blocks_written: AtomicU64,
    pub compactions: AtomicU64,
    pub compaction_failures: AtomicU64,
    pub retention_deleted_time: AtomicU64,
    pub retention_deleted_size: AtomicU64,
    pub checkpoints: AtomicU64,
}

/// What one [`Tsdb::maintain`] pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Blocks published by another process and now opened.
    pub discovered: usize,
    pub blocks_written: usize,
    pub compactions: usize,
    pub deleted: usize,
}

/// The outcome of one [`Tsdb::append`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct AppendReport {
    pub samples_accepted: u64,
    pub series_created: u64,
    pub rejected: u64,
    /// The first sample refused, to explain the refusal to the sender.
    pub first_rejection: Option<RejectedSample>,
}

/// A sample refused by the ordering rules.
#[derive(Debug, Clone, PartialEq)]
pub struct RejectedSample {
    pub reason: Rejection,
    pub series: String,
    pub timestamp_ms: i64,
}

impl std::fmt::Display for RejectedSample {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} for series {} at timestamp {}",
            self.reason, self.series, self.timestamp_ms
        )
    }
}

/// An open metrics store.
#[derive(Debug)]
pub struct Tsdb {
    dir: PathBuf,
    pub(crate) head: Head,
    pub(crate) wal: Arc<Wal>,
    /// Series created by an append whose WAL write then failed: their
    /// definitions are logged again before any later record.
    unlogged: Mutex<Vec<SeriesRef>>,
    replay: ReplayReport,
    syncer: Option<IntervalSyncer>,
    options: Options,
    store: Arc<dyn BlockStore>,
    /// Open blocks by ascending `min_time`; replaced whole on change so a
    /// query holds a consistent snapshot.
    blocks: RwLock<Arc<Vec<Arc<Block>>>>,
    /// Serialises block cutting, compaction and retention.
    maintenance: Mutex<()>,
    counters: BlockCounters,
}

impl Tsdb {
    /// Opens (or creates) the store in `dir`, replaying its WAL.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let local = LocalStore::open(dir.join("blocks"))?;
        local.remove_unfinished()?;
        let store: Arc<dyn BlockStore> = Arc::new(local);
        let blocks = open_blocks(&store)?;
        let head = Head::default();
        if let Some(end) = blocks.iter().filter_map(|b| b.meta().head_max_time).max() {
            head.set_min_valid(end);
        }
        let min_valid = head.min_valid();
        let mut unknown_refs = 0u64;
        let mut before_blocks = 0u64;
        let started = std::time::Instant::now();
        let (wal, replay) = wal::open(dir.join("wal"), options.wal.clone(), |record| {
            match record {
                Record::Series(series) => {
                    for (id, labels) in &series {
                        head.create_with_id(*id, labels);
                    }
                }
                Record::Samples(samples) => {
                    // Only accepted samples are logged, so none is refused
                    // again, except those a block already holds (written
                    // before a crash cut the WAL short of its checkpoint).
                    let mut tally = Tally::default();
                    for s in samples {
                        if s.sample.timestamp_ms < min_valid {
                            before_blocks += 1;
                            continue;
                        }
                        match head.by_id(s.series) {
                            Some(series) => {
                                head.append(&series, &[s.sample], &mut tally, |_, _| {});
                            }
                            None => unknown_refs += 1,
                        }
                    }
                    head.record(&tally);
                }
                Record::Chunks(chunks) => {
                    let mut tally = Tally::default();
                    for (id, chunk) in chunks {
                        match head.by_id(id) {
                            Some(series) => {
                                tally.appended += u64::from(chunk.count());
                                tally.chunks += 1;
                                tally.min_t = tally.min_t.min(chunk.min_t().max(min_valid));
                                tally.max_t = tally.max_t.max(chunk.max_t());
                                series.lock().restore(chunk);
                            }
                            None => unknown_refs += 1,
                        }
                    }
                    head.record(&tally);
                }
            }
        })?;
        if unknown_refs > 0 {
            tracing::warn!(
                unknown_refs,
                "WAL samples referenced series with no definition; they were skipped"
            );
        }
        if before_blocks > 0 {
            tracing::info!(
                samples = before_blocks,
                "skipped WAL samples already persisted in blocks"
            );
        }
        tracing::info!(
            blocks = blocks.len(),
            records = replay.records,
            segments = replay.segments,
            series = head.stats().series.load(Ordering::Relaxed),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed WAL"
        );
        let wal = Arc::new(wal);
        let syncer = IntervalSyncer::start(&wal);
        Ok(Self {
            dir,
            head,
            wal,
            unlogged: Mutex::new(Vec::new()),
            replay,
            syncer,
            options,
            store,
            blocks: RwLock::new(Arc::new(blocks)),
            maintenance: Mutex::new(()),
            counters: BlockCounters::default(),
        })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    pub fn store(&self) -> &Arc<dyn BlockStore> {
        &self.store
    }

    pub fn counters(&self) -> &BlockCounters {
        &self.counters
    }

    /// The open blocks, oldest first.
    pub fn blocks(&self) -> Arc<Vec<Arc<Block>>> {
        Arc::clone(&self.blocks.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Metas of the open blocks, oldest first.
    pub fn block_metas(&self) -> Vec<BlockMeta> {
        self.blocks().iter().map(|b| b.meta().clone()).collect()
    }

    pub(crate) fn set_blocks(&self, update: impl FnOnce(&mut Vec<Arc<Block>>)) {
        let mut guard = self.blocks.write().unwrap_or_else(|p| p.into_inner());
        let mut next: Vec<Arc<Block>> = guard.as_ref().clone();
        update(&mut next);
        next.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
        *guard = Arc::new(next);
    }

    pub(crate) fn lock_maintenance(&self) -> std::sync::MutexGuard<'_, ()> {
        lock(&self.maintenance)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the WAL replay found when the store was opened.
    pub fn replay_report(&self) -> &ReplayReport {
        &self.replay
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// Read access over everything stored: blocks and head, merged.
    pub fn querier(&self) -> &dyn Querier {
        self
    }

    /// The sources a query over `range` reads: overlapping blocks, oldest
    /// first, then the head from where the blocks end.
    fn sources(&self, range: TimeRange) -> (Vec<Arc<Block>>, Option<TimeRange>) {
        let blocks = self
            .blocks()
            .iter()
            .filter(|b| b.meta().min_time <= range.end_ms && b.meta().max_time > range.start_ms)
            .cloned()
            .collect();
        let head = TimeRange::new(range.start_ms.max(self.head.min_valid()), range.end_ms);
        (blocks, (head.start_ms <= head.end_ms).then_some(head))
    }

    /// Starts a batch; see [`Appender`].
    pub fn appender(&self) -> Appender<'_> {
        Appender::new(self)
    }

    /// Appends a batch of series with validated labels, each with its
    /// samples; a convenience over [`Tsdb::appender`].
    pub fn append(&self, batch: &[(Labels, Vec<Sample>)]) -> Result<AppendReport> {
        let mut appender = self.appender();
        for (labels, samples) in batch {
            appender.append(labels.clone(), samples.iter().copied());
        }
        appender.commit()
    }

    pub(crate) fn lock_unlogged(&self) -> std::sync::MutexGuard<'_, Vec<SeriesRef>> {
        lock(&self.unlogged)
    }

    /// Flushes the WAL to disk. Called on shutdown; safe to call any time.
    pub fn close(&self) -> Result<()> {
        Ok(self.wal.sync_all()?)
    }
}

impl Drop for Tsdb {
    fn drop(&mut self) {
        if let Some(s) = self.syncer.take() {
            s.stop();
        }
        if let Err(e) = self.wal.sync_all() {
            tracing::error!(error = %e, "final WAL fsync failed");
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Querier for Tsdb {
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> sightline_read::Result<SeriesSet> {
        let (blocks, head) = self.sources(range);
        let mut sets = Vec::with_capacity(blocks.len() + 1);
        for b in &blocks {
            sets.push(b.select(matchers, range)?);
        }
        if let Some(h) = head {
            sets.push(self.head.select(matchers, h)?);
        }
        Ok(merge_series_sets(sets))
    }

    fn label_names(
        &self,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> sightline_read::Result<Vec<String>> {
        let (blocks, head) = self.sources(range);
        let mut out = std::collections::BTreeSet::new();
        for b in &blocks {
            out.extend(b.label_names(matchers, range)?);
        }
        if let Some(h) = head {
            // The head drops series with nothing left after truncation, so its
            // whole index is what "all time" means there.
            let h = if range == TimeRange::ALL { range } else { h };
            out.extend(self.head.label_names(matchers, h)?);
        }
        Ok(out.into_iter().collect())
    }

    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> sightline_read::Result<Vec<String>> {
        let (blocks, head) = self.sources(range);
        let mut out = std::collections::BTreeSet::new();
        for b in &blocks {
            out.extend(b.label_values(name, matchers, range)?);
        }
        if let Some(h) = head {
            // The head drops series with nothing left after truncation, so its
            // whole index is what "all time" means there.
            let h = if range == TimeRange::ALL { range } else { h };
            out.extend(self.head.label_values(name, matchers, h)?);
        }
        Ok(out.into_iter().collect())
    }
}

/// Opens every published block, first deleting those a later compaction
/// replaced (a crash can leave them behind between publishing the result
/// and deleting its sources).
fn open_blocks(store: &Arc<dyn BlockStore>) -> Result<Vec<Arc<Block>>> {
    let mut blocks = Vec::new();
    for id in store.list()? {
        blocks.push(Arc::new(Block::open(store, &id)?));
    }
    let replaced: std::collections::HashSet<String> = blocks
        .iter()
        .flat_map(|b| b.meta().compaction.sources.iter().cloned())
        .collect();
    let mut live = Vec::with_capacity(blocks.len());
    for b in blocks {
        if replaced.contains(b.id()) {
            tracing::info!(
                block = b.id(),
                "deleting a block already compacted into another"
            );
            store.delete(b.id())?;
        } else {
            live.push(b);
        }
    }
    live.sort_by_key(|b| (b.meta().min_time, b.meta().max_time));
    Ok(live)
}

#[cfg(test)]
mod tests;
