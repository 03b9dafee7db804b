//! The shipper: collection rounds to a remote-write server, surviving
//! outages and restarts.
//!
//! Data flows through two tasks:
//!
//! ```text
//! ShipperHandle::send(Round) ──try_send──▶ batcher ──push──▶ RequestQueue ──peek/ack──▶ sender ──POST──▶ server
//!   (never blocks; a full             staleness,       memory (bounded)      retries with
//!    round queue drops the round)     cut at N         └─ spills oldest ─▶   backoff + jitter
//!                                     samples or         disk buffer
//!                                     flush interval     (byte budget)
//! ```
//!
//! - [`staleness`]: series missing from a round get one staleness marker.
//! - [`batch`]: rounds become snappy-compressed `WriteRequest`s of at most
//!   `max_samples_per_request` samples, or whatever is pending after
//!   `flush_interval`.
//! - [`queue`]: a bounded in-memory queue whose oldest requests spill to the
//!   [`disk`] buffer (checksummed frames in segment files, bounded by a byte
//!   budget, replayed first after a restart).
//! - [`send`]: one POST with the remote-write headers; 2xx acknowledges,
//!   5xx / 429 / connection errors are retried, other statuses drop the
//!   request and are counted.
//! - [`stats`]: atomics rendered as `sightline_collector_shipper_*` metrics.
//!
//! Delivery is at least once: a request whose answer was lost, or whose
//! segment was partly acknowledged before a restart, may arrive twice.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sightline_collector::shipper::ShipperError> {
//! use sightline_collector::shipper::{Round, Shipper, ShipperConfig};
//! use sightline_collector::Metric;
//!
//! let mut config = ShipperConfig::new("http://127.0.0.1:9700/api/v1/write");
//! config.buffer_dir = Some("/var/lib/sightline/buffer".into());
//! let shipper = Shipper::start(config)?;
//! let handle = shipper.handle();
//! handle.send(Round { timestamp_ms: 1_700_000_000_000, metrics: vec![Metric::new("up", &[], 1.0)] })?;
//! shipper.shutdown().await;
//! # Ok(()) }
//! ```

mod batch;
mod config;
mod disk;
mod queue;
mod send;
mod staleness;
mod stats;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use crate::pipeline::Round;
pub use config::{ShipperConfig, MIN_BUFFER_BYTES};
pub use send::USER_AGENT;
pub use stats::{ShipperStats, StatsSnapshot};

use batch::{EncodedRequest, RequestBatcher};
use queue::{Request, RequestQueue};
use send::{Backoff, Outcome, RemoteWriteClient};
use staleness::StalenessTracker;

/// Why the shipper could not start or take a round.
#[derive(Debug, thiserror::Error)]
pub enum ShipperError {
    #[error("invalid shipper configuration: {}", .0.join("; "))]
    Config(Vec<String>),
    #[error("disk buffer {path}: {source}")]
    Buffer {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("the shipper must be started inside a tokio runtime")]
    NoRuntime,
    #[error("round of {samples} samples dropped: the shipper is behind")]
    RoundQueueFull { samples: usize },
    #[error("the shipper has shut down")]
    Closed,
}

/// A running shipper: its handle and its background task.
#[derive(Debug)]
pub struct Shipper {
    handle: ShipperHandle,
    closing: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// Cheap to clone; hands rounds to the shipper and reads its stats.
#[derive(Debug, Clone)]
pub struct ShipperHandle {
    rounds: mpsc::Sender<Round>,
    stats: Arc<ShipperStats>,
}

impl ShipperHandle {
    /// Queues a round without blocking. If the shipper is so far behind
    /// that its round queue is full, the round is dropped and counted.
    pub fn send(&self, round: Round) -> Result<(), ShipperError> {
        let samples = round.metrics.len();
        match self.rounds.try_send(round) {
            Ok(()) => Ok(()),
            Err(e) => {
                ShipperStats::add(&self.stats.samples_dropped, samples as u64);
                match e {
                    mpsc::error::TrySendError::Full(_) => {
                        tracing::warn!(samples, "shipper round queue full: dropping a round");
                        Err(ShipperError::RoundQueueFull { samples })
                    }
                    mpsc::error::TrySendError::Closed(_) => Err(ShipperError::Closed),
                }
            }
        }
    }

