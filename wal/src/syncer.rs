//! The background fsync of [`FsyncPolicy::Interval`](crate::FsyncPolicy).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::{FsyncPolicy, Wal};

/// Fsyncs a WAL every interval until stopped (or dropped). Started by
/// [`IntervalSyncer::start`] for a WAL whose policy is `Interval`; under
/// `Batch` appends fsync themselves and none is needed.
#[derive(Debug)]
pub struct IntervalSyncer {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl IntervalSyncer {
    /// A syncer for `wal` if its policy is `Interval`. The thread holds the
    /// WAL weakly: it ends by itself once the WAL is gone.
    pub fn start(wal: &Arc<Wal>) -> Option<Self> {
        let FsyncPolicy::Interval(every) = wal.options().fsync else {
            return None;
        };
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let wal: Weak<Wal> = Arc::downgrade(wal);
        let thread = std::thread::Builder::new()
            .name("wal-fsync".into())
            .spawn(move || run(&wal, &flag, every))
            .map_err(|e| tracing::error!(error = %e, "cannot start the WAL fsync thread"))
            .ok()?;
        Some(Self {
            stop,
            thread: Some(thread),
        })
    }

    /// Stops the thread and waits for it (a last fsync is the owner's, on
    /// close).
    pub fn stop(mut self) {
        self.halt();
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}

impl Drop for IntervalSyncer {
    fn drop(&mut self) {
        self.halt();
    }
}

fn run(wal: &Weak<Wal>, stop: &AtomicBool, every: Duration) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::park_timeout(every);
        let Some(wal) = wal.upgrade() else { return };
        if let Err(e) = wal.sync_all() {
            tracing::error!(error = %e, dir = %wal.dir().display(), "periodic WAL fsync failed");
        }
    }
}
