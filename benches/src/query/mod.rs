//! `benches query`: PromQL range-query latency and memory, Sightline side by
//! side with Prometheus and VictoriaMetrics on the same data.
//!
//! Flow: the [`generator`](crate::generator) builds the series (node_exporter
//! and cAdvisor shaped, plus classic histograms) once; then per target,
//! [`target`](crate::target) starts the server fresh, [`load`] writes every
//! scrape round of the window oldest first over remote write and waits until
//! all series are visible, and each of the [`queries`] runs once as a
//! warm-up and `--runs` times timed through [`client`], one at a time over
//! the whole window; `/proc` gives RSS before the queries and the peak while
//! they ran. [`report`] prints latencies, memory and ratios.
//!
//! Every target gets the same samples at the same timestamps and the same
//! step-aligned window, so their answers can be compared; the number of
//! series each answers is checked against Prometheus.

mod client;
mod load;
mod queries;
mod report;
mod stats;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::generator::{histogram::SERIES_PER_HISTOGRAM, Schedule, Workload, WorkloadSpec};
use crate::procfs::{reset_peak_rss, ProcessSample};
use crate::sender::RemoteWriteSender;
use crate::target::{PlannedTarget, RunningTarget, TargetArgs, TargetKind};
use client::{PromClient, RangeWindow};
use queries::NamedQuery;
use report::{Measurement, QueryTiming};
use stats::millis;

/// How long before now the last round is stamped: VictoriaMetrics leaves
/// out the last 30 s (`-search.latencyOffset`) of a query's range.
const END_LAG: Duration = Duration::from_secs(60);
/// Time a target gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Prometheus compacts its head into a block once it spans 1.5 times the
/// 2 h block range.
const PROMETHEUS_HEAD_SPAN: Duration = Duration::from_secs(3 * 3600);

/// Command-line arguments of `benches query`, as given.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// Active series, spread over `--nodes` fake Kubernetes nodes.
    #[arg(long, default_value_t = 10_000)]
    series: usize,
    /// Fake nodes, each with node_exporter, cAdvisor and histogram series.
    #[arg(long, default_value_t = 10)]
    nodes: usize,
    /// Hours of data, written oldest first from this long ago up to a
    /// minute ago; queries span all of it.
    #[arg(long, default_value_t = 3.0)]
    hours: f64,
    /// Sample time between scrape rounds, in seconds.
    #[arg(long, default_value_t = 60)]
    scrape_interval: u64,
    /// Range-query resolution, in seconds.
    #[arg(long, default_value_t = 60)]
    step: u64,
    /// Timed runs of each query, after one warm-up.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// File of queries, one per line, `name = query` or just the query;
    /// `#` comments [default: a built-in dashboard set].
    #[arg(long)]
    queries: Option<PathBuf>,
    /// Samples (series) per remote-write request while loading.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Remote-write requests in flight while loading.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    #[command(flatten)]
    targets: TargetArgs,
    /// Seconds one remote-write request may take.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// Seconds one query may take.
    #[arg(long, default_value_t = 120)]
    query_timeout: u64,
    /// Most seconds to leave a target alone after loading, waiting for it
    /// to go quiet (under 5 % of a CPU over a second) before querying.
    #[arg(long, default_value_t = 60)]
    settle: u64,
    /// Seconds a target may take to show every loaded series.
    #[arg(long, default_value_t = 120)]
    visible_timeout: u64,
    /// Seed of the series identities and value walks.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Validated settings of one `query` run.
#[derive(Debug)]
struct QuerySettings {
    workload: WorkloadSpec,
    /// Shared by every target, so they hold the same samples.
    schedule: Schedule,
    window: RangeWindow,
    runs: usize,
    queries: Vec<NamedQuery>,
    batch: usize,
    concurrency: usize,
    targets: Vec<PlannedTarget>,
    work_dir: PathBuf,
    startup_timeout: Duration,
    request_timeout: Duration,
    query_timeout: Duration,
    settle: Duration,
    visible_timeout: Duration,
}

