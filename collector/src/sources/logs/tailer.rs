//! The tailing loop, on its own thread: discover files, read what is new
//! in each (oldest file of a path first), assemble records, batch them and
//! hand batches to the log shipper, pausing while its buffer is full.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::batch::Batch;
use super::checkpoint::{AckedPositions, FileId, Position, Update};
use super::config::{LogSettings, StartAt};
use super::labels::{Container, FileLabels};
use super::record::{Assembler, Multiline, Record};
use super::stats::LogStats;
use super::tail::{is_gzip, rotated_siblings, Fingerprint, TailedFile};
use super::watch::{Watcher, Woken};
use crate::kube::SharedPods;
use crate::shipper::loki::LogShipperHandle;

/// A followed file and what its entries are labelled with.
#[derive(Debug)]
struct Tail {
    file: TailedFile,
    /// Chosen before the first read and fixed for the file's life; `None`
    /// while the file waits for its pod's metadata.
    labels: Option<FileLabels>,
    container: Option<Container>,
    /// The path the file was found under (a symlink's own path).
    shown: PathBuf,
    followed_at: Instant,
    /// The path the file was found at: a later file at the same path waits
    /// until this one is finished.
    stream_path: PathBuf,
}

/// The files of one path that were read to their end and let go.
#[derive(Debug, Default)]
struct Released {
    /// Modification time of the newest of them.
    modified: Option<SystemTime>,
    /// The last few, by device, inode and fingerprint: a rotated file is
    /// one of them only if all three match, since the inode of a file
    /// deleted since may already hold a newer generation.
    recent: VecDeque<Position>,
}

/// Files remembered per path in [`Released::recent`].
const RELEASED_REMEMBERED: usize = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathState {
    Same,
    Other,
    Missing,
}

#[derive(Debug)]
pub(crate) struct Tailer {
    settings: Arc<LogSettings>,
    shipper: LogShipperHandle,
    stats: Arc<LogStats>,
    acked: AckedPositions,
    tails: BTreeMap<u64, Tail>,
    by_id: HashMap<FileId, u64>,
    next_serial: u64,
    /// Files read to their end and let go, remembered while a pattern still
    /// matches them so they are not read again.
    finished: HashMap<FileId, Position>,
    /// Per path, the files let go there: rotated files newer than the
    /// newest of them were not seen under the path.
    released: HashMap<PathBuf, Released>,
    /// Positions from the last run, used up by the first discovery.
    resume: HashMap<FileId, Position>,
    first_pass: bool,
    /// No positions were found at start: `start_at` applies.
    fresh: bool,
    batch: Batch,
    watcher: Option<Watcher>,
    records: Vec<Record>,
    /// Pod metadata, for `pod_labels`.
    pods: Option<SharedPods>,
}

/// How long a write notification waits for more writes before a pass.
const WRITE_GATHER: Duration = Duration::from_millis(10);

/// Least read per pass, however full the batch.
const MIN_READ: usize = 64 << 10;

/// How often a paused tailer looks for room in the shipper's buffer.
const PAUSE_RECHECK: Duration = Duration::from_millis(5);

/// Bytes read from one file per pass, so that one busy file does not
/// starve the others.
const READ_BUDGET: usize = 1 << 20;

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// Whether the file at `path` (decompressed, for `.gz`) starts with the
/// bytes `p` was taken on.
fn fingerprint_matches(path: &Path, p: &Position) -> bool {
    Fingerprint::of_path(path, p.fingerprint_len as usize)
        .is_ok_and(|f| f.len() == p.fingerprint_len as usize && f.crc() == p.fingerprint_crc)
}

/// Whether the rotated file at `path` (with metadata `meta`) is the file
/// `p` was taken on: same device and inode, and same first bytes. A
/// position taken on an empty file matches only an empty file.
fn same_file(path: &Path, meta: &std::fs::Metadata, p: &Position) -> bool {
    FileId::of(meta) == p.id()
        && (p.fingerprint_len > 0 || meta.len() == 0)
        && fingerprint_matches(path, p)
}

