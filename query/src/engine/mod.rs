//! The PromQL evaluator.
//!
//! A query is evaluated in two passes. First every selector in the tree is
//! resolved once: the time window it can be asked about (from the query's
//! range, `offset`, `@`, ranges and enclosing subqueries) is computed and its
//! series are loaded from the [`Querier`] for that window, counting samples
//! against the limit. Then the tree is evaluated at each step; selectors
//! answer from the loaded points by binary search, so a range query reads
//! storage once, not once per step.
//!
//! Semantics are Prometheus 2.x's: an instant selector takes the newest
//! sample in `[t − lookback, t]` unless it is a staleness marker; a range
//! selector takes the samples in `[t − range, t]`, markers dropped;
//! subqueries step on absolute multiples of their step.
//!
//! Queries evaluated together at one time — the rules of a group's round —
//! can share the series they load and the label sets derived from them
//! through [`SharedSelections`] ([`Engine::instant_shared`]).

pub(crate) mod aggregate;
pub(crate) mod binary;
mod columns;
pub mod error;
pub mod functions;
mod selector;
pub mod shared;

use foldhash::HashMap;
use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sightline_model::{Label, Labels, METRIC_NAME};
use sightline_read::metrics::Querier;

use crate::ast::{At, Expr, Subquery, ValueType};
use crate::value::{InstantSample, Matrix, Point, RangeSeries, Value, Vector};
pub use error::{QueryError, Result};
use functions::{FnArg, FnContext};
use selector::Loaded;
pub use shared::SharedSelections;

/// Engine settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5m).
    pub lookback_delta: Duration,
    /// Most samples a query may hold in memory (Prometheus: 50M).
    pub max_samples: usize,
    /// Longest a query may run.
    pub timeout: Duration,
    /// Step of subqueries written without one (`x[1h:]`); Prometheus uses
    /// the global evaluation interval, 1m by default.
    pub default_subquery_step: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            lookback_delta: Duration::from_secs(300),
            max_samples: 50_000_000,
            timeout: Duration::from_secs(120),
            default_subquery_step: Duration::from_secs(60),
        }
    }
}

/// Evaluates parsed PromQL over a store.
#[derive(Debug, Clone, Default)]
pub struct Engine {
    options: EngineOptions,
}

impl Engine {
    pub fn new(options: EngineOptions) -> Self {
        Self { options }
    }

    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// Evaluates `expr` at `t` (ms). Vector samples carry `t`.
    pub fn instant(&self, querier: &dyn Querier, expr: &Expr, t: i64) -> Result<Value> {
        self.instant_with_stats(querier, expr, t).map(|(v, _)| v)
    }

    /// [`Engine::instant`], with how much work it took.
    pub fn instant_with_stats(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        t: i64,
    ) -> Result<(Value, QueryStats)> {
        self.instant_inner(querier, expr, t, None)
    }

    /// [`Engine::instant`] for one of several queries evaluated together
    /// (a rule group's round): selectors naming a metric are answered from
    /// `shared`, which loads each metric once for all of them, and keeps
    /// `expr` alive while it memoizes label sets by its nodes.
    pub fn instant_shared(
        &self,
        querier: &dyn Querier,
        expr: &Arc<Expr>,
        t: i64,
        shared: &SharedSelections,
    ) -> Result<Value> {
        shared.keep(expr);
        self.instant_inner(querier, expr, t, Some(shared))
            .map(|(v, _)| v)
    }

    fn instant_inner(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        t: i64,
        shared: Option<&SharedSelections>,
    ) -> Result<(Value, QueryStats)> {
        let started = Instant::now();
        let own_memo = LabelMemo::default();
        let lent = shared.map(|s| s.lend_memo());
        let memo = lent.as_deref().unwrap_or(&own_memo);
        let mut ev = Evaluator::new(querier, &self.options, memo, t, t, 0)?;
        ev.shared = shared;
        ev.load(expr)?;
        let loaded = Instant::now();
        let value = ev.eval(expr, t)?;
        let stats = QueryStats {
            samples: ev.samples,
            load: loaded - started,
            eval: loaded.elapsed(),
        };
        let value = match value {
            Value::Vector(mut v) => {
                for s in &mut v {
                    s.t = t;
                }
                Value::Vector(v)
            }
            other => other,
        };
        Ok((value, stats))
    }