impl QuerySettings {
    /// Checks every argument, reads the queries and finds every binary,
    /// reporting all problems at once.
    fn from_args(args: QueryArgs) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        crate::outcome::require_positive(
            &mut problems,
            &[
                (args.series, "--series"),
                (args.nodes, "--nodes"),
                (args.runs, "--runs"),
                (args.batch, "--batch"),
                (args.concurrency, "--concurrency"),
            ],
        );
        for (value, flag) in [
            (args.scrape_interval, "--scrape-interval"),
            (args.step, "--step"),
            (args.query_timeout, "--query-timeout"),
        ] {
            if value == 0 {
                problems.push(format!("{flag} must be at least 1 second"));
            }
        }
        let interval = Duration::from_secs(args.scrape_interval.max(1));
        let rounds = if args.hours.is_finite() && args.hours > 0.0 && args.hours <= 24.0 * 366.0 {
            (args.hours * 3600.0 / interval.as_secs_f64()).floor() as usize
        } else {
            problems.push(format!(
                "--hours must be above 0 and at most a year, not {}",
                args.hours
            ));
            0
        };
        if rounds == 1 {
            problems.push("--hours must cover at least two scrape intervals".to_string());
        }
        let queries = match &args.queries {
            None => queries::built_in(),
            Some(path) => queries::from_file(path).unwrap_or_else(|e| {
                problems.push(format!("{e:#}"));
                Vec::new()
            }),
        };
        let plan = args.targets.plan(&mut problems);
        if !problems.is_empty() {
            bail!("invalid arguments:\n  - {}", problems.join("\n  - "));
        }

        let schedule = Schedule::ending_before_now(END_LAG, rounds, interval)?;
        let step = Duration::from_secs(args.step);
        let window = RangeWindow::aligned(
            schedule.first_timestamp_ms,
            schedule.last_timestamp_ms(),
            step,
        );
        Ok(Self {
            workload: WorkloadSpec {
                series: args.series,
                nodes: args.nodes,
                seed: args.seed,
                histograms: true,
            },
            schedule,
            window,
            runs: args.runs,
            queries,
            batch: args.batch,
            concurrency: args.concurrency,
            targets: plan.targets,
            work_dir: plan.work_dir,
            startup_timeout: plan.startup_timeout,
            request_timeout: Duration::from_secs(args.request_timeout),
            query_timeout: Duration::from_secs(args.query_timeout),
            settle: Duration::from_secs(args.settle),
            visible_timeout: Duration::from_secs(args.visible_timeout),
        })
    }
}

/// Runs the benchmark against every target in turn and prints the report.
/// Returns whether every target that was not skipped completed.
pub async fn run(args: QueryArgs) -> anyhow::Result<bool> {
    let settings = QuerySettings::from_args(args)?;
    let started = Instant::now();
    let workload = Workload::generate(&settings.workload)?;
    print_preamble(&settings, &workload, started.elapsed());

    let reports = crate::outcome::run_each(&settings.targets, |kind, binary| {
        bench_target(kind, binary, &workload, &settings)
    })
    .await;

    println!(
        "\n{}",
        report::render(&settings.queries, settings.runs, &reports)
    );
    Ok(crate::outcome::none_failed(&reports))
}

fn print_preamble(settings: &QuerySettings, workload: &Workload, generated_in: Duration) {
    let schedule = &settings.schedule;
    let window = &settings.window;
    let span = Duration::from_millis(
        u64::try_from(schedule.last_timestamp_ms() - schedule.first_timestamp_ms).unwrap_or(0),
    );
    println!(
        "query: {} series over {} nodes ({} classic histograms of {} series each, {:.1} labels per \
         series on average; generated in {generated_in:.1?})",
        workload.len(),
        settings.workload.nodes,
        workload.histograms(),
        SERIES_PER_HISTOGRAM,
        workload.mean_labels(),
    );
    println!(
        "data: {} scrape rounds {}s apart, {:.2} h, written oldest first from {} s to {} s (unix), \
         the last {}s before the run started; {} samples per target",
        schedule.rounds,
        schedule.interval.as_secs(),
        span.as_secs_f64() / 3600.0,
        schedule.first_timestamp_ms / 1000,
        schedule.last_timestamp_ms() / 1000,
        END_LAG.as_secs(),
        schedule.rounds * workload.len(),
    );
    println!(
        "  why: Prometheus's remote-write receiver refuses samples more than 1 h older than the \
         newest it holds (the first sample written sets that), so the window is written in time \
         order; {}",
        if span >= PROMETHEUS_HEAD_SPAN {
            "spanning 3 h or more, Prometheus compacts its head into 2 h blocks while loading, so \
             its queries read blocks and head"
        } else {
            "under 3 h, Prometheus keeps it all in its in-memory head (no block compaction)"
        }
    );
    println!(
        "queries: {} range queries over [{}, {}] at {}s step ({} steps), GET /api/v1/query_range, \
         one at a time, 1 warm-up + {} timed runs each; VictoriaMetrics runs with \
         -search.disableCache so repeated runs are not answered from its result cache",
        settings.queries.len(),
        window.start_s,
        window.end_s,
        window.step_s,
        window.steps(),
        settings.runs,
    );
    for query in &settings.queries {
        println!("  {}: {}", query.name, query.promql);
    }
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    println!(
        "note: this client shares the machine ({cpus} CPUs) with each target, as the load \
         generator did; while queries are timed it only waits for and reads the answers (JSON is \
         parsed after the clock stops)"
    );
    if cfg!(debug_assertions) {
        println!(
            "warning: debug build of the client; for figures to quote, build with \
             `cargo build --release -p sightline-benches`"
        );
    }
}

