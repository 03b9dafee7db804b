//! The request queue: a bounded in-memory queue in front of the disk
//! buffer.
//!
//! Invariant: everything on disk is older than everything in memory. New
//! requests go to the back of the memory queue; when it is full, its
//! *oldest* request moves to the back of the disk buffer. The sender reads
//! the disk head first, then the memory front, so delivery follows
//! collection order across outages and restarts.
//!
//! The sender peeks at the head and acknowledges it by sequence number once
//! the server answered, so a request in flight stays queued (and is
//! persisted on shutdown) until it is delivered.
//!
//! A request may carry an [`OnAck`] callback (the log shipper advances its
//! read checkpoints with it). Callbacks live beside the queue, keyed by
//! sequence number, so they survive a spill to disk; acknowledging a request
//! runs its callback and those of every older request that was dropped
//! meanwhile, in order. Callbacks do not survive a restart.

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use bytes::Bytes;

use super::disk::{DiskBuffer, Dropped};
use super::stats::ShipperStats;

/// One encoded remote-write request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    pub seq: u64,
    pub samples: u32,
    /// Snappy-compressed protobuf `WriteRequest`.
    pub body: Bytes,
}

/// Run once the server answered for a request (or it was dropped).
pub(crate) type OnAck = Box<dyn FnOnce() + Send>;

pub(crate) struct RequestQueue {
    memory: VecDeque<Request>,
    memory_bytes: u64,
    capacity: usize,
    disk: Option<DiskBuffer>,
    max_bytes: u64,
    next_seq: u64,
    on_ack: BTreeMap<u64, Vec<OnAck>>,
}

impl std::fmt::Debug for RequestQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestQueue")
            .field("memory", &self.memory.len())
            .field("memory_bytes", &self.memory_bytes)
            .field("disk", &self.disk)
            .field("next_seq", &self.next_seq)
            .field("callbacks", &self.on_ack.len())
            .finish()
    }
}

impl RequestQueue {
    /// A queue holding `capacity` requests in memory, spilling to a disk
    /// buffer in `dir` if given (whose earlier content is replayed first).
    pub fn open(
        capacity: usize,
        dir: Option<&Path>,
        max_bytes: u64,
        stats: &ShipperStats,
    ) -> std::io::Result<Self> {
        let disk = match dir {
            Some(dir) => {
                let (disk, dropped) = DiskBuffer::open(dir, max_bytes, 0)?;
                count_dropped(stats, dropped);
                if !disk.is_empty() {
                    tracing::info!(
                        dir = %dir.display(),
                        requests = disk.len(),
                        bytes = disk.bytes(),
                        "replaying the disk buffer left by an earlier run"
                    );
                }
                Some(disk)
            }
            None => None,
        };
        let next_seq = disk.as_ref().map_or(0, |d| d.len() as u64);
        let queue = Self {
            memory: VecDeque::with_capacity(capacity),
            memory_bytes: 0,
            capacity,
            disk,
            max_bytes,
            next_seq,
            on_ack: BTreeMap::new(),
        };
        queue.update_gauges(stats);
        Ok(queue)
    }

    /// Queues a request; never blocks. When memory is full the oldest
    /// request spills to disk, or without a disk buffer is dropped.
    pub fn push(&mut self, samples: u32, body: Bytes, on_ack: Option<OnAck>, stats: &ShipperStats) {
        let seq = self.next_seq;
        self.next_seq += 1;
        while self.memory.len() >= self.capacity {
            let Some(oldest) = self.memory.pop_front() else {
                break;
            };
            self.memory_bytes = self.memory_bytes.saturating_sub(oldest.body.len() as u64);
            self.spill(oldest, stats);
        }
        if let Some(callback) = on_ack {
            self.on_ack.entry(seq).or_default().push(callback);
        }
        self.memory_bytes += body.len() as u64;
        self.memory.push_back(Request { seq, samples, body });
        self.update_gauges(stats);
    }

    /// Arranges for `callback` to run once every request queued so far is
    /// acknowledged (or dropped); returns it if that is already the case.
    pub fn after_queued(&mut self, callback: OnAck) -> Option<OnAck> {
        let waiting = !self.memory.is_empty() || self.disk.as_ref().is_some_and(|d| !d.is_empty());
        if waiting {
            let newest = self.next_seq.saturating_sub(1);
            self.on_ack.entry(newest).or_default().push(callback);
            None
        } else {
            Some(callback)
        }
    }

