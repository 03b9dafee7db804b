//! `benches`: whole-system benchmarks of Sightline side by side with its
//! peers, each started fresh by this binary on 127.0.0.1 in a temporary data
//! directory and stopped (SIGTERM, then kill) when done or on any error.
//!
//! Subcommands:
//! - `ingest`: Prometheus remote-write ingest. A built-in load generator
//!   plays 100k node_exporter- and cAdvisor-shaped series (15 s of sample time
//!   per round) into Sightline, Prometheus (`--web.enable-remote-write-receiver`)
//!   and, if `victoria-metrics` is on PATH, VictoriaMetrics; it reports
//!   first-round (series creation) and steady-state samples/s, errors, and
//!   resident memory per active series, with ratios against the peers.
//! - `query`: PromQL range-query latency. The same generated data (10k
//!   series by default, with classic histograms) is written over a 3 h
//!   window into each target, fresh; a built-in set of dashboard queries
//!   (or `--queries FILE`) runs over the whole window, and the report gives
//!   p50/p95 latency per query, peak RSS while querying, and ratios.
//! - `storage`: bytes per sample on disk. The same node_exporter- and
//!   cAdvisor-shaped samples (20k series, 4 h from a 2 h boundary, 15 s
//!   apart with per-target scrape jitter) are remote-written at full speed
//!   into each target; once Sightline and Prometheus have cut their 2 h
//!   block and VictoriaMetrics has finished a forced merge, the persisted
//!   bytes and samples are counted; with samples/s, peak RSS and ratios.
//! - `storage-formats`: the encoding study behind the block format, in this
//!   process: one data set written as a block through the store's
//!   `BlockBuilder` at several zstd levels and page sizes, and as
//!   row-per-sample Parquet with various encodings; every layout is read
//!   back bit-exact, and bytes per sample are printed side by side.
//! - `collector`: the node collector's cost per collection round, in this
//!   process: a synthetic cgroup v2 tree of 100 Kubernetes containers (in a
//!   temporary directory) plus this machine's `/proc`, read by the
//!   collector's pipeline; CPU and wall time per round, RSS, and the CPU
//!   share of a 10 s interval, beside `prometheus-node-exporter` (if on
//!   PATH) scraped as often.
//!
//! Run (release builds, or the figures measure the generator's debug code):
//!
//! ```text
//! cargo build --release -p sightline-server -p sightline-benches
//! target/release/benches ingest                      # all targets, defaults
//! target/release/benches ingest --targets prometheus --series 20000 --rounds 3
//! target/release/benches ingest --help
//! target/release/benches query                       # all targets, defaults
//! target/release/benches query --targets prometheus,victoriametrics --hours 1
//! target/release/benches storage                     # all targets, defaults
//! target/release/benches storage-formats --series 10000 --hours 2
//! target/release/benches collector --containers 100 --rounds 50
//! target/release/benches rules                       # all targets, 1,000 rules, 100k series
//! target/release/benches rules --targets sightline,prometheus --rules 200 --series 20000 --nodes 20
//! target/release/benches logtail --files 16 --mib 512
//! target/release/benches logs                        # 1 GB of generated logs
//! target/release/benches logs --size-mb 5000 --work-dir /dev/shm
//! ```
//!
//! - `rules`: one rule-evaluation round. 1,000 alerting rules (thresholds,
//!   `rate`, `sum by`, `avg by`, ratios, `histogram_quantile`, `absent`, …)
//!   over the generator's 100k series, 30 min of data written into each
//!   target first; the rules are then loaded into Sightline and Prometheus
//!   (SIGHUP) and into `vmalert` over VictoriaMetrics, and the round times
//!   each reports in `/api/v1/rules` are compared, with alerts and RSS;
//!   `--notify-latency` also times Sightline's firing ▶ webhook delivery.
//! - `logs`: the log store end to end. A generator writes realistic
//!   container logs (access, JSON, logfmt, Java stack traces, kubelet; 1 GB
//!   by default, `--size-mb`) as raw files and as Loki push requests, sent
//!   by 4 clients to a fresh Sightline; ingest MB/s per server core (from
//!   its CPU time), on-disk bytes / raw, rare-term search for the last 100
//!   lines, a label-only query and `sum by (level) (count_over_time(…))`
//!   through the Loki API, beside `rg` over the raw files and `zstd -3` of
//!   them.
//! - `logtail`: the real `sightline-collector` (release build, next to this
//!   binary) tails generated CRI container logs (mixed line lengths, one line
//!   in ten partial) and ships them by Loki push to a receiver in this
//!   process that decodes every request and checks every line arrives once,
//!   unaltered; MiB/s and lines/s per core from the collector's CPU time,
//!   its peak RSS, beside a plain 64 KiB-buffer read of the same files.
//!
//! The Sightline binary defaults to `sightline` next to this one
//! (`--sightline-bin` to change); the peers are looked up on PATH.

mod collector;
mod generator;
mod ingest;
mod logs;
mod logtail;
mod outcome;
mod procfs;
mod query;
mod rng;
mod rules;
mod sender;
mod storage;
mod table;
mod target;

use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "benches",
    about = "Benchmarks Sightline side by side with its peers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Remote-write ingest throughput and memory per series.
    Ingest(ingest::IngestArgs),
    /// PromQL range-query latency and memory on the same data.
    Query(query::QueryArgs),
    /// On-disk bytes per sample once blocks are persisted, with ingest rate and peak RSS.
    Storage(storage::StorageArgs),
    /// Bytes per sample of candidate block layouts on one data set (encoding study).
    StorageFormats(storage::FormatsArgs),
    /// Collector cost per round (cgroup + node sources) against node_exporter.
    Collector(collector::CollectorArgs),
    /// One rule-evaluation round of 1,000 alerting rules over 100k series, against Prometheus and vmalert.
    Rules(rules::RulesArgs),
    /// Log ingest, on-disk size and search latency through the Loki API, against ripgrep over the raw files.
    Logs(logs::LogsArgs),
    /// Collector log tailing throughput and RSS on CRI files, against a plain read of the same files.
    Logtail(logtail::LogtailArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Returns whether every benchmarked target completed.
fn run(cli: Cli) -> anyhow::Result<bool> {
    // One thread is plenty to post pre-encoded bodies, and leaves the other
    // cores to the target being measured.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let work = async {
            match cli.command {
                Command::Ingest(args) => ingest::run(args).await,
                Command::Query(args) => query::run(args).await,
                Command::Storage(args) => storage::run(args).await,
                Command::StorageFormats(args) => storage::formats::run(args).await,
                Command::Collector(args) => collector::run(args).await,
                Command::Rules(args) => rules::run(args).await,
                Command::Logs(args) => logs::run(args).await,
                Command::Logtail(args) => logtail::run(args).await,
            }
        };
        // On Ctrl-C the work future is dropped, which stops the running
        // target and removes its directory.
        tokio::select! {
            result = work => result,
            signal = tokio::signal::ctrl_c() => {
                signal.context("listening for Ctrl-C")?;
                anyhow::bail!("interrupted")
            }
        }
    })
}
