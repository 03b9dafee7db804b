//! Change notification with inotify: a wake-up when a followed file is
//! written or a watched directory gains an entry, so new lines and new
//! files are read at once rather than at the next poll. Without inotify
//! (or with too many watches) the tailer simply polls.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fd::OwnedFd;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// Two inotify instances: one for directories (a new file to discover),
/// one for files (new lines to read), so a busy file never causes a
/// directory rescan.
#[derive(Debug)]
pub struct Watcher {
    dirs: OwnedFd,
    files: OwnedFd,
    watched: HashSet<PathBuf>,
}

/// What a wait saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// A watched directory changed (and maybe files too).
    Dirs,
    /// A watched file was written.
    Files,
    Timeout,
}

impl Watcher {
    pub fn new() -> Option<Self> {
        let init = || inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK);
        match (init(), init()) {
            (Ok(dirs), Ok(files)) => Some(Self {
                dirs,
                files,
                watched: HashSet::new(),
            }),
            (Err(e), _) | (_, Err(e)) => {
                tracing::info!(error = %e, "inotify unavailable; polling log files");
                None
            }
        }
    }

    /// Watches a directory for new, moved and deleted entries.
    pub fn watch_dir(&mut self, dir: &Path) {
        if self.watched.contains(dir) {
            return;
        }
        let flags =
            WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::MOVED_FROM | WatchFlags::DELETE;
        // A failed watch (limit reached, path gone) only means polling.
        if inotify::add_watch(&self.dirs, dir, flags).is_ok() {
            self.watched.insert(dir.to_path_buf());
        }
    }

    /// Watches a file for writes.
    pub fn watch_file(&mut self, file: &Path) {
        if self.watched.contains(file) {
            return;
        }
        if inotify::add_watch(&self.files, file, WatchFlags::MODIFY).is_ok() {
            self.watched.insert(file.to_path_buf());
        }
    }

    /// Forgets a path (its watch ends with the file; a new file at the
    /// same path is watched again).
    pub fn forget(&mut self, path: &Path) {
        self.watched.remove(path);
    }

    /// Waits up to `timeout` for an event and drains the queue.
    pub fn wait(&mut self, timeout: Duration) -> Woken {
        let ts = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        let mut fds = [
            PollFd::new(&self.dirs, PollFlags::IN),
            PollFd::new(&self.files, PollFlags::IN),
        ];
        if poll(&mut fds, Some(&ts)).unwrap_or(0) == 0 {
            return Woken::Timeout;
        }
        let dirs = !fds[0].revents().is_empty();
        let mut buf = [0u8; 8192];
        for fd in [&self.dirs, &self.files] {
            while matches!(rustix::io::read(fd, &mut buf), Ok(n) if n > 0) {}
        }
        if dirs {
            Woken::Dirs
        } else {
            Woken::Files
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_on_a_new_file_and_on_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Watcher::new().expect("inotify on Linux");
        w.watch_dir(dir.path());
        assert_eq!(w.wait(Duration::from_millis(10)), Woken::Timeout);
        let file = dir.path().join("a.log");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(w.wait(Duration::from_secs(5)), Woken::Dirs);
        w.watch_file(&file);
        assert_eq!(w.wait(Duration::from_millis(10)), Woken::Timeout);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&file)
            .and_then(|mut f| std::io::Write::write_all(&mut f, b"y"))
            .unwrap();
        assert_eq!(w.wait(Duration::from_secs(5)), Woken::Files);
    }
}
