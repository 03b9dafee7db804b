//! `benches ingest`: remote-write ingest throughput and memory per series,
//! Sightline side by side with Prometheus (and VictoriaMetrics when present).
//!
//! Flow per target: the [`generator`](crate::generator) encodes every
//! scrape round up front; [`target`](crate::target) starts the server fresh
//! in its own directory; the [`sender`](crate::sender) posts the first round
//! (series creation), then the steady-state rounds; `/proc` readings before
//! and after give memory per series; [`report`] prints the table and the
//! ratios.

mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::generator::{encode_rounds, EncodedRound, Schedule, Workload, WorkloadSpec};
use crate::procfs::ProcessSample;
use crate::sender::RemoteWriteSender;
use crate::target::{PlannedTarget, RunningTarget, TargetArgs, TargetKind};
use report::Measurement;

/// Time given to a freshly ready target before its idle memory is read.
const IDLE_SETTLE: Duration = Duration::from_secs(1);
/// Time a target gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Command-line arguments of `benches ingest`, as given.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// Active series, spread over `--nodes` fake Kubernetes nodes.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Fake nodes, each with node_exporter and cAdvisor series.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Steady-state scrape rounds after the first (series-creating) one.
    #[arg(long, default_value_t = 10)]
    rounds: usize,
    /// Samples (series) per remote-write request, like Prometheus's
    /// `max_samples_per_send`.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Sample time between rounds, in seconds. The last round is stamped now.
    #[arg(long, default_value_t = 15)]
    scrape_interval: u64,
    #[command(flatten)]
    targets: TargetArgs,
    /// Seconds one remote-write request may take.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// Seed of the series identities and value walks.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Validated settings of one `ingest` run.
#[derive(Debug)]
struct IngestSettings {
    workload: WorkloadSpec,
    steady_rounds: usize,
    batch: usize,
    concurrency: usize,
    scrape_interval: Duration,
    targets: Vec<PlannedTarget>,
    work_dir: PathBuf,
    startup_timeout: Duration,
    request_timeout: Duration,
}

impl IngestSettings {
    /// Checks every argument and finds every binary, reporting all problems
    /// at once.
    fn from_args(args: IngestArgs) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        crate::outcome::require_positive(
            &mut problems,
            &[
                (args.series, "--series"),
                (args.nodes, "--nodes"),
                (args.rounds, "--rounds"),
                (args.batch, "--batch"),
                (args.concurrency, "--concurrency"),
            ],
        );
        if args.scrape_interval == 0 {
            problems.push("--scrape-interval must be at least 1 second".to_string());
        }
        let plan = args.targets.plan(&mut problems);

        if !problems.is_empty() {
            bail!("invalid arguments:\n  - {}", problems.join("\n  - "));
        }
        Ok(Self {
            workload: WorkloadSpec {
                series: args.series,
                nodes: args.nodes,
                seed: args.seed,
                histograms: false,
            },
            steady_rounds: args.rounds,
            batch: args.batch,
            concurrency: args.concurrency,
            scrape_interval: Duration::from_secs(args.scrape_interval),
            targets: plan.targets,
            work_dir: plan.work_dir,
            startup_timeout: plan.startup_timeout,
            request_timeout: Duration::from_secs(args.request_timeout),
        })
    }
}

/// Runs the benchmark against every target in turn and prints the report.
/// Returns whether every target that was not skipped completed.
pub async fn run(args: IngestArgs) -> anyhow::Result<bool> {
    let settings = IngestSettings::from_args(args)?;
    print_preamble(&settings);

    let started = Instant::now();
    let workload = Workload::generate(&settings.workload)?;
    println!(
        "generated {} series over {} nodes ({:.1} labels per series) in {:.1?}",
        workload.len(),
        settings.workload.nodes,
        workload.mean_labels(),
        started.elapsed()
    );

    let reports = crate::outcome::run_each(&settings.targets, |kind, binary| {
        bench_target(kind, binary, &workload, &settings)
    })
    .await;

    println!("\n{}", report::render(&reports));
    Ok(crate::outcome::none_failed(&reports))
}

fn print_preamble(settings: &IngestSettings) {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "ingest: {} series over {} nodes; 1 + {} rounds {}s of sample time apart; {} samples per \
         request, {} in flight",
        settings.workload.series,
        settings.workload.nodes,
        settings.steady_rounds,
        settings.scrape_interval.as_secs(),
        settings.batch,
        settings.concurrency
    );
    println!(
        "note: the load generator shares this machine ({cpus} CPUs) with each target; request \
         bodies are encoded before timing, so while timed the generator only does HTTP"
    );
    if cfg!(debug_assertions) {
        println!(
            "warning: debug build of the generator; for figures to quote, build with \
             `cargo build --release -p sightline-benches`"
        );
    }
}

/// Encodes the rounds, starts `kind`, sends everything, and measures.
async fn bench_target(
    kind: TargetKind,
    binary: &Path,
    base: &Workload,
    settings: &IngestSettings,
) -> anyhow::Result<Measurement> {
    // Each target gets the same series and values, stamped so that its last
    // round lands now; encoded before the target starts so neither competes.
    let mut workload = base.clone();
    let schedule = Schedule::ending_now(settings.steady_rounds + 1, settings.scrape_interval)?;
    let started = Instant::now();
    let rounds = encode_rounds(&mut workload, &schedule, settings.batch);
    drop(workload);
    let samples: usize = rounds.iter().map(EncodedRound::samples).sum();
    let wire: usize = rounds.iter().map(EncodedRound::wire_bytes).sum();
    eprintln!(
        "[{kind}] encoded {} rounds, {} requests each, {:.1} MiB ({:.1} bytes per sample on the \
         wire) in {:.1?}",
        rounds.len(),
        rounds.first().map_or(0, |r| r.batches.len()),
        wire as f64 / (1024.0 * 1024.0),
        wire as f64 / samples.max(1) as f64,
        started.elapsed()
    );

    let (target, startup) = RunningTarget::start(
        kind,
        binary,
        &settings.work_dir,
        &[],
        &[],
        settings.startup_timeout,
    )
    .await?;

    let measured = match measure(kind, &target, &rounds, settings, startup).await {
        Ok(measured) => measured,
        Err(e) => {
            let tail = target.log_tail(20);
            return Err(e.context(format!("{kind}'s last output:\n{tail}")));
        }
    };
    target.stop_reporting(STOP_GRACE)?;
    Ok(measured)
}

/// Idle reading, first round, steady rounds, final reading.
async fn measure(
    kind: TargetKind,
    target: &RunningTarget,
    rounds: &[EncodedRound],
    settings: &IngestSettings,
    startup: Duration,
) -> anyhow::Result<Measurement> {
    tokio::time::sleep(IDLE_SETTLE).await;
    let pid = target.pid();
    let idle = ProcessSample::read(pid)?;
    let url = format!("{}{}", target.base_url(), kind.write_path());
    let sender = RemoteWriteSender::new(&url, settings.concurrency, settings.request_timeout)?;

    let (first, later) = rounds.split_at(1.min(rounds.len()));
    let (first_round, first_error) = sender.send_rounds(kind, pid, first, "first", 1).await?;
    let (steady, steady_error) = sender.send_rounds(kind, pid, later, "steady", 1).await?;
    let after = ProcessSample::read(pid)?;
    Ok(Measurement {
        series: settings.workload.series,
        startup,
        first_round,
        steady,
        idle,
        after,
        first_error: first_error.or(steady_error),
    })
}
