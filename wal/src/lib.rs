//! Sightline's write-ahead log: numbered segment files of CRC-checked
//! frames, appended under one lock, fsynced per a policy, truncated by
//! checkpoints and replayed on open. The payloads are opaque bytes: the
//! metrics store (`sightline-tsdb`, series/samples/chunks records) and the
//! log store (`sightline-logstore`, stream/entry records) each encode their
//! own records and decode them when [`Wal::open`] hands them back.
//!
//! Every accepted write is framed (`len: u32 LE | crc32: u32 LE | payload`,
//! [`FRAME_HEADER`] bytes of header) and appended to numbered segment files
//! (`wal/00000001`, …) before it is acknowledged. The fsync policy decides
//! when the bytes reach the disk:
//!
//! - [`FsyncPolicy::Batch`] (default): each append call is fsynced before it
//!   returns; concurrent appenders share one fsync (group commit), so the cost
//!   is paid per round of requests, not per request.
//! - [`FsyncPolicy::Interval`]: a background thread ([`IntervalSyncer`],
//!   which both stores start) fsyncs every interval; a machine crash (not a
//!   process crash) can lose up to one interval. [`Wal::sync`] returns at
//!   once under this policy. Closing a segment ([`Wal::cut_segment`], or a full segment
//!   rotating) always fsyncs it.
//!
//! On open, the latest checkpoint and the segments after it are replayed. A
//! torn or corrupt record (bad length, checksum or payload) ends the replay:
//! everything before it is kept, the segment is cut back to the last good
//! record and later segments are removed, and the error is logged and
//! reported ([`ReplayReport::corruption`], [`WalStats::replay_corruptions`]),
//! not fatal. Writing always starts in a fresh segment.
//!
//! A failed write is undone (the segment is cut back to its size before the
//! write) and reported to the caller, who must not acknowledge it; if even
//! the undo fails, every later append is refused with [`Error::Broken`] until
//! a restart repairs the tail, so no record is ever logged behind garbage.
//!
//! Truncation hooks for block persistence: [`Wal::cut_segment`] closes the
//! current segment, and [`Wal::checkpoint`] writes the records still needed
//! (e.g. the series definitions of live series) into `checkpoint.NNNNNNNN`
//! atomically and then deletes the segments it covers.
//!
//! ```
//! use sightline_wal::{Wal, WalOptions};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let (wal, _) = Wal::open(dir.path(), WalOptions::default(), |_, _| Ok(())).unwrap();
//! let mut append = wal.lock();
//! append.log(b"first record");
//! append.log(b"second record");
//! let seq = append.commit().unwrap();
//! wal.sync(seq).unwrap(); // durable from here: now the write may be acknowledged
//! drop(wal);
//!
//! let mut replayed = Vec::new();
//! let (_, report) = Wal::open(dir.path(), WalOptions::default(), |segment, payload| {
//!     replayed.push((segment, payload.to_vec()));
//!     Ok(())
//! })
//! .unwrap();
//! assert_eq!(report.corruption, None);
//! assert_eq!(replayed, [(1, b"first record".to_vec()), (1, b"second record".to_vec())]);
//! ```

mod error;
mod frame;
mod replay;
mod segment;
mod syncer;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

pub use error::{Error, Result};
pub use frame::{FRAME_HEADER, MAX_RECORD_BYTES};
pub use syncer::IntervalSyncer;

use frame::frame;
use replay::replay;
use segment::{checkpoint_path, create_segment, list, remove, segment_path, sync_dir};

/// When appended bytes are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// fsync before every append is acknowledged (with group commit).
    Batch,
    /// fsync on a timer; appends are acknowledged once written to the OS.
    Interval(Duration),
}

/// WAL settings.
#[derive(Debug, Clone)]
pub struct WalOptions {
    pub segment_bytes: u64,
    pub fsync: FsyncPolicy,
}

impl Default for WalOptions {
    fn default() -> Self {
        Self {
            segment_bytes: 128 << 20,
            fsync: FsyncPolicy::Batch,
        }
    }
}

