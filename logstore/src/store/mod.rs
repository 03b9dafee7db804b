//! [`LogStore`]: the WAL, the stream table, the partitions and the head of
//! entries not yet committed to them.
//!
//! A push ([`LogStore::push`], here) takes the apply lock, resolves its
//! streams, drops repeats, appends to the WAL and adds the entries to their
//! partitions and the head; the rest of the store's work lives by job:
//!
//! - `open.rs`: opening the store — the partitions on disk, the WAL replayed
//!   into them (skipping what their committed indexes hold), the first
//!   commit and the committer thread;
//! - `head.rs`: the entries added to partition writers but not committed
//!   yet, which reads see, and the cap on open writers;
//! - `dedup.rs`: the keys that identify a push's repeats of entries held;
//! - `commit.rs`: the commit (segment cut, index commits, searcher swap,
//!   WAL checkpoint) and the thread that runs it with retention;
//! - `retention.rs`: retention by age and by the size budget, whole
//!   partitions at a time;
//! - `scan.rs`: reads — the merge of head entries and partition blocks in
//!   time order, and the counts index statistics take.

mod commit;
mod dedup;
mod head;
mod open;
mod retention;
mod scan;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use sightline_model::{Labels, Matcher};
use sightline_wal::{IntervalSyncer, Wal};

use crate::partition::Partition;
use crate::record::{self, StreamDef};
use crate::streams::StreamTable;
use crate::{LogEntry, Options, Result, StreamId};

use dedup::{entry_key, EntryKey, Recent};
use head::Data;

/// Entries for one stream, validated (see [`crate::Limits`]).
#[derive(Debug, Clone)]
pub struct StreamBatch {
    pub labels: Labels,
    pub entries: Vec<NewEntry>,
}

/// An entry to store.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub ts_ns: i64,
    pub line: String,
    pub metadata: Vec<(String, String)>,
}

/// What a push stored.
#[derive(Debug, Clone, Default)]
pub struct PushOutcome {
    /// Entries stored (durable when `push` returns).
    pub entries: u64,
    /// Streams not created because the store holds `max_streams` already;
    /// their entries were not stored.
    pub refused_streams: Vec<Labels>,
    /// Entries dropped as repeats of entries already held (same stream,
    /// timestamp and line), not counted in `entries`.
    pub repeated: u64,
}

/// Counters for `/metrics` (rendered by [`LogStore::metrics_text`]).
#[derive(Debug, Default)]
pub struct StoreStats {
    pub entries_stored: AtomicU64,
    pub bytes_stored: AtomicU64,
    pub commits: AtomicU64,
    pub partitions_dropped: AtomicU64,
    /// Entries not stored because they were past retention.
    pub entries_expired: AtomicU64,
    /// Entries not stored because their stream would pass `max_streams`.
    pub entries_refused_streams: AtomicU64,
    /// Entries dropped as repeats of entries not yet committed.
    pub entries_repeated: AtomicU64,
    /// Entries the push API refused before the store: invalid stream
    /// labels, lines over the size limit, and over the stream's rate.
    pub entries_invalid_labels: AtomicU64,
    pub entries_line_too_long: AtomicU64,
    pub entries_rate_limited: AtomicU64,
    /// Scans run, and their total time in microseconds.
    pub scans: AtomicU64,
    pub scan_micros: AtomicU64,
    /// Lines reads took from storage or the head: scans' index candidates
    /// and head entries, and the lines index statistics had to count one
    /// by one.
    pub scan_lines_read: AtomicU64,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    options: Options,
    wal: Arc<Wal>,
    /// Held from the WAL append to the apply, and by a commit across its
    /// segment cut and the index commits, so every entry in a segment the
    /// checkpoint deletes is in a committed index.
    apply: Mutex<()>,
    /// Serialises commits and retention.
    maintenance: Mutex<()>,
    streams: RwLock<StreamTable>,
    data: RwLock<Data>,
    /// Keys of the entries not yet committed, to drop a push's repeats.
    recent: Mutex<Recent>,
    /// The end of the newest partition deleted for the size budget: older
    /// entries are past retention.
    size_floor: AtomicI64,
    dirty: AtomicBool,
    stats: StoreStats,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// The log store. Open with [`LogStore::open`]; a background thread commits
/// the partitions every `commit_interval` and applies retention.
#[derive(Debug)]
pub struct LogStore {
    inner: Arc<Inner>,
    committer: Mutex<Option<JoinHandle<()>>>,
    /// Fsyncs the WAL every `fsync_interval` under `fsync: interval`.
    syncer: Mutex<Option<IntervalSyncer>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded state is `()`, a flag, or the repeat filter, which a
    // panic can at worst leave missing keys (a repeat is then stored).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

impl LogStore {
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn stats(&self) -> &StoreStats {
        &self.inner.stats
    }

    pub(crate) fn options(&self) -> &Options {
        &self.inner.options
    }

    pub fn wal(&self) -> &Wal {
        &self.inner.wal
    }

