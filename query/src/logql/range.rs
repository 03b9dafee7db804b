//! Range aggregations over log lines (`count_over_time`, `rate`,
//! `sum_over_time(… | unwrap x)`, …): the entries a range needs are read
//! once for all steps, turned into samples per label set, and reduced per
//! step window. Reductions Prometheus also has (`sum`, `avg`, `min`, `max`,
//! `stddev`, `stdvar`, `quantile` over time) are PromQL's own functions.

use std::ops::ControlFlow;

use sightline_model::{Labels, MatchOp};

use super::ast::{RangeExpr, RangeFn};
use super::eval::{Evaluator, Row};
use super::pipeline::ERROR_LABEL;
use super::{Direction, LogqlError};
use crate::engine::functions::over_time;
use crate::value::Point;

impl Evaluator<'_> {
    /// The values of range aggregation `r` at each of `steps`, per output
    /// label set, sorted by labels.
    pub(super) fn range_fn(
        &mut self,
        r: &RangeExpr,
        steps: &[i64],
    ) -> Result<Vec<(Labels, Row)>, LogqlError> {
        let range = i64::try_from(r.range.as_nanos()).unwrap_or(i64::MAX);
        let offset = i64::try_from(r.offset.as_nanos()).unwrap_or(i64::MAX);
        let (Some(&first), Some(&last)) = (steps.first(), steps.last()) else {
            return Ok(Vec::new());
        };
        let start = first
            .saturating_sub(offset)
            .saturating_sub(range)
            .saturating_add(1);
        let end = last.saturating_sub(offset).saturating_add(1);
        // Series found by a hash of the line's labels, compared in place: a
        // line of a series already seen allocates nothing.
        let mut series: Vec<(Labels, Vec<Point>)> = Vec::new();
        let mut by_hash: foldhash::HashMap<u64, Vec<usize>> = foldhash::HashMap::default();
        let hasher = foldhash::fast::FixedState::default();
        let mut too_many = false;
        let max_series = self.limits.max_series;
        let grouping = r.grouping.clone();
        let keep = |n: &str| {
            grouping
                .as_ref()
                .is_none_or(|g| g.labels.iter().any(|l| l == n) != g.without)
        };
        let func = r.func;
        self.each_entry(&r.log, start, end, Direction::Forward, &mut |e| {
            let value = match func {
                RangeFn::CountOverTime | RangeFn::Rate | RangeFn::AbsentOverTime => 1.0,
                RangeFn::BytesOverTime | RangeFn::BytesRate => e.line.len() as f64,
                _ => e.value.unwrap_or(0.0),
            };
            let pairs = e.label_pairs_where(&keep);
            let hash = {
                use std::hash::{BuildHasher, Hash, Hasher};
                let mut h = hasher.build_hasher();
                pairs.clone().for_each(|p| p.hash(&mut h));
                h.finish()
            };
            let mut found = None;
            for &i in by_hash.get(&hash).map_or(&[][..], Vec::as_slice) {
                if same_labels(&series[i].0, pairs.clone()) {
                    found = Some(i);
                    break;
                }
            }
            let i = match found {
                Some(i) => i,
                None if series.len() >= max_series => {
                    too_many = true;
                    return ControlFlow::Break(());
                }
                None => {
                    series.push((e.labels_where(keep), Vec::new()));
                    by_hash.entry(hash).or_default().push(series.len() - 1);
                    series.len() - 1
                }
            };
            series[i].1.push(Point {
                t: e.ts_ns,
                v: value,
            });
            ControlFlow::Continue(())
        })?;
        if too_many {
            return Err(LogqlError::Limit(format!(
                "maximum of series ({max_series}) reached for a single query"
            )));
        }
        if let Some(labels) = series
            .iter()
            .map(|(l, _)| l)
            .filter(|l| l.get(ERROR_LABEL).is_some())
            .min()
        {
            let kind = labels.get(ERROR_LABEL).unwrap_or_default();
            return Err(LogqlError::BadQuery(format!(
                "pipeline error: '{kind}' for series: '{labels}'.\nUse a label filter to intentionally skip this error. (e.g | __error__!=\"{kind}\").\nTo skip all potential errors you can match empty errors.(e.g __error__=\"\")\nThe label filter can also be specified after unwrap. (e.g | unwrap latency | __error__=\"\" )."
            )));
        }
        if func == RangeFn::AbsentOverTime {
            let labels = Labels::from_sorted({
                let mut eq: Vec<sightline_model::Label> = r
                    .log
                    .matchers
                    .iter()
                    .filter(|m| m.op == MatchOp::Equal)
                    .map(|m| sightline_model::Label {
                        name: m.name.clone(),
                        value: m.value.clone(),
                    })
                    .collect();
                eq.sort();
                eq.dedup_by(|a, b| a.name == b.name);
                eq
            });
            let row: Row = steps
                .iter()
                .map(|&t| {
                    let (lo, hi) = (t - offset - range, t - offset);
                    let any = series
                        .iter()
                        .any(|(_, pts)| pts.iter().any(|p| p.t > lo && p.t <= hi));
                    (!any).then_some(1.0)
                })
                .collect();
            return Ok(if row.iter().any(Option::is_some) {
                vec![(labels, row)]
            } else {
                Vec::new()
            });
        }
        let secs = r.range.as_secs_f64();
        let mut out: Vec<(Labels, Row)> = series
            .into_iter()
            .map(|(labels, mut pts)| {
                if grouping.is_some() {
                    pts.sort_by_key(|p| p.t);
                }
                let row = steps
                    .iter()
                    .map(|&t| {
                        let (lo, hi) = (t - offset - range, t - offset);
                        let a = pts.partition_point(|p| p.t <= lo);
                        let b = pts.partition_point(|p| p.t <= hi);
                        let window = &pts[a..b];
                        (!window.is_empty()).then(|| over_time(func, r.param, window, secs))
                    })
                    .collect();
                (labels, row)
            })
            .filter(|(_, row): &(Labels, Row)| row.iter().any(Option::is_some))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}

