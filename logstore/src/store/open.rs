//! Opening the store: the partitions found on disk, the WAL replayed into
//! them — entries their committed indexes already hold skipped — the first
//! commit, and the committer thread.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use sightline_wal::{IntervalSyncer, Wal};

use super::dedup::Recent;
use super::head::Data;
use super::{partition_ns, write, Inner, LogStore, StoreStats};
use crate::partition::Partition;
use crate::record::{self, Record};
use crate::streams::StreamTable;
use crate::{Error, LogEntry, Options, Result, StreamId};

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
        let (wal, report) = Wal::open(dir.join("wal"), options.wal.clone(), |segment, payload| {
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
            wal: Arc::new(wal),
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
        let syncer = IntervalSyncer::start(&inner.wal);
        Ok(Self {
            inner,
            committer: Mutex::new(Some(committer)),
            syncer: Mutex::new(syncer),
        })
    }
}
