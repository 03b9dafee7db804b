//! Loading the benchmark's data into a target: every scrape round of the
//! schedule, oldest first, over remote write; then waiting until the target
//! answers queries over all of it.
//!
//! Oldest first matters to Prometheus: its remote-write receiver refuses
//! samples more than half a block range (1 h by default) older than the
//! newest sample it holds, so rounds sent out of time order would be lost.

use std::time::{Duration, Instant};

use crate::generator::{encode_round, Schedule, Workload};
use crate::procfs::ProcessSample;
use crate::sender::RemoteWriteSender;
use crate::target::TargetKind;

use super::client::PromClient;

/// Counts every series the target holds at an instant.
const SERIES_COUNT_QUERY: &str = "count({__name__=~\".+\"})";
/// Pause between checks that loaded data is visible.
const VISIBLE_POLL: Duration = Duration::from_millis(500);
/// A target is quiet when, over one [`QUIET_WINDOW`], it used less than this
/// share of one CPU.
const QUIET_CPU_SHARE: f64 = 0.05;
const QUIET_WINDOW: Duration = Duration::from_secs(1);

/// How writing the data went.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadOutcome {
    pub accepted_samples: u64,
    pub failed_requests: u64,
    pub failed_samples: u64,
    /// Including encoding each round just before sending it.
    pub elapsed: Duration,
    pub first_error: Option<String>,
}

/// Writes every round of `schedule` to `sender`, advancing `workload` one
/// scrape between rounds. Rounds are encoded one at a time as they are sent,
/// which keeps memory flat however long the window; loading is not what this
/// benchmark times.
pub async fn write_rounds(
    kind: TargetKind,
    sender: &RemoteWriteSender,
    mut workload: Workload,
    schedule: &Schedule,
    batch: usize,
) -> anyhow::Result<LoadOutcome> {
    let started = Instant::now();
    let mut outcome = LoadOutcome::default();
    let report_every = (schedule.rounds / 10).max(1);
    for round in 0..schedule.rounds {
        if round > 0 {
            workload.advance();
        }
        let encoded = encode_round(&workload, schedule.timestamp_ms(round), batch);
        let sent = sender.send_round(&encoded).await?;
        outcome.accepted_samples += sent.accepted_samples;
        outcome.failed_requests += sent.failed_requests;
        outcome.failed_samples += sent.failed_samples;
        if outcome.first_error.is_none() {
            outcome.first_error = sent.first_error;
        }
        if (round + 1) % report_every == 0 || round + 1 == schedule.rounds {
            let failed = if outcome.failed_requests > 0 {
                format!(", {} requests FAILED so far", outcome.failed_requests)
            } else {
                String::new()
            };
            eprintln!(
                "[{kind}] loaded {}/{} rounds, {} samples in {:.1?}{failed}",
                round + 1,
                schedule.rounds,
                outcome.accepted_samples,
                started.elapsed()
            );
        }
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// Waits, at most `limit`, until the process has finished the background
/// work loading left it (Prometheus's head compaction, VictoriaMetrics's
/// part merges): until it uses under 5 % of a CPU over a second. Returns
/// how long that took, and whether it got quiet.
pub async fn wait_quiet(pid: u32, limit: Duration) -> anyhow::Result<(Duration, bool)> {
    let started = Instant::now();
    let mut last = ProcessSample::read(pid)?.cpu;
    loop {
        tokio::time::sleep(QUIET_WINDOW).await;
        let now = ProcessSample::read(pid)?.cpu;
        let busy = now.saturating_sub(last).as_secs_f64() / QUIET_WINDOW.as_secs_f64();
        last = now;
        if busy < QUIET_CPU_SHARE {
            return Ok((started.elapsed(), true));
        }
        if started.elapsed() >= limit {
            return Ok((started.elapsed(), false));
        }
    }
}

/// Waits until the target counts `expected` series at `time_s`, the end of
/// the query window, or `timeout` passes. Returns a note when that did not
/// happen (the queries then run anyway).
pub async fn wait_visible(
    client: &PromClient,
    expected: usize,
    time_s: i64,
    timeout: Duration,
) -> Option<String> {
    let started = Instant::now();
    loop {
        let last = match client.instant_value(SERIES_COUNT_QUERY, time_s).await {
            Ok(Some(count)) if count >= expected as f64 => return None,
            Ok(count) => format!("{} of {expected} series", count.unwrap_or(0.0)),
            // An error will not go away by waiting.
            Err(e) => {
                return Some(format!(
                    "could not count series ({SERIES_COUNT_QUERY}): {e}"
                ))
            }
        };
        if started.elapsed() > timeout {
            return Some(format!(
                "only {last} visible after {timeout:?} ({SERIES_COUNT_QUERY})"
            ));
        }
        tokio::time::sleep(VISIBLE_POLL).await;
    }
}
