//! Evaluating parsed LogQL over a [`LogQuerier`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::ControlFlow;

use sightline_model::Labels;

use super::ast::{LogExpr, Query};
use super::metric::StepValue;
use super::pipeline::{self, Entry};
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
    pub(super) limits: QueryLimits,
    pub(super) deadline: std::time::Instant,
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
pub(super) type Row = Vec<Option<f64>>;

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
                let mut series: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
                for (value, &t) in self.metric(m, &steps)?.into_iter().zip(&steps) {
                    match value {
                        StepValue::Scalar(v) => {
                            series.entry(Labels::default()).or_default().push((t, v))
                        }
                        StepValue::Vector(v) => {
                            for s in v {
                                series.entry(s.labels).or_default().push((t, s.v));
                            }
                        }
                    }
                }
                // Loki's matrices are sorted by labels.
                Ok(LogqlValue::Matrix(
                    series
                        .into_iter()
                        .map(|(labels, points)| SeriesResult { labels, points })
                        .collect(),
                ))
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
        let mut values = self.metric(m, &[ts_ns])?;
        Ok(match values.pop() {
            Some(StepValue::Scalar(v)) => LogqlValue::Scalar(ts_ns, v),
            Some(StepValue::Vector(v)) => {
                let mut out: Vec<SeriesResult> = v
                    .into_iter()
                    .map(|s| SeriesResult {
                        labels: s.labels,
                        points: vec![(ts_ns, s.v)],
                    })
                    .collect();
                // As Loki: by labels, unless the query sorts by value.
                if !m.sorts_by_value() {
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                }
                LogqlValue::Vector(out)
            }
            None => LogqlValue::Vector(Vec::new()),
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
    pub(super) fn each_entry(
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
