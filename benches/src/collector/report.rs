//! The collector's figures as a table, checked against its targets, with
//! ratios against node_exporter.

use std::fmt::Write as _;
use std::time::Duration;

use super::exporter::ScrapeCost;
use super::rounds::{per, share, RoundCost};
use crate::procfs::ProcessSample;
use crate::table::{mib, ratio, Table};

/// Collection interval the CPU target is stated for.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Resident memory target of the collector.
pub const RSS_TARGET_BYTES: u64 = 20 * 1024 * 1024;
/// CPU target: percent of one core at [`INTERVAL`].
pub const CPU_SHARE_TARGET: f64 = 1.0;
/// Containers the CPU target is stated for.
pub const TARGET_CONTAINERS: usize = 100;

/// node_exporter's run, or why there was none.
pub type ExporterOutcome = crate::outcome::Outcome<ScrapeCost>;

/// Everything `benches collector` measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub containers: usize,
    pub pods: usize,
    /// Cgroup and node sources together, as the agent runs them.
    pub full: RoundCost,
    pub node_only: RoundCost,
    pub cgroup_only: RoundCost,
    /// This process right after the full rounds.
    pub process: ProcessSample,
    pub exporter: ExporterOutcome,
    pub debug_build: bool,
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1e3)
}

fn row(name: &str, cost: &RoundCost, rss: Option<&ProcessSample>) -> Vec<String> {
    vec![
        name.to_string(),
        cost.metrics.to_string(),
        ms(cost.cpu_per_round()),
        ms(cost.wall_per_round()),
        format!("{:.3}%", cost.core_share(INTERVAL)),
        rss.map_or("-".into(), |p| mib(p.rss_bytes)),
        rss.map_or("-".into(), |p| mib(p.peak_rss_bytes)),
    ]
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "FAIL"
    }
}

impl Report {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut table = Table::new([
            "what",
            "metrics/round",
            "CPU ms/round",
            "wall ms/round",
            "CPU @10s",
            "RSS",
            "RSS peak",
        ]);
        table.push(row(
            "sightline cgroup+node",
            &self.full,
            Some(&self.process),
        ));
        table.push(row("sightline node only", &self.node_only, None));
        table.push(row("sightline cgroup only", &self.cgroup_only, None));
        if let ExporterOutcome::Measured(e) = &self.exporter {
            table.push(vec![
                "node_exporter (node only)".into(),
                e.samples.to_string(),
                ms(per(e.cpu, e.scrapes)),
                ms(per(e.wall, e.scrapes)),
                format!("{:.3}%", share(per(e.cpu, e.scrapes), INTERVAL)),
                mib(e.after.rss_bytes),
                mib(e.after.peak_rss_bytes),
            ]);
        }
        out.push_str(&table.render());
        let _ = writeln!(
            out,
            "({} containers in {} pods, {} rounds each; CPU @10s = CPU per round / 10 s, % of one \
             core; RSS in MiB, of the whole `benches` process; node_exporter per scrape over HTTP, \
             its CPU in clock ticks)",
            self.containers, self.pods, self.full.rounds
        );

        let rss_ok = self.process.rss_bytes <= RSS_TARGET_BYTES;
        let share = self.full.core_share(INTERVAL);
        let _ = writeln!(
            out,
            "target RSS <= {} MiB: {} MiB (peak {}) {}",
            RSS_TARGET_BYTES / (1024 * 1024),
            mib(self.process.rss_bytes),
            mib(self.process.peak_rss_bytes),
            verdict(rss_ok),
        );
        let scaled = if self.containers == TARGET_CONTAINERS {
            String::new()
        } else {
            format!(" (measured with {} containers)", self.containers)
        };
        let _ = writeln!(
            out,
            "target 10 s cycle with {TARGET_CONTAINERS} containers < {CPU_SHARE_TARGET}% of a \
             core: {share:.3}%{scaled} {}",
            verdict(share < CPU_SHARE_TARGET),
        );

        match &self.exporter {
            ExporterOutcome::Measured(e) => {
                let exporter_cpu = per(e.cpu, e.scrapes).as_secs_f64();
                let _ = writeln!(
                    out,
                    "sightline node source vs node_exporter: CPU per round {}, metrics {}, CPU \
                     per metric {} (like for like; node_exporter also serves go_*, process_* and \
                     more families); full collector CPU {}, RSS {} (lower CPU/RSS is better; \
                     node_exporter reads no container cgroups, cAdvisor does)",
                    ratio(self.node_only.cpu_per_round().as_secs_f64(), exporter_cpu),
                    ratio(self.node_only.metrics as f64, e.samples as f64),
                    ratio(
                        self.node_only.cpu_per_round().as_secs_f64()
                            / self.node_only.metrics.max(1) as f64,
                        exporter_cpu / e.samples.max(1) as f64
                    ),
                    ratio(self.full.cpu_per_round().as_secs_f64(), exporter_cpu),
                    ratio(self.process.rss_bytes as f64, e.after.rss_bytes as f64),
                );
            }
            ExporterOutcome::Skipped(why) => {
                let _ = writeln!(out, "node_exporter: skipped: {why}");
            }
            ExporterOutcome::Failed(why) => {
                let _ = writeln!(out, "node_exporter: FAILED: {why}");
            }
        }
        if self.debug_build {
            let _ = writeln!(
                out,
                "note: debug build (collector code unoptimised); release CPU and wall figures \
                 will be lower"
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(cpu_ms: u64, metrics: usize) -> RoundCost {
        RoundCost {
            rounds: 10,
            cpu: Duration::from_millis(cpu_ms * 10),
            wall: Duration::from_millis(cpu_ms * 20),
            metrics,
        }
    }

    #[test]
    fn renders_targets_and_ratios() {
        let mib = 1024 * 1024;
        let report = Report {
            containers: 100,
            pods: 50,
            full: cost(20, 5_000),
            node_only: cost(5, 1_000),
            cgroup_only: cost(15, 4_000),
            process: ProcessSample {
                rss_bytes: 12 * mib,
                peak_rss_bytes: 14 * mib,
                cpu: Duration::ZERO,
            },
            exporter: ExporterOutcome::Measured(ScrapeCost {
                scrapes: 10,
                cpu: Duration::from_millis(100),
                wall: Duration::from_millis(300),
                samples: 1_000,
                after: ProcessSample {
                    rss_bytes: 24 * mib,
                    peak_rss_bytes: 25 * mib,
                    cpu: Duration::ZERO,
                },
            }),
            debug_build: false,
        };
        let text = report.render();
        assert!(
            text.contains("target RSS <= 20 MiB: 12.0 MiB (peak 14.0) PASS"),
            "{text}"
        );
        assert!(text.contains("core: 0.200% PASS"), "{text}");
        assert!(
            text.contains("CPU per round 0.50x, metrics 1.00x, CPU per metric 0.50x"),
            "{text}"
        );
        assert!(text.contains("RSS 0.50x"), "{text}");
        assert!(!text.contains("debug build"), "{text}");
    }
}
