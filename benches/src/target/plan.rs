//! Which targets a benchmark runs and from which binaries: the command-line
//! flags every subcommand shares, checked once with every problem reported.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use super::{find_executable, TargetKind};

/// Command-line arguments naming the targets and where they run, as given;
/// flattened into each subcommand's arguments.
#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// Targets to run, one after the other.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "sightline,prometheus,victoriametrics"
    )]
    targets: Vec<TargetKind>,
    /// Sightline server binary [default: `sightline` next to this binary].
    #[arg(long)]
    sightline_bin: Option<PathBuf>,
    /// Prometheus binary (path, or name looked up on PATH).
    #[arg(long, default_value = "prometheus")]
    prometheus_bin: PathBuf,
    /// VictoriaMetrics single-node binary; skipped with a note if absent.
    #[arg(long, default_value = "victoria-metrics")]
    victoria_metrics_bin: PathBuf,
    /// Where the targets' temporary data directories go [default: the
    /// system temporary directory].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seconds a target may take to become ready.
    #[arg(long, default_value_t = 60)]
    startup_timeout: u64,
}

/// A target to run: its binary, or why it is skipped.
#[derive(Debug)]
pub struct PlannedTarget {
    pub kind: TargetKind,
    pub binary: Result<PathBuf, String>,
}

/// Validated [`TargetArgs`].
#[derive(Debug)]
pub struct TargetPlan {
    /// In the order given, each kind once.
    pub targets: Vec<PlannedTarget>,
    pub work_dir: PathBuf,
    pub startup_timeout: Duration,
}

impl TargetArgs {
    /// Finds every binary. Problems that make the run pointless (an empty
    /// target list, a missing required binary) are added to `problems`, so
    /// the caller can report them with its own; a missing optional binary
    /// only marks its target as skipped.
    pub fn plan(self, problems: &mut Vec<String>) -> TargetPlan {
        if self.targets.is_empty() {
            problems.push("--targets names no target".to_string());
        }
        let mut targets: Vec<PlannedTarget> = Vec::new();
        for kind in self.targets {
            if targets.iter().any(|t| t.kind == kind) {
                continue;
            }
            let (binary, flag) = match kind {
                TargetKind::Sightline => match &self.sightline_bin {
                    Some(path) => (path.clone(), "--sightline-bin"),
                    None => match sibling_binary("sightline") {
                        Ok(path) => (path, "--sightline-bin"),
                        Err(e) => {
                            problems.push(format!("sightline: {e:#}; pass --sightline-bin"));
                            continue;
                        }
                    },
                },
                TargetKind::Prometheus => (self.prometheus_bin.clone(), "--prometheus-bin"),
                TargetKind::VictoriaMetrics => {
                    (self.victoria_metrics_bin.clone(), "--victoria-metrics-bin")
                }
            };
            let binary = match find_executable(&binary) {
                Some(found) => Ok(found),
                None if kind.optional() => Err(format!(
                    "no executable {} (on PATH or as a path); pass {flag} to include it",
                    binary.display()
                )),
                None => {
                    problems.push(format!(
                        "{kind}: no executable {} (on PATH or as a path); pass {flag} or leave \
                         it out of --targets",
                        binary.display()
                    ));
                    continue;
                }
            };
            targets.push(PlannedTarget { kind, binary });
        }
        TargetPlan {
            targets,
            work_dir: self.work_dir.unwrap_or_else(std::env::temp_dir),
            startup_timeout: Duration::from_secs(self.startup_timeout),
        }
    }
}

/// `name` in the directory of the running executable (where cargo puts the
/// workspace's other binaries).
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating the benches binary")?;
    let dir = exe
        .parent()
        .context("the benches binary has no parent directory")?;
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(targets: Vec<TargetKind>, victoria_metrics_bin: &str) -> TargetArgs {
        TargetArgs {
            targets,
            sightline_bin: Some(PathBuf::from("/bin/sh")),
            prometheus_bin: PathBuf::from("sh"),
            victoria_metrics_bin: PathBuf::from(victoria_metrics_bin),
            work_dir: None,
            startup_timeout: 5,
        }
    }

    #[test]
    fn missing_optional_binary_skips_and_duplicates_collapse() {
        let mut problems = Vec::new();
        let plan = args(
            vec![
                TargetKind::Prometheus,
                TargetKind::VictoriaMetrics,
                TargetKind::Prometheus,
            ],
            "no-such-binary-sightline-bench",
        )
        .plan(&mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(plan.targets.len(), 2);
        assert!(plan.targets[0].binary.is_ok());
        assert!(plan.targets[1].binary.is_err());
    }

    #[test]
    fn missing_required_binary_and_empty_list_are_problems() {
        let mut problems = Vec::new();
        let mut bad = args(vec![TargetKind::Prometheus], "sh");
        bad.prometheus_bin = PathBuf::from("no-such-binary-sightline-bench");
        bad.plan(&mut problems);
        args(Vec::new(), "sh").plan(&mut problems);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
