//! The figures measured for each target and how they are printed: latency
//! per query and target, memory and CPU per target, then ratios of every
//! target against each baseline peer measured in the same run.

use std::fmt::Write as _;
use std::time::Duration;

use super::client::MatrixShape;
use super::load::LoadOutcome;
use super::queries::NamedQuery;
use super::stats::{millis, percentile};
use crate::procfs::ProcessSample;
use crate::table::{mib, ratio, Table};
use crate::target::TargetKind;

/// Peers others are compared against, in this order.
const BASELINES: [TargetKind; 2] = [TargetKind::Prometheus, TargetKind::VictoriaMetrics];

/// The speed-ups `DESIGN.md` asks of Sightline: against Prometheus, then
/// against VictoriaMetrics.
const GOALS: [(TargetKind, f64); 2] = [
    (TargetKind::Prometheus, 2.0),
    (TargetKind::VictoriaMetrics, 1.0),
];

/// The timed runs of one query on one target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryTiming {
    /// Latencies of the runs that succeeded (warm-up excluded).
    pub latencies: Vec<Duration>,
    /// The answer's shape, from the first successful run (warm-up included).
    pub shape: Option<MatrixShape>,
    /// Whether some successful run answered a different shape.
    pub unstable_shape: bool,
    /// Runs, warm-up included.
    pub attempts: usize,
    /// Failed runs, warm-up included.
    pub errors: usize,
    pub first_error: Option<String>,
}

