//! What one target's run of a benchmark came to, shared by the subcommands.

use std::future::Future;
use std::path::Path;

use crate::target::{PlannedTarget, TargetKind};

/// A measurement, or why there is none.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<M> {
    Measured(M),
    /// Not run, for a reason that is not a failure (e.g. optional binary absent).
    Skipped(String),
    Failed(String),
}

/// One target's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetReport<M> {
    pub kind: TargetKind,
    pub outcome: Outcome<M>,
}

impl<M> TargetReport<M> {
    pub fn measured(&self) -> Option<&M> {
        match &self.outcome {
            Outcome::Measured(m) => Some(m),
            _ => None,
        }
    }

    /// `kind: skipped: why` or `kind: FAILED: why`; `None` when measured.
    pub fn note(&self) -> Option<String> {
        match &self.outcome {
            Outcome::Measured(_) => None,
            Outcome::Skipped(why) => Some(format!("{}: skipped: {why}", self.kind)),
            Outcome::Failed(why) => Some(format!("{}: FAILED: {why}", self.kind)),
        }
    }
}

/// Peers the other targets are compared against, in this order.
pub const BASELINES: [TargetKind; 2] = [TargetKind::Prometheus, TargetKind::VictoriaMetrics];

/// `line(target, its measurement, baseline, the baseline's)` for every
/// measured target against each measured baseline in [`BASELINES`], in that
/// order.
pub fn against_baselines<M>(
    reports: &[TargetReport<M>],
    mut line: impl FnMut(TargetKind, &M, TargetKind, &M) -> String,
) -> Vec<String> {
    let mut lines = Vec::new();
    for baseline in BASELINES {
        let Some(base) = reports
            .iter()
            .find(|r| r.kind == baseline)
            .and_then(TargetReport::measured)
        else {
            continue;
        };
        for report in reports.iter().filter(|r| r.kind != baseline) {
            if let Some(m) = report.measured() {
                lines.push(line(report.kind, m, baseline, base));
            }
        }
    }
    lines
}

/// Runs `bench` on every target in turn: a target whose binary is missing
/// is skipped, an error becomes the target's failure (and the run goes on).
pub async fn run_each<'a, M, F, Fut>(
    targets: &'a [PlannedTarget],
    mut bench: F,
) -> Vec<TargetReport<M>>
where
    F: FnMut(TargetKind, &'a Path) -> Fut,
    Fut: Future<Output = anyhow::Result<M>>,
{
    let mut reports = Vec::with_capacity(targets.len());
    for planned in targets {
        let kind = planned.kind;
        let outcome = match &planned.binary {
            Err(why) => {
                eprintln!("[{kind}] skipped: {why}");
                Outcome::Skipped(why.clone())
            }
            Ok(binary) => match bench(kind, binary).await {
                Ok(measurement) => Outcome::Measured(measurement),
                Err(e) => {
                    eprintln!("[{kind}] failed: {e:#}");
                    Outcome::Failed(format!("{e:#}"))
                }
            },
        };
        reports.push(TargetReport { kind, outcome });
    }
    reports
}

/// Whether no target failed (skipped ones do not count).
pub fn none_failed<M>(reports: &[TargetReport<M>]) -> bool {
    !reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::Failed(_)))
}

/// The lines under a results table: per target its note (skipped,
/// failed) or, when measured, the lines `notes` gives; then the ratio lines
/// ([`against_baselines`]).
pub fn footer<M>(
    reports: &[TargetReport<M>],
    notes: impl Fn(TargetKind, &M) -> Vec<String>,
    ratio_line: impl FnMut(TargetKind, &M, TargetKind, &M) -> String,
) -> String {
    let mut lines = Vec::new();
    for report in reports {
        match (report.note(), report.measured()) {
            (Some(note), _) => lines.push(note),
            (None, Some(m)) => lines.extend(notes(report.kind, m)),
            (None, None) => {}
        }
    }
    lines.extend(against_baselines(reports, ratio_line));
    let mut out = String::new();
    for line in lines {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Adds a problem for every count flag that is zero.
pub fn require_positive(problems: &mut Vec<String>, counts: &[(usize, &str)]) {
    for (value, flag) in counts {
        if *value == 0 {
            problems.push(format!("{flag} must be at least 1"));
        }
    }
}