    /// Stores the batches: WAL append, then the partitions' writers and the
    /// head; returns once the WAL is durable per its fsync policy. Only then
    /// may the caller acknowledge.
    pub fn push(&self, batches: &[StreamBatch]) -> Result<PushOutcome> {
        let inner = &*self.inner;
        let mut buf = Vec::new();
        let mut entries: Vec<LogEntry> = Vec::new();
        let mut outcome = PushOutcome::default();
        let seq = {
            let _apply = lock(&inner.apply);
            let recent = lock(&inner.recent);
            let mut fresh: HashSet<EntryKey, foldhash::fast::FixedState> = HashSet::default();
            let mut repeats = 0u64;
            let mut new_defs: Vec<StreamDef> = Vec::new();
            {
                let mut table = write(&inner.streams);
                let live = |e: &&NewEntry| !inner.expired(e.ts_ns);
                for b in batches {
                    let Some(first) = b.entries.iter().find(live) else {
                        let n = b.entries.len() as u64;
                        inner.stats.entries_expired.fetch_add(n, Ordering::Relaxed);
                        continue;
                    };
                    if !table.contains(&b.labels) && table.len() >= inner.options.max_streams {
                        inner
                            .stats
                            .entries_refused_streams
                            .fetch_add(b.entries.len() as u64, Ordering::Relaxed);
                        outcome.refused_streams.push(b.labels.clone());
                        continue;
                    }
                    let (id, def) = table.resolve(&b.labels, first.ts_ns);
                    new_defs.extend(def);
                    for e in b.entries.iter().filter(live) {
                        let key = entry_key(id, e.ts_ns, &e.line);
                        if recent.contains(&key) || !fresh.insert(key) {
                            repeats += 1;
                            continue;
                        }
                        table.touch(id, e.ts_ns);
                        entries.push(LogEntry {
                            stream: id,
                            ts_ns: e.ts_ns,
                            line: e.line.clone(),
                            metadata: e.metadata.clone(),
                        });
                    }
                }
            }
            inner
                .stats
                .entries_repeated
                .fetch_add(repeats, Ordering::Relaxed);
            outcome.repeated = repeats;
            if entries.is_empty() {
                return Ok(outcome);
            }
            let mut append = inner.wal.lock();
            if !new_defs.is_empty() {
                record::encode_streams(&mut buf, &new_defs);
                append.log(&buf);
            }
            record::encode_entries(&mut buf, &entries);
            append.log(&buf);
            let seq = append.commit()?;
            drop(recent);
            let mut data = write(&inner.data);
            let n = entries.len() as u64;
            outcome.entries = n;
            let mut bytes = 0;
            for e in entries {
                bytes += e.line.len() as u64;
                inner.add(&mut data, e)?;
            }
            let head_full = data.head_bytes > inner.options.max_head_bytes;
            drop(data);
            // Only entries now held count as repeats: a push that failed
            // leaves the client's retry to store them. (Still under the
            // append lock: no commit moves the head meanwhile.)
            lock(&inner.recent).head.extend(fresh);
            inner.stats.entries_stored.fetch_add(n, Ordering::Relaxed);
            inner.stats.bytes_stored.fetch_add(bytes, Ordering::Relaxed);
            inner.dirty.store(true, Ordering::Relaxed);
            if head_full {
                inner.wake.notify_all();
            }
            seq
        };
        inner.wal.sync(seq)?;
        Ok(outcome)
    }

    /// Streams matching `matchers` with entries in `[start_ns, end_ns]`,
    /// sorted by labels.
    pub(crate) fn select_streams(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<(StreamId, Labels)> {
        read(&self.inner.streams).select(matchers, start_ns, end_ns)
    }

    pub(crate) fn stream_label_names(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<String> {
        read(&self.inner.streams).label_names(matchers, start_ns, end_ns)
    }

    pub(crate) fn stream_label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<String> {
        read(&self.inner.streams).label_values(name, matchers, start_ns, end_ns)
    }

    /// The oldest timestamp a push may carry: older entries would be past
    /// retention.
    pub fn oldest_accepted_ns(&self) -> i64 {
        self.inner.retention_cutoff()
    }

    /// Number of streams known.
    pub fn stream_count(&self) -> usize {
        read(&self.inner.streams).len()
    }

    /// Commits every partition with new entries now.
    pub fn commit(&self) -> Result<()> {
        self.inner.commit()
    }

    /// Stops the committer, commits and fsyncs. Later pushes still land in
    /// the WAL.
    pub fn close(&self) -> Result<()> {
        if let Some(s) = lock(&self.syncer).take() {
            s.stop();
        }
        *lock(&self.inner.stop) = true;
        self.inner.wake.notify_all();
        if let Some(h) = lock(&self.committer).take() {
            let _ = h.join();
        }
        self.inner.commit()?;
        let partitions: Vec<Arc<Partition>> = read(&self.inner.data)
            .partitions
            .values()
            .cloned()
            .collect();
        for p in partitions {
            p.close();
        }
        self.inner.wal.sync_all()?;
        Ok(())
    }

    /// Drops partitions past retention now (also done after each commit).
    pub fn apply_retention(&self) -> Result<()> {
        self.inner.apply_retention()
    }

    /// Bytes on disk under the partitions directory.
    pub fn index_bytes(&self) -> u64 {
        dir_size(&self.inner.dir.join("partitions"))
    }

    /// Bytes on disk under the WAL directory.
    pub fn wal_bytes(&self) -> u64 {
        dir_size(&self.inner.dir.join("wal"))
    }

    /// Partitions open, and how many of them have an index writer.
    pub fn partition_count(&self) -> (usize, usize) {
        let data = read(&self.inner.data);
        let writers = data.partitions.values().filter(|p| p.has_writer()).count();
        (data.partitions.len(), writers)
    }

    /// Bytes of entries acknowledged but not committed to an index yet.
    pub fn head_bytes(&self) -> usize {
        read(&self.inner.data).head_bytes
    }
}

impl Drop for LogStore {
    fn drop(&mut self) {
        *lock(&self.inner.stop) = true;
        self.inner.wake.notify_all();
        if let Some(h) = lock(&self.committer).take() {
            let _ = h.join();
        }
    }
}

fn partition_ns(options: &Options) -> i64 {
    i64::try_from(options.partition.as_nanos())
        .unwrap_or(i64::MAX)
        .max(1)
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