    /// Whether a request of `reserve` more bytes fits without anything
    /// being dropped: below the disk budget (memory included, since it
    /// spills there), or without a disk buffer, below the memory capacity.
    pub fn has_room(&self, reserve: u64) -> bool {
        match &self.disk {
            Some(disk) => disk.bytes() + self.memory_bytes + reserve <= self.max_bytes,
            None => self.memory.len() < self.capacity,
        }
    }

    /// The oldest request, left in place until [`Self::ack`].
    pub fn peek(&mut self, stats: &ShipperStats) -> Option<Request> {
        let mut head = None;
        let mut unreadable = false;
        if let Some(disk) = self.disk.as_mut() {
            while let Some(read) = disk.read_head() {
                match read {
                    Ok(frame) => {
                        head = Some(Request {
                            seq: frame.seq,
                            samples: frame.samples,
                            body: frame.body,
                        });
                        break;
                    }
                    Err((error, dropped)) => {
                        tracing::warn!(%error, "disk buffer: dropping an unreadable request");
                        count_dropped(stats, dropped);
                        unreadable = true;
                    }
                }
            }
        }
        if unreadable {
            self.update_gauges(stats);
        }
        head.or_else(|| self.memory.front().cloned())
    }

    /// Removes request `seq` once the server answered for it. A request
    /// dropped meanwhile (budget) is simply no longer there. Returns the
    /// callbacks to run: those of `seq` and of older, dropped requests,
    /// oldest first.
    #[must_use]
    pub fn ack(&mut self, seq: u64, stats: &ShipperStats) -> Vec<OnAck> {
        let later = self.on_ack.split_off(&seq.saturating_add(1));
        let due = std::mem::replace(&mut self.on_ack, later);
        let callbacks = due.into_values().flatten().collect();
        if let Some(disk) = self.disk.as_mut() {
            if disk.head_seq() == Some(seq) {
                disk.pop_head();
                self.update_gauges(stats);
                return callbacks;
            }
        }
        if self.memory.front().is_some_and(|r| r.seq == seq) {
            if let Some(r) = self.memory.pop_front() {
                self.memory_bytes = self.memory_bytes.saturating_sub(r.body.len() as u64);
            }
        }
        self.update_gauges(stats);
        callbacks
    }

    /// Writes every in-memory request to disk (on shutdown). Returns how
    /// many requests could not be kept because there is no disk buffer.
    pub fn persist(&mut self, stats: &ShipperStats) -> usize {
        if self.disk.is_none() {
            return self.memory.len();
        }
        while let Some(request) = self.memory.pop_front() {
            self.spill(request, stats);
        }
        self.memory_bytes = 0;
        self.update_gauges(stats);
        0
    }

    fn spill(&mut self, request: Request, stats: &ShipperStats) {
        let Some(disk) = self.disk.as_mut() else {
            tracing::warn!(
                samples = request.samples,
                "in-memory queue full and no disk buffer: dropping the oldest request"
            );
            count_dropped(
                stats,
                Dropped {
                    requests: 1,
                    samples: u64::from(request.samples),
                },
            );
            return;
        };
        match disk.append(request.seq, request.samples, &request.body) {
            Ok(dropped) => count_dropped(stats, dropped),
            Err(error) => {
                tracing::warn!(%error, samples = request.samples, "disk buffer: cannot write, dropping the request");
                count_dropped(
                    stats,
                    Dropped {
                        requests: 1,
                        samples: u64::from(request.samples),
                    },
                );
            }
        }
    }

    fn update_gauges(&self, stats: &ShipperStats) {
        ShipperStats::set(&stats.queue_requests, self.memory.len() as u64);
        let (requests, bytes) = self
            .disk
            .as_ref()
            .map_or((0, 0), |d| (d.len() as u64, d.bytes()));
        ShipperStats::set(&stats.buffer_requests, requests);
        ShipperStats::set(&stats.buffer_bytes, bytes);
    }
}