/// Where the file of a position not found under its path went: renamed
/// next to it (same inode, same first bytes), or compressed next to it
/// (`<name>.<suffix>.gz` whose content starts with the same bytes).
fn find_leftover(p: &Position) -> Option<PathBuf> {
    let dir = p.path.parent()?;
    let name = p.path.file_name()?.to_str()?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    let renamed = entries.iter().find(|path| {
        std::fs::metadata(path).is_ok_and(|m| FileId::of(&m) == p.id())
            && fingerprint_matches(path, p)
    });
    if let Some(path) = renamed {
        return Some(path.clone());
    }
    // Without a fingerprint nothing ties a compressed file to the position.
    if p.fingerprint_len == 0 {
        return None;
    }
    let prefix = format!("{name}.");
    entries.into_iter().find(|path| {
        is_gzip(path)
            && path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix))
            && fingerprint_matches(path, p)
    })
}

impl Tailer {
    pub fn new(
        settings: Arc<LogSettings>,
        shipper: LogShipperHandle,
        stats: Arc<LogStats>,
        acked: AckedPositions,
        resume: HashMap<FileId, Position>,
        pods: Option<SharedPods>,
    ) -> Self {
        Self {
            settings,
            shipper,
            stats,
            acked,
            tails: BTreeMap::new(),
            by_id: HashMap::new(),
            next_serial: 0,
            finished: HashMap::new(),
            released: HashMap::new(),
            fresh: resume.is_empty(),
            resume,
            first_pass: true,
            batch: Batch::default(),
            watcher: Watcher::new(),
            records: Vec::new(),
            pods,
        }
    }

