//! The log tailer's self-metrics, rendered as `sightline_collector_log_*`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct LogStats {
    pub lines_read: AtomicU64,
    pub bytes_read: AtomicU64,
    pub entries: AtomicU64,
    pub unparsed_lines: AtomicU64,
    pub invalid_utf8: AtomicU64,
    pub truncated: AtomicU64,
    pub rotations: AtomicU64,
    pub truncations: AtomicU64,
    pub read_errors: AtomicU64,
    pub pod_labels_missing: AtomicU64,
    pub files: AtomicU64,
    pub paused: AtomicU64,
}

impl LogStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Prometheus text format.
    pub fn render(&self) -> String {
        let rows: [(&str, &str, &str, &AtomicU64); 12] = [
            ("lines_read_total", "counter", "Lines read from log files.", &self.lines_read),
            ("bytes_read_total", "counter", "Bytes read from log files.", &self.bytes_read),
            ("entries_total", "counter", "Entries formed (after partial-line merging and multi-line joining) and queued for shipping.", &self.entries),
            ("unparsed_lines_total", "counter", "Lines that did not fit their file's format, shipped raw.", &self.unparsed_lines),
            ("invalid_utf8_total", "counter", "Entries with invalid UTF-8, shipped with replacement characters.", &self.invalid_utf8),
            ("truncated_total", "counter", "Entries cut at max_line_bytes.", &self.truncated),
            ("rotations_total", "counter", "Files renamed or deleted while followed.", &self.rotations),
            ("truncations_total", "counter", "Files truncated in place (copytruncate) while followed.", &self.truncations),
            ("read_errors_total", "counter", "Errors reading or opening log files.", &self.read_errors),
            ("pod_labels_missing_total", "counter", "Container files shipped without their pod labels: the pod's metadata was not known within pod_labels_wait.", &self.pod_labels_missing),
            ("files", "gauge", "Files being followed.", &self.files),
            ("paused", "gauge", "1 while reading is paused because the log buffer is full.", &self.paused),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "# HELP sightline_collector_log_{name} {help}\n# TYPE sightline_collector_log_{name} {kind}\nsightline_collector_log_{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}
