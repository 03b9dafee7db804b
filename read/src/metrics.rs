//! Reading a metrics store: [`Querier`].
//!
//! The contract, which every implementation keeps and the conformance suite
//! (`conformance::metrics`) checks:
//!
//! - **Matchers** follow Prometheus: all must hold; a matcher that matches
//!   the empty string (`job!="x"`, `job=~".*"`, `job=""`) also selects
//!   series that lack the label, since a missing label reads as `""`.
//!   Regexes are fully anchored ([`Matcher`] compiles them so).
//! - **Ranges** are inclusive at both ends ([`TimeRange`]); a series with
//!   no sample in the range is not returned, and its labels are not
//!   reported by `label_names`/`label_values`.
//! - **Order**: series come sorted by their label sets ([`Labels`]'
//!   ordering), each at most once; samples of a series in strictly
//!   increasing timestamp order, values bit-exact (the staleness marker and
//!   every other NaN payload read back as stored).
//! - **Laziness**: `select` returns at once; a series' samples are decoded
//!   only as its iterator is advanced, so a reader may stop early and a
//!   query never holds a whole store.
//! - **Errors**: a failure is a [`ReadError`], either from `select` itself
//!   or as an item of the [`SeriesSet`] (storage read lazily may fail late).

use sightline_model::{Labels, Matcher, Sample};

use crate::Result;

/// An inclusive time range in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl TimeRange {
    /// Every timestamp.
    pub const ALL: Self = Self {
        start_ms: i64::MIN,
        end_ms: i64::MAX,
    };

    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        Self { start_ms, end_ms }
    }

    /// Whether `t_ms` lies in the range.
    pub fn contains(&self, t_ms: i64) -> bool {
        self.start_ms <= t_ms && t_ms <= self.end_ms
    }
}

/// Samples of one series, in increasing timestamp order.
pub type SampleIter = Box<dyn Iterator<Item = Sample> + Send>;

/// One selected series: its labels and a lazy sample stream.
pub struct Series {
    pub labels: Labels,
    pub samples: SampleIter,
}

impl std::fmt::Debug for Series {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Series")
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// Series sorted by label set, produced lazily.
pub type SeriesSet = Box<dyn Iterator<Item = Result<Series>> + Send>;

/// Read access to a metrics store: the head, a block, or a merge of both.
/// See the [module documentation](self) for the contract.
pub trait Querier: Send + Sync {
    /// Series matching `matchers` with samples in `range`, sorted by labels.
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<SeriesSet>;

    /// Sorted, distinct label names of the series matching `matchers` (all
    /// series when empty) with samples in `range`.
    fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<String>>;

    /// Sorted, distinct non-empty values of label `name` over the series
    /// matching `matchers` (all series when empty) with samples in `range`.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>>;
}
