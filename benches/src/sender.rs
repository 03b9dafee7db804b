//! Sends pre-encoded remote-write bodies to a target with a fixed number of
//! requests in flight, and tallies what was accepted and what was refused.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::header::{HeaderMap, HeaderValue, CONTENT_ENCODING, CONTENT_TYPE};
use tokio::task::JoinSet;

use crate::generator::{EncodedBatch, EncodedRound};
use crate::procfs::ProcessSample;
use crate::table::rate;
use crate::target::TargetKind;

/// Longest error body kept for the report.
const MAX_ERROR_CHARS: usize = 500;

/// A remote-write 1.0 client for one target.
#[derive(Debug, Clone)]
pub struct RemoteWriteSender {
    client: reqwest::Client,
    url: Arc<str>,
    concurrency: usize,
}

/// What happened to one round's requests.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoundOutcome {
    pub elapsed: Duration,
    pub accepted_samples: u64,
    pub failed_requests: u64,
    pub failed_samples: u64,
    /// The first refusal or transport error, for the report.
    pub first_error: Option<String>,
}

impl RoundOutcome {
    fn record(&mut self, batch: &EncodedBatch, result: Result<(), String>) {
        match result {
            Ok(()) => self.accepted_samples += batch.samples as u64,
            Err(e) => {
                self.failed_requests += 1;
                self.failed_samples += batch.samples as u64;
                self.first_error.get_or_insert(e);
            }
        }
    }

    fn merge(&mut self, other: RoundOutcome) {
        self.accepted_samples += other.accepted_samples;
        self.failed_requests += other.failed_requests;
        self.failed_samples += other.failed_samples;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
    }
}

/// Totals over a run of rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Phase {
    pub accepted_samples: u64,
    pub failed_requests: u64,
    pub failed_samples: u64,
    pub elapsed: Duration,
    /// CPU time the target consumed meanwhile.
    pub target_cpu: Duration,
}

impl Phase {
    pub fn samples_per_second(&self) -> f64 {
        per_second(self.accepted_samples, self.elapsed)
    }

    /// Accepted samples per second of the target's own CPU time: fairer than
    /// wall-clock throughput when the generator shares the machine.
    pub fn samples_per_cpu_second(&self) -> f64 {
        per_second(self.accepted_samples, self.target_cpu)
    }
}

fn per_second(count: u64, elapsed: Duration) -> f64 {
    if elapsed.is_zero() {
        return 0.0;
    }
    count as f64 / elapsed.as_secs_f64()
}

