//! The store as a whole: WAL plus head, opened from and closed to a directory.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use sightline_model::{Labels, Sample};

use crate::appender::Appender;
use crate::head::{Head, Tally};
use crate::wal::record::Record;
use crate::wal::{FsyncPolicy, ReplayReport, Wal, WalOptions};
use crate::{Querier, Rejection, Result, SeriesRef};

/// Store settings.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub wal: WalOptions,
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
}

impl Tsdb {
    /// Opens (or creates) the store in `dir`, replaying its WAL.
    pub fn open(dir: impl AsRef<Path>, options: Options) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        let head = Head::default();
        let mut unknown_refs = 0u64;
        let started = std::time::Instant::now();
        let (wal, replay) = Wal::open(dir.join("wal"), options.wal.clone(), |record| {
            match record {
                Record::Series(series) => {
                    for (id, labels) in &series {
                        head.create_with_id(*id, labels);
                    }
                }
                Record::Samples(samples) => {
                    // Only accepted samples are logged, so none is refused
                    // again; the tally still counts what was replayed.
                    let mut tally = Tally::default();
                    for s in samples {
                        match head.by_id(s.series) {
                            Some(series) => {
                                head.append(&series, &[s.sample], &mut tally, |_, _| {});
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
        tracing::info!(
            records = replay.records,
            segments = replay.segments,
            series = head.stats().series.load(Ordering::Relaxed),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "replayed WAL"
        );
        let wal = Arc::new(wal);
        let syncer = match options.wal.fsync {
            FsyncPolicy::Interval(every) => Some(IntervalSyncer::start(Arc::clone(&wal), every)),
            FsyncPolicy::Batch => None,
        };
        Ok(Self {
            dir,
            head,
            wal,
            unlogged: Mutex::new(Vec::new()),
            replay,
            syncer,
        })
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

    /// Read access over everything stored.
    pub fn querier(&self) -> &dyn Querier {
        &self.head
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
        self.wal.sync_all()
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

/// Background fsync for [`FsyncPolicy::Interval`].
#[derive(Debug)]
struct IntervalSyncer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl IntervalSyncer {
    fn start(wal: Arc<Wal>, every: std::time::Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                std::thread::park_timeout(every);
                if let Err(e) = wal.sync_all() {
                    tracing::error!(error = %e, "periodic WAL fsync failed");
                }
            }
        });
        Self { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests;