    /// Evaluates `expr` at every `step` from `start` to `end` (ms, both
    /// inclusive). Scalars become one series with no labels.
    pub fn range(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<Matrix> {
        self.range_with_stats(querier, expr, start, end, step)
            .map(|(m, _)| m)
    }

    /// [`Engine::range`], with how much work it took.
    pub fn range_with_stats(
        &self,
        querier: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
    ) -> Result<(Matrix, QueryStats)> {
        let started = Instant::now();
        match expr.value_type() {
            ValueType::Scalar | ValueType::Vector => {}
            other => {
                return Err(QueryError::execution(format!(
                    "invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"
                )))
            }
        }
        if step <= 0 {
            return Err(QueryError::execution(
                "zero or negative query resolution step widths are not accepted",
            ));
        }
        let memo = LabelMemo::default();
        let mut ev = Evaluator::new(querier, &self.options, &memo, start, end, step)?;
        ev.load(expr)?;
        let loaded = Instant::now();
        let steps = columns::Steps {
            start,
            step,
            n: if end < start {
                0
            } else {
                ((end - start) / step + 1) as usize
            },
        };
        if let Some(cols) = ev.columns(expr, steps)? {
            // The whole expression in one pass per node.
            for _ in 0..steps.n {
                ev.count_output(1)?;
            }
            let mut out: Matrix = cols
                .into_iter()
                .filter_map(|c| {
                    let points: Vec<Point> = (0..steps.n)
                        .filter(|&i| c.present[i])
                        .map(|i| Point {
                            t: start + step * i as i64,
                            v: c.values[i],
                        })
                        .collect();
                    (!points.is_empty()).then(|| RangeSeries {
                        labels: c.labels,
                        points: points.into(),
                    })
                })
                .collect();
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            let stats = QueryStats {
                samples: ev.samples,
                load: loaded - started,
                eval: loaded.elapsed(),
            };
            return Ok((out, stats));
        }
        ev.precompute(expr, steps)?;
        // Keyed by label-set identity (stable across steps for most series),
        // merged by content at the end.
        let mut by_id: HashMap<usize, (Labels, Vec<Point>)> = HashMap::default();
        let scalar_labels = Labels::default();
        let mut t = start;
        while t <= end {
            ev.check_deadline()?;
            match ev.eval(expr, t)? {
                Value::Scalar { v, .. } => by_id
                    .entry(scalar_labels.storage_id())
                    .or_insert_with(|| (scalar_labels.clone(), Vec::new()))
                    .1
                    .push(Point { t, v }),
                Value::Vector(vector) => {
                    for s in vector {
                        by_id
                            .entry(s.labels.storage_id())
                            .or_insert_with(|| (s.labels, Vec::new()))
                            .1
                            .push(Point { t, v: s.v });
                    }
                }
                Value::Matrix(_) | Value::String { .. } => {
                    return Err(QueryError::execution(
                        "range query evaluated to a range vector or string",
                    ))
                }
            }
            ev.count_output(1)?;
            t += step;
        }
        let mut series: HashMap<Labels, Vec<Point>> = HashMap::default();
        for (labels, points) in by_id.into_values() {
            series.entry(labels).or_default().extend(points);
        }
        let mut out: Matrix = series
            .into_iter()
            .map(|(labels, mut points)| {
                points.sort_by_key(|p| p.t);
                RangeSeries {
                    labels,
                    points: points.into(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        let stats = QueryStats {
            samples: ev.samples,
            load: loaded - started,
            eval: loaded.elapsed(),
        };
        Ok((out, stats))
    }
}

/// What a query cost (Prometheus's `stats=all`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryStats {
    /// Samples loaded from storage and produced by subqueries and steps.
    pub samples: usize,
    /// Selecting and loading series.
    pub load: Duration,
    /// Evaluating over the loaded data.
    pub eval: Duration,
}

/// Both inputs (kept alive so their identities stay unique) and the result.
type PairEntry = (Labels, Labels, Labels);

/// Label sets derived during one query, memoized by the identity of the
/// input set: series keep their label set from step to step, so dropping
/// the metric name or computing an aggregation group happens once per
/// series instead of once per step, and the derived sets keep a stable
/// identity too.
#[derive(Debug, Default)]
pub struct LabelMemo {
    without_name: RefCell<HashMap<usize, (Labels, Labels)>>,
    groups: RefCell<HashMap<(usize, usize), (Labels, Labels)>>,
    pairs: RefCell<HashMap<(usize, usize, usize), PairEntry>>,
    interned: RefCell<foldhash::HashSet<Labels>>,
    /// Aggregation groupings numbered by content, so aggregations with the
    /// same `by`/`without` list share their groups (queries of a round).
    grouping_ids: RefCell<HashMap<(bool, Vec<String>), usize>>,
    /// Grouping node address ▶ its number in `grouping_ids`.
    grouping_sites: RefCell<HashMap<usize, usize>>,
    by_grouping: RefCell<HashMap<(usize, usize), (Labels, Labels)>>,
}

impl LabelMemo {
    /// `labels` without `__name__`, interned (see [`LabelMemo::intern`]).
    pub fn without_name(&self, labels: &Labels) -> Labels {
        let key = labels.storage_id();
        if let Some((_, out)) = self.without_name.borrow().get(&key) {
            return out.clone();
        }
        let out = self.intern(drop_metric_name(labels.clone()));
        // The input clone keeps its storage alive, so the key stays unique.
        self.without_name
            .borrow_mut()
            .insert(key, (labels.clone(), out.clone()));
        out
    }

    /// `derive(labels)` memoized per (`site`, label set).
    pub fn derived(
        &self,
        site: usize,
        labels: &Labels,
        derive: impl FnOnce(&Labels) -> Labels,
    ) -> Labels {
        let key = (site, labels.storage_id());
        if let Some((_, out)) = self.groups.borrow().get(&key) {
            return out.clone();
        }
        let out = self.intern(derive(labels));
        self.groups
            .borrow_mut()
            .insert(key, (labels.clone(), out.clone()));
        out
    }

    /// `derive(labels)` memoized per (content of `grouping`, label set):
    /// the group a series falls in under `grouping`.
    pub fn grouped(
        &self,
        grouping: &crate::ast::Grouping,
        labels: &Labels,
        derive: impl FnOnce(&Labels) -> Labels,
    ) -> Labels {
        let site = grouping as *const crate::ast::Grouping as usize;
        let known = self.grouping_sites.borrow().get(&site).copied();
        let id = match known {
            Some(id) => id,
            None => {
                let mut ids = self.grouping_ids.borrow_mut();
                let next = ids.len();
                let id = *ids
                    .entry((grouping.without, grouping.labels.clone()))
                    .or_insert(next);
                self.grouping_sites.borrow_mut().insert(site, id);
                id
            }
        };
        let key = (id, labels.storage_id());
        if let Some((_, out)) = self.by_grouping.borrow().get(&key) {
            return out.clone();
        }
        let out = self.intern(derive(labels));
        self.by_grouping
            .borrow_mut()
            .insert(key, (labels.clone(), out.clone()));
        out
    }

    /// `derive(a, b)` memoized per (`site`, both label sets).
    pub fn derived2(
        &self,
        site: usize,
        a: &Labels,
        b: &Labels,
        derive: impl FnOnce(&Labels, &Labels) -> Labels,
    ) -> Labels {
        let key = (site, a.storage_id(), b.storage_id());
        if let Some((_, _, out)) = self.pairs.borrow().get(&key) {
            return out.clone();
        }
        let out = self.intern(derive(a, b));
        self.pairs
            .borrow_mut()
            .insert(key, (a.clone(), b.clone(), out.clone()));
        out
    }

    /// The canonical copy of `labels`: equal sets interned here share one
    /// storage, so their [`Labels::storage_id`] is equal exactly when their
    /// content is.
    pub fn intern(&self, labels: Labels) -> Labels {
        if let Some(c) = self.interned.borrow().get(&labels) {
            return c.clone();
        }
        self.interned.borrow_mut().insert(labels.clone());
        labels
    }
}

/// State of one query's evaluation.
pub(crate) struct Evaluator<'a> {
    querier: &'a dyn Querier,
    options: &'a EngineOptions,
    /// Query start and end, for `@ start()` and `@ end()`.
    start: i64,
    end: i64,
    deadline: Instant,
    samples: usize,
    /// Loaded series per selector node (keyed by the node's address, stable
    /// for the query's lifetime).
    loaded: HashMap<usize, Loaded>,
    /// The query's own, or shared by the queries of a round (derived sets
    /// are keyed by the identity of inputs and AST nodes, both of which a
    /// round keeps alive).
    pub(crate) memo: &'a LabelMemo,
    /// Column results of subtrees in a range query; see [`columns`].
    precomputed: columns::Precomputed,
    /// Series shared with other queries of the same round, if any.
    shared: Option<&'a SharedSelections>,
}

impl<'a> Evaluator<'a> {
    fn new(
        querier: &'a dyn Querier,
        options: &'a EngineOptions,
        memo: &'a LabelMemo,
        start: i64,
        end: i64,
        _step: i64,
    ) -> Result<Self> {
        Ok(Self {
            querier,
            options,
            start,
            end,
            deadline: Instant::now() + options.timeout,
            samples: 0,
            loaded: HashMap::default(),
            memo,
            precomputed: columns::Precomputed::default(),
            shared: None,
        })
    }

    fn check_deadline(&self) -> Result<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout("expression evaluation"));
        }
        Ok(())
    }

