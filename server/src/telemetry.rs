//! The server's own metrics, rendered in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sightline_tsdb::Tsdb;

/// Ingest counters kept by the HTTP layer.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub samples_received: AtomicU64,
    pub samples_stored: AtomicU64,
    pub rejected_invalid: AtomicU64,
    pub throttled: AtomicU64,
    pub body_bytes: AtomicU64,
    /// Remote-write responses by status code.
    requests: Mutex<Vec<(u16, u64)>>,
}

impl IngestStats {
    pub fn count_request(&self, code: u16) {
        let mut r = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        match r.iter_mut().find(|(c, _)| *c == code) {
            Some((_, n)) => *n += 1,
            None => r.push((code, 1)),
        }
    }

    fn requests(&self) -> Vec<(u16, u64)> {
        let mut r = self
            .requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        r.sort_unstable();
        r
    }
}

/// Renders every self-metric.
pub fn render(ingest: &IngestStats, tsdb: &Tsdb, start_time_secs: f64) -> String {
    let mut out = String::new();
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed) as f64;

    let requests = ingest.requests();
    family(
        &mut out,
        "sightline_remote_write_requests_total",
        "counter",
        "Remote-write requests by response status code.",
    );
    for (code, n) in requests {
        let _ = writeln!(
            out,
            "sightline_remote_write_requests_total{{code=\"{code}\"}} {n}"
        );
    }
    metric(
        &mut out,
        "sightline_remote_write_body_bytes_total",
        "counter",
        "Compressed remote-write body bytes received.",
        load(&ingest.body_bytes),
    );
    metric(
        &mut out,
        "sightline_ingest_samples_received_total",
        "counter",
        "Samples received in write requests.",
        load(&ingest.samples_received),
    );
    metric(
        &mut out,
        "sightline_ingest_samples_stored_total",
        "counter",
        "Samples stored and acknowledged.",
        load(&ingest.samples_stored),
    );
    metric(
        &mut out,
        "sightline_ingest_write_requests_throttled_total",
        "counter",
        "Write requests answered 503 because the server was saturated.",
        load(&ingest.throttled),
    );

    let head = tsdb.head().stats();
    family(
        &mut out,
        "sightline_ingest_samples_rejected_total",
        "counter",
        "Samples refused, by reason.",
    );
    for (reason, v) in [
        ("invalid_labels", load(&ingest.rejected_invalid)),
        ("out_of_order", load(&head.out_of_order)),
        ("duplicate", load(&head.duplicate)),
        ("out_of_bounds", load(&head.out_of_bounds)),
    ] {
        let _ = writeln!(
            out,
            "sightline_ingest_samples_rejected_total{{reason=\"{reason}\"}} {v}"
        );
    }

    metric(
        &mut out,
        "sightline_tsdb_head_series",
        "gauge",
        "Series in the in-memory head.",
        load(&head.series),
    );
    metric(
        &mut out,
        "sightline_tsdb_head_chunks",
        "gauge",
        "Chunks in the in-memory head.",
        load(&head.chunks),
    );
    metric(
        &mut out,
        "sightline_tsdb_head_samples_appended_total",
        "counter",
        "Samples appended to the head, WAL replay included.",
        load(&head.samples_appended),
    );
    metric(
        &mut out,
        "sightline_tsdb_head_symbols",
        "gauge",
        "Distinct label names and values interned in the head.",
        tsdb.head().symbol_count() as f64,
    );
    metric(
        &mut out,
        "sightline_tsdb_head_series_removed_total",
        "counter",
        "Series dropped from the head after their samples moved to blocks.",
        load(&head.series_removed),
    );
    let (min_t, max_t) = (tsdb.head().min_time(), tsdb.head().max_time());
    if min_t <= max_t {
        metric(
            &mut out,
            "sightline_tsdb_head_min_time_seconds",
            "gauge",
            "Oldest sample timestamp in the head.",
            min_t as f64 / 1000.0,
        );
        metric(
            &mut out,
            "sightline_tsdb_head_max_time_seconds",
            "gauge",
            "Newest sample timestamp in the head.",
            max_t as f64 / 1000.0,
        );
    }

    let blocks = tsdb.blocks();
    let c = tsdb.counters();
    metric(
        &mut out,
        "sightline_tsdb_blocks_loaded",
        "gauge",
        "Persisted blocks open for queries.",
        blocks.len() as f64,
    );
    metric(
        &mut out,
        "sightline_tsdb_storage_blocks_bytes",
        "gauge",
        "Bytes of all persisted blocks.",
        tsdb.block_bytes() as f64,
    );
    metric(
        &mut out,
        "sightline_tsdb_wal_storage_size_bytes",
        "gauge",
        "Bytes of the WAL directory (segments and checkpoint).",
        tsdb.wal_bytes() as f64,
    );
    if let Some(oldest) = blocks.iter().map(|b| b.meta().min_time).min() {
        metric(
            &mut out,
            "sightline_tsdb_lowest_timestamp_seconds",
            "gauge",
            "Start of the oldest persisted block.",
            oldest as f64 / 1000.0,
        );
    }
    metric(
        &mut out,
        "sightline_tsdb_head_blocks_written_total",
        "counter",
        "Blocks cut from the head.",
        load(&c.head_blocks_written),
    );
    metric(
        &mut out,
        "sightline_tsdb_compactions_total",
        "counter",
        "Block compactions completed.",
        load(&c.compactions),
    );
    metric(
        &mut out,
        "sightline_tsdb_compactions_failed_total",
        "counter",
        "Block compactions that failed (retried on the next pass).",
        load(&c.compaction_failures),
    );
    metric(
        &mut out,
        "sightline_tsdb_wal_checkpoints_total",
        "counter",
        "WAL checkpoints written after head truncation.",
        load(&c.checkpoints),
    );
    family(
        &mut out,
        "sightline_tsdb_retention_deleted_blocks_total",
        "counter",
        "Blocks deleted by retention, by limit.",
    );
    for (reason, v) in [
        ("time", load(&c.retention_deleted_time)),
        ("size", load(&c.retention_deleted_size)),
    ] {
        let _ = writeln!(
            out,
            "sightline_tsdb_retention_deleted_blocks_total{{reason=\"{reason}\"}} {v}"
        );
    }
    metric(
        &mut out,
        "sightline_tsdb_retention_limit_seconds",
        "gauge",
        "Configured retention age (0: none).",
        tsdb.options().retention_ms as f64 / 1000.0,
    );
    metric(
        &mut out,
        "sightline_tsdb_retention_limit_bytes",
        "gauge",
        "Configured size budget for blocks and WAL (0: none).",
        tsdb.options().retention_bytes as f64,
    );

    let wal = tsdb.wal().stats();
    metric(
        &mut out,
        "sightline_tsdb_wal_bytes_written_total",
        "counter",
        "Bytes appended to the WAL.",
        load(&wal.bytes_written),
    );
    metric(
        &mut out,
        "sightline_tsdb_wal_records_written_total",
        "counter",
        "Records appended to the WAL.",
        load(&wal.records_written),
    );
    metric(
        &mut out,
        "sightline_tsdb_wal_fsyncs_total",
        "counter",
        "fsync calls on WAL segments.",
        load(&wal.fsyncs),
    );
    metric(
        &mut out,
        "sightline_tsdb_wal_segment_current",
        "gauge",
        "Number of the WAL segment being written.",
        load(&wal.segment),
    );
    metric(
        &mut out,
        "sightline_tsdb_wal_corruptions_total",
        "counter",
        "Torn or corrupt WAL tails found (and cut) at startup.",
        load(&wal.replay_corruptions),
    );

    if let Some(rss) = resident_memory_bytes() {
        metric(
            &mut out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss as f64,
        );
    }
    metric(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since the Unix epoch in seconds.",
        start_time_secs,
    );
    out
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn metric(out: &mut String, name: &str, kind: &str, help: &str, value: f64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// VmRSS of this process, from `/proc/self/status` (Linux only).
pub fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
