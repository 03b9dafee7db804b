//! `benches storage`: bytes per sample on disk once data is persisted,
//! with the write rate and peak memory on the way, Sightline side by side
//! with Prometheus and VictoriaMetrics on the same samples.
//!
//! Flow: the [`generator`](crate::generator) builds the series and every
//! scrape round is encoded once, up front, each series stamped by a
//! [`scrape_clock::ScrapeClock`] (per-target phase and jitter); the window
//! starts on a 2 h boundary and spans `--hours` (default 4), so both
//! block-cutting stores cut exactly one full 2 h block once their head
//! spans 3 h. Per target, [`target`](crate::target) starts it fresh, the
//! [`sender`](crate::sender) writes every round oldest first at full
//! speed, and [`disk`] waits until the data is persisted — a block written
//! (Sightline, Prometheus), merges settled after a forced merge
//! (VictoriaMetrics) — and counts the bytes and samples; [`report`] prints
//! the table and the ratios.
//!
//! [`formats`] is the companion study, `benches storage-formats`: one data
//! set written in many layouts, in this process.

mod disk;
pub mod formats;
mod report;
mod scrape_clock;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};

use crate::generator::{encode_stamped_round, EncodedRound, Workload, WorkloadSpec};
use crate::procfs::ProcessSample;
use crate::sender::RemoteWriteSender;
use crate::target::{RunningTarget, TargetArgs, TargetKind, TargetPlan};
use report::Measurement;
use scrape_clock::ScrapeClock;

pub use formats::FormatsArgs;

/// Block range of Prometheus's head compaction (its default) and the one
/// Sightline is started with.
const BLOCK_RANGE_MS: i64 = 2 * 3_600_000;
/// Both cut a block once their head spans this many block ranges.
const CUT_SPAN: f64 = 1.5;
/// The newest sample is at least this old when the run starts.
const END_LAG_MS: i64 = 60_000;
/// Time a target gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Command-line arguments of `benches storage`, as given.
#[derive(Debug, clap::Args)]
pub struct StorageArgs {
    /// Active series, spread over `--nodes` fake Kubernetes nodes.
    #[arg(long, default_value_t = 20_000)]
    series: usize,
    /// Fake nodes, each with node_exporter and cAdvisor series.
    #[arg(long, default_value_t = 20)]
    nodes: usize,
    /// Hours of sample time, starting on a 2 h boundary; more than 3 so
    /// that a block is cut.
    #[arg(long, default_value_t = 4.0)]
    hours: f64,
    /// Sample time between scrape rounds, in seconds.
    #[arg(long, default_value_t = 15)]
    scrape_interval: u64,
    /// Largest delay of a scrape after its slot, in milliseconds (per
    /// target and scrape; 0 gives perfectly regular timestamps).
    #[arg(long, default_value_t = 10)]
    jitter_ms: u64,
    /// Samples (series) per remote-write request.
    #[arg(long, default_value_t = 2_000)]
    batch: usize,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    #[command(flatten)]
    targets: TargetArgs,
    /// Seconds one remote-write request may take.
    #[arg(long, default_value_t = 60)]
    request_timeout: u64,
    /// Seconds a target may take, after the last write, to persist the
    /// data (write its block, or finish merging).
    #[arg(long, default_value_t = 900)]
    persist_timeout: u64,
    /// Seed of the series identities, value walks and scrape jitter.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// Validated settings of one `storage` run.
#[derive(Debug)]
struct StorageSettings {
    workload: WorkloadSpec,
    rounds: usize,
    interval_ms: i64,
    jitter_ms: i64,
    /// Nominal time of the first round, on a block boundary.
    start_ms: i64,
    batch: usize,
    concurrency: usize,
    request_timeout: Duration,
    persist_timeout: Duration,
    plan: TargetPlan,
}

impl StorageSettings {
    /// Checks every argument and finds every binary, reporting all problems
    /// at once.
    fn from_args(args: StorageArgs) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        crate::outcome::require_positive(
            &mut problems,
            &[
                (args.series, "--series"),
                (args.nodes, "--nodes"),
                (args.batch, "--batch"),
                (args.concurrency, "--concurrency"),
            ],
        );
        let interval_ms = args.scrape_interval.saturating_mul(1000) as i64;
        if interval_ms == 0 {
            problems.push("--scrape-interval must be at least 1 second".to_string());
        }
        if args.jitter_ms as i64 >= interval_ms {
            problems.push("--jitter-ms must be below the scrape interval".to_string());
        }
        let span_ms = args.hours * 3_600_000.0;
        let cut_after = CUT_SPAN * BLOCK_RANGE_MS as f64 + interval_ms as f64;
        if span_ms.is_nan() || span_ms <= cut_after || args.hours > 48.0 {
            problems.push(format!(
                "--hours must be above {} (so that a block is cut) and at most 48",
                CUT_SPAN * BLOCK_RANGE_MS as f64 / 3_600_000.0
            ));
        }
        let plan = args.targets.plan(&mut problems);
        if !problems.is_empty() {
            bail!("invalid arguments:\n  - {}", problems.join("\n  - "));
        }
        let span_ms = span_ms as i64;
        let now_ms = i64::try_from(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .context("system clock is before 1970")?
                .as_millis(),
        )?;
        let start_ms = (now_ms - END_LAG_MS - span_ms).div_euclid(BLOCK_RANGE_MS) * BLOCK_RANGE_MS;
        Ok(Self {
            workload: WorkloadSpec {
                series: args.series,
                nodes: args.nodes,
                seed: args.seed,
                histograms: false,
            },
            rounds: (span_ms / interval_ms) as usize,
            interval_ms,
            jitter_ms: args.jitter_ms as i64,
            start_ms,
            batch: args.batch,
            concurrency: args.concurrency,
            request_timeout: Duration::from_secs(args.request_timeout),
            persist_timeout: Duration::from_secs(args.persist_timeout),
            plan,
        })
    }
}