    fn count_samples(&mut self, n: usize) -> Result<()> {
        self.samples += n;
        if self.samples > self.options.max_samples {
            return Err(QueryError::TooManySamples("query execution"));
        }
        Ok(())
    }

    fn count_output(&mut self, n: usize) -> Result<()> {
        self.count_samples(n)
    }

    fn lookback_ms(&self) -> i64 {
        self.options.lookback_delta.as_millis() as i64
    }

    /// The time an `@` modifier pins evaluation to.
    fn at_time(&self, at: At) -> i64 {
        match at {
            At::Timestamp(t) => t,
            At::Start => self.start,
            At::End => self.end,
        }
    }

    fn subquery_step(&self, sq: &Subquery) -> i64 {
        sq.step_ms
            .unwrap_or(self.options.default_subquery_step.as_millis() as i64)
            .max(1)
    }

    /// Loads every selector of `expr` for the whole query.
    fn load(&mut self, expr: &Expr) -> Result<()> {
        self.load_within(expr, self.start, self.end)
    }

    /// Loads selectors of `expr` evaluated at times within `[min, max]`.
    fn load_within(&mut self, expr: &Expr, min: i64, max: i64) -> Result<()> {
        match expr {
            Expr::Number(_) | Expr::String(_) => Ok(()),
            Expr::VectorSelector(vs) => {
                let (lo, hi) = self.shift(vs.at, vs.offset_ms, min, max);
                self.load_selector(vs, lo - self.lookback_ms(), hi)
            }
            Expr::MatrixSelector(ms) => {
                let vs = &ms.selector;
                let (lo, hi) = self.shift(vs.at, vs.offset_ms, min, max);
                self.load_selector(vs, lo - ms.range_ms, hi)
            }
            Expr::Subquery(sq) => {
                let (lo, hi) = self.shift(sq.at, sq.offset_ms, min, max);
                self.load_within(&sq.expr, lo - sq.range_ms, hi)
            }
            Expr::Paren(e) | Expr::Negate(e) => self.load_within(e, min, max),
            Expr::Binary(b) => {
                self.load_within(&b.lhs, min, max)?;
                self.load_within(&b.rhs, min, max)
            }
            Expr::Aggregate(a) => {
                if let Some(p) = &a.param {
                    self.load_within(p, min, max)?;
                }
                self.load_within(&a.expr, min, max)
            }
            Expr::Call(c) => c
                .args
                .iter()
                .try_for_each(|a| self.load_within(a, min, max)),
        }
    }