impl RemoteWriteSender {
    /// A sender posting to `write_url` with `concurrency` requests in flight.
    pub fn new(write_url: &str, concurrency: usize, timeout: Duration) -> anyhow::Result<Self> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("snappy"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-protobuf"),
        );
        headers.insert(
            "X-Prometheus-Remote-Write-Version",
            HeaderValue::from_static("0.1.0"),
        );
        headers.insert(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static("sightline-benches/0.1"),
        );
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .pool_max_idle_per_host(concurrency)
            .timeout(timeout)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            client,
            url: write_url.into(),
            concurrency: concurrency.max(1),
        })
    }

    /// Sends every batch of `round` and returns once all have been answered.
    pub async fn send_round(&self, round: &EncodedRound) -> anyhow::Result<RoundOutcome> {
        let started = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut workers = JoinSet::new();
        for _ in 0..self.concurrency.min(round.batches.len()) {
            let sender = self.clone();
            let batches = Arc::clone(&round.batches);
            let next = Arc::clone(&next);
            workers.spawn(async move {
                let mut outcome = RoundOutcome::default();
                while let Some(batch) = batches.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = sender.post(batch).await;
                    outcome.record(batch, result);
                }
                outcome
            });
        }
        let mut total = RoundOutcome::default();
        while let Some(joined) = workers.join_next().await {
            total.merge(joined.context("a sender task panicked")?);
        }
        total.elapsed = started.elapsed();
        Ok(total)
    }

    /// Sends `rounds` one after the other and totals them, with the CPU
    /// time process `pid` (the target) used meanwhile. Logs every
    /// `log_every`-th round and the last; returns the first error seen.
    pub async fn send_rounds(
        &self,
        kind: TargetKind,
        pid: u32,
        rounds: &[EncodedRound],
        label: &str,
        log_every: usize,
    ) -> anyhow::Result<(Phase, Option<String>)> {
        let cpu_before = ProcessSample::read(pid)?.cpu;
        let mut phase = Phase::default();
        let mut first_error = None;
        for (i, round) in rounds.iter().enumerate() {
            let outcome = self.send_round(round).await?;
            if (i + 1) % log_every.max(1) == 0 || i + 1 == rounds.len() {
                let errors = if outcome.failed_requests > 0 {
                    format!(", {} requests FAILED", outcome.failed_requests)
                } else {
                    String::new()
                };
                eprintln!(
                    "[{kind}] {label} round {}/{} (t={}): {} samples in {:.2?} ({}/s){errors}",
                    i + 1,
                    rounds.len(),
                    round.timestamp_ms,
                    outcome.accepted_samples,
                    outcome.elapsed,
                    rate(outcome.accepted_samples as f64 / outcome.elapsed.as_secs_f64()),
                );
            }
            phase.accepted_samples += outcome.accepted_samples;
            phase.failed_requests += outcome.failed_requests;
            phase.failed_samples += outcome.failed_samples;
            phase.elapsed += outcome.elapsed;
            if first_error.is_none() {
                first_error = outcome.first_error;
            }
        }
        phase.target_cpu = ProcessSample::read(pid)?.cpu.saturating_sub(cpu_before);
        Ok((phase, first_error))
    }

    /// Posts one body; any non-2xx answer is an error carrying its body.
    async fn post(&self, batch: &EncodedBatch) -> Result<(), String> {
        let response = self
            .client
            .post(&*self.url)
            .body(batch.body.clone())
            .send()
            .await
            .map_err(|e| describe_transport_error(&e))?;
        let status = response.status();
        // Read the body either way, so the connection can be reused.
        let body = response.bytes().await.unwrap_or_default();
        if status.is_success() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&body);
        let text: String = text.trim().chars().take(MAX_ERROR_CHARS).collect();
        Err(format!("HTTP {status}: {text}"))
    }
}

/// A transport error with its causes, which reqwest keeps in `source()`.
pub fn describe_transport_error(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn batch(samples: usize) -> EncodedBatch {
        EncodedBatch {
            body: Bytes::from_static(b"x"),
            samples,
        }
    }

    #[test]
    fn tallies_and_keeps_first_error() {
        let mut a = RoundOutcome::default();
        a.record(&batch(10), Ok(()));
        a.record(&batch(5), Err("HTTP 400: first".into()));
        a.record(&batch(7), Err("HTTP 400: second".into()));
        let mut b = RoundOutcome::default();
        b.record(&batch(3), Err("HTTP 500: other".into()));
        a.merge(b);
        assert_eq!(a.accepted_samples, 10);
        assert_eq!(a.failed_requests, 3);
        assert_eq!(a.failed_samples, 15);
        assert_eq!(a.first_error.as_deref(), Some("HTTP 400: first"));
    }

    #[tokio::test]
    async fn unreachable_target_counts_every_request_as_failed() {
        // Port 9 (discard) on 127.0.0.1 is closed on any sane test machine.
        let sender =
            RemoteWriteSender::new("http://127.0.0.1:9/api/v1/write", 3, Duration::from_secs(5))
                .unwrap();
        let round = EncodedRound {
            timestamp_ms: 0,
            batches: (0..7).map(|_| batch(2)).collect(),
        };
        let outcome = sender.send_round(&round).await.unwrap();
        assert_eq!(outcome.accepted_samples, 0);
        assert_eq!(outcome.failed_requests, 7);
        assert_eq!(outcome.failed_samples, 14);
        assert!(outcome.first_error.is_some());
    }
}
