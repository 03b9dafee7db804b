//! `benches rules`: the time and memory of one rule-evaluation round, 1,000
//! alerting rules over 100k series by default, in Sightline, Prometheus
//! and vmalert (over VictoriaMetrics) on the same data.
//!
//! Flow per target: start it fresh with an empty rule file; write
//! `--minutes` of the [`generator`](crate::generator)'s series over remote
//! write, oldest first, ending at the current time, plus one round stamped
//! just before the rules start; wait until every series answers a query;
//! then load the [`ruleset`] — Sightline and Prometheus reread their rule
//! files on SIGHUP (Prometheus after its config gains `rule_files`), vmalert
//! is started against VictoriaMetrics with a local [`sink`] as its
//! Alertmanager — and poll `GET /api/v1/rules` ([`status`]) until
//! `--rounds` rounds have completed. A round's time is what the target
//! reports for it (the sum over groups); memory is read from `/proc`
//! (vmalert and VictoriaMetrics together). [`report`] prints the figures
//! and ratios.
//!
//! Loading the rules only after the data keeps rule evaluation from
//! competing with the load, and every measured round sees all the data.
//!
//! With `--notify-latency`, Sightline also gets an Alertmanager config
//! sending each alert group (`group_wait: 1s`) to the [`sink`] as a
//! webhook, which times each notification against its alerts' `startsAt`.

mod report;
mod ruleset;
mod sink;
mod status;
mod vmalert;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use rustix::process::{kill_process, Pid, Signal};

use crate::generator::{encode_round, Schedule, Workload, WorkloadSpec};
use crate::procfs::{reset_peak_rss, ProcessSample};
use crate::sender::RemoteWriteSender;
use crate::target::{find_executable, PlannedTarget, RunningTarget, TargetArgs, TargetKind};
use report::{LoadFigures, Measurement};
use ruleset::RuleSetSpec;
use status::GroupStatus;

/// Time a target gets to exit after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(30);
/// Polls of `/api/v1/rules` per evaluation interval: each costs the target
/// a JSON rendering of every rule and alert, so they are kept few (the
/// pause is between 1 and 5 s), yet frequent enough to see every round.
const STATUS_POLLS_PER_INTERVAL: u32 = 6;
/// Counts every series at an instant.
const SERIES_COUNT_QUERY: &str = "count({__name__=~\".+\"})";

/// Command-line arguments of `benches rules`, as given.
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Active series, spread over `--nodes` fake Kubernetes nodes.
    #[arg(long, default_value_t = 100_000)]
    series: usize,
    /// Fake nodes, each with node_exporter, cAdvisor and histogram series.
    #[arg(long, default_value_t = 100)]
    nodes: usize,
    /// Minutes of data written before the rules start, ending now.
    #[arg(long, default_value_t = 30)]
    minutes: u64,
    /// Sample time between scrape rounds, in seconds.
    #[arg(long, default_value_t = 30)]
    scrape_interval: u64,
    /// Alerting rules.
    #[arg(long, default_value_t = 1_000)]
    rules: usize,
    /// Groups the rules are split into; a round is every group evaluated
    /// once, its time the sum of theirs.
    #[arg(long, default_value_t = 1)]
    groups: usize,
    /// Evaluation interval of the groups, in seconds.
    #[arg(long, default_value_t = 30)]
    interval: u64,
    /// Rounds measured per target.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// vmalert binary, run over VictoriaMetrics; the victoriametrics target
    /// is skipped with a note if it is absent.
    #[arg(long, default_value = "vmalert")]
    vmalert_bin: PathBuf,
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
    /// Seconds a target may take to show every loaded series.
    #[arg(long, default_value_t = 120)]
    visible_timeout: u64,
    /// Seconds the measured rounds may take in all, per target.
    #[arg(long, default_value_t = 900)]
    round_timeout: u64,
    /// Seed of the series identities and value walks.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Also measure Sightline's notification latency: its Alertmanager
    /// config sends every alert group (`group_wait: 1s`) to a webhook in
    /// this process, which times arrival against the alerts' `startsAt`.
    #[arg(long)]
    notify_latency: bool,
}

