//! The `rules` report: round times, alerts, memory and CPU per target, and
//! ratios against the peers measured in the same run.

use std::time::Duration;

use crate::outcome::{footer, TargetReport};
use crate::procfs::ProcessSample;
use crate::table::{mib, ratio, Table};
use crate::target::TargetKind;

use super::status::GroupStatus;

/// How writing the data went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadFigures {
    pub samples: u64,
    pub failed_requests: u64,
    pub elapsed: Duration,
    pub first_error: Option<String>,
}

/// What one target measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub load: LoadFigures,
    /// Each measured round's time, in order.
    pub rounds: Vec<Duration>,
    /// The groups as last read, after the last measured round.
    pub last: Vec<GroupStatus>,
    /// Just before the rules were loaded (after the data).
    pub before: ProcessSample,
    /// After the last measured round.
    pub after: ProcessSample,
    /// With `--notify-latency` (Sightline): each webhook notification's
    /// arrival after its newest alert's `startsAt`.
    pub notify_latencies: Option<Vec<Duration>>,
}

impl Measurement {
    /// The median round (the lower middle one for an even count).
    pub fn median(&self) -> Duration {
        let mut sorted = self.rounds.clone();
        sorted.sort();
        sorted
            .get(sorted.len().saturating_sub(1) / 2)
            .copied()
            .unwrap_or_default()
    }

    fn firing(&self) -> usize {
        self.last.iter().map(|g| g.firing).sum()
    }

    fn pending(&self) -> usize {
        self.last.iter().map(|g| g.pending).sum()
    }

    fn unhealthy(&self) -> usize {
        self.last.iter().map(|g| g.unhealthy_rules).sum()
    }

    /// CPU the process(es) used from loading the rules to the last round,
    /// per round (reload and status polls included).
    fn cpu_per_round(&self) -> Duration {
        let rounds = u32::try_from(self.rounds.len().max(1)).unwrap_or(u32::MAX);
        self.after.cpu.saturating_sub(self.before.cpu) / rounds
    }
}

fn label(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::Sightline => "sightline",
        TargetKind::Prometheus => "prometheus",
        TargetKind::VictoriaMetrics => "vmalert+victoriametrics",
    }
}

/// Median, 95th percentile and maximum of `latencies`.
fn describe_latencies(latencies: &[Duration]) -> String {
    if latencies.is_empty() {
        return "no notification received".to_string();
    }
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    format!(
        "p50 {} s, p95 {} s, max {} s over {} notifications",
        secs(at(0.5)),
        secs(at(0.95)),
        secs(at(1.0)),
        sorted.len()
    )
}

fn secs(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64())
}

/// The table and notes.
pub fn render(reports: &[TargetReport<Measurement>], rounds: usize) -> String {
    let mut table = Table::new([
        "target",
        "first round s",
        "median round s",
        "rounds",
        "firing",
        "pending",
        "unhealthy rules",
        "RSS MiB",
        "peak RSS MiB",
        "CPU s/round",
    ]);
    for report in reports {
        let Some(m) = report.measured() else {
            table.push(vec![label(report.kind).to_string(), "-".into()]);
            continue;
        };
        table.push(vec![
            label(report.kind).to_string(),
            m.rounds.first().map_or("-".into(), |d| secs(*d)),
            secs(m.median()),
            m.rounds
                .iter()
                .map(|d| secs(*d))
                .collect::<Vec<_>>()
                .join(" "),
            m.firing().to_string(),
            m.pending().to_string(),
            m.unhealthy().to_string(),
            mib(m.after.rss_bytes),
            mib(m.after.peak_rss_bytes),
            secs(m.cpu_per_round()),
        ]);
    }
    let notes = footer(
        reports,
        |kind, m| {
            let mut lines = vec![format!(
                "{}: loaded {} samples in {:.1?}{}; RSS {} MiB before the rules",
                label(kind),
                m.load.samples,
                m.load.elapsed,
                m.load
                    .first_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(
                        ", {} requests FAILED: {e}",
                        m.load.failed_requests
                    )),
                mib(m.before.rss_bytes),
            )];
            if let Some(latencies) = &m.notify_latencies {
                lines.push(format!(
                    "{}: notification latency (firing alert's startsAt ▶ webhook, group_wait 1s): {}",
                    label(kind),
                    describe_latencies(latencies)
                ));
            }
            if let Some(e) = m.last.iter().find_map(|g| g.first_error.as_ref()) {
                lines.push(format!("{}: first unhealthy rule: {e}", label(kind)));
            }
            lines
        },
        |kind, m, base_kind, base| {
            format!(
                "{} vs {}: median round {} the time, RSS {}",
                label(kind),
                label(base_kind),
                ratio(m.median().as_secs_f64(), base.median().as_secs_f64()),
                ratio(m.after.rss_bytes as f64, base.after.rss_bytes as f64),
            )
        },
    );
    format!(
        "{}\n{notes}(round = one evaluation of every rule, as the target reports it; {rounds} \
         measured; firing/pending/unhealthy after the last; RSS after the last round, peak since \
         the rules were loaded; CPU includes reloading the rules and answering the status polls)\n",
        table.render()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::Outcome;

    fn measurement(rounds_ms: &[u64], rss: u64) -> Measurement {
        Measurement {
            load: LoadFigures::default(),
            rounds: rounds_ms
                .iter()
                .map(|&ms| Duration::from_millis(ms))
                .collect(),
            last: vec![GroupStatus {
                name: "g".into(),
                last_evaluation_ns: Some(0),
                round: None,
                complete: true,
                rules: 2,
                unhealthy_rules: 0,
                first_error: None,
                firing: 7,
                pending: 1,
            }],
            before: ProcessSample::default(),
            after: ProcessSample {
                rss_bytes: rss,
                peak_rss_bytes: rss,
                cpu: Duration::from_secs(3),
            },
            notify_latencies: None,
        }
    }

    #[test]
    fn median_and_ratios() {
        let m = measurement(&[900, 300, 400], 100 << 20);
        assert_eq!(m.median(), Duration::from_millis(400));
        assert_eq!(m.cpu_per_round(), Duration::from_secs(1));
        let reports = vec![
            TargetReport {
                kind: TargetKind::Sightline,
                outcome: Outcome::Measured(m),
            },
            TargetReport {
                kind: TargetKind::Prometheus,
                outcome: Outcome::Measured(measurement(&[800, 800], 400 << 20)),
            },
        ];
        let text = render(&reports, 3);
        assert!(
            text.contains("sightline vs prometheus: median round 0.50x the time, RSS 0.25x"),
            "{text}"
        );
        assert!(text.contains("0.900 0.300 0.400"), "{text}");
        assert_eq!(
            describe_latencies(&[1_500, 1_100, 2_000].map(Duration::from_millis)),
            "p50 1.500 s, p95 2.000 s, max 2.000 s over 3 notifications"
        );
        assert_eq!(describe_latencies(&[]), "no notification received");
    }
}
