//! Selectors: load once per query, answer each step by binary search.

use sightline_model::{is_stale_nan, Labels};
use sightline_read::metrics::TimeRange;

use super::{Evaluator, Result};
use crate::ast::{MatrixSelector, VectorSelector};
use std::sync::Arc;

use crate::value::{InstantSample, Matrix, Point, Points, RangeSeries, Vector};

/// A selector's series over the window the query can ask about, staleness
/// markers included (an instant selector must see them to stop).
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    min: i64,
    max: i64,
    series: Vec<(Labels, Arc<[Point]>)>,
}

fn key(vs: &VectorSelector) -> usize {
    vs as *const VectorSelector as usize
}

impl Evaluator<'_> {
    /// Loads `vs`'s series for `[min, max]` (widening an earlier load).
    pub(super) fn load_selector(&mut self, vs: &VectorSelector, min: i64, max: i64) -> Result<()> {
        let (min, max) = match self.loaded.get(&key(vs)) {
            Some(l) if l.min <= min && l.max >= max => return Ok(()),
            Some(l) => (l.min.min(min), l.max.max(max)),
            None => (min, max),
        };
        self.check_deadline()?;
        if let Some(shared) = self.shared {
            if let Some(name) = super::shared::metric_name(&vs.matchers) {
                let (metric, read) = shared.metric(self.querier, name, min, max)?;
                self.count_samples(read)?;
                let series = metric.select(&vs.matchers);
                // The metric's window covers the one asked for; answers
                // binary-search within it, so the extra points are unseen.
                self.loaded.insert(
                    key(vs),
                    Loaded {
                        min: metric.min,
                        max: metric.max,
                        series,
                    },
                );
                return Ok(());
            }
        }
        let set = self
            .querier
            .select(&vs.matchers, TimeRange::new(min, max))?;
        let mut series = Vec::new();
        for s in set {
            let s = s?;
            let points: Vec<Point> = s
                .samples
                .map(|p| Point {
                    t: p.timestamp_ms,
                    v: p.value,
                })
                .collect();
            self.count_samples(points.len())?;
            if !points.is_empty() {
                series.push((s.labels, points.into()));
            }
        }
        self.loaded.insert(key(vs), Loaded { min, max, series });
        Ok(())
    }

    pub(super) fn loaded_series(&self, vs: &VectorSelector) -> &[(Labels, Arc<[Point]>)] {
        self.loaded
            .get(&key(vs))
            .map_or(&[], |l| l.series.as_slice())
    }

    /// The reference time of a selector evaluated at `t`.
    fn reference(&self, vs: &VectorSelector, t: i64) -> i64 {
        vs.at.map_or(t, |at| self.at_time(at)) - vs.offset_ms
    }

    /// Newest sample at or before the reference time, within the lookback
    /// window, unless it is a staleness marker.
    pub(super) fn select_instant(&self, vs: &VectorSelector, t: i64) -> Vector {
        let reference = self.reference(vs, t);
        let oldest = reference - self.lookback_ms();
        let mut out = Vec::new();
        for (labels, points) in self.loaded_series(vs) {
            let idx = points.partition_point(|p| p.t <= reference);
            let Some(p) = idx.checked_sub(1).and_then(|i| points.get(i)) else {
                continue;
            };
            if p.t < oldest || is_stale_nan(p.v) {
                continue;
            }
            out.push(InstantSample {
                labels: labels.clone(),
                t: p.t,
                v: p.v,
            });
        }
        out
    }

    /// Samples in `[reference − range, reference]`, markers dropped; returns
    /// the window too.
    pub(super) fn select_range(&self, ms: &MatrixSelector, t: i64) -> (Matrix, i64, i64) {
        let end = self.reference(&ms.selector, t);
        let start = end - ms.range_ms;
        let mut out = Vec::new();
        for (labels, points) in self.loaded_series(&ms.selector) {
            let from = points.partition_point(|p| p.t < start);
            let to = points.partition_point(|p| p.t <= end).max(from);
            let window = &points[from..to];
            if window.is_empty() {
                continue;
            }
            // Staleness markers are rare: share the loaded points unless
            // the window holds one.
            let points = if window.iter().any(|p| is_stale_nan(p.v)) {
                let kept: Points = window
                    .iter()
                    .filter(|p| !is_stale_nan(p.v))
                    .copied()
                    .collect();
                if kept.is_empty() {
                    continue;
                }
                kept
            } else {
                Points::window(points, from..to)
            };
            out.push(RangeSeries {
                labels: labels.clone(),
                points,
            });
        }
        (out, start, end)
    }
}