/// Counters exposed on `/metrics`.
#[derive(Debug, Default)]
pub struct WalStats {
    pub bytes_written: AtomicU64,
    pub records_written: AtomicU64,
    pub fsyncs: AtomicU64,
    pub segment: AtomicU64,
    pub replay_corruptions: AtomicU64,
}

/// What a replay found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ReplayReport {
    pub records: u64,
    pub segments: u64,
    /// Set when replay stopped early at a torn or corrupt record.
    pub corruption: Option<String>,
}

/// An open write-ahead log.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    options: WalOptions,
    writer: Mutex<Writer>,
    /// Highest append sequence number known to be on disk.
    synced: Mutex<u64>,
    stats: WalStats,
}

#[derive(Debug)]
struct Writer {
    file: Arc<File>,
    segment: u64,
    size: u64,
    /// Sequence number of the last append written to the file.
    seq: u64,
    /// Set when a failed write could not be undone: later records would sit
    /// behind garbage and be lost on replay, so we refuse them instead.
    broken: bool,
    frames: Vec<u8>,
}

impl Wal {
    /// Replays the log in `dir` (creating it if needed), then opens a fresh
    /// segment for writing. Each replayed payload goes to `on_payload` with
    /// the number of the segment it was logged in (for a checkpoint's
    /// payloads, the segment the checkpoint was taken through), which decodes
    /// it and returns an error message if it cannot (replay then stops there,
    /// as for any corrupt record).
    pub fn open(
        dir: impl Into<PathBuf>,
        options: WalOptions,
        mut on_payload: impl FnMut(u64, &[u8]) -> std::result::Result<(), String>,
    ) -> Result<(Self, ReplayReport)> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let stats = WalStats::default();
        let report = replay(&dir, &mut on_payload)?;
        if report.corruption.is_some() {
            stats.replay_corruptions.fetch_add(1, Ordering::Relaxed);
        }
        let next = list(&dir)?.segments.last().map_or(1, |s| s + 1);
        let file = create_segment(&dir, next)?;
        stats.segment.store(next, Ordering::Relaxed);
        let wal = Self {
            dir,
            options,
            writer: Mutex::new(Writer {
                file: Arc::new(file),
                segment: next,
                size: 0,
                seq: 0,
                broken: false,
                frames: Vec::new(),
            }),
            synced: Mutex::new(0),
            stats,
        };
        Ok((wal, report))
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn options(&self) -> &WalOptions {
        &self.options
    }

    pub fn stats(&self) -> &WalStats {
        &self.stats
    }

