//! The figures of `benches storage` per target and how they are printed:
//! one table row per target, what was counted on each, then ratios against
//! each peer measured in the same run.

use std::fmt::Write as _;
use std::time::Duration;

use super::disk::DiskUsage;
use crate::procfs::ProcessSample;
use crate::sender::Phase;
use crate::table::{mib, rate, ratio, Table};
use crate::target::TargetKind;

/// Everything measured on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// Writing every round.
    pub load: Phase,
    pub first_error: Option<String>,
    /// From the last answered write until the data counted was persisted
    /// (block written; merges settled).
    pub persist_wait: Duration,
    pub disk: DiskUsage,
    /// The process once the data was persisted.
    pub after: ProcessSample,
}

/// One target's outcome.
pub type TargetReport = crate::outcome::TargetReport<Measurement>;

/// What is counted on disk for each target.
pub fn counted(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Sightline => {
            "block directories under metrics/blocks/ (samples: meta.json stats.samples; \
             samples file: samples.parquet; index: series.parquet, postings.parquet, meta.json)"
        }
        TargetKind::Prometheus => {
            "block directories (samples: meta.json stats.numSamples; samples file: chunks/; \
             index: index, tombstones, meta.json); head and WAL not counted"
        }
        TargetKind::VictoriaMetrics => {
            "data/ (parts; the samples) and indexdb/ after a forced merge (samples: its \
             vm_rows{type=\"storage/*\"}); cache/, tmp/, snapshots/ not counted"
        }
    }
}

/// The results table, notes, and the ratios against each baseline present.
pub fn render(reports: &[TargetReport]) -> String {
    let mut table = Table::new([
        "target",
        "samples/s",
        "/CPU-s",
        "errors",
        "RSS peak",
        "blocks",
        "samples on disk",
        "MiB on disk",
        "B/sample",
        "samples B/s.",
        "index B/s.",
        "persisted in",
    ]);
    for report in reports {
        let Some(m) = report.measured() else {
            continue;
        };
        table.push(vec![
            report.kind.to_string(),
            rate(m.load.samples_per_second()),
            rate(m.load.samples_per_cpu_second()),
            format!("{}/{}", m.load.failed_requests, m.load.failed_samples),
            mib(m.after.peak_rss_bytes),
            m.disk.blocks.to_string(),
            m.disk.samples.to_string(),
            mib(m.disk.bytes()),
            format!("{:.3}", m.disk.bytes_per_sample()),
            format!("{:.3}", m.disk.sample_bytes_per_sample()),
            format!("{:.3}", m.disk.index_bytes_per_sample()),
            format!("{:.0}s", m.persist_wait.as_secs_f64()),
        ]);
    }
    let mut out = table.render();
    let _ = writeln!(
        out,
        "(samples/s over the whole load, /CPU-s per second of the target's CPU; errors = failed \
         requests/samples; RSS in MiB; B/sample = bytes on disk / samples on disk, split into \
         the files holding samples and the rest; blocks = blocks, or parts for VictoriaMetrics)"
    );
    out.push_str(&crate::outcome::footer(
        reports,
        |kind, m| {
            let mut notes = vec![format!("{kind}: counted {}", counted(kind))];
            notes.extend(
                m.first_error
                    .as_ref()
                    .map(|e| format!("{kind}: first error: {e}")),
            );
            notes
        },
        ratio_line,
    ));
    out
}

/// `target` against `baseline`: bytes per sample and peak memory (lower is
/// better), throughput (higher is better).
fn ratio_line(
    target: TargetKind,
    m: &Measurement,
    baseline: TargetKind,
    base: &Measurement,
) -> String {
    format!(
        "{target} vs {baseline}: bytes/sample {} (samples files {}), peak RSS {} (lower is \
         better); samples/s {}, per target CPU-s {} (higher is better)",
        ratio(m.disk.bytes_per_sample(), base.disk.bytes_per_sample()),
        ratio(
            m.disk.sample_bytes_per_sample(),
            base.disk.sample_bytes_per_sample()
        ),
        ratio(
            m.after.peak_rss_bytes as f64,
            base.after.peak_rss_bytes as f64
        ),
        ratio(m.load.samples_per_second(), base.load.samples_per_second()),
        ratio(
            m.load.samples_per_cpu_second(),
            base.load.samples_per_cpu_second()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    type Outcome = crate::outcome::Outcome<Measurement>;

    fn measurement(bytes: u64, samples_per_second: u64) -> Measurement {
        Measurement {
            load: Phase {
                accepted_samples: samples_per_second * 10,
                elapsed: Duration::from_secs(10),
                target_cpu: Duration::from_secs(10),
                ..Phase::default()
            },
            first_error: None,
            persist_wait: Duration::from_secs(3),
            disk: DiskUsage {
                blocks: 1,
                samples: 1_000,
                sample_bytes: bytes * 3 / 4,
                index_bytes: bytes / 4,
            },
            after: ProcessSample {
                rss_bytes: 100 << 20,
                peak_rss_bytes: 200 << 20,
                cpu: Duration::from_secs(10),
            },
        }
    }

    #[test]
    fn renders_rows_notes_and_ratios() {
        let reports: Vec<TargetReport> = [
            Outcome::Measured(measurement(800, 2_000)),
            Outcome::Measured(measurement(1_600, 1_000)),
            Outcome::Failed("merge never settled".into()),
        ]
        .into_iter()
        .zip([
            TargetKind::Sightline,
            TargetKind::Prometheus,
            TargetKind::VictoriaMetrics,
        ])
        .map(|(outcome, kind)| TargetReport { kind, outcome })
        .collect();
        let text = render(&reports);
        assert!(text.lines().any(|l| l.starts_with("sightline ")), "{text}");
        assert!(text.contains("victoriametrics: FAILED: merge never settled"));
        assert!(text.contains("prometheus: counted block directories"));
        assert!(
            text.contains("sightline vs prometheus: bytes/sample 0.50x (samples files 0.50x)"),
            "{text}"
        );
        assert!(text.contains("samples/s 2.00x"), "{text}");
        assert!(!text.contains("prometheus vs sightline"));
    }
}
