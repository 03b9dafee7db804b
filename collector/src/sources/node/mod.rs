//! The node source: the machine's own counters read from `/proc`, `/sys`
//! and `statvfs(2)`, named exactly as Prometheus' node_exporter names them
//! so that existing dashboards and alert rules keep working.
//!
//! One file per family, each a function that appends to the round's
//! metrics and returns its first error; a family that fails does not stop
//! the others ([`NodeSource::collect`] returns the first error of the
//! round after every family has run).
//!
//! | family | file read | metrics |
//! |---|---|---|
//! | [`stat`] | `proc/stat` | `node_cpu_seconds_total`, `node_boot_time_seconds`, … |
//! | [`meminfo`] | `proc/meminfo` | `node_memory_<Field>[_bytes]` |
//! | [`loadavg`] | `proc/loadavg` | `node_load1`, `node_load5`, `node_load15` |
//! | [`netdev`] | `proc/net/dev` | `node_network_{receive,transmit}_*_total` |
//! | [`diskstats`] | `proc/diskstats` | `node_disk_*` |
//! | [`pressure`] | `proc/pressure/*` | `node_pressure_*_seconds_total` |
//! | [`filesystem`] | `proc/1/mounts`, `statvfs` | `node_filesystem_*` |
//! | [`uname`] | `uname(2)`, clock | `node_uname_info`, `node_time_seconds` |

mod diskstats;
mod filesystem;
mod loadavg;
mod meminfo;
mod netdev;
mod pressure;
mod stat;
mod uname;

#[cfg(test)]
mod node_exporter_tests;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use crate::{Metric, Source, SourceError};

/// Where the node source looks. Differs from the defaults when the
/// collector runs in a container with the host's trees mounted elsewhere
/// (`/host/proc`, `/host/sys`, `/host`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePaths {
    /// procfs mount point (`/proc`).
    pub proc_root: PathBuf,
    /// sysfs mount point (`/sys`).
    pub sys_root: PathBuf,
    /// Where the host's `/` is visible (`/`); mount points are relative to it.
    pub rootfs: PathBuf,
}

impl Default for NodePaths {
    fn default() -> Self {
        Self {
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
            rootfs: PathBuf::from("/"),
        }
    }
}

/// Reads the node's metrics with node_exporter's names, labels and units.
#[derive(Debug, Clone)]
pub struct NodeSource {
    paths: NodePaths,
}

impl NodeSource {
    pub fn new(paths: NodePaths) -> Self {
        Self { paths }
    }

    pub fn paths(&self) -> &NodePaths {
        &self.paths
    }
}

impl Default for NodeSource {
    fn default() -> Self {
        Self::new(NodePaths::default())
    }
}

impl Source for NodeSource {
    fn name(&self) -> &'static str {
        "node"
    }

    fn collect(&mut self, out: &mut Vec<Metric>) -> Result<(), SourceError> {
        let proc_root = &self.paths.proc_root;
        let mut first = FirstError::default();
        first.record(stat::collect(proc_root, out));
        first.record(meminfo::collect(proc_root, out));
        first.record(loadavg::collect(proc_root, out));
        first.record(netdev::collect(proc_root, out));
        first.record(diskstats::collect(proc_root, out));
        first.record(pressure::collect(proc_root, out));
        first.record(filesystem::collect(&self.paths, out));
        first.record(uname::collect(out));
        first.into_result()
    }
}

/// Keeps the first error of a round; later ones are logged and dropped.
#[derive(Debug, Default)]
struct FirstError(Option<SourceError>);

impl FirstError {
    fn record(&mut self, result: Result<(), SourceError>) {
        if let Err(err) = result {
            match self.0 {
                None => self.0 = Some(err),
                Some(_) => tracing::debug!(error = %err, "node source: further error this round"),
            }
        }
    }

    fn into_result(self) -> Result<(), SourceError> {
        match self.0 {
            None => Ok(()),
            Some(err) => Err(err),
        }
    }
}

/// Reads a whole (small) procfs file.
fn read_file(path: &Path) -> Result<String, SourceError> {
    std::fs::read_to_string(path).map_err(|source| SourceError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_error(path: &Path, message: impl Into<String>) -> SourceError {
    SourceError::Parse {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Parses a procfs number (counters may exceed `i64`; some are floats).
fn parse_f64(path: &Path, what: &str, text: &str) -> Result<f64, SourceError> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| parse_error(path, format!("{what}: not a number: {text:?}")))
}