    pub fn stats(&self) -> &ShipperStats {
        &self.stats
    }

    /// The shipper's self-metrics in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        self.stats.render_metrics()
    }
}

impl Shipper {
    /// Validates `config`, opens (and schedules the replay of) the disk
    /// buffer and spawns the background task on the current tokio runtime.
    pub fn start(config: ShipperConfig) -> Result<Self, ShipperError> {
        config.validate().map_err(ShipperError::Config)?;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ShipperError::NoRuntime)?;
        let stats = Arc::new(ShipperStats::default());
        let queue = RequestQueue::open(
            config.queue_capacity,
            config.buffer_dir.as_deref(),
            config.buffer_max_bytes,
            &stats,
        )
        .map_err(|source| ShipperError::Buffer {
            path: config.buffer_dir.clone().unwrap_or_default(),
            source,
        })?;
        let client = RemoteWriteClient::new(&config.url, config.request_timeout)?;
        let shared = Arc::new(Shared {
            queue: Mutex::new(queue),
            wake: Notify::new(),
            stats: Arc::clone(&stats),
        });
        let (rounds_tx, rounds_rx) = mpsc::channel(config.round_capacity);
        let (closing_tx, closing_rx) = watch::channel(false);
        let (deadline_tx, deadline_rx) = watch::channel(None);
        let config = Arc::new(config);
        let sender = Sender {
            backoff: Backoff::new(config.min_backoff, config.max_backoff),
            config: Arc::clone(&config),
            shared: Arc::clone(&shared),
            client,
            deadline: deadline_rx,
        };
        let batcher = Batcher {
            staleness: StalenessTracker::new(config.max_tracked_series),
            requests: RequestBatcher::new(config.max_samples_per_request),
            config,
            shared,
            rounds: rounds_rx,
            closing: closing_rx,
            deadline: deadline_tx,
        };
        let task = runtime.spawn(async move {
            let sender = tokio::spawn(sender.run());
            batcher.run().await;
            if let Err(e) = sender.await {
                tracing::error!(error = %e, "shipper sender task failed");
            }
        });
        Ok(Self {
            handle: ShipperHandle {
                rounds: rounds_tx,
                stats,
            },
            closing: closing_tx,
            task,
        })
    }

    pub fn handle(&self) -> ShipperHandle {
        self.handle.clone()
    }

    /// Stops taking rounds, flushes what is pending, keeps delivering for
    /// `shutdown_grace`, then writes the rest to the disk buffer.
    pub async fn shutdown(self) {
        let _ = self.closing.send(true);
        drop(self.handle);
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "shipper task failed");
        }
    }
}

/// State shared by the two tasks.
#[derive(Debug)]
struct Shared {
    queue: Mutex<RequestQueue>,
    /// Wakes the sender when a request is queued or shutdown begins.
    wake: Notify,
    stats: Arc<ShipperStats>,
}

impl Shared {
    fn queue(&self) -> MutexGuard<'_, RequestQueue> {
        // A panic while holding the lock leaves the queue consistent enough
        // to keep shipping: every method leaves it valid between statements.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn push(&self, request: EncodedRequest) {
        self.queue()
            .push(request.samples, request.body, &self.stats);
        self.wake.notify_one();
    }
}

/// Turns rounds into queued requests.
#[derive(Debug)]
struct Batcher {
    config: Arc<ShipperConfig>,
    shared: Arc<Shared>,
    staleness: StalenessTracker,
    requests: RequestBatcher,
    rounds: mpsc::Receiver<Round>,
    closing: watch::Receiver<bool>,
    /// Set when shutdown begins: the sender gives up at this instant.
    deadline: watch::Sender<Option<Instant>>,
}