/// Validated settings of one `rules` run.
#[derive(Debug)]
struct RulesSettings {
    workload: WorkloadSpec,
    scrape_interval: Duration,
    /// Scrape rounds written before the rules start.
    data_rounds: usize,
    ruleset: RuleSetSpec,
    rounds: usize,
    batch: usize,
    concurrency: usize,
    targets: Vec<PlannedTarget>,
    vmalert: Result<PathBuf, String>,
    work_dir: PathBuf,
    startup_timeout: Duration,
    request_timeout: Duration,
    visible_timeout: Duration,
    round_timeout: Duration,
    notify_latency: bool,
}

impl RulesSettings {
    /// Checks every argument and finds every binary, reporting all
    /// problems at once.
    fn from_args(args: RulesArgs) -> anyhow::Result<Self> {
        let mut problems = Vec::new();
        crate::outcome::require_positive(
            &mut problems,
            &[
                (args.series, "--series"),
                (args.nodes, "--nodes"),
                (args.rules, "--rules"),
                (args.groups, "--groups"),
                (args.rounds, "--rounds"),
                (args.batch, "--batch"),
                (args.concurrency, "--concurrency"),
            ],
        );
        for (value, flag) in [
            (args.scrape_interval, "--scrape-interval"),
            (args.interval, "--interval"),
            (args.minutes, "--minutes"),
        ] {
            if value == 0 {
                problems.push(format!("{flag} must be at least 1"));
            }
        }
        if args.groups > args.rules {
            problems.push("--groups must not exceed --rules".to_string());
        }
        let data_rounds = (args.minutes * 60 / args.scrape_interval.max(1)) as usize;
        if args.minutes > 0 && data_rounds < 2 {
            problems.push("--minutes must cover at least two scrape intervals".to_string());
        }
        if args.minutes > 55 {
            problems.push(
                "--minutes must be at most 55: Prometheus's remote-write receiver refuses \
                 samples older than 1 h"
                    .to_string(),
            );
        }
        let plan = args.targets.plan(&mut problems);
        let vmalert = match find_executable(&args.vmalert_bin) {
            Some(path) => Ok(path),
            None => Err(format!(
                "no executable {} (on PATH or as a path); pass --vmalert-bin",
                args.vmalert_bin.display()
            )),
        };
        if !problems.is_empty() {
            bail!("invalid arguments:\n  - {}", problems.join("\n  - "));
        }
        Ok(Self {
            workload: WorkloadSpec {
                series: args.series,
                nodes: args.nodes,
                seed: args.seed,
                histograms: true,
            },
            scrape_interval: Duration::from_secs(args.scrape_interval),
            data_rounds,
            ruleset: RuleSetSpec {
                rules: args.rules,
                groups: args.groups,
                interval_s: args.interval,
                nodes: args.nodes,
                scrape_interval_s: args.scrape_interval,
            },
            rounds: args.rounds,
            batch: args.batch,
            concurrency: args.concurrency,
            targets: plan.targets,
            vmalert,
            work_dir: plan.work_dir,
            startup_timeout: plan.startup_timeout,
            request_timeout: Duration::from_secs(args.request_timeout),
            visible_timeout: Duration::from_secs(args.visible_timeout),
            round_timeout: Duration::from_secs(args.round_timeout),
            notify_latency: args.notify_latency,
        })
    }
}

/// Runs the benchmark against every target in turn and prints the report.
/// Returns whether every target that was not skipped completed.
pub async fn run(args: RulesArgs) -> anyhow::Result<bool> {
    let settings = RulesSettings::from_args(args)?;
    let workload = Workload::generate(&settings.workload)?;
    let rule_file = ruleset::rule_file(&settings.ruleset);
    print_preamble(&settings, &workload);

    let mut targets = Vec::with_capacity(settings.targets.len());
    for planned in &settings.targets {
        // vmalert is part of the VictoriaMetrics target: without it there
        // is nothing to measure there.
        let binary = match (&planned.binary, planned.kind, &settings.vmalert) {
            (Ok(_), TargetKind::VictoriaMetrics, Err(why)) => Err(why.clone()),
            (binary, _, _) => binary.clone(),
        };
        targets.push(PlannedTarget {
            kind: planned.kind,
            binary,
        });
    }
    let reports = crate::outcome::run_each(&targets, |kind, binary| {
        bench_target(kind, binary, &workload, &rule_file, &settings)
    })
    .await;
    println!("\n{}", report::render(&reports, settings.rounds));
    Ok(crate::outcome::none_failed(&reports))
}

