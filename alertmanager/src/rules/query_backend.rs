//! The rule backend over Sightline's query engines: PromQL rules through
//! the PromQL engine over any metrics [`Querier`], LogQL rules (groups with
//! `query_language: logql`) through the LogQL evaluator over any
//! [`LogQuerier`], and rule results written through a [`SeriesSink`].
//!
//! Expressions are parsed once into owned values (`Arc<Expr>`), cached by
//! their text, and shared with the rounds that evaluate them; a round keeps
//! every expression it evaluated alive while it memoizes by their nodes
//! (`SharedSelections`), so the cache may drop them at any time.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use sightline_model::{LabelLimits, Labels, Sample, METRIC_NAME};
use sightline_query::ast::Expr;
use sightline_query::engine::SharedSelections;
use sightline_query::logql::{self, Evaluator, LogqlValue, QueryLimits};
use sightline_query::value::Value;
use sightline_query::Engine;
use sightline_read::logs::LogQuerier;
use sightline_read::metrics::{Querier, TimeRange};

use crate::{Error, EvalRound, QueryResult, Result, RuleBackend, RuleSample};

/// Where rule results go: recorded series and `ALERTS`/`ALERTS_FOR_STATE`.
/// Implemented by the server over its metrics store; an append returns
/// once the samples are durable there.
pub trait SeriesSink: Send + Sync {
    /// Appends validated series; a failure keeps the store's own error.
    fn append(
        &self,
        batch: &[(Labels, Vec<Sample>)],
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// The log store and the limits log rules run under.
#[derive(Clone)]
pub struct LogRules {
    pub store: Arc<dyn LogQuerier>,
    pub limits: QueryLimits,
}

impl std::fmt::Debug for LogRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogRules")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl LogRules {
    /// Evaluates a LogQL metric expression at `t_ms`.
    fn instant(&self, expr: &str, t_ms: i64) -> Result<QueryResult> {
        let query = logql::parse(expr).map_err(logql::LogqlError::from)?;
        let mut ev = Evaluator::new(self.store.as_ref(), self.limits);
        let value = ev.instant(&query, t_ms.saturating_mul(1_000_000))?;
        match value {
            LogqlValue::Vector(series) | LogqlValue::Matrix(series) => Ok(series
                .into_iter()
                .filter_map(|s| {
                    s.points.last().map(|&(_, v)| RuleSample {
                        labels: s.labels,
                        value: v,
                    })
                })
                .collect()),
            LogqlValue::Scalar(_, v) => Ok(vec![RuleSample {
                labels: Labels::default(),
                value: v,
            }]),
            LogqlValue::Streams(_) => Err(Error::Unusable(
                "a log rule needs a LogQL metric query".into(),
            )),
        }
    }
}

/// Parses a LogQL expression, which must be a metric query; returns it
/// trimmed.
fn check_logql(expr: &str) -> Result<String> {
    match logql::parse(expr).map_err(logql::LogqlError::from)? {
        logql::ast::Query::Metric(_) => Ok(expr.trim().to_string()),
        logql::ast::Query::Log(_) => Err(Error::Unusable(
            "a log rule needs a LogQL metric query, not a log query".into(),
        )),
    }
}

/// Parsed rule expressions kept past this many are dropped all at once
/// (only reloads with ever-new expressions get there).
const MAX_PARSED_EXPRESSIONS: usize = 100_000;

/// Rules' access to the query engines and the stores.
pub struct QueryBackend {
    metrics: Arc<dyn Querier>,
    sink: Arc<dyn SeriesSink>,
    engine: Engine,
    logs: Option<LogRules>,
    /// Rule expressions parsed once, not every round.
    parsed: Mutex<HashMap<String, Arc<ParsedExpr>>>,
}

impl std::fmt::Debug for QueryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryBackend").finish_non_exhaustive()
    }
}