fn count_dropped(stats: &ShipperStats, dropped: Dropped) {
    ShipperStats::add(&stats.samples_dropped, dropped.samples);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(i: u32) -> Bytes {
        Bytes::from(format!("req {i}"))
    }

    fn drain(queue: &mut RequestQueue, stats: &ShipperStats) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(r) = queue.peek(stats) {
            for callback in queue.ack(r.seq, stats) {
                callback();
            }
            out.push(r.body);
        }
        out
    }

    #[test]
    fn spills_oldest_to_disk_and_keeps_order() {
        let dir = tempfile::tempdir().unwrap();
        let stats = ShipperStats::default();
        let mut queue = RequestQueue::open(4, Some(dir.path()), 1 << 20, &stats).unwrap();
        for i in 0..10 {
            queue.push(1, body(i), None, &stats);
        }
        let s = stats.snapshot();
        assert_eq!((s.queue_requests, s.buffer_requests), (4, 6));
        // Peek at the head (on disk), then push more: the head is still
        // acknowledged correctly.
        let head = queue.peek(&stats).unwrap();
        queue.push(1, body(10), None, &stats);
        assert!(queue.ack(head.seq, &stats).is_empty());
        let rest = drain(&mut queue, &stats);
        assert_eq!(rest, (1..11).map(body).collect::<Vec<_>>());
        assert_eq!(stats.snapshot().samples_dropped, 0);
    }

    #[test]
    fn in_flight_memory_head_that_spills_is_acknowledged_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let stats = ShipperStats::default();
        let mut queue = RequestQueue::open(2, Some(dir.path()), 1 << 20, &stats).unwrap();
        queue.push(1, body(0), None, &stats);
        queue.push(1, body(1), None, &stats);
        let head = queue.peek(&stats).unwrap();
        queue.push(1, body(2), None, &stats); // body(0) moves to disk while in flight
        assert!(queue.ack(head.seq, &stats).is_empty());
        assert_eq!(drain(&mut queue, &stats), vec![body(1), body(2)]);
    }

    #[test]
    fn without_disk_drops_oldest() {
        let stats = ShipperStats::default();
        let mut queue = RequestQueue::open(3, None, 0, &stats).unwrap();
        for i in 0..5 {
            queue.push(7, body(i), None, &stats);
        }
        assert_eq!(stats.snapshot().samples_dropped, 14);
        assert_eq!(drain(&mut queue, &stats), vec![body(2), body(3), body(4)]);
    }

    #[test]
    fn persist_then_reopen_replays_everything_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let stats = ShipperStats::default();
        {
            let mut queue = RequestQueue::open(4, Some(dir.path()), 1 << 20, &stats).unwrap();
            for i in 0..6 {
                queue.push(1, body(i), None, &stats);
            }
            assert_eq!(queue.persist(&stats), 0);
        }
        let mut queue = RequestQueue::open(4, Some(dir.path()), 1 << 20, &stats).unwrap();
        queue.push(1, body(6), None, &stats);
        assert_eq!(
            drain(&mut queue, &stats),
            (0..7).map(body).collect::<Vec<_>>()
        );
    }

    #[test]
    fn callbacks_run_in_order_also_for_dropped_requests() {
        use std::sync::{Arc, Mutex};
        let stats = ShipperStats::default();
        let mut queue = RequestQueue::open(2, None, 0, &stats).unwrap();
        let ran = Arc::new(Mutex::new(Vec::new()));
        assert!(queue.has_room(0));
        for i in 0..3u32 {
            let ran = Arc::clone(&ran);
            let callback: OnAck = Box::new(move || ran.lock().unwrap().push(i));
            queue.push(1, body(i), Some(callback), &stats);
        }
        assert!(!queue.has_room(0));
        // Request 0 was dropped (memory full, no disk); acknowledging 1
        // runs 0's callback first.
        let head = queue.peek(&stats).unwrap();
        assert_eq!(head.body, body(1));
        for callback in queue.ack(head.seq, &stats) {
            callback();
        }
        assert_eq!(*ran.lock().unwrap(), vec![0, 1]);
        assert!(queue.has_room(0));
        drain(&mut queue, &stats);
        assert_eq!(*ran.lock().unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn room_counts_memory_against_the_disk_budget() {
        let dir = tempfile::tempdir().unwrap();
        let stats = ShipperStats::default();
        let mut queue = RequestQueue::open(64, Some(dir.path()), 8192, &stats).unwrap();
        queue.push(1, Bytes::from(vec![0u8; 3000]), None, &stats);
        assert!(queue.has_room(4000));
        queue.push(1, Bytes::from(vec![0u8; 3000]), None, &stats);
        assert!(!queue.has_room(4000));
        assert!(queue.has_room(2000));
    }
}
