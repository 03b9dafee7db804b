//! Evaluating parsed LogQL over a [`LogQuerier`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

use sightline_model::{Labels, MatchOp};

use super::ast::*;
use super::pipeline::{self, Entry, ERROR_LABEL};
use sightline_read::logs::{ScanRequest, StreamId};

use super::{Direction, LogQuerier, LogqlError};

/// Bounds on what one query may return or hold, with Loki's defaults.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Most series a metric query may produce at any stage.
    pub max_series: usize,
    /// Largest `limit` a log query may ask for.
    pub max_entries: usize,
    /// Most steps a range query may have.
    pub max_steps: usize,
    /// Longest a query may run.
    pub timeout: std::time::Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self {
            max_series: 500,
            max_entries: 5000,
            max_steps: 11_000,
            timeout: std::time::Duration::from_secs(120),
        }
    }
}

/// What a query read and returned, for the response's `stats`.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueryStats {
    pub lines_processed: u64,
    pub bytes_processed: u64,
    pub entries_returned: u64,
}

/// A log stream in a result.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    pub labels: Labels,
    /// `(ts_ns, line)` in the query's direction.
    pub entries: Vec<(i64, String)>,
}

/// A series in a matrix or vector result; timestamps in ns.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesResult {
    pub labels: Labels,
    pub points: Vec<(i64, f64)>,
}

/// A query's result.
#[derive(Debug, Clone, PartialEq)]
pub enum LogqlValue {
    Streams(Vec<StreamResult>),
    Matrix(Vec<SeriesResult>),
    /// One point per series, at the query time, in result order.
    Vector(Vec<SeriesResult>),
    Scalar(i64, f64),
}

/// Runs queries against one source.
pub struct Evaluator<'a> {
    source: &'a dyn LogQuerier,
    limits: QueryLimits,
    deadline: std::time::Instant,
    pub stats: QueryStats,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Values per step, aligned with the query's steps.
type Row = Vec<Option<f64>>;

enum Val {
    Scalar(f64),
    Vector(Vec<(Labels, Row)>),
}

impl<'a> Evaluator<'a> {
    pub fn new(source: &'a dyn LogQuerier, limits: QueryLimits) -> Self {
        Self {
            source,
            deadline: std::time::Instant::now() + limits.timeout,
            limits,
            stats: QueryStats::default(),
        }
    }

