//! Values PromQL evaluates to.

use std::ops::Range;
use std::sync::Arc;

use sightline_model::Labels;

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    pub labels: Labels,
    /// The sample's own timestamp for selector results (what `timestamp()`
    /// reports); the evaluation time for anything computed.
    pub t: i64,
    pub v: f64,
}

/// A point of a range series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub t: i64,
    pub v: f64,
}

/// Points of a series, oldest first: a window into shared storage, so a
/// range selector hands each step its window without copying it.
#[derive(Clone)]
pub struct Points {
    data: Arc<[Point]>,
    range: Range<usize>,
}

impl Points {
    /// `data[range]`, sharing `data`. An out-of-bounds range is clamped.
    pub fn window(data: &Arc<[Point]>, range: Range<usize>) -> Self {
        let end = range.end.min(data.len());
        let start = range.start.min(end);
        Self {
            data: Arc::clone(data),
            range: start..end,
        }
    }
}

impl std::ops::Deref for Points {
    type Target = [Point];

    fn deref(&self) -> &[Point] {
        &self.data[self.range.clone()]
    }
}

impl From<Vec<Point>> for Points {
    fn from(v: Vec<Point>) -> Self {
        let range = 0..v.len();
        Self {
            data: v.into(),
            range,
        }
    }
}

impl FromIterator<Point> for Points {
    fn from_iter<I: IntoIterator<Item = Point>>(iter: I) -> Self {
        iter.into_iter().collect::<Vec<_>>().into()
    }
}

impl PartialEq for Points {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Points {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A series with its points over a range, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RangeSeries {
    pub labels: Labels,
    pub points: Points,
}

pub type Vector = Vec<InstantSample>;
pub type Matrix = Vec<RangeSeries>;

/// The result of evaluating an expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Scalar { t: i64, v: f64 },
    String { t: i64, v: String },
    Vector(Vector),
    Matrix(Matrix),
}

/// Prometheus's float formatting (label values from `count_values`, API
/// sample values): shortest round trip, never an exponent, `+Inf`, `-Inf`,
/// `NaN`.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_value(1e21), "1000000000000000000000");
        assert_eq!(format_value(1e-7), "0.0000001");
        assert_eq!(format_value(-0.0), "-0");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }
}
