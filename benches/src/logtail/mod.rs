//! `benches logtail`: how fast the real `sightline-collector` tails,
//! parses and ships container logs, per core, and with how much memory.
//!
//! `--files` CRI log files of `--mib` MiB in all are generated in a
//! temporary pod-log tree ([`files`]): mixed line lengths, one line in ten
//! partial. The collector binary (release build) is started on them with
//! only log collection on, shipping Loki push requests (protobuf + snappy)
//! to a receiver in this process ([`receiver`]) that decodes every body
//! and checks every entry against the message written, counting each once.
//! When every message has arrived, the collector's CPU time (user +
//! system, all threads, from `/proc`) and peak RSS are read: MiB/s and
//! lines/s per core are the file bytes and lines over its CPU seconds.
//!
//! Baseline: the same files read in this process with a 64 KiB buffer and
//! nothing else done, timed by this thread's CPU clock: the physical limit
//! of reading on this machine. Both run on a warm page cache (the files
//! were just written; nothing is dropped, which needs root), so neither
//! measures the disk.

mod files;
mod receiver;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{ensure, Context};
use rustix::time::{clock_gettime, ClockId};

use crate::procfs::ProcessSample;
use crate::table::{mib, rate, ratio, Table};
use crate::target::find_executable;
use files::LogFiles;

