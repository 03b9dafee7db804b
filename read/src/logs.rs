//! Reading a log store: [`LogQuerier`].
//!
//! The contract, which every implementation keeps and the conformance suite
//! (`conformance::logs`) checks:
//!
//! - **Streams** are label sets, each with a [`StreamId`] stable for the
//!   store's lifetime. [`LogQuerier::streams`] selects them with Prometheus
//!   matcher semantics (a missing label reads as `""`) among the streams
//!   with entries in the **inclusive** range `[start_ns, end_ns]`, sorted by
//!   labels. A store may keep time bounds per stream rather than per entry,
//!   so a stream may be returned whose entries all miss the range; a scan of
//!   it then visits nothing.
//! - **Scans** ([`LogQuerier::scan`]) visit the entries of the requested
//!   streams in the **half-open** range `[start_ns, end_ns)` whose line
//!   contains every string of [`ScanRequest::contains`] (exact,
//!   case-sensitive substrings), in timestamp order — oldest first for
//!   [`Direction::Forward`], newest first for [`Direction::Backward`]; at
//!   equal timestamps the order is unspecified but stable for a store that
//!   does not change. An entry stored more than once (same stream,
//!   timestamp and line: a client's retry) is visited once. The visitor
//!   stops the scan by returning [`ControlFlow::Break`] — that is how a
//!   reader applies a limit — and the store then reads nothing more.
//! - **Labels**: `label_names` and `label_values` are sorted and distinct,
//!   over the streams `streams` would select.
//! - **Statistics** ([`LogQuerier::index_stats`], [`LogQuerier::volumes`])
//!   count what is stored (an entry stored twice counts twice), by stream
//!   and time bucket, and give up with `None` at a deadline.

use std::ops::ControlFlow;
use std::time::Instant;

use sightline_model::{Labels, Matcher};

use crate::Result;

/// A stream's identity inside a store: assigned on first sight, stable
/// across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId(pub u64);

/// A selected stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStream {
    pub id: StreamId,
    pub labels: Labels,
}

/// Read order of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest first.
    Forward,
    /// Newest first.
    Backward,
}

/// What a scan asks for: entries of `streams` in `[start_ns, end_ns)` whose
/// line contains every string of `contains`, in `direction` order.
#[derive(Debug, Clone)]
pub struct ScanRequest {
    pub streams: Vec<StreamId>,
    pub start_ns: i64,
    pub end_ns: i64,
    pub direction: Direction,
    pub contains: Vec<String>,
}

/// One entry handed to a scan's visitor, borrowed from the store.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub stream: StreamId,
    pub ts_ns: i64,
    pub line: &'a str,
    /// Structured metadata (Loki's third tuple element), as sent.
    pub metadata: &'a [(String, String)],
}

/// Work a scan did, for the `stats` block of query responses and the
/// store's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScanStats {
    /// Entries the index proposed, before they were checked.
    pub candidates: u64,
    /// Entries read from storage or memory.
    pub lines_read: u64,
    pub bytes_read: u64,
    /// Time partitions (or files) the scan opened.
    pub partitions: u64,
}

/// What Loki's `index/stats` reports for a selector and a time range.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexStats {
    pub streams: u64,
    /// Units of storage holding the entries (Loki's chunks; for Sightline's
    /// store, stream × partition pairs).
    pub chunks: u64,
    pub entries: u64,
    /// Line bytes.
    pub bytes: u64,
}

/// Entries and line bytes of one stream in one time bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamVolume {
    pub stream: StreamId,
    pub labels: Labels,
    /// Start of the bucket: a multiple of the step, or the range start when
    /// there is one bucket.
    pub bucket_ns: i64,
    pub entries: u64,
    pub bytes: u64,
}

/// Read access to a log store. See the [module documentation](self) for
/// the contract.
pub trait LogQuerier: Send + Sync {
    /// Streams matching every matcher with entries in `[start_ns, end_ns]`,
    /// sorted by labels.
    fn streams(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<LogStream>>;

    /// Visits the requested entries in time order until `visit` breaks.
    fn scan(
        &self,
        request: &ScanRequest,
        visit: &mut dyn FnMut(EntryRef<'_>) -> ControlFlow<()>,
    ) -> Result<ScanStats>;

    /// Sorted label names of the streams `streams` would select.
    fn label_names(&self, matchers: &[Matcher], start_ns: i64, end_ns: i64) -> Result<Vec<String>>;

    /// Sorted values of label `name` over the streams `streams` would
    /// select.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
    ) -> Result<Vec<String>>;

    /// Streams, chunks, entries and bytes of the streams matching
    /// `matchers` in `[start_ns, end_ns]`; `None` past `deadline`.
    fn index_stats(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        deadline: Instant,
    ) -> Result<Option<IndexStats>>;

    /// Entries and bytes per stream matching `matchers` in
    /// `[start_ns, end_ns]`, in buckets of `step_ns` aligned to multiples of
    /// it (one bucket starting at `start_ns` when `step_ns` ≤ 0), sorted by
    /// bucket, then labels; `None` past `deadline`.
    fn volumes(
        &self,
        matchers: &[Matcher],
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
        deadline: Instant,
    ) -> Result<Option<Vec<StreamVolume>>>;
}
