//! The shipper's self-metrics: plain atomics, rendered in Prometheus text
//! format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters and gauges shared by the shipper's tasks and its handle.
#[derive(Debug, Default)]
pub struct ShipperStats {
    pub(crate) samples_sent: AtomicU64,
    pub(crate) samples_failed: AtomicU64,
    pub(crate) samples_retried: AtomicU64,
    pub(crate) samples_dropped: AtomicU64,
    pub(crate) requests_sent: AtomicU64,
    pub(crate) queue_requests: AtomicU64,
    pub(crate) buffer_requests: AtomicU64,
    pub(crate) buffer_bytes: AtomicU64,
}

/// A point-in-time copy of [`ShipperStats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Samples acknowledged by the server.
    pub samples_sent: u64,
    /// Samples refused with a non-retryable status (4xx other than 429).
    pub samples_failed: u64,
    /// Samples in requests that were retried, counted once per retry.
    pub samples_retried: u64,
    /// Samples dropped: disk budget or in-memory queue full, round queue
    /// full, unreadable buffer frames.
    pub samples_dropped: u64,
    /// Requests acknowledged by the server.
    pub requests_sent: u64,
    /// Requests waiting in memory.
    pub queue_requests: u64,
    /// Requests waiting in the disk buffer.
    pub buffer_requests: u64,
    /// Bytes of the disk buffer's segment files.
    pub buffer_bytes: u64,
}

impl ShipperStats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn set(gauge: &AtomicU64, n: u64) {
        gauge.store(n, Ordering::Relaxed);
    }

    /// Current values.
    pub fn snapshot(&self) -> StatsSnapshot {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            samples_sent: get(&self.samples_sent),
            samples_failed: get(&self.samples_failed),
            samples_retried: get(&self.samples_retried),
            samples_dropped: get(&self.samples_dropped),
            requests_sent: get(&self.requests_sent),
            queue_requests: get(&self.queue_requests),
            buffer_requests: get(&self.buffer_requests),
            buffer_bytes: get(&self.buffer_bytes),
        }
    }

    /// The metrics in Prometheus text exposition format, as
    /// `sightline_collector_shipper_*` with samples as the unit.
    pub fn render_metrics(&self) -> String {
        self.render_as("sightline_collector_shipper_", "samples")
    }

    /// The metrics with names `<prefix><name>`, counting `unit` (`samples`,
    /// `entries`) for the per-item counters.
    pub fn render_as(&self, prefix: &str, unit: &str) -> String {
        let s = self.snapshot();
        let title = {
            let mut chars = unit.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        };
        let rows: [(String, &str, String, u64); 8] = [
            (
                format!("{unit}_sent_total"),
                "counter",
                format!("{title} acknowledged by the server."),
                s.samples_sent,
            ),
            (
                format!("{unit}_failed_total"),
                "counter",
                format!("{title} refused by the server with a non-retryable status."),
                s.samples_failed,
            ),
            (
                format!("{unit}_retried_total"),
                "counter",
                format!("{title} in retried requests, once per retry."),
                s.samples_retried,
            ),
            (
                format!("{unit}_dropped_total"),
                "counter",
                format!(
                    "{title} dropped because a queue or the disk buffer was full or unreadable."
                ),
                s.samples_dropped,
            ),
            (
                "requests_sent_total".into(),
                "counter",
                "Requests acknowledged by the server.".into(),
                s.requests_sent,
            ),
            (
                "queue_requests".into(),
                "gauge",
                "Requests waiting in the in-memory queue.".into(),
                s.queue_requests,
            ),
            (
                "buffer_requests".into(),
                "gauge",
                "Requests waiting in the disk buffer.".into(),
                s.buffer_requests,
            ),
            (
                "buffer_bytes".into(),
                "gauge",
                "Bytes of the disk buffer's segment files.".into(),
                s.buffer_bytes,
            ),
        ];
        let mut out = String::new();
        for (name, kind, help, value) in rows {
            let name = format!("{prefix}{name}");
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_text_format() {
        let stats = ShipperStats::default();
        ShipperStats::add(&stats.samples_sent, 42);
        ShipperStats::set(&stats.buffer_bytes, 7);
        let text = stats.render_metrics();
        assert!(text.contains("# TYPE sightline_collector_shipper_samples_sent_total counter\nsightline_collector_shipper_samples_sent_total 42\n"));
        assert!(text.contains("sightline_collector_shipper_buffer_bytes 7\n"));
        assert_eq!(text.lines().count(), 24);
        let logs = stats.render_as("sightline_collector_log_shipper_", "entries");
        assert!(logs.contains(
            "# HELP sightline_collector_log_shipper_entries_sent_total Entries acknowledged by the server.\n"
        ));
        assert!(logs.contains("sightline_collector_log_shipper_entries_sent_total 42\n"));
    }
}