    /// Applies `@` and `offset` to an evaluation window.
    fn shift(&self, at: Option<At>, offset: i64, min: i64, max: i64) -> (i64, i64) {
        match at {
            Some(at) => {
                let t = self.at_time(at);
                (t - offset, t - offset)
            }
            None => (min - offset, max - offset),
        }
    }

    /// Evaluates `expr` at time `t`.
    fn eval(&mut self, expr: &Expr, t: i64) -> Result<Value> {
        if !self.precomputed.by_node.is_empty() {
            if let Some(v) = self.precomputed_at(expr, t) {
                return Ok(Value::Vector(v));
            }
        }
        match expr {
            Expr::Number(v) => Ok(Value::Scalar { t, v: *v }),
            Expr::String(s) => Ok(Value::String { t, v: s.clone() }),
            Expr::Paren(e) => self.eval(e, t),
            Expr::VectorSelector(vs) => Ok(Value::Vector(self.select_instant(vs, t))),
            Expr::MatrixSelector(ms) => {
                let (series, _, _) = self.select_range(ms, t);
                Ok(Value::Matrix(series))
            }
            Expr::Subquery(sq) => Ok(Value::Matrix(self.eval_subquery(sq, t)?.0)),
            Expr::Negate(e) => match self.eval(e, t)? {
                Value::Scalar { v, .. } => Ok(Value::Scalar { t, v: -v }),
                Value::Vector(vector) => {
                    let out: Vector = vector
                        .into_iter()
                        .map(|s| InstantSample {
                            labels: self.memo.without_name(&s.labels),
                            t,
                            v: -s.v,
                        })
                        .collect();
                    check_unique_labels(&out, true)?;
                    Ok(Value::Vector(out))
                }
                _ => Err(QueryError::execution(
                    "unary minus on a range vector or string",
                )),
            },
            Expr::Binary(b) => binary::eval(self, b, t),
            Expr::Aggregate(a) => aggregate::eval(self, a, t),
            Expr::Call(call) => {
                let mut args = Vec::with_capacity(call.args.len());
                for arg in &call.args {
                    args.push(self.eval_arg(arg, t)?);
                }
                let ctx = FnContext {
                    t,
                    arg_exprs: &call.args,
                    names: self.memo,
                };
                let value = functions::call(call.func, args, &ctx)?;
                if let Value::Vector(v) = &value {
                    check_unique_labels(v, !builds_new_labels(call.func.name))?;
                }
                Ok(value)
            }
        }
    }

