//! `benches logs`: the log store end to end, against the simplest peer a
//! user has — the raw files with ripgrep and zstd.
//!
//! Flow: the [`generator`] writes realistic container logs (about
//! `--size-mb` of text) as raw files and, in the same pass, as Loki push
//! requests ([`push`]); a fresh `sightline serve` takes the requests from
//! `--clients` concurrent senders while its CPU time is read from `/proc`;
//! once it is idle (committed, merged) its partitions are measured on disk;
//! then the [`queries`] run through `/loki/api/v1/query_range` — a
//! rare-term search for the last 100 lines, a label-only query and
//! `sum by (level) (count_over_time(…[1m]))` over the whole set — beside
//! `rg` over the raw files and `zstd -3` of them.

mod generator;
mod push;
mod queries;
mod report;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::procfs::ProcessSample;
use crate::target::{find_executable, RunningTarget, TargetKind};
use generator::{LogGenerator, NEEDLE, NEEDLE_LINES};
use queries::LokiClient;
use report::Figures;

/// Time a target gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(60);
/// CPU share under which the server counts as idle after the push.
const IDLE_SHARE: f64 = 0.03;
/// Longest wait for the server to go idle after the push.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Command-line arguments of `benches logs`, as given.
#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    /// Raw log text to generate, in MB (10^6 bytes).
    #[arg(long, default_value_t = 1000)]
    size_mb: u64,
    /// Pods per service (11 services).
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Minutes of log time the data set spans, ending now.
    #[arg(long, default_value_t = 60)]
    span_minutes: u64,
    /// Push requests in flight at once.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Seed of the generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Sightline server binary [default: `sightline` next to this binary].
    #[arg(long)]
    sightline_bin: Option<PathBuf>,
    /// Where the raw files and the server's data go [default: the system
    /// temporary directory].
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Seconds one request may take.
    #[arg(long, default_value_t = 300)]
    request_timeout: u64,
    /// Write the raw files here and keep them [default: a temporary
    /// directory, removed at the end].
    #[arg(long)]
    raw_dir: Option<PathBuf>,
}

/// Validated settings.
#[derive(Debug)]
struct LogsSettings {
    size_bytes: u64,
    replicas: usize,
    span: Duration,
    clients: usize,
    seed: u64,
    sightline: PathBuf,
    work_dir: PathBuf,
    request_timeout: Duration,
    raw_dir: Option<PathBuf>,
}

impl LogsSettings {
    fn from_args(args: LogsArgs) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        crate::outcome::require_positive(
            &mut problems,
            &[
                (args.size_mb as usize, "--size-mb"),
                (args.replicas, "--replicas"),
                (args.span_minutes as usize, "--span-minutes"),
                (args.clients, "--clients"),
            ],
        );
        let sightline = match args.sightline_bin {
            Some(p) => p,
            None => std::env::current_exe()
                .context("locating the benches binary")?
                .with_file_name("sightline"),
        };
        let sightline = find_executable(&sightline).unwrap_or_else(|| {
            problems.push(format!(
                "sightline: no executable {}; pass --sightline-bin",
                sightline.display()
            ));
            sightline
        });
        for tool in ["rg", "zstd"] {
            if find_executable(Path::new(tool)).is_none() {
                problems.push(format!("{tool} is not on PATH (it is the baseline)"));
            }
        }
        if !problems.is_empty() {
            bail!("invalid arguments:\n  - {}", problems.join("\n  - "));
        }
        Ok(Self {
            size_bytes: args.size_mb * 1_000_000,
            replicas: args.replicas,
            span: Duration::from_secs(args.span_minutes * 60),
            clients: args.clients,
            seed: args.seed,
            sightline,
            work_dir: args.work_dir.unwrap_or_else(std::env::temp_dir),
            request_timeout: Duration::from_secs(args.request_timeout),
            raw_dir: args.raw_dir,
        })
    }
}