fn print_preamble(settings: &RulesSettings, workload: &Workload) {
    let spec = &settings.ruleset;
    println!(
        "rules: {} alerting rules in {} group(s) evaluated every {}s ({} expression families: \
         thresholds, rate/increase, sum/avg/count by, ratios, histogram_quantile, predict_linear, \
         max_over_time, absent), over {} series on {} nodes ({:.1} labels per series)",
        spec.rules,
        spec.groups,
        spec.interval_s,
        ruleset::FAMILIES,
        workload.len(),
        settings.workload.nodes,
        workload.mean_labels(),
    );
    println!(
        "data: {} scrape rounds {}s apart ({} min) ending when each target's load starts, plus one \
         round stamped just before its rules start; {} samples per target",
        settings.data_rounds,
        settings.scrape_interval.as_secs(),
        settings.data_rounds as u64 * settings.scrape_interval.as_secs() / 60,
        (settings.data_rounds + 1) * workload.len(),
    );
    println!(
        "measure: rules load after the data (SIGHUP for Sightline and Prometheus; vmalert started \
         over VictoriaMetrics, alerts to a local receiver); {} rounds timed as each target reports \
         them in GET /api/v1/rules; RSS from /proc (VictoriaMetrics + vmalert together)",
        settings.rounds
    );
    println!("  rule mix (first of each family):");
    let text = ruleset::rule_file(&RuleSetSpec {
        rules: ruleset::FAMILIES,
        groups: 1,
        ..settings.ruleset
    });
    for expr in text.lines().filter_map(|l| l.trim().strip_prefix("expr: ")) {
        println!("    {}", expr.trim_matches('\''));
    }
    if cfg!(debug_assertions) {
        println!(
            "warning: debug build of the client; for figures to quote, build with \
             `cargo build --release -p sightline-server -p sightline-benches`"
        );
    }
}

/// Starts `kind`, loads the data and the rules, and measures rounds.
async fn bench_target(
    kind: TargetKind,
    binary: &Path,
    workload: &Workload,
    rule_text: &str,
    settings: &RulesSettings,
) -> anyhow::Result<Measurement> {
    let rules_dir = tempfile::Builder::new()
        .prefix("sightline-bench-rules-")
        .tempdir_in(&settings.work_dir)
        .context("creating the rule file's directory")?;
    let rule_path = rules_dir.path().join("rules.yml");
    std::fs::write(&rule_path, ruleset::EMPTY_RULE_FILE)?;
    let mut webhook = None;
    let extra: Vec<String> = match kind {
        TargetKind::Sightline => {
            let mut args = vec!["--rule-file".into(), rule_path.display().to_string()];
            if settings.notify_latency {
                let receiver = sink::NotificationSink::start().await?;
                let config = rules_dir.path().join("alertmanager.yml");
                std::fs::write(&config, notify_config(receiver.url()))?;
                args.push("--alertmanager-config".into());
                args.push(config.display().to_string());
                webhook = Some(receiver);
            }
            args
        }
        TargetKind::Prometheus | TargetKind::VictoriaMetrics => Vec::new(),
    };
    let (target, _) = RunningTarget::start(
        kind,
        binary,
        &settings.work_dir,
        &extra,
        &[],
        settings.startup_timeout,
    )
    .await?;
    let measured = measure(kind, &target, workload, rule_text, &rule_path, settings).await;
    let measured = match measured {
        Ok(mut m) => {
            m.notify_latencies = webhook.map(|w| w.latencies());
            m
        }
        Err(e) => {
            let tail = target.log_tail(20);
            return Err(e.context(format!("{kind}'s last output:\n{tail}")));
        }
    };
    target.stop_reporting(STOP_GRACE)?;
    Ok(measured)
}