/// Command-line arguments of `benches logtail`.
#[derive(Debug, clap::Args)]
pub struct LogtailArgs {
    /// Container log files (one pod each).
    #[arg(long, default_value_t = 16)]
    files: usize,
    /// Total size of the files, in MiB.
    #[arg(long, default_value_t = 512)]
    mib: u64,
    /// Seed of the generated content.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// `logs.batch_bytes` of the collector.
    #[arg(long, default_value_t = 1 << 20)]
    batch_bytes: usize,
    /// The collector binary; default: `sightline-collector` next to this
    /// binary, else on PATH.
    #[arg(long)]
    collector_bin: Option<PathBuf>,
    /// Longest wait for every line to arrive.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

/// The collector's run.
#[derive(Debug, Clone, Copy)]
struct Tailed {
    wall: Duration,
    cpu: Duration,
    peak_rss: u64,
    rss_end: u64,
    requests: u64,
    wire_bytes: u64,
    /// Entries received more than once; entries not as written.
    duplicates: u64,
    wrong: u64,
}

/// The plain read.
#[derive(Debug, Clone, Copy)]
struct PlainRead {
    wall: Duration,
    cpu: Duration,
    bytes: u64,
}

/// Kills the collector if the benchmark ends early.
struct CollectorProcess(Child);

impl Drop for CollectorProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn thread_cpu() -> Duration {
    let t = clock_gettime(ClockId::ThreadCPUTime);
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn collector_binary(arg: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(p) = arg {
        return find_executable(p).with_context(|| format!("{} not found", p.display()));
    }
    let sibling = std::env::current_exe()?.with_file_name("sightline-collector");
    find_executable(&sibling)
        .or_else(|| find_executable(Path::new("sightline-collector")))
        .context("sightline-collector not found next to this binary nor on PATH; build it with cargo build --release -p sightline-collector")
}

/// Runs the benchmark and prints the report; `false` when a line was lost,
/// duplicated or altered.
pub async fn run(args: LogtailArgs) -> anyhow::Result<bool> {
    ensure!(args.files > 0, "--files must be at least 1");
    ensure!(args.files < 1000, "--files must be below 1000");
    ensure!(args.mib > 0, "--mib must be at least 1");
    let binary = collector_binary(args.collector_bin.as_deref())?;
    let tmp = tempfile::Builder::new()
        .prefix("sightline-bench-logtail-")
        .tempdir()?;
    let pods = tmp.path().join("pods");
    let started = Instant::now();
    let (root, files, mib_total, seed) = (pods.clone(), args.files, args.mib, args.seed);
    let files =
        tokio::task::spawn_blocking(move || files::generate(&root, files, mib_total << 20, seed))
            .await??;
    println!(
        "logtail: {} files, {} MiB, {} lines ({:.1}% partial), {} messages, generated in {:.1?} under {}",
        files.paths.len(),
        mib(files.bytes),
        files.lines,
        100.0 * files.partial_lines as f64 / files.lines as f64,
        files.messages(),
        started.elapsed(),
        pods.display()
    );

    let paths = files.paths.clone();
    let plain = tokio::task::spawn_blocking(move || plain_read(&paths)).await??;
    ensure!(
        plain.bytes == files.bytes,
        "the plain read saw {} bytes of {}",
        plain.bytes,
        files.bytes
    );

    let tailed = tail(&args, &binary, tmp.path(), &files).await?;
    let tailed = match tailed {
        Ok(t) => t,
        Err(report) => {
            println!("{report}");
            return Ok(false);
        }
    };
    println!("\ncollector: {}", binary.display());
    println!(
        "\n{}",
        report(&files, &tailed, &plain, cfg!(debug_assertions))
    );
    let ok = tailed.duplicates == 0 && tailed.wrong == 0;
    if !ok {
        println!("FAILED: lines duplicated or altered");
    }
    Ok(ok)
}

fn plain_read(paths: &[PathBuf]) -> anyhow::Result<PlainRead> {
    let (cpu0, wall0) = (thread_cpu(), Instant::now());
    let mut buf = vec![0u8; 64 << 10];
    let mut bytes = 0u64;
    for p in paths {
        let mut f = std::fs::File::open(p)?;
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
        }
    }
    Ok(PlainRead {
        wall: wall0.elapsed(),
        cpu: thread_cpu() - cpu0,
        bytes,
    })
}

/// Result of the tailing run: measured figures, or a failure report.
type TailOutcome = Result<Tailed, String>;

async fn tail(
    args: &LogtailArgs,
    binary: &Path,
    dir: &Path,
    files: &LogFiles,
) -> anyhow::Result<TailOutcome> {
    let (addr, tally) = receiver::start(files).await?;
    let config = dir.join("collector.yml");
    std::fs::write(
        &config,
        format!(
            "server: http://{addr}\nlisten: \"\"\nnode: {{ enabled: false }}\ncgroup: {{ enabled: false }}\n\
             kubernetes: {{ enabled: false }}\nbuffer_dir: {}\nlogs:\n  paths: [\"{}/pods/*/*/*.log\"]\n  batch_bytes: {}\n",
            dir.join("state").display(),
            dir.display(),
            args.batch_bytes
        ),
    )?;
    let log_path = dir.join("collector.log");
    let wall0 = Instant::now();
    let child = Command::new(binary)
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path)?)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let mut child = CollectorProcess(child);
    let pid = child.0.id();
    let want = files.messages();
    let deadline = wall0 + Duration::from_secs(args.timeout_secs);
    let mut peak_rss_seen = 0u64;
    loop {
        let (distinct, wrong) = {
            let t = tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            (t.distinct(), t.wrong)
        };
        if let Ok(s) = ProcessSample::read(pid) {
            peak_rss_seen = peak_rss_seen.max(s.rss_bytes);
        }
        if distinct == want {
            break;
        }
        let exited = child.0.try_wait()?.is_some();
        if exited || Instant::now() >= deadline || wrong > 0 {
            let t = tally
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let why = if exited {
                "the collector exited"
            } else if wrong > 0 {
                "wrong entries"
            } else {
                "timed out"
            };
            return Ok(Err(format!(
                "FAILED ({why}): {distinct} of {want} messages after {:.1?}; {} duplicated, {} wrong (first: {:?})\ncollector log:\n{}",
                wall0.elapsed(),
                t.duplicates,
                t.wrong,
                t.first_wrong,
                std::fs::read_to_string(&log_path).unwrap_or_default()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wall = wall0.elapsed();
    let sample = ProcessSample::read(pid)?;
    // A moment for late duplicates to show before the tally is read.
    tokio::time::sleep(Duration::from_millis(300)).await;
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&child.0),
        rustix::process::Signal::TERM,
    )?;
    let status = child.0.wait()?;
    ensure!(
        status.success(),
        "the collector exited with {status}; log:\n{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
    let t = tally
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    Ok(Ok(Tailed {
        wall,
        cpu: sample.cpu,
        peak_rss: sample.peak_rss_bytes.max(peak_rss_seen),
        rss_end: sample.rss_bytes,
        requests: t.requests,
        wire_bytes: t.wire_bytes,
        duplicates: t.duplicates,
        wrong: t.wrong,
    }))
}

fn report(files: &LogFiles, tailed: &Tailed, plain: &PlainRead, debug: bool) -> String {
    let per = |bytes: u64, d: Duration| bytes as f64 / (1024.0 * 1024.0) / d.as_secs_f64();
    let tail_core = per(files.bytes, tailed.cpu);
    let plain_core = per(plain.bytes, plain.cpu);
    let mut t = Table::new([
        "",
        "MiB/s per core",
        "lines/s per core",
        "wall MiB/s",
        "CPU s",
        "wall s",
        "peak RSS MiB",
    ]);
    t.push(vec![
        "sightline-collector (tail, parse, ship)".into(),
        format!("{tail_core:.1}"),
        rate(files.lines as f64 / tailed.cpu.as_secs_f64()),
        format!("{:.1}", per(files.bytes, tailed.wall)),
        format!("{:.2}", tailed.cpu.as_secs_f64()),
        format!("{:.2}", tailed.wall.as_secs_f64()),
        mib(tailed.peak_rss),
    ]);
    t.push(vec![
        "plain read, 64 KiB buffer (baseline)".into(),
        format!("{plain_core:.1}"),
        rate(files.lines as f64 / plain.cpu.as_secs_f64()),
        format!("{:.1}", per(plain.bytes, plain.wall)),
        format!("{:.2}", plain.cpu.as_secs_f64()),
        format!("{:.2}", plain.wall.as_secs_f64()),
        String::new(),
    ]);
    let mut out = t.render();
    out.push_str(&format!(
        "\ncollector / plain read per core: {}\n\
         all {} messages arrived, content and stream checked; {} duplicated, {} wrong; {} push requests, {} MiB on the wire ({:.2} of the file bytes); RSS at the end {} MiB\n\
         target >= 100 MiB/s per core: {}; peak RSS <= 20 MiB: {}\n",
        ratio(tail_core, plain_core),
        files.messages(),
        tailed.duplicates,
        tailed.wrong,
        tailed.requests,
        mib(tailed.wire_bytes),
        tailed.wire_bytes as f64 / files.bytes as f64,
        mib(tailed.rss_end),
        if tail_core >= 100.0 { "met" } else { "NOT met" },
        if tailed.peak_rss <= 20 << 20 { "met" } else { "NOT met" },
    ));
    if debug {
        out.push_str("(debug build of benches: use a release build for figures)\n");
    }
    out
}
