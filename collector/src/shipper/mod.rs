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
//! - [`send`]: one POST with the wire format's headers; 2xx acknowledges,
//!   5xx / 429 / connection errors are retried, other statuses drop the
//!   request and are counted.
//! - [`stats`]: atomics rendered as `sightline_collector_shipper_*` metrics.
//!
//! Delivery is at least once: a request whose answer was lost may arrive
//! twice (acknowledged frames are marked in the disk buffer, so a restart
//! does not resend them).
//!
//! The queue, disk buffer and sender ([`delivery`]) are shared with the
//! log shipper ([`loki`]), which feeds them Loki push requests instead of
//! rounds.
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
mod delivery;
mod disk;
pub mod loki;
mod queue;
mod send;
mod staleness;
mod stats;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use crate::pipeline::Round;
pub use config::{ShipperConfig, MIN_BUFFER_BYTES};
pub use send::USER_AGENT;
pub use stats::{ShipperStats, StatsSnapshot};

use batch::{EncodedRequest, RequestBatcher};
use delivery::{sleep_until, Delivery, Shared};
use send::Wire;
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
        let Delivery {
            runtime,
            shared,
            sender,
            deadline: deadline_tx,
        } = Delivery::open(&config, Wire::RemoteWrite)?;
        let stats = Arc::clone(&shared.stats);
        let (rounds_tx, rounds_rx) = mpsc::channel(config.round_capacity);
        let (closing_tx, closing_rx) = watch::channel(false);
        let config = Arc::new(config);
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
                        self.push(request);
                    }
                }
            }
        }
        self.rounds.close();
        while let Ok(round) = self.rounds.try_recv() {
            self.add(round, &mut flush_at);
        }
        if let Some(request) = self.requests.flush() {
            self.push(request);
        }
        let _ = self
            .deadline
            .send(Some(Instant::now() + self.config.shutdown_grace));
        self.shared.wake();
    }

    fn push(&self, request: EncodedRequest) {
        self.shared.push(request.samples, request.body, None);
    }

    fn add(&mut self, round: Round, flush_at: &mut Option<Instant>) {
        let stale = self.staleness.observe(&round.metrics);
        for request in self
            .requests
            .add_round(round.timestamp_ms, &round.metrics, &stale)
        {
            self.push(request);
        }
        if self.requests.is_empty() {
            *flush_at = None;
        } else if flush_at.is_none() {
            *flush_at = Some(Instant::now() + self.config.flush_interval);
        }
    }
}