/// Load, enable the rules, wait for rounds, read figures.
async fn measure(
    kind: TargetKind,
    target: &RunningTarget,
    workload: &Workload,
    rule_text: &str,
    rule_path: &Path,
    settings: &RulesSettings,
) -> anyhow::Result<Measurement> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .context("building the HTTP client")?;
    let load = load(kind, target, workload.clone(), settings).await?;
    wait_visible(&client, target.base_url(), workload.len(), settings).await?;

    std::fs::write(rule_path, rule_text)?;
    let mut vmalert = None;
    let mut sink = None;
    let rules_url = match kind {
        TargetKind::Sightline => {
            hangup(target.pid())?;
            target.base_url().to_string()
        }
        TargetKind::Prometheus => {
            // The config the target module wrote, plus the rule file.
            let config = target
                .data_dir()
                .parent()
                .context("Prometheus's data directory has no parent")?
                .join("prometheus.yml");
            std::fs::write(
                &config,
                format!(
                    "global:\n  scrape_interval: 15s\n  evaluation_interval: {}s\nrule_files:\n  - {}\n",
                    settings.ruleset.interval_s,
                    rule_path.display()
                ),
            )?;
            hangup(target.pid())?;
            target.base_url().to_string()
        }
        TargetKind::VictoriaMetrics => {
            let binary = settings
                .vmalert
                .as_ref()
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let receiver = sink::NotificationSink::start().await?;
            let dir = rule_path.parent().context("rule file has no directory")?;
            let mut started = vmalert::VmAlert::spawn(
                binary,
                dir,
                rule_path,
                target.base_url(),
                receiver.url(),
                Duration::from_secs(settings.ruleset.interval_s),
            )?;
            started
                .wait_ready(&client, settings.startup_timeout)
                .await?;
            eprintln!(
                "[{kind}] vmalert pid {} at {}",
                started.pid(),
                started.base_url()
            );
            let url = started.base_url().to_string();
            vmalert = Some(started);
            sink = Some(receiver);
            url
        }
    };
    let mut pids = vec![target.pid()];
    pids.extend(vmalert.as_ref().map(vmalert::VmAlert::pid));
    let before = read_all(&pids)?;
    for &pid in &pids {
        if let Err(e) = reset_peak_rss(pid) {
            eprintln!("[{kind}] could not reset the peak RSS of {pid}: {e:#}");
        }
    }

    let rounds = wait_rounds(kind, &client, &rules_url, settings).await;
    let rounds = match (rounds, &vmalert) {
        (Ok(r), _) => r,
        (Err(e), Some(v)) => {
            return Err(e.context(format!("vmalert's output:\n{}", v.log_tail(20))))
        }
        (Err(e), None) => return Err(e),
    };
    let after = read_all(&pids)?;
    if let Some(sink) = &sink {
        eprintln!(
            "[{kind}] vmalert sent {} notification requests",
            sink.requests()
        );
    }
    drop(vmalert);
    Ok(Measurement {
        load,
        rounds: rounds.times,
        last: rounds.last,
        before,
        after,
        notify_latencies: None,
    })
}

/// Sightline's Alertmanager config for `--notify-latency`: every alert
/// name its own group, sent to `url` after `group_wait`.
fn notify_config(url: &str) -> String {
    format!(
        "route:\n  receiver: bench\n  group_by: [alertname]\n  group_wait: 1s\n  \
         group_interval: 5m\n  repeat_interval: 4h\nreceivers:\n  - name: bench\n    \
         webhook_configs:\n      - url: {url}/hook\n"
    )
}

/// Sends SIGHUP: Sightline and Prometheus reload their rules.
fn hangup(pid: u32) -> anyhow::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .context("invalid pid")?;
    kill_process(pid, Signal::HUP).context("sending SIGHUP")
}