/// Runs the benchmark and prints the report. Returns whether every target
/// was met.
pub async fn run(args: LogsArgs) -> anyhow::Result<bool> {
    let settings = LogsSettings::from_args(args)?;
    if cfg!(debug_assertions) {
        println!(
            "warning: debug build of the generator; for figures to quote, build with \
             `cargo build --release -p sightline-server -p sightline-benches`"
        );
    }
    let work = tempfile::Builder::new()
        .prefix("sightline-bench-logs-")
        .tempdir_in(&settings.work_dir)
        .with_context(|| format!("creating a directory in {}", settings.work_dir.display()))?;
    let raw_dir = settings
        .raw_dir
        .clone()
        .unwrap_or_else(|| work.path().join("raw"));

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos() as i64;
    // The newest line a minute old, so nothing lands in the future.
    let end_ns = now - 60_000_000_000;
    let start_ns = end_ns - settings.span.as_nanos() as i64;
    let streams = generator::streams(settings.replicas, 3, settings.seed);
    let stream_count = streams.len();
    let gen = LogGenerator::new(
        streams,
        settings.size_bytes,
        start_ns,
        end_ns,
        settings.seed,
    );
    let started = Instant::now();
    let data = tokio::task::spawn_blocking(move || push::build(gen, &raw_dir)).await??;
    println!(
        "generated {:.2} GB of logs: {} lines ({:.1} B/line) in {} streams, {} push requests \
         ({:.2} GB protobuf+snappy) in {:.1?}",
        data.raw_bytes as f64 / 1e9,
        data.lines,
        data.raw_bytes as f64 / data.lines.max(1) as f64,
        stream_count,
        data.bodies.len(),
        data.wire_bytes() as f64 / 1e9,
        started.elapsed()
    );

    // The clients push as fast as the server takes it, several at once per
    // stream: Loki's default per-stream limit (3 MB/s) would refuse parts
    // of pushes, and their retries store lines twice.
    let (target, _startup) = RunningTarget::start(
        TargetKind::Sightline,
        &settings.sightline,
        work.path(),
        &[],
        &[
            ("SIGHTLINE_LOGS__PER_STREAM_RATE_LIMIT", "1GB"),
            ("SIGHTLINE_LOGS__PER_STREAM_RATE_LIMIT_BURST", "1GB"),
        ],
        Duration::from_secs(60),
    )
    .await?;
    let figures = match measure(&target, data, &settings).await {
        Ok(f) => f,
        Err(e) => {
            let tail = target.log_tail(20);
            return Err(e.context(format!("sightline's last output:\n{tail}")));
        }
    };
    target.stop_reporting(STOP_GRACE)?;
    println!("\n{}", figures.render());
    Ok(figures.targets_met())
}

