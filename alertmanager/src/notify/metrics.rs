//! The dispatcher's own metrics under Alertmanager's names, so its
//! dashboards and alerts work unchanged: notifications and failed ones per
//! integration (with the failure's reason), requests, latency, and — filled
//! in by the dispatcher at scrape time — alerts and silences by state and
//! the last configuration reload.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::receivers::FailureReason;

/// Integration kinds, in `Integration::kind_index` order.
pub const INTEGRATIONS: [&str; 3] = ["webhook", "slack", "email"];

/// Alertmanager's buckets for `alertmanager_notification_latency_seconds`.
const LATENCY_BUCKETS: [f64; 5] = [1.0, 5.0, 10.0, 15.0, 20.0];

#[derive(Debug, Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (b, le) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            if secs <= le {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(
            u64::try_from(d.as_nanos()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }
}

/// Notification counters, per integration kind.
#[derive(Debug, Default)]
pub struct NotifyStats {
    /// Notifications attempted (one per flush and integration, retries
    /// included in it).
    notifications: [AtomicU64; 3],
    /// Notifications that failed after every retry, by reason
    /// (`FailureReason::ALL` order).
    failed: [[AtomicU64; 3]; 3],
    /// Requests (each attempt).
    requests: [AtomicU64; 3],
    requests_failed: [AtomicU64; 3],
    latency: [Histogram; 3],
    /// 1 after a successful configuration (re)load, 0 after a failed one.
    reload_ok: AtomicU64,
    /// When the configuration was last loaded successfully, Unix seconds.
    reload_at: AtomicU64,
}

fn reason_index(r: FailureReason) -> usize {
    FailureReason::ALL.iter().position(|x| *x == r).unwrap_or(0)
}

impl NotifyStats {
    pub(crate) fn notification(&self, kind: usize) {
        self.notifications[kind].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn failed(&self, kind: usize, reason: FailureReason) {
        self.failed[kind][reason_index(reason)].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request(&self, kind: usize, took: Duration, ok: bool) {
        self.requests[kind].fetch_add(1, Ordering::Relaxed);
        if !ok {
            self.requests_failed[kind].fetch_add(1, Ordering::Relaxed);
        }
        self.latency[kind].observe(took);
    }

    /// Records the outcome of a configuration (re)load.
    pub fn reloaded(&self, ok: bool) {
        self.reload_ok.store(u64::from(ok), Ordering::Relaxed);
        if ok {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            self.reload_at.store(now, Ordering::Relaxed);
        }
    }

    /// Notifications sent successfully (attempts minus failures), for tests
    /// and logs.
    pub fn sent(&self, kind: usize) -> u64 {
        let failed: u64 = self.failed[kind]
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .sum();
        self.notifications[kind]
            .load(Ordering::Relaxed)
            .saturating_sub(failed)
    }

    /// Prometheus text exposition of the counters.
    pub fn exposition(&self) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let family = |out: &mut String, name: &str, kind: &str, help: &str| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        };
        family(
            &mut out,
            "alertmanager_notifications_total",
            "counter",
            "The total number of attempted notifications.",
        );
        for (i, k) in INTEGRATIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "alertmanager_notifications_total{{integration=\"{k}\"}} {}",
                load(&self.notifications[i])
            );
        }
        family(
            &mut out,
            "alertmanager_notifications_failed_total",
            "counter",
            "The total number of notifications that failed after every retry.",
        );
        for (i, k) in INTEGRATIONS.iter().enumerate() {
            for (j, r) in FailureReason::ALL.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "alertmanager_notifications_failed_total{{integration=\"{k}\",reason=\"{}\"}} {}",
                    r.as_str(),
                    load(&self.failed[i][j])
                );
            }
        }
        family(
            &mut out,
            "alertmanager_notification_requests_total",
            "counter",
            "The total number of attempted notification requests.",
        );
        for (i, k) in INTEGRATIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "alertmanager_notification_requests_total{{integration=\"{k}\"}} {}",
                load(&self.requests[i])
            );
        }
        family(
            &mut out,
            "alertmanager_notification_requests_failed_total",
            "counter",
            "The total number of failed notification requests.",
        );
        for (i, k) in INTEGRATIONS.iter().enumerate() {
            let _ = writeln!(
                out,
                "alertmanager_notification_requests_failed_total{{integration=\"{k}\"}} {}",
                load(&self.requests_failed[i])
            );
        }
        family(
            &mut out,
            "alertmanager_notification_latency_seconds",
            "histogram",
            "The latency of notification requests.",
        );
        for (i, k) in INTEGRATIONS.iter().enumerate() {
            let h = &self.latency[i];
            for (b, le) in h.buckets.iter().zip(LATENCY_BUCKETS) {
                let _ = writeln!(
                    out,
                    "alertmanager_notification_latency_seconds_bucket{{integration=\"{k}\",le=\"{le}\"}} {}",
                    load(b)
                );
            }
            let count = load(&h.count);
            let _ = writeln!(
                out,
                "alertmanager_notification_latency_seconds_bucket{{integration=\"{k}\",le=\"+Inf\"}} {count}\n\
                 alertmanager_notification_latency_seconds_sum{{integration=\"{k}\"}} {}\n\
                 alertmanager_notification_latency_seconds_count{{integration=\"{k}\"}} {count}",
                load(&h.sum_nanos) as f64 / 1e9
            );
        }
        family(
            &mut out,
            "alertmanager_config_last_reload_successful",
            "gauge",
            "Whether the last configuration reload attempt was successful.",
        );
        let _ = writeln!(
            out,
            "alertmanager_config_last_reload_successful {}",
            load(&self.reload_ok)
        );
        family(
            &mut out,
            "alertmanager_config_last_reload_success_timestamp_seconds",
            "gauge",
            "Timestamp of the last successful configuration reload.",
        );
        let _ = writeln!(
            out,
            "alertmanager_config_last_reload_success_timestamp_seconds {}",
            load(&self.reload_at)
        );
        out
    }
}

