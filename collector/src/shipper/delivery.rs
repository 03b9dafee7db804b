//! Delivery of encoded requests, shared by the metrics and the log
//! shipper: the [`RequestQueue`] behind a lock, and the sender task that
//! posts its head, oldest first, retrying with backoff until the server
//! answers or the shutdown deadline passes.

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::config::ShipperConfig;
use super::queue::{OnAck, Request, RequestQueue};
use super::send::{Backoff, Outcome, PushClient, Wire};
use super::stats::ShipperStats;
use super::ShipperError;

/// What every shipper starts from: the current runtime, the queue with its
/// disk buffer opened (and due for replay), and a sender bound to one URL
/// and wire format, waiting for its shutdown deadline.
#[derive(Debug)]
pub(crate) struct Delivery {
    pub runtime: tokio::runtime::Handle,
    pub shared: Arc<Shared>,
    pub sender: Sender,
    pub deadline: watch::Sender<Option<Instant>>,
}

impl Delivery {
    /// Validates `config` and opens everything; nothing runs yet.
    pub fn open(config: &ShipperConfig, wire: Wire) -> Result<Self, ShipperError> {
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
        let client = PushClient::new(&config.url, wire, config.request_timeout)?;
        let shared = Arc::new(Shared::new(queue, stats));
        let (deadline, deadline_rx) = watch::channel(None);
        let sender = Sender::new(config, Arc::clone(&shared), client, deadline_rx);
        Ok(Self {
            runtime,
            shared,
            sender,
            deadline,
        })
    }
}

/// State shared by a producer (batcher or log tailer) and the sender.
#[derive(Debug)]
pub(crate) struct Shared {
    queue: Mutex<RequestQueue>,
    /// Wakes the sender when a request is queued or shutdown begins.
    wake: Notify,
    pub stats: Arc<ShipperStats>,
}

impl Shared {
    pub fn new(queue: RequestQueue, stats: Arc<ShipperStats>) -> Self {
        Self {
            queue: Mutex::new(queue),
            wake: Notify::new(),
            stats,
        }
    }

    fn queue(&self) -> MutexGuard<'_, RequestQueue> {
        // A panic while holding the lock leaves the queue consistent enough
        // to keep shipping: every method leaves it valid between statements.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues an encoded request of `items` samples or log entries; never
    /// blocks on the network.
    pub fn push(&self, items: u32, body: Bytes, on_ack: Option<OnAck>) {
        self.queue().push(items, body, on_ack, &self.stats);
        self.wake.notify_one();
    }

    /// Runs `callback` once every request queued so far is acknowledged.
    pub fn after_queued(&self, callback: OnAck) {
        let now = self.queue().after_queued(callback);
        if let Some(callback) = now {
            callback();
        }
    }

    /// See [`RequestQueue::has_room`].
    pub fn has_room(&self, reserve: u64) -> bool {
        self.queue().has_room(reserve)
    }

    /// Wakes the sender (a shutdown deadline was set).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

/// Delivers queued requests one at a time, oldest first.
#[derive(Debug)]
pub(crate) struct Sender {
    max_backoff: std::time::Duration,
    shared: Arc<Shared>,
    client: PushClient,
    backoff: Backoff,
    deadline: watch::Receiver<Option<Instant>>,
}

impl Sender {
    pub fn new(
        config: &ShipperConfig,
        shared: Arc<Shared>,
        client: PushClient,
        deadline: watch::Receiver<Option<Instant>>,
    ) -> Self {
        Self {
            max_backoff: config.max_backoff,
            backoff: Backoff::new(config.min_backoff, config.max_backoff),
            shared,
            client,
            deadline,
        }
    }

    /// Runs until the queue is empty after the shutdown deadline was set,
    /// or until that deadline passes; what is left then goes to the disk
    /// buffer.
    pub async fn run(mut self) {
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
                    self.acknowledge(request.seq);
                    return true;
                }
                Outcome::Reject { status, message } => {
                    tracing::warn!(
                        %status,
                        message,
                        items = request.samples,
                        "the server refused a request; dropping it"
                    );
                    ShipperStats::add(&stats.samples_failed, u64::from(request.samples));
                    self.acknowledge(request.seq);
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
                        .min(self.max_backoff);
                    tracing::warn!(reason, ?delay, "push failed; retrying");
                    let pause = tokio::time::sleep(delay);
                    if before_deadline(&mut self.deadline, pause).await.is_none() {
                        return false;
                    }
                }
            }
        }
    }

    fn acknowledge(&mut self, seq: u64) {
        let callbacks = self.shared.queue().ack(seq, &self.shared.stats);
        for callback in callbacks {
            callback();
        }
        self.backoff.reset();
    }
}

/// Runs `fut` unless the shutdown deadline (which may be set meanwhile)
/// passes first.
pub(crate) async fn before_deadline<F: Future>(
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
                // The producer is gone; `at` is final from now on.
                if changed.is_err() {
                    watching = false;
                }
            }
        }
    }
}

pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
