//! `benches collector`: what one collection round of the Sightline collector
//! costs, measured in this process.
//!
//! A synthetic cgroup v2 tree of `--containers` Kubernetes containers
//! ([`tree`]) is written to a temporary directory, with a synthetic procfs
//! beside it ([`host`]: `meminfo` copied from this machine, and a
//! `<pid>/net/dev` for every container process, so each pod's network
//! counters are read as on a real node), the two block devices its
//! `io.stat` names and the kubelet's pod log directories. One round is
//! checked first: it must emit the expected `container_network_*` series,
//! one set per pod plus the host's, or the run fails. The collector's
//! `Pipeline` then reads the tree with a `CgroupSource` pointed at those
//! files, plus a `NodeSource` on this machine's real `/proc` and `/sys`,
//! `--rounds` times. The report gives CPU
//! and wall time per round, metrics per round, this process' RSS after the
//! rounds, and the CPU share of a 10 s collection interval. The node source
//! and the cgroup source are then timed alone.
//!
//! Side by side, `prometheus-node-exporter` (if on PATH) is started on a
//! free port and scraped `--rounds` times: its CPU per scrape and RSS,
//! compared with the node source alone (node_exporter reads no container
//! cgroups; cAdvisor does).
//!
//! Caveat: the synthetic tree lives on a normal filesystem, so reading it
//! costs page-cache reads where a real cgroupfs makes the kernel format
//! each file; the cost per file is of the same order.

mod exporter;
mod host;
mod report;
mod rounds;
mod tree;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{ensure, Context};
use sightline_collector::pipeline::Pipeline;
use sightline_collector::sources::node::{NodePaths, NodeSource};
use sightline_collector::Source;

use crate::procfs::ProcessSample;
use crate::target::find_executable;
use report::{ExporterOutcome, Report};
use tree::SyntheticTree;

/// Command-line arguments of `benches collector`.
#[derive(Debug, clap::Args)]
pub struct CollectorArgs {
    /// Containers in the synthetic cgroup tree (two per pod).
    #[arg(long, default_value_t = 100)]
    containers: usize,
    /// Measured collection rounds (and node_exporter scrapes), after one
    /// warm-up round.
    #[arg(long, default_value_t = 50)]
    rounds: usize,
    /// The node_exporter binary: a path, or a name looked up on PATH.
    #[arg(long, default_value = exporter::BINARY)]
    node_exporter_bin: PathBuf,
}

/// Runs the benchmark and prints the report. Returns `false` when
/// node_exporter was present but could not be measured.
pub async fn run(args: CollectorArgs) -> anyhow::Result<bool> {
    ensure!(args.containers > 0, "--containers must be at least 1");
    ensure!(args.rounds > 0, "--rounds must be at least 1");

    let started = Instant::now();
    let tree = SyntheticTree::generate(args.containers)?;
    println!(
        "collector: generated {} containers in {} pods under {} in {:.1?}; {} rounds",
        tree.containers(),
        tree.pods(),
        tree.root().display(),
        started.elapsed(),
        args.rounds
    );
    let network = tree.check_network()?;
    println!(
        "collector: one round emits {} container_network_* series ({} pods with eth0, plus the host's)",
        network.total, network.pods_with_network
    );

    let cgroup = || Box::new(tree.source()) as Box<dyn Source>;
    let node = || Box::new(NodeSource::new(NodePaths::default())) as Box<dyn Source>;

    let full = rounds::measure(&mut Pipeline::new(vec![cgroup(), node()]), args.rounds);
    let process = ProcessSample::read(std::process::id()).context("reading this process")?;
    let node_only = rounds::measure(&mut Pipeline::new(vec![node()]), args.rounds);
    let cgroup_only = rounds::measure(&mut Pipeline::new(vec![cgroup()]), args.rounds);

    let exporter = measure_exporter(&args.node_exporter_bin, args.rounds).await;
    let failed = matches!(exporter, ExporterOutcome::Failed(_));
    let report = Report {
        containers: tree.containers(),
        pods: tree.pods(),
        full,
        node_only,
        cgroup_only,
        process,
        exporter,
        debug_build: cfg!(debug_assertions),
    };
    println!("\n{}", report.render());
    Ok(!failed)
}

async fn measure_exporter(binary: &Path, scrapes: usize) -> ExporterOutcome {
    let Some(binary) = find_executable(binary) else {
        let why = format!(
            "{} not found (Debian package prometheus-node-exporter)",
            binary.display()
        );
        eprintln!("[node_exporter] skipped: {why}");
        return ExporterOutcome::Skipped(why);
    };
    match exporter::measure(&binary, scrapes).await {
        Ok(cost) => ExporterOutcome::Measured(cost),
        Err(e) => {
            eprintln!("[node_exporter] failed: {e:#}");
            ExporterOutcome::Failed(format!("{e:#}"))
        }
    }
}