    /// Evaluates a function argument; range vectors carry their window.
    fn eval_arg(&mut self, arg: &Expr, t: i64) -> Result<FnArg> {
        let arg = strip_parens(arg);
        Ok(match arg {
            Expr::MatrixSelector(ms) => {
                let (series, range_start_ms, range_end_ms) = self.select_range(ms, t);
                FnArg::Matrix {
                    series,
                    range_start_ms,
                    range_end_ms,
                }
            }
            Expr::Subquery(sq) => {
                let (series, range_start_ms, range_end_ms) = self.eval_subquery(sq, t)?;
                FnArg::Matrix {
                    series,
                    range_start_ms,
                    range_end_ms,
                }
            }
            other => match self.eval(other, t)? {
                Value::Scalar { v, .. } => FnArg::Scalar(v),
                Value::String { v, .. } => FnArg::String(v),
                Value::Vector(v) => FnArg::Vector(v),
                Value::Matrix(series) => FnArg::Matrix {
                    series,
                    range_start_ms: t,
                    range_end_ms: t,
                },
            },
        })
    }

    /// Evaluates a subquery at `t`: the inner expression at every multiple
    /// of the step in `[t − offset − range, t − offset]`.
    fn eval_subquery(&mut self, sq: &Subquery, t: i64) -> Result<(Matrix, i64, i64)> {
        let end = match sq.at {
            Some(at) => self.at_time(at),
            None => t,
        } - sq.offset_ms;
        let start = end - sq.range_ms;
        let step = self.subquery_step(sq);
        let mut ts = start.div_euclid(step) * step;
        if ts < start {
            ts += step;
        }
        let mut series: HashMap<Labels, Vec<Point>> = HashMap::default();
        let mut order: Vec<Labels> = Vec::new();
        while ts <= end {
            self.check_deadline()?;
            let points = match self.eval(&sq.expr, ts)? {
                Value::Vector(v) => v,
                Value::Scalar { v, .. } => vec![InstantSample {
                    labels: Labels::default(),
                    t: ts,
                    v,
                }],
                _ => {
                    return Err(QueryError::execution(
                        "subquery over a range vector or string",
                    ))
                }
            };
            self.count_samples(points.len())?;
            for s in points {
                let entry = series.entry(s.labels.clone()).or_insert_with(|| {
                    order.push(s.labels);
                    Vec::new()
                });
                entry.push(Point { t: ts, v: s.v });
            }
            ts += step;
        }
        let matrix = order
            .into_iter()
            .filter_map(|labels| {
                let points = series.remove(&labels)?;
                Some(RangeSeries {
                    labels,
                    points: points.into(),
                })
            })
            .collect();
        Ok((matrix, start, end))
    }
}