/// True when `pairs` are exactly `labels`, in order.
fn same_labels<'a>(labels: &Labels, mut pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    let mut own = labels.iter();
    loop {
        match (own.next(), pairs.next()) {
            (None, None) => return true,
            (Some(l), Some((n, v))) if l.name == n && l.value == v => {}
            _ => return false,
        }
    }
}

/// `func` over one step's window (never empty).
fn over_time(func: RangeFn, param: Option<f64>, w: &[Point], secs: f64) -> f64 {
    let n = w.len() as f64;
    match func {
        RangeFn::CountOverTime | RangeFn::AbsentOverTime => n,
        // Every sample of a line-counting range is 1.
        RangeFn::Rate => n / secs,
        RangeFn::BytesOverTime | RangeFn::SumOverTime => over_time::sum(w),
        RangeFn::BytesRate => over_time::sum(w) / secs,
        RangeFn::AvgOverTime => over_time::avg(w),
        RangeFn::MinOverTime => over_time::min(w),
        RangeFn::MaxOverTime => over_time::max(w),
        RangeFn::FirstOverTime => w.first().map_or(f64::NAN, |p| p.v),
        RangeFn::LastOverTime => w.last().map_or(f64::NAN, |p| p.v),
        RangeFn::StddevOverTime => over_time::stddev(w),
        RangeFn::StdvarOverTime => over_time::stdvar(w),
        // The parser requires φ.
        RangeFn::QuantileOverTime => over_time::quantile(param.unwrap_or(f64::NAN), w),
        RangeFn::RateCounter => {
            let mut inc = 0.0;
            for p in w.windows(2) {
                inc += if p[1].v >= p[0].v {
                    p[1].v - p[0].v
                } else {
                    p[1].v
                };
            }
            inc / secs
        }
    }
}