impl Batcher {
    async fn run(mut self) {
        let mut flush_at: Option<Instant> = None;
        loop {
            tokio::select! {
                round = self.rounds.recv() => match round {
                    Some(round) => self.add(round, &mut flush_at),
                    None => break,
                },
                // A send (shutdown) or a dropped `Shipper` both end the loop.
                _ = self.closing.changed() => break,
                () = sleep_until(flush_at) => {
                    flush_at = None;
                    if let Some(request) = self.requests.flush() {
                        self.shared.push(request);
                    }
                }
            }
        }
        self.rounds.close();
        while let Ok(round) = self.rounds.try_recv() {
            self.add(round, &mut flush_at);
        }
        if let Some(request) = self.requests.flush() {
            self.shared.push(request);
        }
        let _ = self
            .deadline
            .send(Some(Instant::now() + self.config.shutdown_grace));
        self.shared.wake.notify_one();
    }

    fn add(&mut self, round: Round, flush_at: &mut Option<Instant>) {
        let stale = self.staleness.observe(&round.metrics);
        for request in self
            .requests
            .add_round(round.timestamp_ms, &round.metrics, &stale)
        {
            self.shared.push(request);
        }
        if self.requests.is_empty() {
            *flush_at = None;
        } else if flush_at.is_none() {
            *flush_at = Some(Instant::now() + self.config.flush_interval);
        }
    }
}

/// Delivers queued requests one at a time, oldest first.
#[derive(Debug)]
struct Sender {
    config: Arc<ShipperConfig>,
    shared: Arc<Shared>,
    client: RemoteWriteClient,
    backoff: Backoff,
    deadline: watch::Receiver<Option<Instant>>,
}

impl Sender {
    async fn run(mut self) {
        loop {
            let next = self.shared.queue().peek(&self.shared.stats);
            match next {
                Some(request) => {
                    if !self.deliver(request).await {
                        break;
                    }
                }
                None => {
                    if self.deadline.borrow().is_some() {
                        return;
                    }
                    let wake = self.shared.wake.notified();
                    if before_deadline(&mut self.deadline, wake).await.is_none() {
                        return;
                    }
                }
            }
        }
        // The shutdown grace ran out with requests left.
        let lost = self.shared.queue().persist(&self.shared.stats);
        if lost > 0 {
            tracing::warn!(
                requests = lost,
                "shipper shut down with undelivered requests and no disk buffer"
            );
        }
    }

    /// Sends until acknowledged or rejected (`true`), or until the shutdown
    /// deadline passes (`false`).
    async fn deliver(&mut self, request: Request) -> bool {
        let stats = &self.shared.stats;
        loop {
            let post = self.client.post(request.body.clone());
            let Some(outcome) = before_deadline(&mut self.deadline, post).await else {
                return false;
            };
            match outcome {
                Outcome::Delivered => {
                    ShipperStats::add(&stats.samples_sent, u64::from(request.samples));
                    ShipperStats::add(&stats.requests_sent, 1);
                    self.shared.queue().ack(request.seq, stats);
                    self.backoff.reset();
                    return true;
                }
                Outcome::Reject { status, message } => {
                    tracing::warn!(
                        %status,
                        message,
                        samples = request.samples,
                        "remote write refused a request; dropping it"
                    );
                    ShipperStats::add(&stats.samples_failed, u64::from(request.samples));
                    self.shared.queue().ack(request.seq, stats);
                    self.backoff.reset();
                    return true;
                }
                Outcome::Retry {
                    reason,
                    retry_after,
                } => {
                    ShipperStats::add(&stats.samples_retried, u64::from(request.samples));
                    let delay = self
                        .backoff
                        .next_delay()
                        .max(retry_after.unwrap_or_default())
                        .min(self.config.max_backoff);
                    tracing::warn!(reason, ?delay, "remote write failed; retrying");
                    let pause = tokio::time::sleep(delay);
                    if before_deadline(&mut self.deadline, pause).await.is_none() {
                        return false;
                    }
                }
            }
        }
    }
}

/// Runs `fut` unless the shutdown deadline (which may be set meanwhile)
/// passes first.
async fn before_deadline<F: Future>(
    deadline: &mut watch::Receiver<Option<Instant>>,
    fut: F,
) -> Option<F::Output> {
    tokio::pin!(fut);
    let mut watching = true;
    loop {
        let at = *deadline.borrow_and_update();
        tokio::select! {
            out = &mut fut => return Some(out),
            () = sleep_until(at) => return None,
            changed = deadline.changed(), if watching => {
                // The batcher is gone; `at` is final from now on.
                if changed.is_err() {
                    watching = false;
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