/// The rounds every target is sent, and facts about them.
#[derive(Debug)]
struct Prepared {
    rounds: Vec<EncodedRound>,
    first_ms: i64,
    last_ms: i64,
    /// Blocks a store cutting 2 h blocks at a 3 h head span ends up with.
    expected_blocks: usize,
    /// VictoriaMetrics's monthly partitions the samples fall in.
    partitions: Vec<String>,
}

/// Runs the benchmark against every target in turn and prints the report.
/// Returns whether every target that was not skipped completed.
pub async fn run(args: StorageArgs) -> anyhow::Result<bool> {
    let settings = StorageSettings::from_args(args)?;
    let started = Instant::now();
    let prepared = prepare(&settings)?;
    let samples: usize = prepared.rounds.iter().map(EncodedRound::samples).sum();
    let wire: usize = prepared.rounds.iter().map(EncodedRound::wire_bytes).sum();
    println!(
        "storage: {} series over {} nodes; {} rounds {} s apart (up to {} ms scrape jitter) from \
         {} to {} ms; {samples} samples, {:.0} MiB encoded in {:.1?}; {} per request, {} in \
         flight; expecting {} block(s) cut",
        settings.workload.series,
        settings.workload.nodes,
        settings.rounds,
        settings.interval_ms / 1000,
        settings.jitter_ms,
        prepared.first_ms,
        prepared.last_ms,
        wire as f64 / (1024.0 * 1024.0),
        started.elapsed(),
        settings.batch,
        settings.concurrency,
        prepared.expected_blocks,
    );
    if cfg!(debug_assertions) {
        println!("warning: debug build of the generator; build with --release for figures");
    }

    let reports = crate::outcome::run_each(&settings.plan.targets, |kind, binary| {
        bench_target(kind, binary, &prepared, &settings)
    })
    .await;
    println!("\n{}", report::render(&reports));
    Ok(crate::outcome::none_failed(&reports))
}

/// Encodes every round, each series stamped by the scrape clock.
fn prepare(settings: &StorageSettings) -> anyhow::Result<Prepared> {
    let mut workload = Workload::generate(&settings.workload)?;
    let mut clock = ScrapeClock::for_workload(
        &workload,
        settings.interval_ms,
        settings.jitter_ms,
        settings.workload.seed,
    );
    let (mut first_ms, mut last_ms) = (i64::MAX, i64::MIN);
    let mut rounds = Vec::with_capacity(settings.rounds);
    for round in 0..settings.rounds {
        if round > 0 {
            workload.advance();
        }
        let nominal = settings.start_ms + round as i64 * settings.interval_ms;
        clock.stamp_round(nominal);
        for i in 0..workload.len() {
            let t = clock.series_time(i);
            first_ms = first_ms.min(t);
            last_ms = last_ms.max(t);
        }
        rounds.push(encode_stamped_round(
            &workload,
            nominal,
            settings.batch,
            |i| clock.series_time(i),
        ));
    }
    let mut partitions = vec![partition(first_ms), partition(last_ms)];
    partitions.dedup();
    Ok(Prepared {
        rounds,
        first_ms,
        last_ms,
        expected_blocks: expected_blocks(first_ms, last_ms),
        partitions,
    })
}

/// Blocks cut from a head holding `[first_ms, last_ms]` when a block of
/// the aligned range is cut whenever the head spans more than
/// [`CUT_SPAN`] ranges (Prometheus's rule, and Sightline's).
fn expected_blocks(first_ms: i64, last_ms: i64) -> usize {
    let mut head_start = first_ms;
    let mut blocks = 0;
    while (last_ms - head_start) as f64 > CUT_SPAN * BLOCK_RANGE_MS as f64 {
        head_start = head_start.div_euclid(BLOCK_RANGE_MS) * BLOCK_RANGE_MS + BLOCK_RANGE_MS;
        blocks += 1;
    }
    blocks
}