/// Extra arguments a target gets for this benchmark.
fn extra_args(kind: TargetKind) -> Vec<String> {
    match kind {
        // Its rollup result cache would answer every run after the warm-up.
        TargetKind::VictoriaMetrics => vec!["-search.disableCache".to_string()],
        TargetKind::Sightline | TargetKind::Prometheus => Vec::new(),
    }
}

/// Starts `kind`, loads the data, runs the queries, and measures.
async fn bench_target(
    kind: TargetKind,
    binary: &Path,
    workload: &Workload,
    settings: &QuerySettings,
) -> anyhow::Result<Measurement> {
    let probe = reqwest::Client::builder()
        .build()
        .context("building the HTTP client")?;
    let mut target = RunningTarget::spawn(kind, binary, &settings.work_dir, &extra_args(kind))?;
    let startup = target.wait_ready(&probe, settings.startup_timeout).await?;
    eprintln!(
        "[{kind}] pid {} ready at {} in {startup:.1?} (data in {})",
        target.pid(),
        target.base_url(),
        target.data_dir().display()
    );
    let measured = match measure(kind, &target, workload, settings).await {
        Ok(measured) => measured,
        Err(e) => {
            let tail = target.log_tail(20);
            return Err(e.context(format!("{kind}'s last output:\n{tail}")));
        }
    };
    let status = target.stop(STOP_GRACE)?;
    if !status.success() {
        eprintln!("[{kind}] exited with {status} after SIGTERM");
    }
    Ok(measured)
}

/// Load, settle, readings, queries, readings.
async fn measure(
    kind: TargetKind,
    target: &RunningTarget,
    workload: &Workload,
    settings: &QuerySettings,
) -> anyhow::Result<Measurement> {
    let pid = target.pid();
    let url = format!("{}{}", target.base_url(), kind.write_path());
    let sender = RemoteWriteSender::new(&url, settings.concurrency, settings.request_timeout)?;
    let load = load::write_rounds(
        kind,
        &sender,
        workload.clone(),
        &settings.schedule,
        settings.batch,
    )
    .await?;

    let (settled, quiet) = load::wait_quiet(pid, settings.settle).await?;
    if quiet {
        eprintln!("[{kind}] quiet {settled:.1?} after loading");
    } else {
        eprintln!("[{kind}] still busy {settled:.1?} after loading; querying anyway");
    }
    let client = PromClient::new(target.base_url(), settings.query_timeout)?;
    let visibility = load::wait_visible(
        &client,
        workload.len(),
        settings.window.end_s,
        settings.visible_timeout,
    )
    .await;
    if let Some(note) = &visibility {
        eprintln!("[{kind}] before querying: {note}");
    }

    let before = ProcessSample::read(pid)?;
    let peak_since_queries = match reset_peak_rss(pid) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("[{kind}] could not reset the peak RSS, so it includes loading: {e:#}");
            false
        }
    };
    let busy_note = (!quiet).then(|| {
        format!(
            "still using over 5 % of a CPU {} s after loading (--settle); background work \
             overlapped the queries",
            settled.as_secs()
        )
    });
    let mut queries = Vec::with_capacity(settings.queries.len());
    for query in &settings.queries {
        let mut timing = QueryTiming::default();
        for run in 0..=settings.runs {
            let answer = client.query_range(&query.promql, &settings.window).await;
            timing.record(answer.latency, answer.result, run > 0);
        }
        eprintln!("[{kind}] {}", describe(&query.name, &timing));
        queries.push(timing);
    }
    let after = ProcessSample::read(pid)?;
    Ok(Measurement {
        load,
        readiness: match (visibility, busy_note) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        },
        before,
        after,
        peak_since_queries,
        queries,
    })
}

/// One progress line about a query's runs.
fn describe(name: &str, timing: &QueryTiming) -> String {
    let latency = match (timing.p50(), timing.p95()) {
        (Some(p50), Some(p95)) => format!("p50 {} ms, p95 {} ms", millis(p50), millis(p95)),
        _ => "no successful run".to_string(),
    };
    let shape = timing.shape.map_or_else(String::new, |s| {
        format!(", {} series, {} points", s.series, s.points)
    });
    let errors = match &timing.first_error {
        Some(e) => format!(", {} runs FAILED: {e}", timing.errors),
        None => String::new(),
    };
    format!("{name}: {latency}{shape}{errors}")
}