impl QueryTiming {
    /// Adds one answer; `timed` is false for the warm-up.
    pub fn record(&mut self, latency: Duration, result: Result<MatrixShape, String>, timed: bool) {
        self.attempts += 1;
        match result {
            Ok(shape) => {
                if timed {
                    self.latencies.push(latency);
                }
                match self.shape {
                    None => self.shape = Some(shape),
                    Some(first) => self.unstable_shape |= first != shape,
                }
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    pub fn p50(&self) -> Option<Duration> {
        percentile(&self.latencies, 0.5)
    }

    pub fn p95(&self) -> Option<Duration> {
        percentile(&self.latencies, 0.95)
    }
}

/// Everything measured on one target.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub load: LoadOutcome,
    /// Set when the target was not fully ready for the queries: not every
    /// loaded series visible, or still busy with work loading left.
    pub readiness: Option<String>,
    /// The process after loading and settling, right before the queries.
    pub before: ProcessSample,
    /// The process after the last query.
    pub after: ProcessSample,
    /// Whether the peak was reset before the queries, so that
    /// `after.peak_rss_bytes` is the peak while querying rather than since
    /// startup (loading included).
    pub peak_since_queries: bool,
    /// One per query, in the order of the query list.
    pub queries: Vec<QueryTiming>,
}

impl Measurement {
    fn query_cpu(&self) -> Duration {
        self.after.cpu.saturating_sub(self.before.cpu)
    }
}

/// How a target's run ended.
/// A target's measurement, or why there is none.
pub type Outcome = crate::outcome::Outcome<Measurement>;
/// One target's outcome.
pub type TargetReport = crate::outcome::TargetReport<Measurement>;

/// Sums of per-query percentiles over the queries in `included`.
fn totals(m: &Measurement, included: &[usize]) -> (Duration, Duration) {
    included
        .iter()
        .fold((Duration::ZERO, Duration::ZERO), |(a, b), &i| {
            let q = &m.queries[i];
            (
                a + q.p50().unwrap_or_default(),
                b + q.p95().unwrap_or_default(),
            )
        })
}

/// The latency table, the memory table, notes, and the ratios.
pub fn render(queries: &[NamedQuery], runs: usize, reports: &[TargetReport]) -> String {
    let measured: Vec<(TargetKind, &Measurement)> = reports
        .iter()
        .filter_map(|r| r.measured().map(|m| (r.kind, m)))
        .collect();
    let mut out = String::new();

    // Queries every measured target answered: the only fair ground for
    // totals and ratios.
    let answered_by_all: Vec<usize> = (0..queries.len())
        .filter(|&i| {
            measured
                .iter()
                .all(|(_, m)| m.queries.get(i).is_some_and(|q| !q.latencies.is_empty()))
        })
        .collect();
    let reference = measured
        .iter()
        .find(|(kind, _)| *kind == TargetKind::Prometheus)
        .map(|(_, m)| *m);

    let _ = writeln!(
        out,
        "Latency per query, ms over {runs} runs after one warm-up (p50 / p95):"
    );
    let mut header = vec!["query".to_string()];
    for (kind, _) in &measured {
        header.push(format!("{kind} p50"));
        header.push("p95".to_string());
    }
    header.push("series".to_string());
    let mut table = Table::new(header);
    for (i, query) in queries.iter().enumerate() {
        let mut row = vec![query.name.clone()];
        let mut series = Vec::new();
        for (_, m) in &measured {
            let timing = m.queries.get(i);
            let cell = |p: Option<Duration>| p.map_or_else(|| "ERR".to_string(), millis);
            row.push(cell(timing.and_then(QueryTiming::p50)));
            row.push(cell(timing.and_then(QueryTiming::p95)));
            let count = timing.and_then(|t| t.shape).map(|s| s.series);
            let reference_count = reference.and_then(|r| r.queries.get(i)?.shape);
            let differs = matches!((count, reference_count), (Some(c), Some(r)) if c != r.series);
            series.push(match count {
                Some(c) => format!("{c}{}", if differs { "!" } else { "" }),
                None => "-".to_string(),
            });
        }
        row.push(series.join("/"));
        table.push(row);
    }
    let mut total_row = vec!["total".to_string()];
    for (_, m) in &measured {
        let (p50, p95) = totals(m, &answered_by_all);
        for total in [p50, p95] {
            total_row.push(if answered_by_all.is_empty() {
                "-".to_string()
            } else {
                millis(total)
            });
        }
    }
    table.push(total_row);
    out.push_str(&table.render());
    let _ = writeln!(
        out,
        "(series: result series per target in column order, `!` where it differs from \
         Prometheus; total: sum over the {} of {} queries every target answered)",
        answered_by_all.len(),
        queries.len()
    );

    let _ = writeln!(
        out,
        "\nMemory and CPU (MiB; CPU-s of the target while querying):"
    );
    let mut table = Table::new([
        "target",
        "load",
        "write errors",
        "RSS before",
        "RSS after",
        "peak RSS",
        "query CPU-s",
    ]);
    for (kind, m) in &measured {
        let peak = format!(
            "{}{}",
            mib(m.after.peak_rss_bytes),
            if m.peak_since_queries { "" } else { "*" }
        );
        table.push(vec![
            kind.to_string(),
            format!("{:.1}s", m.load.elapsed.as_secs_f64()),
            format!("{}/{}", m.load.failed_requests, m.load.failed_samples),
            mib(m.before.rss_bytes),
            mib(m.after.rss_bytes),
            peak,
            format!("{:.2}", m.query_cpu().as_secs_f64()),
        ]);
    }
    out.push_str(&table.render());
    let _ = writeln!(
        out,
        "(load = writing all rounds, encoding included, not a throughput figure; write errors = \
         failed requests/samples; peak RSS = VmHWM while querying, reset before the first query; \
         `*` where the reset failed and it includes loading)"
    );

    render_notes(&mut out, queries, reports, reference);
    render_ratios(&mut out, queries, &measured, &answered_by_all);
    out
}

/// Skipped and failed targets, load and visibility problems, query errors
/// and answers that differ from Prometheus's.
fn render_notes(
    out: &mut String,
    queries: &[NamedQuery],
    reports: &[TargetReport],
    reference: Option<&Measurement>,
) {
    let mut notes = Vec::new();
    for report in reports {
        let kind = report.kind;
        let m = match &report.outcome {
            Outcome::Measured(m) => m,
            Outcome::Skipped(why) => {
                notes.push(format!("{kind}: skipped: {why}"));
                continue;
            }
            Outcome::Failed(why) => {
                notes.push(format!("{kind}: FAILED: {why}"));
                continue;
            }
        };
        if let Some(e) = &m.load.first_error {
            notes.push(format!("{kind}: first write error: {e}"));
        }
        if let Some(note) = &m.readiness {
            notes.push(format!("{kind}: before querying: {note}"));
        }
        let all_failed = m
            .queries
            .iter()
            .all(|t| t.latencies.is_empty() && t.shape.is_none());
        if let (true, Some(first)) = (all_failed, m.queries.first()) {
            notes.push(format!(
                "{kind}: every run of every query failed, e.g. {}: {}",
                queries.first().map_or("", |q| q.name.as_str()),
                first.first_error.as_deref().unwrap_or("")
            ));
            continue;
        }
        for (query, timing) in queries.iter().zip(&m.queries) {
            let name = &query.name;
            if timing.errors > 0 {
                notes.push(format!(
                    "{kind}: {name}: {} of {} runs failed (warm-up included): {}",
                    timing.errors,
                    timing.attempts,
                    timing.first_error.as_deref().unwrap_or("")
                ));
            }
            if timing.unstable_shape {
                notes.push(format!(
                    "{kind}: {name}: runs answered different numbers of series or points"
                ));
            }
        }
        if kind == TargetKind::Prometheus {
            continue;
        }
        let Some(reference) = reference else {
            continue;
        };
        for ((query, timing), base) in queries.iter().zip(&m.queries).zip(&reference.queries) {
            if let (Some(got), Some(want)) = (timing.shape, base.shape) {
                if got.series != want.series {
                    notes.push(format!(
                        "{kind}: {}: {} series where Prometheus answers {} (points {} vs {})",
                        query.name, got.series, want.series, got.points, want.points
                    ));
                }
            }
        }
    }
    if !notes.is_empty() {
        let _ = writeln!(out, "\nNotes:");
        for note in notes {
            let _ = writeln!(out, "- {note}");
        }
    }
}

/// Per query and in total, how many times faster each target is than each
/// baseline present, then peak memory against it and the design goals.
fn render_ratios(
    out: &mut String,
    queries: &[NamedQuery],
    measured: &[(TargetKind, &Measurement)],
    answered_by_all: &[usize],
) {
    let mut pairs = Vec::new();
    for baseline in BASELINES {
        let Some(&(_, base)) = measured.iter().find(|(kind, _)| *kind == baseline) else {
            continue;
        };
        for &(kind, m) in measured.iter().filter(|(kind, _)| *kind != baseline) {
            // Each pair once: Sightline against both, VictoriaMetrics
            // against Prometheus.
            if BASELINES.contains(&kind)
                && BASELINES.iter().position(|b| *b == kind)
                    < BASELINES.iter().position(|b| *b == baseline)
            {
                continue;
            }
            pairs.push((kind, m, baseline, base));
        }
    }
    if pairs.is_empty() {
        return;
    }
    // Sightline's comparisons first.
    pairs.sort_by_key(|(kind, ..)| *kind != TargetKind::Sightline);
    let _ = writeln!(
        out,
        "\nSpeed-up, p50 (baseline latency / target latency; above 1.00x the target is faster):"
    );
    let mut header = vec!["query".to_string()];
    header.extend(
        pairs
            .iter()
            .map(|(kind, _, baseline, _)| format!("{kind} vs {baseline}")),
    );
    let mut table = Table::new(header);
    for (i, query) in queries.iter().enumerate() {
        let mut row = vec![query.name.clone()];
        for (_, m, _, base) in &pairs {
            let p50 = |m: &Measurement| m.queries.get(i).and_then(QueryTiming::p50);
            row.push(match (p50(m), p50(base)) {
                (Some(t), Some(b)) => ratio(b.as_secs_f64(), t.as_secs_f64()),
                _ => "n/a".to_string(),
            });
        }
        table.push(row);
    }
    for (label, pick) in [("total p50", 0usize), ("total p95", 1)] {
        let mut row = vec![label.to_string()];
        for (_, m, _, base) in &pairs {
            let (t, b) = (totals(m, answered_by_all), totals(base, answered_by_all));
            let (t, b) = if pick == 0 { (t.0, b.0) } else { (t.1, b.1) };
            row.push(ratio(b.as_secs_f64(), t.as_secs_f64()));
        }
        table.push(row);
    }
    let mut row = vec!["peak RSS (lower is better)".to_string()];
    for (_, m, _, base) in &pairs {
        row.push(ratio(
            m.after.peak_rss_bytes as f64,
            base.after.peak_rss_bytes as f64,
        ));
    }
    table.push(row);
    out.push_str(&table.render());

    for (kind, m, baseline, base) in &pairs {
        if *kind != TargetKind::Sightline {
            continue;
        }
        let Some(&(_, goal)) = GOALS.iter().find(|(peer, _)| peer == baseline) else {
            continue;
        };
        let (t, b) = (
            totals(m, answered_by_all).0,
            totals(base, answered_by_all).0,
        );
        let verdict = if t.is_zero() || b.is_zero() {
            "not measured".to_string()
        } else {
            let speedup = b.as_secs_f64() / t.as_secs_f64();
            let met = if speedup >= goal { "met" } else { "NOT met" };
            format!("{speedup:.2}x, {met}")
        };
        let _ = writeln!(
            out,
            "goal: sightline at least {goal:.1}x as fast as {baseline} (total p50): {verdict}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: &str) -> NamedQuery {
        NamedQuery {
            name: name.to_string(),
            promql: "up".to_string(),
        }
    }

    fn timing(ms: &[u64], series: usize) -> QueryTiming {
        let mut t = QueryTiming::default();
        let shape = MatrixShape {
            series,
            points: series * 10,
        };
        t.record(Duration::from_millis(999), Ok(shape), false);
        for &v in ms {
            t.record(Duration::from_millis(v), Ok(shape), true);
        }
        t
    }

    fn measurement(queries: Vec<QueryTiming>, peak_mib: u64) -> Measurement {
        let sample = |mib: u64, cpu: u64| ProcessSample {
            rss_bytes: mib << 20,
            peak_rss_bytes: mib << 20,
            cpu: Duration::from_secs(cpu),
        };
        Measurement {
            load: LoadOutcome::default(),
            readiness: None,
            before: sample(50, 1),
            after: sample(peak_mib, 3),
            peak_since_queries: true,
            queries,
        }
    }

    #[test]
    fn records_runs_errors_and_shape_changes() {
        let shape = |series| MatrixShape { series, points: 1 };
        let mut t = QueryTiming::default();
        t.record(Duration::from_millis(50), Ok(shape(3)), false);
        t.record(Duration::from_millis(10), Ok(shape(3)), true);
        t.record(Duration::from_millis(30), Err("timeout".into()), true);
        t.record(Duration::from_millis(20), Ok(shape(4)), true);
        assert_eq!(t.latencies.len(), 2);
        assert_eq!(t.p50(), Some(Duration::from_millis(15)));
        assert_eq!(t.errors, 1);
        assert_eq!(t.first_error.as_deref(), Some("timeout"));
        assert!(t.unstable_shape);
        assert_eq!(t.shape, Some(shape(3)));
    }

    #[test]
    fn renders_latencies_ratios_and_mismatches() {
        let queries = [query("a"), query("b")];
        let reports = [
            TargetReport {
                kind: TargetKind::Sightline,
                outcome: Outcome::Measured(measurement(
                    vec![timing(&[10, 10, 10], 5), timing(&[5, 5, 5], 2)],
                    60,
                )),
            },
            TargetReport {
                kind: TargetKind::Prometheus,
                outcome: Outcome::Measured(measurement(
                    vec![timing(&[30, 30, 30], 5), timing(&[15, 15, 15], 3)],
                    120,
                )),
            },
            TargetReport {
                kind: TargetKind::VictoriaMetrics,
                outcome: Outcome::Skipped("no victoria-metrics".into()),
            },
        ];
        let text = render(&queries, 3, &reports);
        assert!(text.contains("sightline p50"), "{text}");
        assert!(!text.contains("victoriametrics p50"), "{text}");
        // 3x on both queries and in total; half the peak memory.
        assert!(
            text.lines()
                .any(|l| l.starts_with("a ") && l.ends_with("3.00x")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("total p50") && l.ends_with("3.00x")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("peak RSS") && l.ends_with("0.50x")),
            "{text}"
        );
        assert!(
            text.contains(
                "goal: sightline at least 2.0x as fast as prometheus (total p50): 3.00x, met"
            ),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("b ") && l.ends_with("2!/3")),
            "{text}"
        );
        assert!(
            text.contains("sightline: b: 2 series where Prometheus answers 3"),
            "{text}"
        );
        assert!(
            text.contains("victoriametrics: skipped: no victoria-metrics"),
            "{text}"
        );
        // Total of p50s: 10 + 5 ms and 30 + 15 ms.
        assert!(
            text.lines()
                .any(|l| l.starts_with("total ") && l.contains("15.0") && l.contains("45.0")),
            "{text}"
        );
    }

    #[test]
    fn failed_queries_leave_totals_comparable() {
        let queries = [query("a"), query("b")];
        let mut failing = QueryTiming::default();
        failing.record(
            Duration::from_millis(1),
            Err("HTTP 422: execution: boom".into()),
            false,
        );
        for _ in 0..3 {
            failing.record(
                Duration::from_millis(1),
                Err("HTTP 422: execution: boom".into()),
                true,
            );
        }
        let reports = [
            TargetReport {
                kind: TargetKind::VictoriaMetrics,
                outcome: Outcome::Measured(measurement(vec![timing(&[10], 5), failing], 60)),
            },
            TargetReport {
                kind: TargetKind::Prometheus,
                outcome: Outcome::Measured(measurement(
                    vec![timing(&[20], 5), timing(&[1_000], 5)],
                    60,
                )),
            },
        ];
        let text = render(&queries, 3, &reports);
        assert!(text.contains("sum over the 1 of 2 queries"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("total p50") && l.ends_with("2.00x")),
            "{text}"
        );
        assert!(
            text.contains("victoriametrics: b: 4 of 4 runs failed (warm-up included): HTTP 422"),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("b ") && l.contains("ERR")),
            "{text}"
        );
        assert!(!text.contains("goal:"), "{text}");
    }

    #[test]
    fn a_target_without_answers_gets_one_note() {
        let queries = [query("a"), query("b")];
        let failing = || {
            let mut t = QueryTiming::default();
            for run in 0..3 {
                t.record(
                    Duration::from_millis(1),
                    Err("HTTP 404 Not Found, empty body".into()),
                    run > 0,
                );
            }
            t
        };
        let reports = [
            TargetReport {
                kind: TargetKind::Sightline,
                outcome: Outcome::Measured(measurement(vec![failing(), failing()], 10)),
            },
            TargetReport {
                kind: TargetKind::Prometheus,
                outcome: Outcome::Measured(measurement(
                    vec![timing(&[20], 5), timing(&[30], 5)],
                    60,
                )),
            },
        ];
        let text = render(&queries, 2, &reports);
        let notes: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("- sightline"))
            .collect();
        assert_eq!(
            notes,
            ["- sightline: every run of every query failed, e.g. a: HTTP 404 Not Found, empty body"],
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().eq(["total", "-", "-", "-", "-"])),
            "{text}"
        );
        assert!(
            text.contains(
                "goal: sightline at least 2.0x as fast as prometheus (total p50): not measured"
            ),
            "{text}"
        );
    }
}