async fn measure(
    target: &RunningTarget,
    data: push::DataSet,
    settings: &LogsSettings,
) -> anyhow::Result<Figures> {
    let pid = target.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = ProcessSample::read(pid)?;
    let url = format!("{}/loki/api/v1/push", target.base_url());
    let bodies = Arc::new(data.bodies);
    eprintln!(
        "[sightline] pushing {} requests with {} clients",
        bodies.len(),
        settings.clients
    );
    let (push_wall, retries) = push::send_all(
        &url,
        Arc::clone(&bodies),
        settings.clients,
        settings.request_timeout,
    )
    .await?;
    drop(bodies);
    let pushed = ProcessSample::read(pid)?;
    eprintln!(
        "[sightline] pushed in {push_wall:.1?} ({retries} retries); waiting for commits and \
         merges to finish"
    );
    let (settled, idle_wait) = wait_idle(pid).await?;
    let partitions = dir_size(&target.data_dir().join("logs/partitions"));
    let wal = dir_size(&target.data_dir().join("logs/wal"));
    let by_kind = bytes_by_extension(&target.data_dir().join("logs/partitions"));

    let (zstd, zstd_time) = {
        let files = data.files.clone();
        tokio::task::spawn_blocking(move || queries::zstd_bytes(&files)).await??
    };

    let loki = LokiClient::new(target.base_url(), settings.request_timeout)?;
    let (start, end) = (data.first_ns, data.last_ns + 1);
    let rare_query = format!("{{namespace=~\".+\"}} |= \"{NEEDLE}\"");
    eprintln!("[sightline] {rare_query}");
    let rare = loki.logs(&rare_query, start, end, 100).await?;
    if rare.result as u64 != NEEDLE_LINES {
        bail!(
            "the rare-term search returned {} lines; {NEEDLE_LINES} hold the term",
            rare.result
        );
    }
    let files = data.files.clone();
    let rg = tokio::task::spawn_blocking(move || queries::ripgrep(NEEDLE, &files)).await??;
    if rg.result as u64 != NEEDLE_LINES {
        bail!("rg found {} lines; {NEEDLE_LINES} hold the term", rg.result);
    }
    let label_query = "{namespace=\"payments\", container=\"api\"}".to_string();
    eprintln!("[sightline] {label_query}");
    let label = loki.logs(&label_query, start, end, 100).await?;
    let step = 60u64;
    let span_steps = ((end - start) as u64).div_ceil(step * 1_000_000_000);
    let metric_end = start + (span_steps * step * 1_000_000_000) as i64;
    let metric_query = "sum by (level) (count_over_time({namespace=~\".+\"} | regexp \
                        `\"?level\"?[=:]\"?(?P<level>[a-z]+)` [1m]))"
        .to_string();
    eprintln!("[sightline] {metric_query}");
    let metric = loki.metric(&metric_query, start, metric_end, step).await?;
    let stats_query = "{namespace=~\".+\"}".to_string();
    eprintln!("[sightline] index/stats {stats_query}");
    let stats = loki.index_stats(&stats_query, start, end).await?;
    // Statistics count what is stored: exactly the lines sent, unless a
    // retried push stored some twice or lines were lost.
    if stats.result as u64 != data.lines {
        bail!(
            "index/stats counts {} entries; {} lines were sent",
            stats.result,
            data.lines
        );
    }

    Ok(Figures {
        lines: data.lines,
        raw_bytes: data.raw_bytes,
        clients: settings.clients,
        push_wall,
        retries,
        cpu_push: pushed.cpu.saturating_sub(before.cpu),
        cpu_total: settled.cpu.saturating_sub(before.cpu),
        idle_wait,
        peak_rss: settled.peak_rss_bytes,
        partitions_bytes: partitions,
        wal_bytes: wal,
        by_kind,
        zstd_bytes: zstd,
        zstd_time,
        rare_query,
        rare,
        rg,
        label_query,
        label,
        metric_query,
        metric,
        stats_query,
        stats,
    })
}

/// Waits until the server uses less than [`IDLE_SHARE`] of a core over a
/// second, at least one commit interval after the push. Returns the reading
/// then and how long it took.
async fn wait_idle(pid: u32) -> anyhow::Result<(ProcessSample, Duration)> {
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut last = ProcessSample::read(pid)?;
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = ProcessSample::read(pid)?;
        let used = now.cpu.saturating_sub(last.cpu).as_secs_f64();
        last = now;
        if used < IDLE_SHARE || started.elapsed() > IDLE_TIMEOUT {
            return Ok((now, started.elapsed()));
        }
    }
}

/// Bytes of the files under `dir` by extension (tantivy's `store`, `idx`,
/// `term`, `fast`, …), and the number of segments (`.store` files).
fn bytes_by_extension(dir: &Path) -> Vec<(String, u64)> {
    let mut out: std::collections::BTreeMap<String, u64> = Default::default();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let ext = name.rsplit_once('.').map_or("", |(_, x)| x).to_string();
                    *out.entry(ext).or_default() += m.len();
                }
                Err(_) => {}
            }
        }
    }
    out.into_iter().filter(|(_, b)| *b > 0).collect()
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
