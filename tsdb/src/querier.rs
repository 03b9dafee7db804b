//! The read path every store implements and the query engine consumes.

use sightline_model::{Labels, Matcher, Sample};

use crate::Result;

/// An inclusive time range in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start_ms: i64,
    pub end_ms: i64,
}

impl TimeRange {
    pub const ALL: Self = Self {
        start_ms: i64::MIN,
        end_ms: i64::MAX,
    };

    pub fn new(start_ms: i64, end_ms: i64) -> Self {
        Self { start_ms, end_ms }
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

/// Series sorted by label set, produced lazily: samples are decoded only when
/// a series' iterator is advanced, so a query never holds a whole store.
pub type SeriesSet = Box<dyn Iterator<Item = Result<Series>> + Send>;

/// Read access to a metrics store (head, blocks, or a merge of both).
///
/// Matchers follow Prometheus: all must hold; a matcher that matches `""`
/// also selects series lacking the label. Series with no sample in the range
/// are not returned.
pub trait Querier: Send + Sync {
    /// Series matching `matchers` with samples in `range`, sorted by labels.
    fn select(&self, matchers: &[Matcher], range: TimeRange) -> Result<SeriesSet>;

    /// Sorted label names of the series matching `matchers` (all series when
    /// empty) in `range`.
    fn label_names(&self, matchers: &[Matcher], range: TimeRange) -> Result<Vec<String>>;

    /// Sorted values of label `name` over the series matching `matchers`.
    fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
        range: TimeRange,
    ) -> Result<Vec<String>>;
}