    /// Takes the append lock. Records logged through the guard are written in
    /// one call by [`WalAppend::commit`]; holding the guard while applying the
    /// same records to the head keeps log order and apply order identical.
    pub fn lock(&self) -> WalAppend<'_> {
        let mut w = lock(&self.writer);
        w.frames.clear();
        WalAppend { wal: self, w }
    }

    /// Makes every append up to `seq` durable according to the policy. With
    /// [`FsyncPolicy::Batch`] this fsyncs unless another caller's fsync
    /// already covered `seq`.
    pub fn sync(&self, seq: u64) -> Result<()> {
        match self.options.fsync {
            FsyncPolicy::Batch => self.sync_through(seq),
            FsyncPolicy::Interval(_) => Ok(()),
        }
    }

    /// fsyncs everything written so far, whatever the policy.
    pub fn sync_all(&self) -> Result<()> {
        self.sync_through(u64::MAX)
    }

    fn sync_through(&self, seq: u64) -> Result<()> {
        let mut synced = lock(&self.synced);
        if *synced >= seq {
            return Ok(());
        }
        let (file, upto, segment) = {
            let w = lock(&self.writer);
            (Arc::clone(&w.file), w.seq, w.segment)
        };
        if *synced >= upto {
            return Ok(());
        }
        file.sync_data()
            .map_err(|e| Error::io(segment_path(&self.dir, segment), e))?;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        *synced = upto;
        Ok(())
    }

    /// Closes the current segment and starts the next; returns the number of
    /// the last closed segment. Everything logged before is in segments ≤ it.
    pub fn cut_segment(&self) -> Result<u64> {
        let mut w = lock(&self.writer);
        self.rotate(&mut w)?;
        Ok(w.segment - 1)
    }

    /// Numbers of the segment files present, oldest first.
    pub fn segments(&self) -> Result<Vec<u64>> {
        Ok(list(&self.dir)?.segments)
    }

    /// Writes `payloads` (encoded records still needed after truncation, such
    /// as live series definitions) as `checkpoint.<through>`, then deletes
    /// segments ≤ `through` and older checkpoints. The checkpoint is written
    /// to a temporary name and renamed, so a crash leaves either the old state
    /// or the new one.
    pub fn checkpoint<'a>(
        &self,
        through: u64,
        payloads: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<()> {
        let current = lock(&self.writer).segment;
        if through >= current {
            return Err(Error::CheckpointCoversOpenSegment {
                through,
                open: current,
            });
        }
        let name = checkpoint_path(&self.dir, through);
        let tmp = name.with_extension("tmp");
        let mut buf = Vec::new();
        for p in payloads {
            frame(&mut buf, p);
        }
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(&buf).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &name).map_err(|e| Error::io(&name, e))?;
        sync_dir(&self.dir)?;
        let listing = list(&self.dir)?;
        for s in listing.segments.iter().filter(|&&s| s <= through) {
            remove(&segment_path(&self.dir, *s))?;
        }
        for c in listing.checkpoints.iter().filter(|&&c| c < through) {
            remove(&checkpoint_path(&self.dir, *c))?;
        }
        sync_dir(&self.dir)
    }

    fn rotate(&self, w: &mut Writer) -> Result<()> {
        w.file
            .sync_data()
            .map_err(|e| Error::io(segment_path(&self.dir, w.segment), e))?;
        self.stats.fsyncs.fetch_add(1, Ordering::Relaxed);
        let next = w.segment + 1;
        w.file = Arc::new(create_segment(&self.dir, next)?);
        w.segment = next;
        w.size = 0;
        self.stats.segment.store(next, Ordering::Relaxed);
        Ok(())
    }
}

/// An append in progress; see [`Wal::lock`].
#[derive(Debug)]
pub struct WalAppend<'a> {
    wal: &'a Wal,
    w: MutexGuard<'a, Writer>,
}

impl WalAppend<'_> {
    /// Closes the current segment and starts the next while appends are
    /// held off; returns the number of the closed segment.
    pub fn cut_segment(&mut self) -> Result<u64> {
        self.wal.rotate(&mut self.w)?;
        Ok(self.w.segment - 1)
    }

    /// Adds a record payload to this append.
    pub fn log(&mut self, payload: &[u8]) {
        frame(&mut self.w.frames, payload);
        self.wal
            .stats
            .records_written
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the logged records to the current segment (rotating first if it
    /// is full) and returns the sequence number to pass to [`Wal::sync`].
    pub fn commit(mut self) -> Result<u64> {
        let w = &mut *self.w;
        if w.broken {
            return Err(Error::Broken);
        }
        if w.frames.is_empty() {
            return Ok(w.seq);
        }
        if w.size > 0 && w.size + w.frames.len() as u64 > self.wal.options.segment_bytes {
            self.wal.rotate(w)?;
        }
        let path = || segment_path(&self.wal.dir, w.segment);
        if let Err(e) = (&*w.file).write_all(&w.frames) {
            // Undo a partial write so the next record does not land behind it.
            if w.file.set_len(w.size).is_err() {
                w.broken = true;
            }
            return Err(Error::io(path(), e));
        }
        w.size += w.frames.len() as u64;
        w.seq += 1;
        self.wal
            .stats
            .bytes_written
            .fetch_add(w.frames.len() as u64, Ordering::Relaxed);
        Ok(w.seq)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the writer half-updated in
    // a way that matters (sizes are updated after writes succeed).
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests;
