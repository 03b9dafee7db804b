//! The figures measured for each target, and how they are printed: one table
//! row per target, then ratios against each peer measured in the same run.

use std::fmt::Write as _;
use std::time::Duration;

use crate::procfs::ProcessSample;
use crate::sender::Phase;
use crate::table::{mib, rate, ratio, Table};
use crate::target::TargetKind;

/// Everything measured on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub series: usize,
    pub startup: Duration,
    /// The round that creates every series.
    pub first_round: Phase,
    /// The rounds after it, appending to existing series.
    pub steady: Phase,
    /// The process once ready, before any write.
    pub idle: ProcessSample,
    /// The process right after the last round was answered.
    pub after: ProcessSample,
    pub first_error: Option<String>,
}

impl Measurement {
    /// Bytes of resident memory the ingested series added, per series.
    pub fn rss_delta_per_series(&self) -> f64 {
        (self.after.rss_bytes as f64 - self.idle.rss_bytes as f64) / self.series.max(1) as f64
    }

    /// Bytes of resident memory per series, counting the idle footprint.
    pub fn rss_total_per_series(&self) -> f64 {
        self.after.rss_bytes as f64 / self.series.max(1) as f64
    }

    fn failed_requests(&self) -> u64 {
        self.first_round.failed_requests + self.steady.failed_requests
    }

    fn failed_samples(&self) -> u64 {
        self.first_round.failed_samples + self.steady.failed_samples
    }
}

/// One target's outcome.
pub type TargetReport = crate::outcome::TargetReport<Measurement>;

/// The results table, notes on skipped, failed or erroring targets, and the
/// ratios against each baseline peer present.
pub fn render(reports: &[TargetReport]) -> String {
    let mut out = String::new();
    let header = [
        "target",
        "ready",
        "1st round",
        "steady",
        "steady/CPU-s",
        "errors",
        "RSS idle",
        "RSS after",
        "RSS peak",
        "B/series Δ",
        "B/series",
    ];
    let mut table = Table::new(header);
    for report in reports {
        let Some(m) = report.measured() else {
            continue;
        };
        table.push(vec![
            report.kind.to_string(),
            format!("{:.2}s", m.startup.as_secs_f64()),
            rate(m.first_round.samples_per_second()),
            rate(m.steady.samples_per_second()),
            rate(m.steady.samples_per_cpu_second()),
            format!("{}/{}", m.failed_requests(), m.failed_samples()),
            mib(m.idle.rss_bytes),
            mib(m.after.rss_bytes),
            mib(m.after.peak_rss_bytes),
            format!("{:.0}", m.rss_delta_per_series()),
            format!("{:.0}", m.rss_total_per_series()),
        ]);
    }
    out.push_str(&table.render());
    let _ = writeln!(
        out,
        "(ready = startup time; throughput in samples/s; errors = failed requests/samples; RSS in MiB; B/series Δ = (RSS after − RSS idle) / series)"
    );

    out.push_str(&crate::outcome::footer(
        reports,
        |kind, m| {
            m.first_error
                .iter()
                .map(|e| format!("{kind}: first error: {e}"))
                .collect()
        },
        ratio_line,
    ));
    out
}

/// `target` against `baseline`: throughput ratios (higher is better) and
/// memory ratios (lower is better).
fn ratio_line(
    target: TargetKind,
    m: &Measurement,
    baseline: TargetKind,
    base: &Measurement,
) -> String {
    format!(
        "{target} vs {baseline}: steady {}, first round {}, per target CPU-s {} (higher is better); \
         RSS/series Δ {}, total {} (lower is better)",
        ratio(m.steady.samples_per_second(), base.steady.samples_per_second()),
        ratio(
            m.first_round.samples_per_second(),
            base.first_round.samples_per_second()
        ),
        ratio(
            m.steady.samples_per_cpu_second(),
            base.steady.samples_per_cpu_second()
        ),
        ratio(m.rss_delta_per_series(), base.rss_delta_per_series()),
        ratio(m.rss_total_per_series(), base.rss_total_per_series()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    type Outcome = crate::outcome::Outcome<Measurement>;

    fn measurement(steady_samples: u64, rss_after_mib: u64) -> Measurement {
        let mib = 1024 * 1024;
        Measurement {
            series: 1_000,
            startup: Duration::from_secs(1),
            first_round: Phase {
                accepted_samples: 1_000,
                elapsed: Duration::from_secs(1),
                target_cpu: Duration::from_secs(1),
                ..Phase::default()
            },
            steady: Phase {
                accepted_samples: steady_samples,
                elapsed: Duration::from_secs(2),
                target_cpu: Duration::from_secs(1),
                ..Phase::default()
            },
            idle: ProcessSample {
                rss_bytes: 10 * mib,
                peak_rss_bytes: 10 * mib,
                cpu: Duration::ZERO,
            },
            after: ProcessSample {
                rss_bytes: rss_after_mib * mib,
                peak_rss_bytes: rss_after_mib * mib,
                cpu: Duration::from_secs(2),
            },
            first_error: None,
        }
    }

    #[test]
    fn per_series_memory() {
        let m = measurement(10_000, 20);
        assert_eq!(m.rss_delta_per_series(), 10.0 * 1024.0 * 1024.0 / 1000.0);
        assert_eq!(m.rss_total_per_series(), 20.0 * 1024.0 * 1024.0 / 1000.0);
        assert_eq!(m.steady.samples_per_second(), 5_000.0);
        assert_eq!(m.steady.samples_per_cpu_second(), 10_000.0);
    }

    #[test]
    fn renders_rows_notes_and_ratios() {
        let reports = [
            TargetReport {
                kind: TargetKind::Sightline,
                outcome: Outcome::Measured(measurement(20_000, 15)),
            },
            TargetReport {
                kind: TargetKind::Prometheus,
                outcome: Outcome::Measured(measurement(10_000, 20)),
            },
            TargetReport {
                kind: TargetKind::VictoriaMetrics,
                outcome: Outcome::Skipped("victoria-metrics not found on PATH".into()),
            },
        ];
        let text = render(&reports);
        assert!(text.lines().any(|l| l.starts_with("sightline ")), "{text}");
        assert!(text.lines().any(|l| l.starts_with("prometheus ")), "{text}");
        assert!(text.contains("victoriametrics: skipped: victoria-metrics not found"));
        // Twice the steady throughput; half the added memory (5 vs 10 MiB).
        assert!(
            text.contains("sightline vs prometheus: steady 2.00x, first round 1.00x"),
            "{text}"
        );
        assert!(text.contains("RSS/series Δ 0.50x, total 0.75x"), "{text}");
        assert!(!text.contains("prometheus vs sightline"));
    }
}