impl QueryBackend {
    pub fn new(
        metrics: Arc<dyn Querier>,
        sink: Arc<dyn SeriesSink>,
        engine: Engine,
        logs: Option<LogRules>,
    ) -> Self {
        Self {
            metrics,
            sink,
            engine,
            logs,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// `expr` parsed, from the cache when it was parsed before.
    fn parsed(&self, expr: &str) -> Result<Arc<ParsedExpr>> {
        let lock = || self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = lock().get(expr) {
            return Ok(Arc::clone(p));
        }
        let parsed = sightline_query::parse(expr).map_err(sightline_query::QueryError::from)?;
        let parsed = Arc::new(ParsedExpr::new(parsed));
        let mut cache = lock();
        if cache.len() >= MAX_PARSED_EXPRESSIONS {
            cache.clear();
        }
        cache.insert(expr.to_string(), Arc::clone(&parsed));
        Ok(parsed)
    }

    /// A query's value as rules see it.
    fn rule_result(value: Value) -> Result<QueryResult> {
        match value {
            Value::Vector(v) => Ok(v
                .into_iter()
                .map(|s| RuleSample {
                    labels: s.labels,
                    value: s.v,
                })
                .collect()),
            Value::Scalar { v, .. } => Ok(vec![RuleSample {
                labels: Labels::default(),
                value: v,
            }]),
            Value::String { .. } | Value::Matrix(_) => Err(Error::Unusable(
                "rule result is not a vector or scalar".into(),
            )),
        }
    }
}

/// A parsed rule expression and the metrics it reads.
#[derive(Debug)]
struct ParsedExpr {
    /// Shared with the rounds that evaluate it (they keep it alive while
    /// they memoize by its nodes).
    expr: Arc<Expr>,
    /// Metric names of its selectors; `None` when a selector names none
    /// (it could read any metric).
    reads: Option<Vec<String>>,
}

impl ParsedExpr {
    fn new(expr: Expr) -> Self {
        let mut reads = Some(Vec::new());
        metrics_read(&expr, &mut reads);
        Self {
            expr: Arc::new(expr),
            reads,
        }
    }

    /// Whether evaluating it may read a series named in `names`.
    fn may_read(&self, names: &HashSet<String>) -> bool {
        match &self.reads {
            None => true,
            Some(reads) => reads.iter().any(|r| names.contains(r)),
        }
    }
}

fn metrics_read(expr: &Expr, out: &mut Option<Vec<String>>) {
    let selector = |matchers: &[sightline_model::Matcher], out: &mut Option<Vec<String>>| match (
        sightline_query::engine::shared::metric_name(matchers),
        out.as_mut(),
    ) {
        (Some(name), Some(list)) => list.push(name.to_string()),
        (None, _) => *out = None,
        (Some(_), None) => {}
    };
    match expr {
        Expr::Number(_) | Expr::String(_) => {}
        Expr::VectorSelector(vs) => selector(&vs.matchers, out),
        Expr::MatrixSelector(ms) => selector(&ms.selector.matchers, out),
        Expr::Subquery(sq) => metrics_read(&sq.expr, out),
        Expr::Paren(e) | Expr::Negate(e) => metrics_read(e, out),
        Expr::Binary(b) => {
            metrics_read(&b.lhs, out);
            metrics_read(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                metrics_read(p, out);
            }
            metrics_read(&a.expr, out);
        }
        Expr::Call(c) => c.args.iter().for_each(|a| metrics_read(a, out)),
    }
}

/// One rule group's evaluation over the store, all at one timestamp: its
/// rules share parsed expressions and the series earlier rules loaded
/// ([`SharedSelections`]). What rules write (`ALERTS`, recorded series)
/// is held and written in one append — one WAL write and fsync per round
/// rather than per rule — except that it is written first whenever a later
/// query may read it, so rules still see what earlier ones wrote. Queries
/// may run on several threads at once.
struct SharedRound<'a> {
    backend: &'a QueryBackend,
    shared: SharedSelections,
    held: Mutex<HeldWrites>,
    /// Held shared by queries while they decide whether to flush and
    /// evaluate, exclusively by a flush: no query runs between a flush
    /// forgetting a metric and its write landing (it would load the metric
    /// without the write), and a query that needs a flush in progress
    /// waits for it.
    gate: RwLock<()>,
}

/// Validated series waiting to be appended, and their metric names.
#[derive(Default)]
struct HeldWrites {
    batch: Vec<(Labels, Vec<Sample>)>,
    names: HashSet<String>,
}

impl SharedRound<'_> {
    fn held(&self) -> std::sync::MutexGuard<'_, HeldWrites> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends what is held; the metrics written are read afresh later.
    fn flush(&self) -> Result<()> {
        let _exclusive = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let held = std::mem::take(&mut *self.held());
        if held.batch.is_empty() {
            return Ok(());
        }
        for name in &held.names {
            self.shared.forget(name);
        }
        self.backend.sink.append(&held.batch).map_err(Error::Write)
    }
}