/// Gauges of alerts and silences by state, in the exposition format.
pub fn state_gauges(alerts: [(&str, usize); 2], silences: [(&str, usize); 3]) -> String {
    let mut out = String::from(
        "# HELP alertmanager_alerts How many alerts by state.\n# TYPE alertmanager_alerts gauge\n",
    );
    for (state, n) in alerts {
        let _ = writeln!(out, "alertmanager_alerts{{state=\"{state}\"}} {n}");
    }
    out.push_str(
        "# HELP alertmanager_silences How many silences by state.\n# TYPE alertmanager_silences gauge\n",
    );
    for (state, n) in silences {
        let _ = writeln!(out, "alertmanager_silences{{state=\"{state}\"}} {n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_and_histogram_render() {
        let s = NotifyStats::default();
        s.notification(0);
        s.request(0, Duration::from_millis(1500), false);
        s.failed(0, FailureReason::ServerError);
        s.notification(1);
        s.request(1, Duration::from_millis(10), true);
        let text = s.exposition();
        for line in [
            "alertmanager_notifications_total{integration=\"webhook\"} 1",
            "alertmanager_notifications_failed_total{integration=\"webhook\",reason=\"serverError\"} 1",
            "alertmanager_notifications_failed_total{integration=\"slack\",reason=\"other\"} 0",
            "alertmanager_notification_requests_failed_total{integration=\"webhook\"} 1",
            "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"1\"} 0",
            "alertmanager_notification_latency_seconds_bucket{integration=\"webhook\",le=\"5\"} 1",
            "alertmanager_notification_latency_seconds_bucket{integration=\"slack\",le=\"1\"} 1",
            "alertmanager_notification_latency_seconds_count{integration=\"slack\"} 1",
            "alertmanager_notification_latency_seconds_sum{integration=\"webhook\"} 1.5",
        ] {
            assert!(text.contains(line), "{line} missing from:\n{text}");
        }
        assert_eq!(s.sent(0), 0);
        assert_eq!(s.sent(1), 1);
    }
}
