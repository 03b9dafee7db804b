//! The store's counters in the Prometheus text format, for the server's
//! `/metrics` (`sightline_logstore_*`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::LogStore;

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

fn load(a: &AtomicU64) -> f64 {
    a.load(Ordering::Relaxed) as f64
}

impl LogStore {
    /// Every `sightline_logstore_*` metric, in the Prometheus text format.
    /// Reads two directory sizes; everything else is counters.
    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        let s = self.stats();
        metric(
            &mut out,
            "sightline_logstore_ingested_lines_total",
            "counter",
            "Log lines stored and acknowledged.",
            load(&s.entries_stored),
        );
        metric(
            &mut out,
            "sightline_logstore_ingested_bytes_total",
            "counter",
            "Bytes of log lines stored and acknowledged.",
            load(&s.bytes_stored),
        );
        metric(
            &mut out,
            "sightline_logstore_repeated_lines_total",
            "counter",
            "Pushed log lines dropped as repeats of lines not yet committed (same stream, timestamp and line).",
            load(&s.entries_repeated),
        );
        family(
            &mut out,
            "sightline_logstore_rejected_lines_total",
            "counter",
            "Log lines the store refused, by reason.",
        );
        for (reason, v) in [
            ("too_old", load(&s.entries_expired)),
            ("stream_limit", load(&s.entries_refused_streams)),
            ("invalid_labels", load(&s.entries_invalid_labels)),
            ("line_too_long", load(&s.entries_line_too_long)),
            ("rate_limited", load(&s.entries_rate_limited)),
        ] {
            let _ = writeln!(
                out,
                "sightline_logstore_rejected_lines_total{{reason=\"{reason}\"}} {v}"
            );
        }
        metric(
            &mut out,
            "sightline_logstore_streams",
            "gauge",
            "Streams in the stream table.",
            self.stream_count() as f64,
        );
        let (partitions, writers) = self.partition_count();
        metric(
            &mut out,
            "sightline_logstore_partitions",
            "gauge",
            "Time partitions (one index each).",
            partitions as f64,
        );
        metric(
            &mut out,
            "sightline_logstore_open_writers",
            "gauge",
            "Partitions with an open index writer.",
            writers as f64,
        );
        metric(
            &mut out,
            "sightline_logstore_partitions_dropped_total",
            "counter",
            "Partitions deleted by retention.",
            load(&s.partitions_dropped),
        );
        metric(
            &mut out,
            "sightline_logstore_index_bytes",
            "gauge",
            "Bytes of all partitions on disk.",
            self.index_bytes() as f64,
        );
        metric(
            &mut out,
            "sightline_logstore_head_bytes",
            "gauge",
            "Bytes of acknowledged entries not committed to an index yet.",
            self.head_bytes() as f64,
        );
        metric(
            &mut out,
            "sightline_logstore_commits_total",
            "counter",
            "Index commits (entries made searchable from the index, WAL checkpointed).",
            load(&s.commits),
        );
        metric(
            &mut out,
            "sightline_logstore_wal_bytes",
            "gauge",
            "Bytes of the log WAL directory (segments and checkpoint).",
            self.wal_bytes() as f64,
        );
        let wal = self.wal().stats();
        metric(
            &mut out,
            "sightline_logstore_wal_bytes_written_total",
            "counter",
            "Bytes appended to the log WAL.",
            load(&wal.bytes_written),
        );
        metric(
            &mut out,
            "sightline_logstore_wal_fsyncs_total",
            "counter",
            "fsync calls on log WAL segments.",
            load(&wal.fsyncs),
        );
        family(
            &mut out,
            "sightline_logstore_scan_duration_seconds",
            "summary",
            "Time spent in log scans (searches and metric queries).",
        );
        let _ = writeln!(
            out,
            "sightline_logstore_scan_duration_seconds_sum {}\nsightline_logstore_scan_duration_seconds_count {}",
            load(&s.scan_micros) / 1e6,
            load(&s.scans)
        );
        metric(
            &mut out,
            "sightline_logstore_scan_lines_read_total",
            "counter",
            "Lines log scans read to verify (index candidates and unindexed entries).",
            load(&s.scan_lines_read),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use sightline_model::Labels;

    use crate::{LogStore, NewEntry, Options, StreamBatch};

    #[test]
    fn counts_what_was_stored_and_refused() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let options = Options {
            commit_interval: Duration::from_secs(3600),
            max_streams: 1,
            ..Options::default()
        };
        let store = LogStore::open(dir.path(), options).unwrap_or_else(|e| panic!("{e}"));
        let now = crate::store::now_ns();
        let batch = |app: &str, ts_ns: i64| StreamBatch {
            labels: Labels::from_pairs([("app", app)]),
            entries: vec![NewEntry {
                ts_ns,
                line: "hello world".into(),
                metadata: vec![],
            }],
        };
        store
            .push(&[batch("a", now), batch("a", 1), batch("b", now)])
            .unwrap_or_else(|e| panic!("{e}"));
        store.commit().unwrap_or_else(|e| panic!("{e}"));
        let text = store.metrics_text();
        for line in [
            "sightline_logstore_ingested_lines_total 1",
            "sightline_logstore_ingested_bytes_total 11",
            "sightline_logstore_rejected_lines_total{reason=\"too_old\"} 1",
            "sightline_logstore_rejected_lines_total{reason=\"stream_limit\"} 1",
            "sightline_logstore_streams 1",
            "sightline_logstore_partitions 1",
            "sightline_logstore_commits_total 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
        let index = text
            .lines()
            .find_map(|l| l.strip_prefix("sightline_logstore_index_bytes "))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_default();
        assert!(index > 0.0, "{text}");
    }
}