    /// A range query: log queries return streams of entries in
    /// `[start_ns, end_ns)`, metric queries a matrix evaluated at `start_ns`,
    /// `start_ns + step_ns`, … ≤ `end_ns`.
    pub fn range(
        &mut self,
        query: &Query,
        start_ns: i64,
        end_ns: i64,
        step_ns: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<LogqlValue, LogqlError> {
        match query {
            Query::Log(l) => Ok(LogqlValue::Streams(
                self.logs(l, start_ns, end_ns, limit, direction)?,
            )),
            Query::Metric(m) => {
                if step_ns <= 0 {
                    return Err(LogqlError::BadQuery(
                        "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
                    ));
                }
                let n = (end_ns.saturating_sub(start_ns) / step_ns) as usize + 1;
                if n > self.limits.max_steps {
                    return Err(LogqlError::BadQuery(
                        "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
                    ));
                }
                let steps: Vec<i64> = (0..n as i64).map(|i| start_ns + i * step_ns).collect();
                match self.metric(m, &steps)? {
                    Val::Scalar(v) => Ok(LogqlValue::Matrix(vec![SeriesResult {
                        labels: Labels::default(),
                        points: steps.iter().map(|&t| (t, v)).collect(),
                    }])),
                    Val::Vector(rows) => Ok(LogqlValue::Matrix(to_series(rows, &steps))),
                }
            }
        }
    }

    /// An instant query at `ts_ns`: metric queries only, as in Loki.
    pub fn instant(&mut self, query: &Query, ts_ns: i64) -> Result<LogqlValue, LogqlError> {
        let Query::Metric(m) = query else {
            return Err(LogqlError::BadQuery(
                "log queries are not supported as an instant query type, please change your query to a range query type".into(),
            ));
        };
        let steps = [ts_ns];
        Ok(match self.metric(m, &steps)? {
            Val::Scalar(v) => LogqlValue::Scalar(ts_ns, v),
            Val::Vector(rows) => {
                let mut out = to_series(rows, &steps);
                match top_sort(m) {
                    Some(true) => out.sort_by(|a, b| b.points[0].1.total_cmp(&a.points[0].1)),
                    Some(false) => out.sort_by(|a, b| a.points[0].1.total_cmp(&b.points[0].1)),
                    None => {}
                }
                LogqlValue::Vector(out)
            }
        })
    }

    /// Log lines of `expr` in `[start_ns, end_ns)`, at most `limit`.
    pub fn logs(
        &mut self,
        expr: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        limit: usize,
        direction: Direction,
    ) -> Result<Vec<StreamResult>, LogqlError> {
        if limit > self.limits.max_entries {
            return Err(LogqlError::Limit(format!(
                "max entries limit per query exceeded, limit > max_entries_limit_per_query ({limit} > {})",
                self.limits.max_entries
            )));
        }
        let mut out: BTreeMap<Labels, Vec<(i64, String)>> = BTreeMap::new();
        let mut count = 0usize;
        if limit == 0 {
            return Ok(Vec::new());
        }
        self.each_entry(expr, start_ns, end_ns, direction, &mut |e| {
            out.entry(e.labels()).or_default().push((e.ts_ns, e.line));
            count += 1;
            if count >= limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        self.stats.entries_returned += count as u64;
        Ok(out
            .into_iter()
            .map(|(labels, entries)| StreamResult { labels, entries })
            .collect())
    }

    /// Runs the pipeline over every entry of `expr` in `[start_ns, end_ns)`.
    fn each_entry(
        &mut self,
        expr: &LogExpr,
        start_ns: i64,
        end_ns: i64,
        direction: Direction,
        sink: &mut dyn FnMut(Entry) -> ControlFlow<()>,
    ) -> Result<(), LogqlError> {
        let streams = self
            .source
            .streams(&expr.matchers, start_ns, end_ns.saturating_sub(1))?;
        if streams.is_empty() {
            return Ok(());
        }
        let by_id: HashMap<StreamId, (Labels, BTreeSet<String>)> = streams
            .iter()
            .map(|s| {
                let names = s.labels.iter().map(|l| l.name.clone()).collect();
                (s.id, (s.labels.clone(), names))
            })
            .collect();
        let request = ScanRequest {
            streams: streams.iter().map(|s| s.id).collect(),
            start_ns,
            end_ns,
            direction,
            contains: expr.required_substrings(),
        };
        let stats = &mut self.stats;
        let deadline = self.deadline;
        let mut timed_out = false;
        self.source.scan(&request, &mut |se| {
            let Some((labels, names)) = by_id.get(&se.stream) else {
                return ControlFlow::Continue(());
            };
            if stats.lines_processed % 1024 == 1023 && std::time::Instant::now() > deadline {
                timed_out = true;
                return ControlFlow::Break(());
            }
            stats.lines_processed += 1;
            stats.bytes_processed += se.line.len() as u64;
            let mut e = Entry::new(se.ts_ns, se.line, labels, se.metadata);
            if pipeline::run(&expr.stages, names, &mut e) {
                sink(e)
            } else {
                ControlFlow::Continue(())
            }
        })?;
        if timed_out {
            return Err(LogqlError::Timeout(format!(
                "query timed out after {:?}",
                self.limits.timeout
            )));
        }
        Ok(())
    }

    fn metric(&mut self, expr: &MetricExpr, steps: &[i64]) -> Result<Val, LogqlError> {
        Ok(match expr {
            MetricExpr::Number(n) => Val::Scalar(*n),
            MetricExpr::Vector(n) => {
                Val::Vector(vec![(Labels::default(), vec![Some(*n); steps.len()])])
            }
            MetricExpr::Range(r) => Val::Vector(self.range_fn(r, steps)?),
            MetricExpr::Aggregate {
                op,
                param,
                grouping,
                expr,
            } => match self.metric(expr, steps)? {
                Val::Scalar(_) => {
                    return Err(LogqlError::BadQuery(format!(
                        "aggregation {op:?} expects a vector, got a scalar"
                    )))
                }
                Val::Vector(rows) => {
                    Val::Vector(aggregate(*op, *param, grouping.as_ref(), rows, steps.len()))
                }
            },
            MetricExpr::Binary {
                op,
                return_bool,
                matching,
                lhs,
                rhs,
            } => {
                let l = self.metric(lhs, steps)?;
                let r = self.metric(rhs, steps)?;
                binary(*op, *return_bool, matching.as_ref(), l, r, steps.len())?
            }
        })
    }

    fn range_fn(&mut self, r: &RangeExpr, steps: &[i64]) -> Result<Vec<(Labels, Row)>, LogqlError> {
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
        let mut series: Vec<(Labels, Vec<(i64, f64)>)> = Vec::new();
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
            series[i].1.push((e.ts_ns, value));
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
                        .any(|(_, pts)| pts.iter().any(|&(ts, _)| ts > lo && ts <= hi));
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
                    pts.sort_by_key(|p| p.0);
                }
                let row = steps
                    .iter()
                    .map(|&t| {
                        let (lo, hi) = (t - offset - range, t - offset);
                        let a = pts.partition_point(|p| p.0 <= lo);
                        let b = pts.partition_point(|p| p.0 <= hi);
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

fn top_sort(m: &MetricExpr) -> Option<bool> {
    match m {
        MetricExpr::Aggregate {
            op: AggOp::SortDesc | AggOp::Topk,
            ..
        } => Some(true),
        MetricExpr::Aggregate {
            op: AggOp::Sort | AggOp::Bottomk,
            ..
        } => Some(false),
        _ => None,
    }
}

fn to_series(rows: Vec<(Labels, Row)>, steps: &[i64]) -> Vec<SeriesResult> {
    rows.into_iter()
        .map(|(labels, row)| SeriesResult {
            labels,
            points: steps
                .iter()
                .zip(row)
                .filter_map(|(&t, v)| Some((t, v?)))
                .collect(),
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

fn over_time(func: RangeFn, param: Option<f64>, w: &[(i64, f64)], secs: f64) -> f64 {
    let vals = w.iter().map(|p| p.1);
    let n = w.len() as f64;
    let sum: f64 = vals.clone().sum();
    let mean = sum / n;
    let var = vals.clone().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    match func {
        RangeFn::CountOverTime | RangeFn::AbsentOverTime => n,
        RangeFn::Rate => sum / secs,
        RangeFn::BytesOverTime | RangeFn::SumOverTime => sum,
        RangeFn::BytesRate => sum / secs,
        RangeFn::AvgOverTime => mean,
        RangeFn::MinOverTime => vals.fold(f64::INFINITY, f64::min),
        RangeFn::MaxOverTime => vals.fold(f64::NEG_INFINITY, f64::max),
        RangeFn::FirstOverTime => w[0].1,
        RangeFn::LastOverTime => w[w.len() - 1].1,
        RangeFn::StddevOverTime => var.sqrt(),
        RangeFn::StdvarOverTime => var,
        RangeFn::QuantileOverTime => {
            let mut v: Vec<f64> = vals.collect();
            v.sort_by(f64::total_cmp);
            quantile(param.unwrap_or(0.5), &v)
        }
        RangeFn::RateCounter => {
            let mut inc = 0.0;
            for p in w.windows(2) {
                inc += if p[1].1 >= p[0].1 {
                    p[1].1 - p[0].1
                } else {
                    p[1].1
                };
            }
            inc / secs
        }
    }
}

/// Prometheus's quantile: linear interpolation between closest ranks.
fn quantile(q: f64, sorted: &[f64]) -> f64 {
    if sorted.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = (lo + 1).min(sorted.len() - 1);
    let w = rank - lo as f64;
    sorted[lo] * (1.0 - w) + sorted[hi] * w
}

fn group_labels(labels: &Labels, g: &Grouping) -> Labels {
    Labels::from_sorted(
        labels
            .iter()
            .filter(|l| g.labels.contains(&l.name) != g.without)
            .cloned()
            .collect(),
    )
}

fn aggregate(
    op: AggOp,
    param: Option<f64>,
    grouping: Option<&Grouping>,
    rows: Vec<(Labels, Row)>,
    n_steps: usize,
) -> Vec<(Labels, Row)> {
    if matches!(op, AggOp::Sort | AggOp::SortDesc) {
        return rows;
    }
    let no_grouping = Grouping {
        without: false,
        labels: Vec::new(),
    };
    let g = grouping.unwrap_or(&no_grouping);
    let mut groups: BTreeMap<Labels, Vec<usize>> = BTreeMap::new();
    for (i, (labels, _)) in rows.iter().enumerate() {
        groups.entry(group_labels(labels, g)).or_default().push(i);
    }
    if matches!(op, AggOp::Topk | AggOp::Bottomk) {
        let k = param.unwrap_or(1.0) as usize;
        let mut keep: Vec<Row> = vec![vec![None; n_steps]; rows.len()];
        let mut chosen = Vec::new();
        for members in groups.values() {
            for step in 0..n_steps {
                let mut vals: Vec<(usize, f64)> = members
                    .iter()
                    .filter_map(|&i| Some((i, rows[i].1[step]?)))
                    .collect();
                vals.sort_by(|a, b| {
                    let o = a.1.total_cmp(&b.1);
                    if op == AggOp::Topk {
                        o.reverse()
                    } else {
                        o
                    }
                });
                chosen.extend(vals.iter().take(k).map(|&(i, v)| (i, step, v)));
            }
        }
        for (i, step, v) in chosen {
            keep[i][step] = Some(v);
        }
        return rows
            .into_iter()
            .zip(keep)
            .map(|((labels, _), row)| (labels, row))
            .filter(|(_, row)| row.iter().any(Option::is_some))
            .collect();
    }
    groups
        .into_iter()
        .map(|(labels, members)| {
            let row = (0..n_steps)
                .map(|step| {
                    let vals: Vec<f64> = members.iter().filter_map(|&i| rows[i].1[step]).collect();
                    if vals.is_empty() {
                        return None;
                    }
                    let n = vals.len() as f64;
                    let sum: f64 = vals.iter().sum();
                    let mean = sum / n;
                    let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
                    Some(match op {
                        AggOp::Sum => sum,
                        AggOp::Avg => mean,
                        AggOp::Min => vals.iter().copied().fold(f64::INFINITY, f64::min),
                        AggOp::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                        AggOp::Count => n,
                        AggOp::Stddev => var.sqrt(),
                        AggOp::Stdvar => var,
                        AggOp::Topk | AggOp::Bottomk | AggOp::Sort | AggOp::SortDesc => sum,
                    })
                })
                .collect();
            (labels, row)
        })
        .filter(|(_, row): &(Labels, Row)| row.iter().any(Option::is_some))
        .collect()
}

fn arith(op: BinOp, a: f64, b: f64) -> f64 {
    match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Mod => a % b,
        BinOp::Pow => a.powf(b),
        BinOp::Eq => f64::from(u8::from(a == b)),
        BinOp::Ne => f64::from(u8::from(a != b)),
        BinOp::Gt => f64::from(u8::from(a > b)),
        BinOp::Ge => f64::from(u8::from(a >= b)),
        BinOp::Lt => f64::from(u8::from(a < b)),
        BinOp::Le => f64::from(u8::from(a <= b)),
        BinOp::And | BinOp::Or | BinOp::Unless => a,
    }
}

/// One point of `lhs op rhs` where `keep` is the vector side's value (kept
/// by a comparison that holds).
fn combine(op: BinOp, return_bool: bool, a: f64, b: f64, keep: f64) -> Option<f64> {
    let v = arith(op, a, b);
    if op.is_comparison() && !return_bool {
        return (v == 1.0).then_some(keep);
    }
    Some(v)
}

fn binary(
    op: BinOp,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    l: Val,
    r: Val,
    n_steps: usize,
) -> Result<Val, LogqlError> {
    if op.is_set() && !(matches!(l, Val::Vector(_)) && matches!(r, Val::Vector(_))) {
        return Err(LogqlError::BadQuery(format!(
            "unexpected scalar in {op:?}: set operators work on vectors only"
        )));
    }
    if op.is_comparison() && !return_bool && matches!((&l, &r), (Val::Scalar(_), Val::Scalar(_))) {
        return Err(LogqlError::BadQuery(
            "comparisons between scalars must use BOOL modifier".into(),
        ));
    }
    Ok(match (l, r) {
        (Val::Scalar(a), Val::Scalar(b)) => Val::Scalar(arith(op, a, b)),
        (Val::Vector(rows), Val::Scalar(b)) => Val::Vector(
            rows.into_iter()
                .map(|(labels, row)| {
                    let row = row
                        .into_iter()
                        .map(|v| v.and_then(|a| combine(op, return_bool, a, b, a)))
                        .collect();
                    (labels, row)
                })
                .collect(),
        ),
        (Val::Scalar(a), Val::Vector(rows)) => Val::Vector(
            rows.into_iter()
                .map(|(labels, row)| {
                    let row = row
                        .into_iter()
                        .map(|v| v.and_then(|b| combine(op, return_bool, a, b, b)))
                        .collect();
                    (labels, row)
                })
                .collect(),
        ),
        (Val::Vector(lhs), Val::Vector(rhs)) => Val::Vector(vector_binary(
            op,
            return_bool,
            matching,
            &lhs,
            &rhs,
            n_steps,
        )?),
    })
}

/// The labels two series are paired by.
fn signature(labels: &Labels, matching: Option<&VectorMatching>) -> Labels {
    match matching {
        None => labels.clone(),
        Some(m) => Labels::from_sorted(
            labels
                .iter()
                .filter(|l| m.labels.contains(&l.name) == m.on)
                .cloned()
                .collect(),
        ),
    }
}

/// The labels of a result from the "many" (or, one to one, the left)
/// side's labels and the "one" side's, as Loki builds them.
fn result_labels(many: &Labels, one: &Labels, matching: Option<&VectorMatching>) -> Labels {
    let Some(m) = matching else {
        return many.clone();
    };
    let mut out: Vec<sightline_model::Label> = many
        .iter()
        .filter(|l| m.card != Cardinality::OneToOne || m.labels.contains(&l.name) == m.on)
        .filter(|l| !m.include.contains(&l.name))
        .cloned()
        .collect();
    for name in &m.include {
        match one.get(name) {
            Some(v) if !v.is_empty() => out.push(sightline_model::Label {
                name: name.clone(),
                value: v.to_string(),
            }),
            _ => {}
        }
    }
    out.sort();
    Labels::from_sorted(out)
}

/// Vector-to-vector operators with Prometheus's matching rules, step by
/// step: set operators pair by signature only; the others need one series
/// per signature on the "one" side and, one to one, on both.
fn vector_binary(
    op: BinOp,
    return_bool: bool,
    matching: Option<&VectorMatching>,
    lhs: &[(Labels, Row)],
    rhs: &[(Labels, Row)],
    n_steps: usize,
) -> Result<Vec<(Labels, Row)>, LogqlError> {
    let lsigs: Vec<Labels> = lhs.iter().map(|(l, _)| signature(l, matching)).collect();
    let rsigs: Vec<Labels> = rhs.iter().map(|(l, _)| signature(l, matching)).collect();
    let card = matching.map_or(Cardinality::OneToOne, |m| m.card);
    // Result labels per (many, one) pair, built once across steps.
    let mut pair_labels: HashMap<(usize, usize), Labels> = HashMap::new();
    // Results keep the order of first appearance across steps.
    let mut out: Vec<(Labels, Row)> = Vec::new();
    let mut slot: HashMap<Labels, usize> = HashMap::new();
    let mut put = |labels: Labels, step: usize, v: f64| {
        let i = *slot.entry(labels.clone()).or_insert_with(|| {
            out.push((labels, vec![None; n_steps]));
            out.len() - 1
        });
        out[i].1[step] = Some(v);
    };
    for step in 0..n_steps {
        let present = |rows: &[(Labels, Row)], i: usize| rows[i].1[step];
        match op {
            BinOp::And | BinOp::Unless => {
                let right: std::collections::HashSet<&Labels> = (0..rhs.len())
                    .filter(|&i| present(rhs, i).is_some())
                    .map(|i| &rsigs[i])
                    .collect();
                for (i, (labels, row)) in lhs.iter().enumerate() {
                    if let Some(v) = row[step] {
                        if right.contains(&lsigs[i]) == (op == BinOp::And) {
                            put(labels.clone(), step, v);
                        }
                    }
                }
            }
            BinOp::Or => {
                let mut left = std::collections::HashSet::new();
                for (i, (labels, row)) in lhs.iter().enumerate() {
                    if let Some(v) = row[step] {
                        left.insert(&lsigs[i]);
                        put(labels.clone(), step, v);
                    }
                }
                for (i, (labels, row)) in rhs.iter().enumerate() {
                    if let Some(v) = row[step] {
                        if !left.contains(&rsigs[i]) {
                            put(labels.clone(), step, v);
                        }
                    }
                }
            }
            _ => {
                // The "one" side is indexed; the "many" side looks it up.
                let (many, many_sigs, one, one_sigs) = if card == Cardinality::OneToMany {
                    (rhs, &rsigs, lhs, &lsigs)
                } else {
                    (lhs, &lsigs, rhs, &rsigs)
                };
                let mut index: HashMap<&Labels, usize> = HashMap::new();
                for (i, sig) in one_sigs.iter().enumerate() {
                    if present(one, i).is_none() {
                        continue;
                    }
                    if index.insert(sig, i).is_some() {
                        let side = if card == Cardinality::OneToMany {
                            "left"
                        } else {
                            "right"
                        };
                        return Err(LogqlError::BadQuery(format!(
                            "found duplicate series on the {side} hand-side;many-to-many matching not allowed: matching labels must be unique on one side"
                        )));
                    }
                }
                let mut matched: HashMap<&Labels, std::collections::HashSet<Labels>> =
                    HashMap::new();
                for i in 0..many.len() {
                    let Some(mv) = present(many, i) else {
                        continue;
                    };
                    let Some(&j) = index.get(&many_sigs[i]) else {
                        continue;
                    };
                    let Some(ov) = present(one, j) else {
                        continue;
                    };
                    let labels = pair_labels
                        .entry((i, j))
                        .or_insert_with(|| result_labels(&many[i].0, &one[j].0, matching))
                        .clone();
                    let seen = matched.entry(&many_sigs[i]).or_default();
                    if card == Cardinality::OneToOne {
                        if !seen.is_empty() {
                            return Err(LogqlError::BadQuery(
                                "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)".into(),
                            ));
                        }
                    } else if seen.contains(&labels) {
                        return Err(LogqlError::BadQuery(
                            "multiple matches for labels: grouping labels must ensure unique matches".into(),
                        ));
                    }
                    seen.insert(labels.clone());
                    let (a, b) = if card == Cardinality::OneToMany {
                        (ov, mv)
                    } else {
                        (mv, ov)
                    };
                    if let Some(v) = combine(op, return_bool, a, b, a) {
                        put(labels, step, v);
                    }
                }
            }
        }
    }
    out.retain(|(_, row)| row.iter().any(Option::is_some));
    Ok(out)
}

/// Runs a log query's selector and pipeline over one entry, as live tailing
/// does: the labels and line it would be returned with, or `None` if the
/// query does not select it.
pub fn process_entry(
    expr: &LogExpr,
    stream: &Labels,
    ts_ns: i64,
    line: &str,
    metadata: &[(String, String)],
) -> Option<(Labels, String)> {
    if !expr
        .matchers
        .iter()
        .all(|m| m.matches(stream.get(&m.name).unwrap_or("")))
    {
        return None;
    }
    let names: BTreeSet<String> = stream.iter().map(|l| l.name.clone()).collect();
    let mut e = Entry::new(ts_ns, line, stream, metadata);
    pipeline::run(&expr.stages, &names, &mut e).then(|| (e.labels(), e.line))
}