pub(crate) fn strip_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(inner) = e {
        e = inner;
    }
    e
}

/// Labels without `__name__`.
pub(crate) fn drop_metric_name(labels: Labels) -> Labels {
    if labels.get(METRIC_NAME).is_none() {
        return labels;
    }
    let rest: Vec<Label> = labels
        .into_vec()
        .into_iter()
        .filter(|l| l.name != METRIC_NAME)
        .collect();
    Labels::from_sorted(rest)
}

/// Prometheus refuses vectors where two samples share a label set (e.g.
/// after a function dropped the metric name).
///
/// Every vector the engine produces is either made of label sets that are
/// unique by construction (selector results, inputs passed through) or of
/// sets interned by the [`LabelMemo`], where equal content means equal
/// storage; for those, comparing identities is exact and avoids hashing
/// every label at every step. Vectors whose labels are built afresh (e.g.
/// by `label_replace`) are checked by content.
pub(crate) fn check_unique_labels(v: &Vector, by_identity: bool) -> Result<()> {
    if v.len() < 2 {
        return Ok(());
    }
    let duplicate = if by_identity {
        let mut seen = foldhash::HashSet::with_capacity_and_hasher(v.len(), Default::default());
        !v.iter().all(|s| seen.insert(s.labels.storage_id()))
    } else {
        let mut seen = foldhash::HashSet::with_capacity_and_hasher(v.len(), Default::default());
        !v.iter().all(|s| seen.insert(&s.labels))
    };
    if duplicate {
        return Err(QueryError::execution(
            "vector cannot contain metrics with the same labelset",
        ));
    }
    Ok(())
}

/// Functions whose output label sets are built afresh rather than passed
/// through or derived through the [`LabelMemo`].
fn builds_new_labels(name: &str) -> bool {
    matches!(
        name,
        "label_replace"
            | "label_join"
            | "histogram_quantile"
            | "absent"
            | "absent_over_time"
            | "vector"
    )
}

#[cfg(test)]
mod tests;