impl EvalRound for SharedRound<'_> {
    fn instant(&self, expr: &str, t_ms: i64) -> Result<QueryResult> {
        let parsed = self.backend.parsed(expr)?;
        let shared = || self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut gate = shared();
        let must_flush = {
            let held = self.held();
            !held.batch.is_empty() && parsed.may_read(&held.names)
        };
        if must_flush {
            drop(gate);
            self.flush()?;
            gate = shared();
        }
        let value = self.backend.engine.instant_shared(
            self.backend.metrics.as_ref(),
            &parsed.expr,
            t_ms,
            &self.shared,
        )?;
        drop(gate);
        QueryBackend::rule_result(value)
    }

    fn reads(&self, expr: &str) -> Option<Vec<String>> {
        self.backend.parsed(expr).ok()?.reads.clone()
    }

    fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> Result<()> {
        let valid = validate(batch)?;
        let mut held = self.held();
        for (labels, _) in &valid {
            match labels.get(METRIC_NAME) {
                Some(name) if !held.names.contains(name) => {
                    held.names.insert(name.to_string());
                }
                _ => {}
            }
        }
        held.batch.extend(valid);
        Ok(())
    }
}

impl Drop for SharedRound<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "writing rule results failed");
        }
    }
}

/// Sorted, validated label sets (rules build them unchecked).
fn validate(batch: Vec<(Labels, Vec<Sample>)>) -> Result<Vec<(Labels, Vec<Sample>)>> {
    let limits = LabelLimits::default();
    batch
        .into_iter()
        .map(|(labels, samples)| {
            labels
                .validated(&limits)
                .map(|l| (l, samples))
                .map_err(Error::from)
        })
        .collect()
}

/// Parses only: what `rules check` needs, without a store.
#[derive(Debug, Default)]
pub struct ParseOnlyBackend;

fn check_expr(expr: &str) -> Result<String> {
    sightline_query::parse(expr)
        .map(|e| e.to_string())
        .map_err(|e| Error::Query(e.into()))
}

impl RuleBackend for ParseOnlyBackend {
    fn check(&self, expr: &str) -> Result<String> {
        check_expr(expr)
    }

    fn check_logql(&self, expr: &str) -> Result<String> {
        check_logql(expr)
    }

    fn instant(&self, _: &str, _: i64) -> Result<QueryResult> {
        Err(Error::Unavailable("no store to query"))
    }

    fn select(&self, _: &str, _: i64, _: i64) -> Result<Vec<(Labels, Vec<Sample>)>> {
        Err(Error::Unavailable("no store to query"))
    }

    fn append(&self, _: Vec<(Labels, Vec<Sample>)>) -> Result<()> {
        Err(Error::Unavailable("no store to write to"))
    }
}

impl RuleBackend for QueryBackend {
    fn check(&self, expr: &str) -> Result<String> {
        check_expr(expr)
    }

    fn check_logql(&self, expr: &str) -> Result<String> {
        check_logql(expr)
    }

    fn instant_logql(&self, expr: &str, t_ms: i64) -> Result<QueryResult> {
        match &self.logs {
            Some(l) => l.instant(expr, t_ms),
            None => Err(Error::Unavailable("no log store")),
        }
    }