    /// Runs until `stop` is set; the last batch is queued before returning.
    pub fn run(mut self, stop: &AtomicBool) {
        let s = Arc::clone(&self.settings);
        let mut next_discover = Instant::now();
        let mut next_checkpoint = Instant::now() + s.checkpoint_interval;
        let mut rescan = false;
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now >= next_discover || rescan {
                self.discover();
                next_discover = now + s.discover_interval;
                rescan = false;
            }
            let (read, paused) = self.poll_all();
            self.stats
                .paused
                .store(u64::from(paused), Ordering::Relaxed);
            self.expire_multiline();
            if self
                .batch
                .started()
                .is_some_and(|t| t.elapsed() >= s.batch_wait)
                && !paused
            {
                self.seal();
            }
            if Instant::now() >= next_checkpoint {
                if let Err(e) = self.acked.save_if_changed() {
                    tracing::warn!(error = %e, "cannot write log positions");
                }
                next_checkpoint = Instant::now() + s.checkpoint_interval;
            }
            if read && !paused {
                // Busy: no waiting, but a new file in a watched directory
                // (a rotation) is still discovered on the next pass.
                if let Some(w) = self.watcher.as_mut() {
                    rescan = w.wait(Duration::ZERO) == Woken::Dirs;
                }
                continue;
            }
            let mut timeout = s
                .poll_interval
                .min(next_discover.saturating_duration_since(Instant::now()));
            // While paused the batch waits for room: no point waking for it.
            if let Some(started) = self.batch.started().filter(|_| !paused) {
                timeout =
                    timeout.min((started + s.batch_wait).saturating_duration_since(Instant::now()));
            }
            // While paused, room is looked for often: the sender frees it
            // as soon as a request is acknowledged.
            if paused {
                timeout = timeout.min(PAUSE_RECHECK);
            }
            let timeout = timeout.max(Duration::from_millis(1));
            match self.watcher.as_mut() {
                Some(w) => match w.wait(timeout) {
                    Woken::Dirs => rescan = true,
                    // A file written a line at a time would otherwise wake
                    // a pass per write: let a few writes gather first.
                    Woken::Files => std::thread::sleep(WRITE_GATHER),
                    Woken::Timeout => {}
                },
                None => std::thread::sleep(timeout),
            }
        }
        self.seal();
    }

    /// Expands the patterns and starts following files not seen before.
    fn discover(&mut self) {
        let (mut files, mut dirs) = (Vec::new(), Vec::new());
        for pattern in &self.settings.patterns {
            pattern.expand(&mut files, &mut dirs);
            dirs.push(pattern.base().to_path_buf());
        }
        if let Some(w) = self.watcher.as_mut() {
            for d in &dirs {
                w.watch_dir(d);
            }
        }
        let mut seen: HashSet<FileId> = HashSet::new();
        let mut found: Vec<(PathBuf, PathBuf, FileId, u64)> = Vec::new();
        for shown in files {
            // Symlinks (`/var/log/containers/*.log`) resolve to the file
            // they name; a file reached twice is read once.
            let Ok(real) = std::fs::canonicalize(&shown) else {
                continue;
            };
            let Ok(meta) = std::fs::metadata(&real) else {
                continue;
            };
            let id = FileId::of(&meta);
            if seen.insert(id) {
                found.push((shown, real, id, meta.len()));
            }
        }
        self.finished.retain(|id, _| seen.contains(id));
        self.released
            .retain(|path, _| path.parent().is_some_and(Path::exists));
        if self.first_pass {
            let at: HashMap<FileId, &Path> = found
                .iter()
                .map(|(_, real, id, _)| (*id, real.as_path()))
                .collect();
            self.resume_renamed(&at);
        }
        for (shown, real, id, size) in found {
            if self.by_id.contains_key(&id) {
                continue;
            }
            if let Some(done) = self.finished.get(&id) {
                if fingerprint_matches(&real, done) {
                    continue;
                }
                self.finished.remove(&id);
            }
            if !self.first_pass {
                self.follow_missed_rotations(&real);
            }
            let offset = match self.resume.remove(&id) {
                Some(p) if fingerprint_matches(&real, &p) => p.offset,
                _ if self.first_pass && self.fresh && self.settings.start_at == StartAt::End => {
                    size
                }
                _ => 0,
            };
            self.follow(&shown, &real, real.clone(), offset, false);
        }
        self.resume.clear();
        self.first_pass = false;
    }

    /// Rotated files (`<name>.<suffix>`, not compressed) of `path` written
    /// since the newest file followed or let go there, and neither followed
    /// nor read (by device, inode and fingerprint): generations renamed
    /// before they were seen under `path`. They are followed, oldest
    /// first. Called when a new file appears at `path` (before it is
    /// followed) and when a rotated file of `path` is let go.
    fn follow_missed_rotations(&mut self, path: &Path) {
        let current = self
            .tails
            .values()
            .filter(|t| t.stream_path == path)
            .filter_map(|t| t.file.modified())
            .max();
        let released = self.released.get(path);
        let Some(since) = current.or(released.and_then(|r| r.modified)) else {
            return;
        };
        let mut missed: Vec<(SystemTime, PathBuf)> = Vec::new();
        for (rotated, meta) in rotated_siblings(path) {
            let id = FileId::of(&meta);
            let modified = meta.modified().unwrap_or(UNIX_EPOCH);
            // An open file keeps its inode: the id alone identifies it.
            // A file let go may have been deleted and its inode reused.
            let read = self.by_id.contains_key(&id)
                || self
                    .finished
                    .get(&id)
                    .is_some_and(|p| same_file(&rotated, &meta, p))
                || released.is_some_and(|r| r.recent.iter().any(|p| same_file(&rotated, &meta, p)));
            if modified >= since && !read {
                missed.push((modified, rotated));
            }
        }
        missed.sort();
        for (_, rotated) in missed {
            tracing::info!(path = %rotated.display(), "following a file rotated before it was seen");
            self.follow(path, &rotated, path.to_path_buf(), 0, true);
        }
    }

    /// Files of the last run that were renamed while the collector was
    /// away (rotation): found next to their old name by inode and
    /// fingerprint, or, when only a compressed copy is left
    /// (`<name>.<suffix>.gz`), by the fingerprint of its decompressed
    /// content; read to their end first, oldest first. Rotated files
    /// written after them and never seen are read next.
    ///
    /// `found` holds the files the patterns matched, by id: a position
    /// whose inode now holds another file (inodes are reused) is a leftover
    /// too.
    fn resume_renamed(&mut self, found: &HashMap<FileId, &Path>) {
        let leftovers: Vec<Position> = self
            .resume
            .values()
            .filter(|p| {
                found
                    .get(&p.id())
                    .is_none_or(|path| !fingerprint_matches(path, p))
            })
            .cloned()
            .collect();
        let mut located: Vec<(SystemTime, PathBuf, Position)> = Vec::new();
        for p in leftovers {
            self.resume.remove(&p.id());
            if let Some(path) = find_leftover(&p) {
                let modified = std::fs::metadata(&path)
                    .and_then(|m| m.modified())
                    .unwrap_or(UNIX_EPOCH);
                located.push((modified, path, p));
            }
        }
        located.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let mut paths: Vec<PathBuf> = Vec::new();
        for (_, path, p) in located {
            tracing::info!(path = %path.display(), was = %p.path.display(), offset = p.offset, "finishing a file rotated while the collector was stopped");
            self.follow(&p.path, &path, p.path.clone(), p.offset, true);
            if !paths.contains(&p.path) {
                paths.push(p.path);
            }
        }
        for path in paths {
            self.follow_missed_rotations(&path);
        }
    }

    fn follow(
        &mut self,
        shown: &Path,
        real: &Path,
        stream_path: PathBuf,
        offset: u64,
        detached: bool,
    ) {
        let container = Container::from_path(&stream_path);
        let multiline = container.as_ref().and_then(|c| {
            self.settings
                .multiline
                .iter()
                .find(|m| m.selects(&c.namespace, &c.pod, &c.container))
                .map(|m| Multiline {
                    start: m.start.clone(),
                    timeout: m.timeout,
                })
        });
        let assembler = Assembler::new(self.settings.max_line_bytes, multiline);
        match TailedFile::open(real, offset, assembler, self.settings.max_line_bytes) {
            Ok(mut file) => {
                if detached {
                    file.detached_since = Some(Instant::now());
                }
                tracing::debug!(path = %real.display(), offset, "following");
                if let Some(w) = self.watcher.as_mut() {
                    w.watch_file(real);
                }
                let serial = self.next_serial;
                self.next_serial += 1;
                self.by_id.insert(file.id, serial);
                self.tails.insert(
                    serial,
                    Tail {
                        labels: None,
                        container,
                        shown: shown.to_path_buf(),
                        followed_at: Instant::now(),
                        file,
                        stream_path,
                    },
                );
                self.stats
                    .files
                    .store(self.tails.len() as u64, Ordering::Relaxed);
            }
            Err(e) => {
                LogStats::add(&self.stats.read_errors, 1);
                tracing::warn!(path = %real.display(), error = %e, "cannot open log file");
            }
        }
    }

    /// One pass over every file. Returns whether anything was read and
    /// whether reading paused for a full buffer.
    fn poll_all(&mut self) -> (bool, bool) {
        // A batch is at most `batch_bytes` plus one read of that size.
        let reserve = 3 * self.settings.batch_bytes as u64;
        let mut read = false;
        let serials: Vec<u64> = self.tails.keys().copied().collect();
        let mut busy_paths: HashSet<PathBuf> = HashSet::new();
        for serial in serials {
            let Some(tail) = self.tails.get(&serial) else {
                continue;
            };
            // An older file of the same path (rotated) is finished first.
            if !busy_paths.insert(tail.stream_path.clone()) {
                continue;
            }
            if !self.shipper.has_room(reserve) {
                return (read, true);
            }
            if !self.labels_ready(serial) {
                continue;
            }
            read |= self.poll_one(serial);
        }
        (read, false)
    }

    fn poll_one(&mut self, serial: u64) -> bool {
        let rotate_wait = self.settings.rotate_wait;
        let Some(tail) = self.tails.get_mut(&serial) else {
            return false;
        };
        // Looked at before reading: if another file already took the
        // path, the writer has moved on and what is read now is all there
        // will be.
        let state = match std::fs::metadata(&tail.stream_path) {
            Ok(m) if FileId::of(&m) == tail.file.id => PathState::Same,
            Ok(_) => PathState::Other,
            Err(_) => PathState::Missing,
        };
        match (state, tail.file.detached_since) {
            (PathState::Same, Some(_)) => tail.file.detached_since = None,
            (PathState::Other | PathState::Missing, None) => {
                tail.file.detached_since = Some(Instant::now());
                LogStats::add(&self.stats.rotations, 1);
            }
            _ => {}
        }
        let now_ns = now_ns();
        let mut records = std::mem::take(&mut self.records);
        // Read no more than the batch has room for, so that batches (and
        // the memory behind them) stay near `batch_bytes`.
        let room = self
            .settings
            .batch_bytes
            .saturating_sub(self.batch.bytes())
            .max(MIN_READ);
        let budget = READ_BUDGET.min(room);
        let progress = match tail.file.poll(budget, now_ns, &mut records) {
            Ok(p) => p,
            Err(e) => {
                LogStats::add(&self.stats.read_errors, 1);
                tracing::warn!(path = %tail.file.path.display(), error = %e, "cannot read log file");
                Default::default()
            }
        };
        if progress.truncated {
            LogStats::add(&self.stats.truncations, 1);
        }
        LogStats::add(&self.stats.bytes_read, progress.bytes);
        LogStats::add(&self.stats.lines_read, progress.lines);
        let at_end = (progress.bytes as usize) < budget;
        let done = tail.file.detached_since.is_some()
            && at_end
            && (state == PathState::Other || tail.file.last_growth.elapsed() >= rotate_wait);
        let released_from = done.then(|| tail.stream_path.clone());
        if done {
            tail.file.finish(now_ns, &mut records);
        }
        self.take_unparsed(serial);
        self.add_records(serial, &mut records);
        self.records = records;
        if let Some(stream_path) = released_from {
            self.release(serial);
            // Generations renamed away before the path was looked at again
            // come after this one: read them before the path's next file.
            self.follow_missed_rotations(&stream_path);
        }
        progress.bytes > 0
    }

    /// Chooses a file's labels before its first read: with `pod_labels`,
    /// a container's file waits for its pod's metadata, at most
    /// `pod_labels_wait`, then goes without. Returns whether the file may
    /// be read.
    fn labels_ready(&mut self, serial: u64) -> bool {
        let s = &self.settings;
        let Some(tail) = self.tails.get_mut(&serial) else {
            return false;
        };
        if tail.labels.is_some() {
            return true;
        }
        let mut extra: Vec<(String, String)> = Vec::new();
        if let (Some(c), Some(pods), false) = (&tail.container, &self.pods, s.pod_labels.is_empty())
        {
            let store = pods.read().unwrap_or_else(PoisonError::into_inner);
            match store.pod(&c.uid) {
                Some(pod) => {
                    for (key, name) in &s.pod_labels {
                        if let Some(value) = pod.labels.get(key) {
                            extra.push((name.clone(), value.clone()));
                        }
                    }
                }
                None if tail.followed_at.elapsed() < s.pod_labels_wait => return false,
                None => {
                    LogStats::add(&self.stats.pod_labels_missing, 1);
                    tracing::warn!(path = %tail.file.path.display(), uid = %c.uid, wait = ?s.pod_labels_wait, "pod metadata not known in time; shipping this file without pod labels");
                }
            }
        }
        tail.labels = Some(FileLabels::new(
            tail.container.as_ref(),
            &tail.shown,
            &s.node,
            &extra,
        ));
        true
    }

    fn take_unparsed(&mut self, serial: u64) {
        if let Some(tail) = self.tails.get_mut(&serial) {
            let n = std::mem::take(&mut tail.file.assembler.unparsed);
            LogStats::add(&self.stats.unparsed_lines, n);
        }
    }

    fn add_records(&mut self, serial: u64, records: &mut Vec<Record>) {
        let Some((tail, Some(labels))) = self.tails.get(&serial).map(|t| (t, t.labels.as_ref()))
        else {
            // Records come only from files that were read, whose labels
            // were chosen first.
            debug_assert!(records.is_empty());
            records.clear();
            return;
        };
        LogStats::add(&self.stats.entries, records.len() as u64);
        self.batch
            .add_all(serial, tail.file.id, labels, records, &self.stats);
        // Sealed only here, after all of a read's records: a batch's
        // positions then never pass lines in a later batch.
        if self.batch.bytes() >= self.settings.batch_bytes {
            self.seal();
        }
    }

    /// Lets go of a file read to its end; its position is forgotten once
    /// its last entries are acknowledged.
    fn release(&mut self, serial: u64) {
        let Some(tail) = self.tails.remove(&serial) else {
            return;
        };
        let id = tail.file.id;
        tracing::debug!(path = %tail.file.path.display(), "finished");
        self.by_id.remove(&id);
        let position = tail.file.position();
        let released = self.released.entry(tail.stream_path.clone()).or_default();
        if let Some(modified) = tail.file.modified() {
            if released.modified.is_none_or(|t| modified >= t) {
                released.modified = Some(modified);
            }
        }
        if released.recent.len() >= RELEASED_REMEMBERED {
            released.recent.pop_front();
        }
        released.recent.push_back(position.clone());
        self.finished.insert(id, position);
        if let Some(w) = self.watcher.as_mut() {
            w.forget(&tail.file.path);
        }
        self.stats
            .files
            .store(self.tails.len() as u64, Ordering::Relaxed);
        if self.batch.files.remove(&id).is_some() {
            self.batch.finished.push(id);
        } else {
            let acked = self.acked.clone();
            self.shipper
                .after_queued(Box::new(move || acked.apply(vec![Update::Remove(id)])));
        }
    }

    fn expire_multiline(&mut self) {
        if self.settings.multiline.is_empty() {
            return;
        }
        let now = Instant::now();
        let serials: Vec<u64> = self.tails.keys().copied().collect();
        for serial in serials {
            let mut records = std::mem::take(&mut self.records);
            if let Some(tail) = self.tails.get_mut(&serial) {
                tail.file.assembler.expire(now, &mut records);
            }
            self.add_records(serial, &mut records);
            self.records = records;
        }
    }

    /// Queues the batch; its positions are acknowledged with it.
    fn seal(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        let (streams, files, finished) = self.batch.take();
        let mut updates: Vec<Update> = files
            .into_values()
            .filter_map(|serial| self.tails.get(&serial))
            .map(|t| Update::Set(t.file.position()))
            .collect();
        updates.extend(finished.into_iter().map(Update::Remove));
        let acked = self.acked.clone();
        self.shipper
            .push(streams, Some(Box::new(move || acked.apply(updates))));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shipper::loki::{LogShipper, PushFormat};
    use crate::shipper::ShipperConfig;
    use crate::sources::logs::config::LogsConfig;
    use std::io::Write;

    /// A tailer of `<dir>/*.log` whose batches are never sealed: what it
    /// reads stays in its batch for the test to take.
    fn tailer(dir: &Path) -> (Tailer, LogShipper) {
        let config = LogsConfig {
            paths: vec![format!("{}/*.log", dir.display())],
            rotate_wait: Duration::from_millis(1).into(),
            ..LogsConfig::default()
        };
        let settings = Arc::new(config.validate(&dir.join("state"), "node-a").unwrap());
        let shipper = LogShipper::start(
            ShipperConfig::new("http://127.0.0.1:9/loki/api/v1/push"),
            PushFormat::Protobuf,
        )
        .unwrap();
        let acked = AckedPositions::new(dir.join("positions.json"), HashMap::new());
        let tailer = Tailer::new(
            settings,
            shipper.handle(),
            Arc::default(),
            acked,
            HashMap::new(),
            None,
        );
        (tailer, shipper)
    }

    /// One discovery, then passes until every file is read and those
    /// rotated away are let go; returns the lines read, file by file.
    fn pass(t: &mut Tailer) -> Vec<String> {
        t.discover();
        for _ in 0..20 {
            t.poll_all();
            // Lets a file renamed away without a successor outlast
            // `rotate_wait`.
            std::thread::sleep(Duration::from_millis(2));
        }
        let (streams, _, _) = t.batch.take();
        streams
            .into_iter()
            .flat_map(|s| s.entries)
            .map(|e| e.line)
            .collect()
    }

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn two_rotations_between_passes_read_every_generation_once() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "generation A, line 1\n");
        let (mut t, _shipper) = tailer(dir.path());
        assert_eq!(pass(&mut t), vec!["generation A, line 1"]);
        append(&log, "generation A, line 2\n");
        std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        append(&log, "generation B\n");
        std::fs::rename(&log, dir.path().join("app.log.2")).unwrap();
        append(&log, "generation C\n");
        assert_eq!(
            pass(&mut t),
            vec!["generation A, line 2", "generation B", "generation C"]
        );
        append(&log, "generation C, line 2\n");
        assert_eq!(pass(&mut t), vec!["generation C, line 2"]);
        assert_eq!(t.tails.len(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_generation_on_the_inode_of_one_read_before_is_not_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        let first = dir.path().join("app.log.1");
        append(&log, "generation A\n");
        let (mut t, _shipper) = tailer(dir.path());
        assert_eq!(pass(&mut t), vec!["generation A"]);
        std::fs::rename(&log, &first).unwrap();
        append(&log, "generation B, line 1\n");
        assert_eq!(pass(&mut t), vec!["generation B, line 1"]);
        assert_eq!(t.tails.len(), 1, "generation A was let go");
        // Two rotations before the next pass. Generation A's file is
        // deleted and its inode number handed to generation C (as a file
        // system reuses inodes); here the same inode is rewritten, which
        // the tailer sees the same way: device and inode of a file already
        // read, other content.
        append(&log, "generation B, line 2\n");
        std::fs::rename(&log, dir.path().join("app.log.2")).unwrap();
        let reused = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&first)
            .unwrap();
        drop(reused);
        append(&first, "generation C, on the inode generation A had\n");
        std::fs::rename(&first, dir.path().join("app.log.3")).unwrap();
        append(&log, "generation D\n");
        assert_eq!(
            pass(&mut t),
            vec![
                "generation B, line 2",
                "generation C, on the inode generation A had",
                "generation D"
            ]
        );
        assert_eq!(pass(&mut t), Vec::<String>::new());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn generations_renamed_away_with_no_successor_are_read_when_the_last_is_let_go() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("app.log");
        append(&log, "generation A, line 1\n");
        let (mut t, _shipper) = tailer(dir.path());
        assert_eq!(pass(&mut t), vec!["generation A, line 1"]);
        // Rotated twice, and the writer is gone: no file at the path
        // announces the rotations.
        append(&log, "generation A, line 2\n");
        std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
        append(&log, "generation B\n");
        std::fs::rename(&log, dir.path().join("app.log.2")).unwrap();
        assert_eq!(pass(&mut t), vec!["generation A, line 2", "generation B"]);
        assert!(t.tails.is_empty(), "both generations were let go");
        assert_eq!(pass(&mut t), Vec::<String>::new());
    }
}