/// VictoriaMetrics's partition name (`YYYY_MM`, UTC) of a timestamp.
fn partition(ms: i64) -> String {
    // Civil date from days since 1970-01-01 (proleptic Gregorian), by
    // 400-year eras of 146,097 days, with years starting in March.
    let days = ms.div_euclid(86_400_000) + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let march_month = (5 * day_of_year + 2) / 153;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!("{year:04}_{month:02}")
}

/// Starts `kind`, writes every round, waits until the data is persisted,
/// measures, and stops it.
async fn bench_target(
    kind: TargetKind,
    binary: &Path,
    prepared: &Prepared,
    settings: &StorageSettings,
) -> anyhow::Result<Measurement> {
    let env: &[(&str, &str)] = match kind {
        TargetKind::Sightline => &[
            ("SIGHTLINE_STORAGE__BLOCK_RANGE", "2h"),
            ("SIGHTLINE_STORAGE__MAINTENANCE_INTERVAL", "1s"),
            ("SIGHTLINE_STORAGE__RETENTION", "0s"),
            // Only the benchmark's samples: no series of this machine.
            ("SIGHTLINE_COLLECTOR__ENABLED", "false"),
        ],
        TargetKind::Prometheus | TargetKind::VictoriaMetrics => &[],
    };
    let (target, _) = RunningTarget::start(
        kind,
        binary,
        &settings.plan.work_dir,
        &[],
        env,
        settings.plan.startup_timeout,
    )
    .await?;
    let measured = match measure(kind, &target, prepared, settings).await {
        Ok(measured) => measured,
        Err(e) => {
            let tail = target.log_tail(20);
            return Err(e.context(format!("{kind}'s last output:\n{tail}")));
        }
    };
    target.stop_reporting(STOP_GRACE)?;
    Ok(measured)
}

/// Writes every round, then waits for persistence and counts.
async fn measure(
    kind: TargetKind,
    target: &RunningTarget,
    prepared: &Prepared,
    settings: &StorageSettings,
) -> anyhow::Result<Measurement> {
    let pid = target.pid();
    let url = format!("{}{}", target.base_url(), kind.write_path());
    let sender = RemoteWriteSender::new(&url, settings.concurrency, settings.request_timeout)?;
    let rounds = &prepared.rounds;
    let (load, first_error) = sender
        .send_rounds(kind, pid, rounds, "load", (rounds.len() / 10).max(1))
        .await?;
    eprintln!(
        "[{kind}] wrote {} samples in {:.1?}; waiting for them to be persisted",
        load.accepted_samples, load.elapsed
    );
    let waiting = Instant::now();
    let data_dir = target.data_dir();
    let timeout = settings.persist_timeout;
    let expected = prepared.expected_blocks;
    let disk = match kind {
        TargetKind::Sightline => {
            disk::wait_for_blocks(timeout, expected, || disk::sightline_blocks(&data_dir)).await?
        }
        TargetKind::Prometheus => {
            disk::wait_for_blocks(timeout, expected, || disk::prometheus_blocks(&data_dir)).await?
        }
        TargetKind::VictoriaMetrics => {
            let client = reqwest::Client::new();
            let storage = disk::settle_victoria_metrics(
                &client,
                target.base_url(),
                &prepared.partitions,
                load.accepted_samples,
                timeout,
            )
            .await?;
            disk::victoria_metrics_usage(&data_dir, storage.rows, storage.parts as usize)?
        }
    };
    let persist_wait = waiting.elapsed();
    eprintln!(
        "[{kind}] persisted after {persist_wait:.1?}: {} blocks/parts, {} samples, {} bytes",
        disk.blocks,
        disk.samples,
        disk.bytes()
    );
    Ok(Measurement {
        load,
        first_error,
        persist_wait,
        disk,
        after: ProcessSample::read(pid)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_utc_months() {
        assert_eq!(partition(0), "1970_01");
        assert_eq!(partition(1_763_596_800_000), "2025_11");
        // 2024-02-29 23:59:59.999 and the next millisecond.
        assert_eq!(partition(1_709_251_199_999), "2024_02");
        assert_eq!(partition(1_709_251_200_000), "2024_03");
        assert_eq!(partition(1_735_689_599_999), "2024_12");
    }

    #[test]
    fn one_block_from_four_hours() {
        let start = 1_763_596_800_000;
        let hour = 3_600_000;
        assert_eq!(expected_blocks(start, start + 4 * hour - 15_000), 1);
        assert_eq!(expected_blocks(start, start + 3 * hour), 0);
        assert_eq!(expected_blocks(start + hour, start + 5 * hour), 1);
        assert_eq!(expected_blocks(start, start + 6 * hour), 2);
    }
}