    fn round(&self) -> Option<Box<dyn EvalRound + '_>> {
        Some(Box::new(SharedRound {
            backend: self,
            shared: SharedSelections::new(),
            held: Mutex::new(HeldWrites::default()),
            gate: RwLock::new(()),
        }))
    }

    fn instant(&self, expr: &str, t_ms: i64) -> Result<QueryResult> {
        let parsed = self.parsed(expr)?;
        let value = self
            .engine
            .instant(self.metrics.as_ref(), &parsed.expr, t_ms)?;
        Self::rule_result(value)
    }

    fn select(
        &self,
        selector: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>> {
        let matchers = sightline_query::parse_series_selector(selector)
            .map_err(sightline_query::QueryError::from)?;
        let set = self
            .metrics
            .select(&matchers, TimeRange::new(start_ms, end_ms))?;
        let mut out = Vec::new();
        for s in set {
            let s = s?;
            out.push((s.labels, s.samples.collect()));
        }
        Ok(out)
    }

    fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> Result<()> {
        let valid = validate(batch)?;
        self.sink.append(&valid).map_err(Error::Write)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use sightline_tsdb::Tsdb;

    use super::*;

    /// The metrics store as the server wires it.
    struct TsdbSink(Arc<Tsdb>);

    impl SeriesSink for TsdbSink {
        fn append(
            &self,
            batch: &[(Labels, Vec<Sample>)],
        ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync>> {
            self.0.append(batch).map(|_| ()).map_err(Into::into)
        }
    }

    const T: i64 = 1_700_000_000_000;

    /// A store holding `x{job, instance}` for two jobs of three instances,
    /// a sample every 15 s over the 20 minutes before `T`, and `y` on one.
    fn backend() -> (tempfile::TempDir, QueryBackend) {
        let dir = tempfile::tempdir().unwrap();
        let tsdb = Arc::new(Tsdb::open(dir.path(), Default::default()).unwrap());
        let mut batch = Vec::new();
        for job in ["a", "b"] {
            for instance in 0..3 {
                let labels = Labels::from_pairs([
                    ("__name__", "x".to_string()),
                    ("job", job.to_string()),
                    ("instance", instance.to_string()),
                ]);
                let samples = (0..80)
                    .map(|i| Sample::new(T - 20 * 60_000 + i * 15_000, (i * (instance + 1)) as f64))
                    .collect();
                batch.push((labels, samples));
            }
        }
        batch.push((
            Labels::from_pairs([("__name__", "y"), ("job", "a")]),
            vec![Sample::new(T - 1_000, 5.0)],
        ));
        let batch: Vec<_> = batch
            .into_iter()
            .map(|(l, s)| (l.validated(&LabelLimits::default()).unwrap(), s))
            .collect();
        tsdb.append(&batch).unwrap();
        let sink = Arc::new(TsdbSink(Arc::clone(&tsdb)));
        (dir, QueryBackend::new(tsdb, sink, Engine::default(), None))
    }

    fn sorted(mut r: QueryResult) -> Vec<(String, f64)> {
        r.sort_by(|a, b| a.labels.cmp(&b.labels));
        r.into_iter()
            .map(|s| (format!("{:?}", s.labels), s.value))
            .collect()
    }

    #[test]
    fn a_round_answers_as_separate_queries() {
        let (_dir, backend) = backend();
        let round = backend.round().unwrap();
        // Narrow windows first, then wider ones that reload the metric;
        // filters that select part of a loaded metric, or nothing.
        let queries = [
            "x{job=\"a\"}",
            "x",
            "rate(x{job=\"b\"}[5m])",
            "sum by (job) (rate(x[15m]))",
            "x{job=\"a\",instance=~\"1|2\"} > 10",
            "x{job!=\"a\"} / on (instance) group_left x{job=\"a\"}",
            "max_over_time(x{instance=\"0\"}[10m])",
            "absent(x{job=\"c\"})",
            "x{job=\"c\"}",
            "y",
            "{__name__=~\"x|y\", job=\"a\"}",
            "x offset 10m",
        ];
        for q in queries {
            let alone = backend.instant(q, T).unwrap();
            let shared = round.instant(q, T).unwrap();
            assert_eq!(sorted(shared), sorted(alone), "{q}");
        }
        // Asked again in the round, answered from what it loaded.
        for q in queries {
            let alone = backend.instant(q, T).unwrap();
            assert_eq!(sorted(round.instant(q, T).unwrap()), sorted(alone), "{q}");
        }
        assert!(!backend.instant("x", T).unwrap().is_empty());
    }

    #[test]
    fn a_round_sees_its_own_writes() {
        let (_dir, backend) = backend();
        let round = backend.round().unwrap();
        // Loaded (empty) before the write...
        assert!(round.instant("chained", T).unwrap().is_empty());
        assert_eq!(round.instant("sum(x)", T).unwrap().len(), 1);
        round
            .append(vec![
                (
                    Labels::from_pairs([("__name__", "chained"), ("job", "a")]),
                    vec![Sample::new(T, 7.0)],
                ),
                (
                    Labels::from_pairs([("__name__", "x"), ("job", "new")]),
                    vec![Sample::new(T, 1.0)],
                ),
            ])
            .unwrap();
        // ...and read again after it.
        let after = round.instant("chained", T).unwrap();
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].value, 7.0);
        assert_eq!(round.instant("x{job=\"new\"}", T).unwrap().len(), 1);
        assert_eq!(round.instant("count(x)", T).unwrap()[0].value, 7.0);
        // Held until the round ends when no later query reads it.
        round
            .append(vec![(
                Labels::from_pairs([("__name__", "unread")]),
                vec![Sample::new(T, 3.0)],
            )])
            .unwrap();
        assert!(backend.instant("unread", T).unwrap().is_empty());
        drop(round);
        assert_eq!(backend.instant("unread", T).unwrap()[0].value, 3.0);
        // Invalid label sets fail the rule that wrote them at once.
        let round = backend.round().unwrap();
        let bad = round.append(vec![(
            Labels::from_pairs([("__name__", "ok"), ("0bad", "v")]),
            vec![Sample::new(T, 1.0)],
        )]);
        assert!(bad.is_err());
    }
}
