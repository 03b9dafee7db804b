//! [`LogStore`]: the WAL, the stream table, the partitions and the head of
//! entries not yet committed to them.

use std::collections::{BTreeMap, BinaryHeap, HashSet};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tantivy::Searcher;

use sightline_model::{Labels, Matcher};
use sightline_tsdb::wal::Wal;

use crate::partition::Partition;
use crate::record::{self, Record, StreamDef};
use crate::streams::StreamTable;
use crate::tokenizer::{plan, Lookup, Plan};
use crate::{Direction, Error, LogEntry, Options, Result, ScanRequest, ScanStats, StreamId};

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

impl Data {
    /// Drops from the head the entries their partition's committed index
    /// now holds (added to its writer before a commit that ran while they
    /// were in the head), so no entry is in both.
    fn prune_committed(&mut self, step: i64) {
        let partitions = &self.partitions;
        let mut freed = 0;
        self.head.retain(|(seq, e)| {
            let start = e.ts_ns.div_euclid(step) * step;
            let held = partitions
                .get(&start)
                .is_some_and(|p| *seq <= p.committed_seq());
            if held {
                freed += e.line.len() + 64;
            }
            !held
        });
        self.head_bytes = self.head_bytes.saturating_sub(freed);
    }
}

#[derive(Debug, Default)]
struct Data {
    partitions: BTreeMap<i64, Arc<Partition>>,
    /// Entries added to partition writers but not committed yet; reads see
    /// them here until the commit that makes them searchable clears it.
    head: Vec<(u64, LogEntry)>,
    /// The head a commit in progress is making searchable; reads see it
    /// until the commit swaps in the new searchers.
    committing: Vec<(u64, LogEntry)>,
    head_bytes: usize,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    options: Options,
    wal: Wal,
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

/// What identifies an entry as a repeat: its stream, timestamp and a hash
/// of its line.
type EntryKey = (StreamId, i64, u64);

/// The keys of the entries in the head and in a commit in progress. A push
/// whose entry repeats one of them (a client retrying a request that was
/// stored, or sending the same entry twice) drops it, as Loki's ingesters
/// drop repeats of what they hold in memory; a repeat arriving after the
/// original was committed is stored, and reads return it once.
#[derive(Debug, Default)]
struct Recent {
    head: HashSet<EntryKey, foldhash::fast::FixedState>,
    committing: HashSet<EntryKey, foldhash::fast::FixedState>,
}

impl Recent {
    fn contains(&self, key: &EntryKey) -> bool {
        self.head.contains(key) || self.committing.contains(key)
    }
}

fn entry_key(stream: StreamId, ts_ns: i64, line: &str) -> EntryKey {
    use std::hash::BuildHasher;
    let line = foldhash::quality::FixedState::with_seed(0).hash_one(line);
    (stream, ts_ns, line)
}

/// The log store. Open with [`LogStore::open`]; a background thread commits
/// the partitions every `commit_interval` and applies retention.
#[derive(Debug)]
pub struct LogStore {
    inner: Arc<Inner>,
    committer: Mutex<Option<JoinHandle<()>>>,
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
    /// Opens the store in `dir`: opens the partitions, replays the WAL into
    /// them and commits, so everything acknowledged before is searchable.
    pub fn open(dir: impl Into<PathBuf>, options: Options) -> Result<Self> {
        let dir = dir.into();
        let parts_dir = dir.join("partitions");
        std::fs::create_dir_all(&parts_dir).map_err(|e| Error::io(&parts_dir, e))?;
        let mut data = Data::default();
        let step = partition_ns(&options);
        for entry in std::fs::read_dir(&parts_dir).map_err(|e| Error::io(&parts_dir, e))? {
            let entry = entry.map_err(|e| Error::io(&parts_dir, e))?;
            let name = entry.file_name();
            let Some(start) = name.to_str().and_then(|n| n.parse::<i64>().ok()) else {
                continue;
            };
            let p = Partition::open(&entry.path(), start, start.saturating_add(step))?;
            data.partitions.insert(start, Arc::new(p));
        }
        let mut table = StreamTable::default();
        let mut replayed: Vec<LogEntry> = Vec::new();
        // Entries a partition committed before a crash that came ahead of
        // the WAL's checkpoint are in its index already: skipped, by the
        // segment its last commit covers.
        let mut committed: Vec<(StreamId, i64)> = Vec::new();
        let (wal, report) =
            Wal::open_raw(dir.join("wal"), options.wal.clone(), |segment, payload| {
                match record::decode(payload)? {
                    Record::Streams(defs) => defs.into_iter().for_each(|d| table.restore(d)),
                    Record::Entries(entries) => {
                        for e in entries {
                            let start = e.ts_ns.div_euclid(step) * step;
                            let held = data
                                .partitions
                                .get(&start)
                                .is_some_and(|p| p.committed_through() >= segment);
                            if held {
                                committed.push((e.stream, e.ts_ns));
                            } else {
                                replayed.push(e);
                            }
                        }
                    }
                }
                Ok(())
            })?;
        if report.segments == 0 && report.records == 0 {
            // A new WAL (the old one lost or removed): its segment numbers
            // start again, so the partitions' claims on the old ones mean
            // nothing for it.
            for p in data.partitions.values() {
                p.forget_wal_claim()?;
            }
        }
        // Entries of a stream retention forgot after they were logged are
        // past retention themselves: dropped, not a reason to refuse to start.
        let before = replayed.len();
        replayed.retain(|e| table.labels(e.stream).is_some());
        if replayed.len() < before {
            tracing::warn!(
                entries = before - replayed.len(),
                "log store: WAL entries of expired streams skipped"
            );
        }
        // Both widen their streams' time bounds, which only the WAL holds
        // between checkpoints.
        for (stream, ts) in replayed
            .iter()
            .map(|e| (e.stream, e.ts_ns))
            .chain(committed.iter().copied())
        {
            if table.labels(stream).is_some() {
                table.touch(stream, ts);
            }
        }
        tracing::info!(
            records = report.records,
            entries = replayed.len(),
            already_committed = committed.len(),
            streams = table.len(),
            partitions = data.partitions.len(),
            "log store: WAL replayed"
        );
        let inner = Arc::new(Inner {
            dir,
            options,
            wal,
            apply: Mutex::new(()),
            maintenance: Mutex::new(()),
            streams: RwLock::new(table),
            data: RwLock::new(data),
            recent: Mutex::new(Recent::default()),
            size_floor: AtomicI64::new(i64::MIN),
            dirty: AtomicBool::new(false),
            stats: StoreStats::default(),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        {
            let mut data = write(&inner.data);
            for e in replayed {
                inner.add(&mut data, e)?;
            }
        }
        inner.dirty.store(true, Ordering::Relaxed);
        inner.commit()?;
        inner.apply_retention()?;
        let worker = Arc::clone(&inner);
        let committer = std::thread::Builder::new()
            .name("logstore-commit".into())
            .spawn(move || worker.run_committer())
            .map_err(|e| Error::io(&inner.dir, e))?;
        Ok(Self {
            inner,
            committer: Mutex::new(Some(committer)),
        })
    }

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

    /// Visits the matching entries in time order (per `direction`); entries
    /// with the same stream, timestamp and line are visited once. Stops when
    /// `visit` breaks.
    pub(crate) fn scan_entries(
        &self,
        scan: &ScanRequest,
        visit: &mut dyn FnMut(&LogEntry) -> ControlFlow<()>,
    ) -> Result<ScanStats> {
        let started = Instant::now();
        let result = self.scan_inner(scan, visit);
        let s = &self.inner.stats;
        s.scans.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        s.scan_micros.fetch_add(micros, Ordering::Relaxed);
        if let Ok(r) = &result {
            s.scan_lines_read.fetch_add(r.lines_read, Ordering::Relaxed);
        }
        result
    }

    fn scan_inner(
        &self,
        scan: &ScanRequest,
        visit: &mut dyn FnMut(&LogEntry) -> ControlFlow<()>,
    ) -> Result<ScanStats> {
        let mut stats = ScanStats::default();
        if scan.streams.is_empty() || scan.end_ns <= scan.start_ns {
            return Ok(stats);
        }
        let wanted: HashSet<StreamId> = scan.streams.iter().copied().collect();
        let plans: Vec<Lookup> = scan
            .contains
            .iter()
            .filter_map(|s| match plan(s) {
                Plan::Lookup(l) => Some(l),
                Plan::Scan => None,
            })
            .collect();
        let accept = |line: &str| scan.contains.iter().all(|c| line.contains(c.as_str()));
        let mut views = self.views(&wanted, scan.start_ns, scan.end_ns);
        if scan.direction == Direction::Backward {
            views.reverse();
        }
        let backward = scan.direction == Direction::Backward;
        // Items ordered newest first (backward) or oldest first: a block
        // keyed by the bound that can come first, so it is opened before
        // any entry it could precede; at equal keys blocks pop first.
        let key = |ts: i64, stream: StreamId| {
            if backward {
                (ts, stream.0)
            } else {
                (!ts, !stream.0)
            }
        };
        // A run's entries in visit order (its keys descending).
        let sort_run = |run: &mut Vec<LogEntry>| {
            if backward {
                run.reverse();
            }
            run.sort_by_key(|e| std::cmp::Reverse(key(e.ts_ns, e.stream)));
        };
        for (p, searcher, mut head) in views {
            stats.partitions += 1;
            let blocks =
                p.candidates(&searcher, &scan.streams, scan.start_ns, scan.end_ns, &plans)?;
            let mut queue: BinaryHeap<(i64, u64, u8, usize)> = BinaryHeap::new();
            for (i, b) in blocks.iter().enumerate() {
                let (ts, stream) = key(if backward { b.ts_max } else { b.ts_min }, b.stream);
                queue.push((ts, stream, BLOCK, i));
            }
            // Decoded blocks (and the head) as runs of entries in visit
            // order, each queued by its next entry; a run is freed once
            // visited, so a long scan holds only the blocks it is between.
            let mut runs: Vec<(Vec<LogEntry>, usize)> = Vec::new();
            stats.candidates += head.len() as u64;
            stats.lines_read += head.len() as u64;
            stats.bytes_read += head.iter().map(|e| e.line.len() as u64).sum::<u64>();
            head.retain(|e| accept(&e.line));
            let mut pending = Some(head);
            let mut group: Option<(i64, StreamId)> = None;
            // Lines visited with the current (timestamp, stream): a few
            // compared in a list, many (lines logged at one timestamp) in
            // a set.
            let mut seen: Vec<String> = Vec::new();
            let mut seen_many: HashSet<String, foldhash::fast::FixedState> = HashSet::default();
            loop {
                if let Some(mut run) = pending.take() {
                    sort_run(&mut run);
                    if let Some(first) = run.first() {
                        let (ts, stream) = key(first.ts_ns, first.stream);
                        queue.push((ts, stream, RUN, runs.len()));
                        runs.push((run, 0));
                    }
                }
                let Some((_, _, kind, i)) = queue.pop() else {
                    break;
                };
                if kind == BLOCK {
                    let mut run = p.fetch(&searcher, &blocks[i])?;
                    stats.candidates += run.len() as u64;
                    stats.lines_read += run.len() as u64;
                    stats.bytes_read += run.iter().map(|e| e.line.len() as u64).sum::<u64>();
                    run.retain(|e| {
                        e.ts_ns >= scan.start_ns && e.ts_ns < scan.end_ns && accept(&e.line)
                    });
                    pending = Some(run);
                    continue;
                }
                // Visit the run until an item of the queue comes first (a
                // block with an equal key must be opened first).
                let (run, pos) = &mut runs[i];
                while let Some(entry) = run.get_mut(*pos) {
                    let (ts, stream) = key(entry.ts_ns, entry.stream);
                    if queue
                        .peek()
                        .is_some_and(|&(t, s, k, _)| (ts, stream, RUN) < (t, s, k))
                    {
                        queue.push((ts, stream, RUN, i));
                        break;
                    }
                    *pos += 1;
                    let g = (entry.ts_ns, entry.stream);
                    if group != Some(g) {
                        group = Some(g);
                        seen.clear();
                        seen_many.clear();
                    }
                    let again = seen.contains(&entry.line)
                        || (!seen_many.is_empty() && seen_many.contains(&entry.line));
                    if again {
                        continue;
                    }
                    if visit(entry).is_break() {
                        return Ok(stats);
                    }
                    let line = std::mem::take(&mut entry.line);
                    if seen.len() < 16 {
                        seen.push(line);
                    } else {
                        seen_many.insert(line);
                    }
                }
                if *pos >= run.len() {
                    *run = Vec::new();
                }
            }
        }
        Ok(stats)
    }

    /// A consistent snapshot of the partitions overlapping
    /// `[start_ns, end_ns)`: each with its searcher and its uncommitted
    /// entries of `streams` in the range, taken together under the lock a
    /// commit holds while it swaps one for the other.
    fn views(
        &self,
        streams: &HashSet<StreamId>,
        start_ns: i64,
        end_ns: i64,
    ) -> Vec<(Arc<Partition>, Searcher, Vec<LogEntry>)> {
        let data = read(&self.inner.data);
        let mut views = Vec::new();
        for p in data.partitions.values() {
            if p.end_ns <= start_ns || p.start_ns >= end_ns {
                continue;
            }
            let head: Vec<LogEntry> = data
                .committing
                .iter()
                .chain(&data.head)
                .map(|(_, e)| e)
                .filter(|e| e.ts_ns >= p.start_ns.max(start_ns))
                .filter(|e| e.ts_ns < p.end_ns.min(end_ns))
                .filter(|e| streams.contains(&e.stream))
                .cloned()
                .collect();
            views.push((Arc::clone(p), p.searcher(), head));
        }
        views
    }

    /// Counts the entries of `streams` in `[start_ns, end_ns)` and their
    /// line bytes: `visit(stream, ts, entries, bytes)` for a single entry
    /// or, where the partition records block sizes and `whole(ts_min,
    /// ts_max)` allows it, for a whole block at its first timestamp
    /// without reading it. Entries stored twice (sent again after the
    /// original was committed) are counted twice, as Loki's index
    /// statistics do.
    /// `false` when `deadline` passed first.
    pub(crate) fn tally(
        &self,
        streams: &[StreamId],
        start_ns: i64,
        end_ns: i64,
        deadline: Instant,
        whole: &dyn Fn(i64, i64) -> bool,
        visit: &mut dyn FnMut(StreamId, i64, u64, u64),
    ) -> Result<bool> {
        if streams.is_empty() || end_ns <= start_ns {
            return Ok(true);
        }
        let wanted: HashSet<StreamId> = streams.iter().copied().collect();
        let mut read = 0u64;
        let result = (|| {
            for (p, searcher, head) in self.views(&wanted, start_ns, end_ns) {
                for (i, e) in head.iter().enumerate() {
                    if i % 4096 == 0 && Instant::now() > deadline {
                        return Ok(false);
                    }
                    read += 1;
                    visit(e.stream, e.ts_ns, 1, e.line.len() as u64);
                }
                for b in p.candidates(&searcher, streams, start_ns, end_ns, &[])? {
                    if Instant::now() > deadline {
                        return Ok(false);
                    }
                    let inside = b.ts_min >= start_ns && b.ts_max < end_ns;
                    match b.size {
                        Some(size) if inside && whole(b.ts_min, b.ts_max) => {
                            visit(b.stream, b.ts_min, size.lines, size.bytes);
                        }
                        _ => {
                            for e in p.fetch(&searcher, &b)? {
                                read += 1;
                                if e.ts_ns >= start_ns && e.ts_ns < end_ns {
                                    visit(e.stream, e.ts_ns, 1, e.line.len() as u64);
                                }
                            }
                        }
                    }
                }
            }
            Ok(true)
        })();
        let s = &self.inner.stats;
        s.scan_lines_read.fetch_add(read, Ordering::Relaxed);
        result
    }

    /// Commits every partition with new entries now.
    pub fn commit(&self) -> Result<()> {
        self.inner.commit()
    }

    /// Stops the committer, commits and fsyncs. Later pushes still land in
    /// the WAL.
    pub fn close(&self) -> Result<()> {
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

/// Partitions with an open index writer at once.
const MAX_OPEN_WRITERS: usize = 4;

/// Queue item kinds in a scan: a block pops before a run's
/// entry with the same key.
const BLOCK: u8 = 1;
const RUN: u8 = 0;

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

impl Inner {
    /// The cutoff below which entries are past retention.
    fn retention_cutoff(&self) -> i64 {
        let by_time = i64::try_from(self.options.retention.as_nanos())
            .map_or(i64::MIN, |r| now_ns().saturating_sub(r));
        by_time.max(self.size_floor.load(Ordering::Relaxed))
    }

    /// True when an entry at `ts_ns` falls in a partition past retention.
    fn expired(&self, ts_ns: i64) -> bool {
        let step = partition_ns(&self.options);
        let start = ts_ns.div_euclid(step) * step;
        start.saturating_add(step) <= self.retention_cutoff()
    }

    fn add(&self, data: &mut Data, e: LogEntry) -> Result<()> {
        let step = partition_ns(&self.options);
        let start = e.ts_ns.div_euclid(step) * step;
        if self.expired(e.ts_ns) {
            // Its partition is (or is about to be) deleted by retention.
            self.stats.entries_expired.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let opening = data.partitions.get(&start).is_none_or(|p| !p.has_writer());
        if opening {
            // Entries spread over many days (a backfill, a sender's old
            // buffer) must not open a writer, and its memory, per day.
            let open: Vec<i64> = data
                .partitions
                .values()
                .filter(|p| p.has_writer())
                .map(|p| p.start_ns)
                .collect();
            if open.len() >= MAX_OPEN_WRITERS {
                // The oldest partition is the least likely to get more.
                if let Some(p) = open.first().and_then(|k| data.partitions.get(k)) {
                    p.commit_and_close()?;
                }
                data.prune_committed(step);
            }
        }
        let p = match data.partitions.entry(start) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                let dir = self.dir.join("partitions").join(start.to_string());
                v.insert(Arc::new(Partition::open(
                    &dir,
                    start,
                    start.saturating_add(step),
                )?))
            }
        };
        let seq = p.add(&e)?;
        data.head_bytes += e.line.len() + 64;
        data.head.push((seq, e));
        Ok(())
    }

    fn commit(&self) -> Result<()> {
        let _maintenance = lock(&self.maintenance);
        if !self.dirty.swap(false, Ordering::Relaxed) {
            return Ok(());
        }
        let result = self.commit_now();
        if result.is_err() {
            self.dirty.store(true, Ordering::Relaxed);
        }
        result
    }

    fn commit_now(&self) -> Result<()> {
        // Under the apply lock, the segment cut and the head handed to the
        // commit cover the same entries: every entry in a segment up to
        // `through` is in `committing`, and so in a writer.
        let (through, partitions) = {
            let _apply = lock(&self.apply);
            let through = self.wal.cut_segment()?;
            {
                let mut recent = lock(&self.recent);
                let head = std::mem::take(&mut recent.head);
                recent.committing.extend(head);
            }
            let mut data = write(&self.data);
            let head = std::mem::take(&mut data.head);
            data.committing.extend(head);
            data.head_bytes = 0;
            let partitions: Vec<Arc<Partition>> = data.partitions.values().cloned().collect();
            (through, partitions)
        };
        // Index commits run without the store's locks: reads go on with the
        // last searchers plus `committing`; pushes to a partition being
        // committed wait for its writer. An entry pushed meanwhile may be
        // committed now and still be in the new head: reads de-duplicate.
        for p in &partitions {
            p.commit(Some(through))?;
        }
        {
            let mut data = write(&self.data);
            for p in &partitions {
                p.reload()?;
            }
            data.committing.clear();
            data.prune_committed(partition_ns(&self.options));
            lock(&self.recent).committing.clear();
        }
        let mut buf = Vec::new();
        let payloads: Vec<Vec<u8>> = {
            let table = read(&self.streams);
            let defs: Vec<&StreamDef> = table.defs().collect();
            defs.chunks(10_000)
                .map(|chunk| {
                    record::encode_streams(&mut buf, chunk.iter().copied());
                    buf.clone()
                })
                .collect()
        };
        self.wal
            .checkpoint(through, payloads.iter().map(Vec::as_slice))?;
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn apply_retention(&self) -> Result<()> {
        let _maintenance = lock(&self.maintenance);
        // Past the size budget, the oldest partitions but the newest go:
        // sizes are read before taking the locks.
        if self.options.retention_bytes > 0 {
            let sizes: Vec<(i64, i64, u64)> = read(&self.data)
                .partitions
                .values()
                .map(|p| (p.start_ns, p.end_ns, dir_size(p.dir())))
                .collect();
            let mut total: u64 = sizes.iter().map(|s| s.2).sum();
            // Neither the newest partition nor one reaching into the
            // present or the future (a wrongly dated entry must not make
            // the partition being written look old).
            let now = now_ns();
            let older = &sizes[..sizes.len().saturating_sub(1)];
            for &(start, end, bytes) in older.iter().filter(|s| s.1 <= now) {
                if total <= self.options.retention_bytes {
                    break;
                }
                total -= bytes;
                self.size_floor.fetch_max(end, Ordering::Relaxed);
                tracing::info!(
                    partition = start,
                    bytes,
                    budget = self.options.retention_bytes,
                    "log partition over the size budget"
                );
            }
        }
        let cutoff = self.retention_cutoff();
        let expired: Vec<Arc<Partition>> = {
            // With the apply lock held no push is between its WAL append and
            // its writer: none can be adding to a partition removed here, and
            // later ones see the cutoff in `add`.
            let _apply = lock(&self.apply);
            let mut data = write(&self.data);
            let keys: Vec<i64> = data
                .partitions
                .values()
                .filter(|p| p.end_ns <= cutoff)
                .map(|p| p.start_ns)
                .collect();
            keys.iter()
                .filter_map(|k| data.partitions.remove(k))
                .collect()
        };
        for p in expired {
            p.close();
            std::fs::remove_dir_all(p.dir()).map_err(|e| Error::io(p.dir(), e))?;
            self.stats
                .partitions_dropped
                .fetch_add(1, Ordering::Relaxed);
            tracing::info!(dir = %p.dir().display(), "log partition past retention dropped");
        }
        write(&self.streams).expire(cutoff);
        Ok(())
    }

    fn run_committer(&self) {
        let interval = self.options.commit_interval.max(Duration::from_millis(10));
        loop {
            {
                let stop = lock(&self.stop);
                if *stop {
                    return;
                }
                let (stop, _) = self
                    .wake
                    .wait_timeout(stop, interval)
                    .unwrap_or_else(|p| p.into_inner());
                if *stop {
                    return;
                }
            }
            if let Err(e) = self.commit() {
                tracing::error!(error = %e, "log store commit failed; retrying");
            }
            if let Err(e) = self.apply_retention() {
                tracing::error!(error = %e, "log retention failed");
            }
        }
    }
}