/// Sums the readings of several processes.
fn read_all(pids: &[u32]) -> anyhow::Result<ProcessSample> {
    let mut total = ProcessSample::default();
    for &pid in pids {
        let s = ProcessSample::read(pid)?;
        total.rss_bytes += s.rss_bytes;
        total.peak_rss_bytes += s.peak_rss_bytes;
        total.cpu += s.cpu;
    }
    Ok(total)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Writes the data rounds oldest first, ending now, then one more round
/// stamped at the current time.
async fn load(
    kind: TargetKind,
    target: &RunningTarget,
    mut workload: Workload,
    settings: &RulesSettings,
) -> anyhow::Result<LoadFigures> {
    let url = format!("{}{}", target.base_url(), kind.write_path());
    let sender = RemoteWriteSender::new(&url, settings.concurrency, settings.request_timeout)?;
    let schedule = Schedule::ending_now(settings.data_rounds, settings.scrape_interval)?;
    let started = Instant::now();
    let mut figures = LoadFigures::default();
    for round in 0..=schedule.rounds {
        if round > 0 {
            workload.advance();
        }
        // The last round: fresh data for the rules, however long loading
        // took.
        let timestamp = if round == schedule.rounds {
            now_ms().max(schedule.last_timestamp_ms() + 1)
        } else {
            schedule.timestamp_ms(round)
        };
        let encoded = encode_round(&workload, timestamp, settings.batch);
        let sent = sender.send_round(&encoded).await?;
        figures.samples += sent.accepted_samples;
        figures.failed_requests += sent.failed_requests;
        if figures.first_error.is_none() {
            figures.first_error = sent.first_error;
        }
    }
    figures.elapsed = started.elapsed();
    eprintln!(
        "[{kind}] loaded {} samples in {:.1?}{}",
        figures.samples,
        figures.elapsed,
        figures
            .first_error
            .as_ref()
            .map_or(String::new(), |e| format!(
                ", {} requests FAILED: {e}",
                figures.failed_requests
            ))
    );
    Ok(figures)
}

/// Waits until the target counts every series at the current time.
async fn wait_visible(
    client: &reqwest::Client,
    base_url: &str,
    expected: usize,
    settings: &RulesSettings,
) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let answer = client
            .get(format!("{base_url}/api/v1/query"))
            .query(&[
                ("query", SERIES_COUNT_QUERY.to_string()),
                ("time", format!("{:.3}", now_ms() as f64 / 1000.0)),
            ])
            .send()
            .await;
        let count = match answer {
            Ok(r) => {
                let bytes = r.bytes().await.context("reading a query answer")?;
                let body: serde_json::Value =
                    serde_json::from_slice(&bytes).context("decoding a query answer")?;
                body["data"]["result"][0]["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            }
            Err(_) => 0.0,
        };
        if count >= expected as f64 {
            return Ok(());
        }
        if started.elapsed() > settings.visible_timeout {
            bail!(
                "only {count} of {expected} series visible after {:?}",
                settings.visible_timeout
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Rounds seen completing, and the last status read.
struct Rounds {
    /// Per round, the sum of its groups' times.
    times: Vec<Duration>,
    last: Vec<GroupStatus>,
}

/// Polls `/api/v1/rules` until every group has completed
/// `settings.rounds` rounds.
async fn wait_rounds(
    kind: TargetKind,
    client: &reqwest::Client,
    base_url: &str,
    settings: &RulesSettings,
) -> anyhow::Result<Rounds> {
    let url = format!("{base_url}/api/v1/rules");
    let started = Instant::now();
    let mut seen: HashMap<String, i128> = HashMap::new();
    let mut times: HashMap<String, Vec<Duration>> = HashMap::new();
    let expected_groups = settings.ruleset.groups;
    loop {
        let response = client.get(&url).send().await;
        let body = match response {
            Ok(r) => r.bytes().await.context("reading /api/v1/rules")?,
            Err(e) => bail!("GET {url}: {e}"),
        };
        let groups = status::parse(&body)?;
        for g in &groups {
            let (Some(start), Some(took), true) = (g.last_evaluation_ns, g.round, g.complete)
            else {
                continue;
            };
            if seen.get(&g.name) == Some(&start) {
                continue;
            }
            seen.insert(g.name.clone(), start);
            let list = times.entry(g.name.clone()).or_default();
            list.push(took);
            eprintln!(
                "[{kind}] group {} round {}: {:.3} s, {} firing, {} pending, {} rules unhealthy",
                g.name,
                list.len(),
                took.as_secs_f64(),
                g.firing,
                g.pending,
                g.unhealthy_rules
            );
        }
        let done = groups.len() >= expected_groups
            && groups.iter().all(|g| {
                times
                    .get(&g.name)
                    .is_some_and(|t| t.len() >= settings.rounds)
            });
        if done {
            let round_times = (0..settings.rounds)
                .map(|r| groups.iter().map(|g| times[&g.name][r]).sum())
                .collect();
            return Ok(Rounds {
                times: round_times,
                last: groups,
            });
        }
        if started.elapsed() > settings.round_timeout {
            bail!(
                "{} rounds not completed within {:?} ({} of {expected_groups} groups listed, \
                 rounds seen per group: {:?})",
                settings.rounds,
                settings.round_timeout,
                groups.len(),
                times.values().map(Vec::len).collect::<Vec<_>>()
            );
        }
        let interval = Duration::from_secs(settings.ruleset.interval_s);
        let pause = (interval / STATUS_POLLS_PER_INTERVAL)
            .clamp(Duration::from_secs(1), Duration::from_secs(5));
        tokio::time::sleep(pause).await;
    }
}
