//! Sightline's log store.
//!
//! A push travels through three layers:
//!
//! 1. [`LogStore::push`] resolves each stream in the stream table (label set
//!    ↔ [`StreamId`], with the stream's time bounds) and frames new stream
//!    definitions and the entries as WAL [`record`]s, appended to `wal/` (a
//!    `sightline-wal` log: CRC-framed, group-committed, the same log the
//!    metrics store uses);
//! 2. under the same lock the entries go to their time partition
//!    (`partitions/<start ns>/`, one tantivy index per
//!    [`Options::partition`]), where each stream fills a block of up to 512
//!    lines — one tantivy document — and to the in-memory head;
//! 3. the WAL is fsynced per its policy before `push` returns — only then may
//!    the caller acknowledge.
//!
//! Every [`Options::commit_interval`] the partitions are committed, the head
//! (which reads see until then) is cleared, and the WAL is checkpointed to
//! the stream table alone. Retention deletes whole partitions. Reads select
//! streams from the table and scan the partitions in time
//! order through [`LogQuerier`] (the read interface of `sightline-read`, the
//! only way readers reach the store): the index proposes candidate blocks (stream, time bounds, and the
//! words and id chunks a substring filter implies, see [`tokenizer`]), the
//! blocks are decoded in time order as the reader gets to them, and each
//! line is verified against the exact text before it is visited.
//!
//! ```
//! use std::ops::ControlFlow;
//! use sightline_logstore::{
//!     Direction, LogQuerier, LogStore, NewEntry, Options, ScanRequest, StreamBatch,
//! };
//! use sightline_model::{Labels, MatchOp, Matcher};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = LogStore::open(dir.path(), Options::default()).unwrap();
//! let now = std::time::SystemTime::now()
//!     .duration_since(std::time::UNIX_EPOCH)
//!     .unwrap()
//!     .as_nanos() as i64;
//! let labels = Labels::from_pairs([("app", "api")]);
//! let entries = vec![NewEntry { ts_ns: now, line: "GET /health 200".into(), metadata: vec![] }];
//! store.push(&[StreamBatch { labels, entries }]).unwrap();
//!
//! let m = Matcher::new(MatchOp::Equal, "app", "api").unwrap();
//! let streams = store.streams(&[m], i64::MIN, i64::MAX).unwrap();
//! let scan = ScanRequest {
//!     streams: streams.iter().map(|s| s.id).collect(),
//!     start_ns: now - 1_000_000_000,
//!     end_ns: now + 1,
//!     direction: Direction::Backward,
//!     contains: vec!["health".into()],
//! };
//! let mut lines = Vec::new();
//! store.scan(&scan, &mut |e| { lines.push(e.line.to_string()); ControlFlow::Continue(()) }).unwrap();
//! assert_eq!(lines, ["GET /health 200"]);
//! ```

mod error;
mod filter;
mod limits;
mod metrics;
mod partition;
mod read;
pub mod record;
pub mod stats;
mod store;
mod streams;
pub mod tokenizer;

use std::time::Duration;

pub use error::{Error, Result};
pub use limits::{byte_size, parse_byte_size, Limits, StreamRateLimiter};
pub use sightline_read::logs::{
    Direction, IndexStats, LogQuerier, ScanRequest, ScanStats, StreamId, StreamVolume,
};
pub use store::{LogStore, NewEntry, PushOutcome, StoreStats, StreamBatch};

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub stream: StreamId,
    pub ts_ns: i64,
    pub line: String,
    /// Structured metadata (Loki's third tuple element), as sent.
    pub metadata: Vec<(String, String)>,
}

/// Store settings.
#[derive(Debug, Clone)]
pub struct Options {
    pub wal: sightline_wal::WalOptions,
    /// Time span of one index partition.
    pub partition: Duration,
    /// How often new entries are committed to the indexes.
    pub commit_interval: Duration,
    /// Entries older than this (by timestamp) are deleted, a partition at a
    /// time.
    pub retention: Duration,
    /// Most bytes the partitions may take on disk (0: no budget). Past it
    /// the oldest whole partitions are deleted, never the newest, and
    /// entries older than the deleted ones are refused as past retention.
    pub retention_bytes: u64,
    /// Head size that triggers a commit before the interval is up.
    pub max_head_bytes: usize,
    /// Most streams the store holds; pushes creating more are refused.
    pub max_streams: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            wal: sightline_wal::WalOptions::default(),
            partition: Duration::from_secs(24 * 3600),
            commit_interval: Duration::from_secs(5),
            retention: Duration::from_secs(30 * 24 * 3600),
            retention_bytes: 0,
            max_head_bytes: 64 << 20,
            max_streams: 100_000,
        }
    }
}
