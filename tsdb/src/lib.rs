//! Sightline's metrics store.
//!
//! A write travels through three layers:
//!
//! 1. [`Tsdb::append`] resolves each series in the [`head::Head`] (creating
//!    it, with a new [`SeriesRef`], if unseen), checks every sample against
//!    Prometheus's ordering rules and appends the accepted ones to the
//!    series' compressed [`chunk`]s;
//! 2. under the same lock, the new series definitions and accepted samples are
//!    encoded as [`wal::record`]s and appended to the write-ahead log (the
//!    `sightline-wal` crate, which frames, segments and checkpoints them;
//!    [`wal`] holds this store's records and their typed replay), so log
//!    order is apply order;
//! 3. the WAL is fsynced per its policy (group commit per batch by default)
//!    before `append` returns — only then may the caller acknowledge.
//!
//! On open the WAL is replayed into a fresh head; the head is cut into
//! immutable Parquet [`block`]s in the background (`maintain`). Reads go
//! through [`sightline_read::metrics::Querier`], which the head, every block
//! and the `Tsdb` itself (merging blocks and head) implement, so the query
//! engine never sees which layer answered; `tests/conformance.rs` runs the
//! trait's conformance suite against all three.
//!
//! ```
//! use sightline_model::{Labels, LabelLimits, Matcher, MatchOp, Sample};
//! use sightline_read::metrics::{Querier, TimeRange};
//! use sightline_tsdb::{Options, Tsdb};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let db = Tsdb::open(dir.path(), Options::default()).unwrap();
//! let up = Labels::from_pairs([("__name__", "up"), ("job", "node")])
//!     .validated(&LabelLimits::default())
//!     .unwrap();
//! db.append(&[(up, vec![Sample::new(1_000, 1.0)])]).unwrap();
//!
//! let m = Matcher::new(MatchOp::Equal, "job", "node").unwrap();
//! let mut set = db.querier().select(&[m], TimeRange::ALL).unwrap();
//! let series = set.next().unwrap().unwrap();
//! assert_eq!(series.samples.collect::<Vec<_>>(), [Sample::new(1_000, 1.0)]);
//! ```

mod appender;
pub mod block;
pub mod chunk;
mod db;
mod error;
pub mod head;
pub mod import;
mod maintain;
mod merge;
pub mod store;
pub mod wal;

pub use appender::Appender;
pub use db::{AppendReport, BlockCounters, MaintenanceReport, Options, RejectedSample, Tsdb};
pub use error::{Error, Result};
pub use maintain::{spawn_maintenance, MaintenanceHandle};
pub use merge::{merge_series_sets, MergeSamples};

/// A series' identity inside the store: assigned on first sight, recorded in
/// the WAL, and stable across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SeriesRef(pub u64);

/// Why a well-formed sample was not stored. Messages are Prometheus's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum Rejection {
    #[error("out of order sample")]
    OutOfOrder,
    #[error("duplicate sample for timestamp")]
    Duplicate,
    /// Older than the newest persisted block: the head no longer covers it.
    #[error("out of bounds")]
    OutOfBounds,
}
