//! Reading cgroup files while containers come and go: a file that vanished
//! (or a controller the kernel lacks) is absence, not an error; other
//! failures are recorded and the round carries on.

use std::path::Path;

use crate::SourceError;

/// Errors met during one collection round. The first is returned from
/// `collect`, the rest are counted and logged.
#[derive(Debug, Default)]
pub(crate) struct RoundErrors {
    first: Option<SourceError>,
    more: usize,
}

impl RoundErrors {
    pub fn record(&mut self, error: SourceError) {
        tracing::debug!(%error, "cgroup source");
        if self.first.is_none() {
            self.first = Some(error);
        } else {
            self.more += 1;
        }
    }

    pub fn into_result(self) -> Result<(), SourceError> {
        match self.first {
            None => Ok(()),
            Some(first) => {
                if self.more > 0 {
                    tracing::warn!(error = %first, more = self.more, "cgroup source: errors this round");
                }
                Err(first)
            }
        }
    }
}

/// Whether an I/O error means "not there": the file or cgroup is gone
/// (`ENOENT`, `ENODEV` once a cgroup is removed) or the kernel does not
/// offer it (`EOPNOTSUPP`, e.g. pressure files with PSI disabled).
pub(crate) fn is_absent(error: &std::io::Error) -> bool {
    const ENODEV: i32 = 19;
    const EOPNOTSUPP: i32 = 95;
    error.kind() == std::io::ErrorKind::NotFound
        || error.kind() == std::io::ErrorKind::Unsupported
        || matches!(error.raw_os_error(), Some(ENODEV | EOPNOTSUPP))
}

/// Reads `dir/name`; `None` when absent or failed (recorded).
pub(crate) fn read(dir: &Path, name: &str, errors: &mut RoundErrors) -> Option<String> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) if is_absent(&e) => None,
        Err(source) => {
            errors.record(SourceError::Io { path, source });
            None
        }
    }
}

/// Reads and parses `dir/name`; `None` when absent or failed (recorded).
pub(crate) fn parse<T>(
    dir: &Path,
    name: &str,
    errors: &mut RoundErrors,
    parser: impl FnOnce(&str) -> Result<T, String>,
) -> Option<T> {
    let text = read(dir, name, errors)?;
    match parser(&text) {
        Ok(v) => Some(v),
        Err(message) => {
            errors.record(SourceError::Parse {
                path: dir.join(name),
                message,
            });
            None
        }
    }
}

/// Most process ids kept per cgroup: enough to find one still alive
/// when reading its `/proc/<pid>/net/dev`.
const KEPT_PIDS: usize = 4;

/// `dir/cgroup.procs`: the number of processes and the first few pids.
pub(crate) fn procs(dir: &Path, errors: &mut RoundErrors) -> Option<(u64, Vec<u32>)> {
    let text = read(dir, "cgroup.procs", errors)?;
    let mut count = 0u64;
    let mut pids = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        count += 1;
        if pids.len() < KEPT_PIDS {
            if let Ok(pid) = line.parse::<u32>() {
                pids.push(pid);
            }
        }
    }
    Some((count, pids))
}
