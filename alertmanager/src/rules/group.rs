//! A rule group: its rules evaluated in order at one timestamp, their
//! health, and the series they write (with staleness markers for series
//! that stop being produced).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use sightline_model::{Labels, Sample, METRIC_NAME};

use super::alerting::{AlertSet, AlertingParams};
use super::file::{GroupSpec, QueryLanguage, RuleKind, RuleSpec};
use super::{Alert, AlertState};
use crate::{EvalRound, RuleBackend};

/// A rule's health after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// A rule with its evaluation state.
#[derive(Debug)]
pub struct RuleStatus {
    pub spec: RuleSpec,
    /// Group labels merged under the rule's own.
    pub labels: BTreeMap<String, String>,
    pub health: Health,
    pub last_error: Option<String>,
    /// Unix ms of the last evaluation; `None` before the first.
    pub last_evaluation: Option<i64>,
    pub evaluation_time: Duration,
    pub(crate) alerts: AlertSet,
    previous_series: HashSet<Labels>,
}

impl RuleStatus {
    /// The alerts of an alerting rule (none for recording rules).
    pub fn alerts(&self) -> Vec<&Alert> {
        let mut v: Vec<&Alert> = self.alerts.active.values().collect();
        v.sort_by(|a, b| a.labels.cmp(&b.labels));
        v
    }

    /// The highest state among the rule's alerts.
    pub fn state(&self) -> AlertState {
        self.alerts.state()
    }
}

/// A group of rules and its evaluation state.
#[derive(Debug)]
pub struct Group {
    pub name: String,
    pub file: String,
    pub interval: Duration,
    pub limit: usize,
    pub query_language: QueryLanguage,
    pub rules: Vec<RuleStatus>,
    pub last_evaluation: Option<i64>,
    pub evaluation_time: Duration,
}

/// Options of an evaluation that come from the server.
pub(crate) struct EvalContext<'a> {
    pub backend: &'a dyn RuleBackend,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

impl Group {
    pub(crate) fn new(spec: GroupSpec, default_interval: Duration) -> Self {
        let rules = spec
            .rules
            .into_iter()
            .map(|r| {
                let mut labels = spec.labels.clone();
                labels.extend(r.labels.clone());
                RuleStatus {
                    spec: r,
                    labels,
                    health: Health::Unknown,
                    last_error: None,
                    last_evaluation: None,
                    evaluation_time: Duration::ZERO,
                    alerts: AlertSet::default(),
                    previous_series: HashSet::new(),
                }
            })
            .collect();
        Self {
            name: spec.name,
            file: spec.file,
            interval: spec.interval.unwrap_or(default_interval),
            limit: spec.limit,
            query_language: spec.query_language,
            rules,
            last_evaluation: None,
            evaluation_time: Duration::ZERO,
        }
    }

    /// Takes over the alert state of rules of `old` with the same name,
    /// kind and position-independent identity (a reload keeps alerts).
    pub(crate) fn adopt(&mut self, old: &mut Group) {
        let mut by_key: HashMap<(String, String, String), &mut RuleStatus> = old
            .rules
            .iter_mut()
            .map(|r| {
                (
                    (
                        r.spec.name().to_string(),
                        r.spec.query.clone(),
                        format!("{:?}", r.labels),
                    ),
                    r,
                )
            })
            .collect();
        for r in &mut self.rules {
            let key = (
                r.spec.name().to_string(),
                r.spec.query.clone(),
                format!("{:?}", r.labels),
            );
            if let Some(o) = by_key.remove(&key) {
                r.alerts = std::mem::take(&mut o.alerts);
                r.previous_series = std::mem::take(&mut o.previous_series);
                r.health = o.health;
                r.last_error = o.last_error.clone();
                r.last_evaluation = o.last_evaluation;
                r.evaluation_time = o.evaluation_time;
            }
        }
        self.last_evaluation = old.last_evaluation;
    }

    /// Evaluates every rule in order at `ts` and writes the results. A
    /// failing rule is marked unhealthy; the others go on. Recording rules
    /// later in the group see what earlier ones wrote. Queries and writes go
    /// through one [`crate::EvalRound`] when the backend offers one, so the
    /// rules can share its work; rules then run on the available cores
    /// (see [`Group::eval_on`]).
    pub(crate) fn eval(&mut self, ctx: &EvalContext<'_>, ts: i64) {
        let workers = std::thread::available_parallelism().map_or(1, usize::from);
        self.eval_on(ctx, ts, workers);
    }

    /// [`Group::eval`] on up to `workers` threads. The rules are cut into
    /// runs of consecutive rules none of which may read a metric an
    /// earlier rule of its run writes (as the round's
    /// [`crate::EvalRound::reads`] tells); a run's rules are evaluated
    /// concurrently, then their series are written in rule order before
    /// the next run starts. Each rule's alert state is its own, so the
    /// outcome is the same as evaluating one rule after another.
    pub(crate) fn eval_on(&mut self, ctx: &EvalContext<'_>, ts: i64, workers: usize) {
        let started = Instant::now();
        let limit = self.limit;
        let lang = self.query_language;
        // One round for the whole group: its rules share the backend's
        // work (parsed queries, loaded series) at this one timestamp.
        let round = match lang {
            QueryLanguage::Promql => ctx.backend.round(),
            QueryLanguage::Logql => None,
        };
        let round = round.as_deref();
        let append = |batch: Vec<(Labels, Vec<Sample>)>| match round {
            Some(r) => r.append(batch),
            None => ctx.backend.append(batch),
        };
        let runs = match round {
            Some(r) if workers > 1 => independent_runs(&self.rules, r),
            _ => vec![self.rules.len()],
        };
        let mut rules = &mut self.rules[..];
        for len in runs {
            let (run, rest) = rules.split_at_mut(len);
            rules = rest;
            let outcomes = if len > 1 && workers > 1 {
                eval_concurrently(run, workers, |rule| {
                    eval_rule(rule, ctx, round, lang, limit, ts)
                })
            } else {
                Vec::new()
            };
            let mut outcomes = outcomes.into_iter();
            for rule in run.iter_mut() {
                let (batch, took) = match outcomes.next() {
                    Some(done) => done,
                    None => eval_rule(rule, ctx, round, lang, limit, ts),
                };
                let appending = Instant::now();
                if !batch.is_empty() {
                    if let Err(e) = append(batch) {
                        rule.health = Health::Err;
                        rule.last_error = Some(format!("writing the rule's series: {e}"));
                    }
                }
                rule.last_evaluation = Some(ts);
                rule.evaluation_time = took + appending.elapsed();
            }
        }
        self.last_evaluation = Some(ts);
        self.evaluation_time = started.elapsed();
    }

    /// Restores `for` state of alerting rules from `ALERTS_FOR_STATE`
    /// samples written before the last stop (Prometheus's restore).
    pub(crate) fn restore(
        &mut self,
        backend: &dyn RuleBackend,
        ts: i64,
        grace: Duration,
        tolerance: Duration,
    ) {
        for rule in &mut self.rules {
            let RuleKind::Alerting { alert, hold, .. } = &rule.spec.kind else {
                continue;
            };
            if rule.alerts.restored {
                continue;
            }
            if *hold < grace || rule.alerts.active.is_empty() {
                rule.alerts.restored = true;
                continue;
            }
            let selector = format!(
                "ALERTS_FOR_STATE{{alertname={}}}",
                serde_json::Value::String(alert.clone())
            );
            let start = ts - tolerance.as_millis() as i64;
            let mut last = HashMap::new();
            match backend.select(&selector, start, ts) {
                Ok(series) => {
                    for (labels, samples) in series {
                        let key: BTreeMap<String, String> = labels
                            .iter()
                            .filter(|l| l.name != METRIC_NAME)
                            .map(|l| (l.name.clone(), l.value.clone()))
                            .collect();
                        if let Some(s) = samples
                            .iter()
                            .rev()
                            .find(|s| !sightline_model::is_stale_nan(s.value))
                        {
                            last.insert(key, (s.timestamp_ms, s.value));
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(rule = %alert, error = %e, "cannot restore alert state");
                }
            }
            rule.alerts
                .restore(&last, ts, hold.as_millis() as i64, grace.as_millis() as i64);
        }
    }
}

/// What one rule's evaluation leaves to write, and how long it took.
type Outcome = (Vec<(Labels, Vec<Sample>)>, Duration);

/// Evaluates one rule: its query, its series or alerts, its health; returns
/// the samples to write (with staleness markers for series it no longer
/// produces) for the caller to write in rule order.
fn eval_rule(
    rule: &mut RuleStatus,
    ctx: &EvalContext<'_>,
    round: Option<&dyn EvalRound>,
    lang: QueryLanguage,
    limit: usize,
    ts: i64,
) -> Outcome {
    let started = Instant::now();
    // Failures become the rule's `lastError` (and a template's `query`
    // error): text shown to users, as Prometheus reports them.
    let query = |q: &str| {
        match round {
            Some(r) => r.instant(q, ts),
            None => ctx.backend.instant(q, ts),
        }
        .map_err(|e| e.to_string())
    };
    let result = match lang {
        QueryLanguage::Promql => query(&rule.spec.expr),
        QueryLanguage::Logql => ctx
            .backend
            .instant_logql(&rule.spec.expr, ts)
            .map_err(|e| e.to_string()),
    };
    let produced = result.and_then(|result| match &rule.spec.kind {
        RuleKind::Recording { record } => record_series(record, &rule.labels, result, limit),
        RuleKind::Alerting {
            alert,
            hold,
            keep_firing_for,
            annotations,
        } => {
            let params = AlertingParams {
                name: alert,
                hold_ms: hold.as_millis() as i64,
                keep_firing_for_ms: keep_firing_for.as_millis() as i64,
                labels: &rule.labels,
                annotations,
                limit,
                external_labels: ctx.external_labels,
                external_url: ctx.external_url,
            };
            rule.alerts.eval(&params, result, ts, &query)
        }
    });
    let series = match produced {
        Ok(series) => {
            rule.health = Health::Ok;
            rule.last_error = None;
            series
        }
        Err(e) => {
            rule.health = Health::Err;
            rule.last_error = Some(e);
            Vec::new()
        }
    };
    let current: HashSet<Labels> = series.iter().map(|(l, _)| l.clone()).collect();
    let mut batch: Vec<(Labels, Vec<Sample>)> = series
        .into_iter()
        .map(|(l, v)| (l, vec![Sample::new(ts, v)]))
        .collect();
    for gone in rule.previous_series.difference(&current) {
        batch.push((gone.clone(), vec![Sample::stale(ts)]));
    }
    rule.previous_series = current;
    (batch, started.elapsed())
}

/// Runs `f` over every rule of `run` on up to `workers` threads (this one
/// included), each taking the next rule not yet taken; returns the
/// outcomes in rule order.
fn eval_concurrently<F>(run: &mut [RuleStatus], workers: usize, f: F) -> Vec<Outcome>
where
    F: Fn(&mut RuleStatus) -> Outcome + Sync,
{
    let cells: Vec<Mutex<(&mut RuleStatus, Option<Outcome>)>> =
        run.iter_mut().map(|r| Mutex::new((r, None))).collect();
    let next = AtomicUsize::new(0);
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(cell) = cells.get(i) else {
            return;
        };
        let mut cell = cell.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = f(cell.0);
        cell.1 = Some(outcome);
    };
    std::thread::scope(|scope| {
        for _ in 1..workers.min(cells.len()) {
            scope.spawn(work);
        }
        work();
    });
    cells
        .into_iter()
        .map(|c| {
            let (_, outcome) = c.into_inner().unwrap_or_else(PoisonError::into_inner);
            outcome.unwrap_or_default()
        })
        .collect()
}

/// The lengths of the runs `rules` is cut into: a rule starts a new run
/// when it may read a metric an earlier rule of the current run writes,
/// or when what it reads is unknown (then it sees everything written
/// before it, as when rules run one after another).
fn independent_runs(rules: &[RuleStatus], round: &dyn EvalRound) -> Vec<usize> {
    let mut runs = Vec::new();
    let mut len = 0;
    // Metrics written by the current run; `None` when one of its rules
    // may write any.
    let mut written: Option<HashSet<&str>> = Some(HashSet::new());
    for rule in rules {
        let reads = if templates_query(rule) {
            None
        } else {
            round.reads(&rule.spec.expr)
        };
        let conflict = match (&reads, &written) {
            (Some(reads), Some(written)) => reads.iter().any(|r| written.contains(r.as_str())),
            _ => true,
        };
        if conflict && len > 0 {
            runs.push(len);
            len = 0;
            written = Some(HashSet::new());
        }
        len += 1;
        match (&rule.spec.kind, written.as_mut()) {
            (_, None) => {}
            (_, Some(_)) if rule.labels.contains_key(METRIC_NAME) => written = None,
            (RuleKind::Recording { record }, Some(w)) => {
                w.insert(record);
            }
            (RuleKind::Alerting { .. }, Some(w)) => {
                w.insert("ALERTS");
                w.insert("ALERTS_FOR_STATE");
            }
        }
    }
    if len > 0 {
        runs.push(len);
    }
    runs
}

/// Whether an alerting rule's label or annotation templates may run
/// queries (whose reads are not known ahead).
fn templates_query(rule: &RuleStatus) -> bool {
    let RuleKind::Alerting { annotations, .. } = &rule.spec.kind else {
        return false;
    };
    rule.labels
        .values()
        .chain(annotations.values())
        .any(|t| t.contains("query"))
}

fn record_series(
    record: &str,
    labels: &BTreeMap<String, String>,
    result: crate::QueryResult,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(result.len());
    for s in result {
        let mut m: BTreeMap<String, String> = s
            .labels
            .iter()
            .map(|l| (l.name.clone(), l.value.clone()))
            .collect();
        m.insert(METRIC_NAME.into(), record.to_string());
        for (k, v) in labels {
            if v.is_empty() {
                m.remove(k);
            } else {
                m.insert(k.clone(), v.clone());
            }
        }
        let l = Labels::from_pairs(m);
        if !seen.insert(l.clone()) {
            return Err(
                "vector contains metrics with the same labelset after applying rule labels".into(),
            );
        }
        out.push((l, s.value));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!(
            "exceeded limit of {limit} with {} series",
            out.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Mutex;

    use super::*;
    use crate::rules::parse_rule_file;
    use crate::{QueryResult, RuleSample};

    /// Answers every query with the current `value` (one series, or none
    /// when `None`), records what is written.
    #[derive(Default)]
    struct Fake {
        value: Mutex<Option<f64>>,
        written: Mutex<Vec<(Labels, Vec<Sample>)>>,
    }

    impl RuleBackend for Fake {
        fn check(&self, expr: &str) -> crate::Result<String> {
            Ok(expr.to_string())
        }
        fn instant(&self, expr: &str, _: i64) -> crate::Result<QueryResult> {
            if expr == "fail" {
                return Err(crate::Error::Unusable("boom".into()));
            }
            if expr == "two" {
                return Ok(["a", "b"]
                    .iter()
                    .map(|i| RuleSample {
                        labels: Labels::from_pairs([("instance", *i)]),
                        value: 1.0,
                    })
                    .collect());
            }
            Ok(self
                .value
                .lock()
                .unwrap()
                .map(|v| {
                    vec![RuleSample {
                        labels: Labels::from_pairs([("__name__", "x"), ("job", "j")]),
                        value: v,
                    }]
                })
                .unwrap_or_default())
        }
        fn select(&self, _: &str, _: i64, _: i64) -> crate::Result<Vec<(Labels, Vec<Sample>)>> {
            Ok(Vec::new())
        }
        fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> crate::Result<()> {
            self.written.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    fn group(yaml: &str) -> Group {
        let specs = parse_rule_file("t.yml", yaml, &Fake::default()).unwrap();
        Group::new(specs.into_iter().next().unwrap(), Duration::from_secs(1))
    }

    fn eval(g: &mut Group, fake: &Fake, ts: i64) -> AlertState {
        let labels = BTreeMap::new();
        let ctx = EvalContext {
            backend: fake,
            external_labels: &labels,
            external_url: "",
        };
        g.eval(&ctx, ts);
        g.rules[0].state()
    }

    #[test]
    fn pending_firing_keep_firing_resolved() {
        let mut g = group(
            "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    for: 10s\n    keep_firing_for: 5s\n",
        );
        let fake = Fake::default();
        assert_eq!(eval(&mut g, &fake, 0), AlertState::Inactive);
        *fake.value.lock().unwrap() = Some(1.0);
        assert_eq!(eval(&mut g, &fake, 1_000), AlertState::Pending);
        assert_eq!(eval(&mut g, &fake, 10_999), AlertState::Pending);
        assert_eq!(eval(&mut g, &fake, 11_000), AlertState::Firing);
        *fake.value.lock().unwrap() = None;
        // keep_firing_for holds it for 5 s after the condition clears.
        assert_eq!(eval(&mut g, &fake, 12_000), AlertState::Firing);
        assert_eq!(eval(&mut g, &fake, 16_999), AlertState::Firing);
        assert_eq!(eval(&mut g, &fake, 17_000), AlertState::Inactive);
        let a = g.rules[0].alerts()[0].clone();
        assert_eq!(a.resolved_at, Some(17_000));
        assert_eq!(a.labels.get("alertname").map(String::as_str), Some("A"));
        assert_eq!(a.labels.get("job").map(String::as_str), Some("j"));
        // The ALERTS series got a staleness marker when it ended.
        let written = fake.written.lock().unwrap();
        let last = written.last().unwrap();
        assert!(sightline_model::is_stale_nan(last.1[0].value));
        assert_eq!(last.0.get("alertstate"), Some("firing"));
    }

    #[test]
    fn pending_that_clears_is_dropped() {
        let mut g = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: x\n    for: 1m\n");
        let fake = Fake::default();
        *fake.value.lock().unwrap() = Some(1.0);
        assert_eq!(eval(&mut g, &fake, 0), AlertState::Pending);
        *fake.value.lock().unwrap() = None;
        assert_eq!(eval(&mut g, &fake, 1_000), AlertState::Inactive);
        assert!(g.rules[0].alerts().is_empty());
    }

    #[test]
    fn failing_rule_does_not_stop_the_group() {
        let mut g = group(
            "groups:\n- name: g\n  rules:\n  - record: bad\n    expr: fail\n  - record: good\n    expr: x\n",
        );
        let fake = Fake::default();
        *fake.value.lock().unwrap() = Some(2.0);
        eval(&mut g, &fake, 0);
        assert_eq!(g.rules[0].health, Health::Err);
        assert_eq!(g.rules[0].last_error.as_deref(), Some("boom"));
        assert_eq!(g.rules[1].health, Health::Ok);
        let written = fake.written.lock().unwrap();
        assert_eq!(written.len(), 1);
        assert_eq!(written[0].0.get("__name__"), Some("good"));
        assert_eq!(written[0].1[0].value, 2.0);
    }

    #[test]
    fn limit_fails_the_rule() {
        let fake = Fake::default();
        let mut g =
            group("groups:\n- name: g\n  limit: 2\n  rules:\n  - alert: A\n    expr: two\n");
        eval(&mut g, &fake, 0);
        assert_eq!(g.rules[0].health, Health::Ok);
        assert_eq!(g.rules[0].alerts().len(), 2);
        let mut g =
            group("groups:\n- name: g\n  limit: 1\n  rules:\n  - alert: A\n    expr: two\n");
        eval(&mut g, &fake, 0);
        assert_eq!(
            g.rules[0].last_error.as_deref(),
            Some("exceeded limit of 1 with 2 alerts")
        );
        assert!(g.rules[0].alerts().is_empty());
        let mut g =
            group("groups:\n- name: g\n  limit: 1\n  rules:\n  - record: r\n    expr: two\n");
        eval(&mut g, &fake, 0);
        assert_eq!(
            g.rules[0].last_error.as_deref(),
            Some("exceeded limit of 1 with 2 series")
        );
    }

    /// Hands out rounds that answer every query with one series and log
    /// what goes through them.
    #[derive(Default)]
    struct Rounds {
        log: Mutex<Vec<String>>,
    }

    struct LoggingRound<'a>(&'a Rounds);

    impl crate::EvalRound for LoggingRound<'_> {
        fn instant(&self, expr: &str, _: i64) -> crate::Result<QueryResult> {
            self.0.log.lock().unwrap().push(format!("query {expr}"));
            Ok(vec![RuleSample {
                labels: Labels::from_pairs([("job", "j")]),
                value: 1.0,
            }])
        }
        fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> crate::Result<()> {
            let names: Vec<&str> = batch
                .iter()
                .filter_map(|(l, _)| l.get("__name__"))
                .collect();
            self.0
                .log
                .lock()
                .unwrap()
                .push(format!("write {}", names.join(",")));
            Ok(())
        }
    }

    impl Drop for LoggingRound<'_> {
        fn drop(&mut self) {
            self.0.log.lock().unwrap().push("end".into());
        }
    }

    impl RuleBackend for Rounds {
        fn round(&self) -> Option<Box<dyn crate::EvalRound + '_>> {
            self.log.lock().unwrap().push("start".into());
            Some(Box::new(LoggingRound(self)))
        }
        fn check(&self, expr: &str) -> crate::Result<String> {
            Ok(expr.to_string())
        }
        fn instant(&self, _: &str, _: i64) -> crate::Result<QueryResult> {
            Err(crate::Error::Unusable(
                "queries go through the round".into(),
            ))
        }
        fn select(&self, _: &str, _: i64, _: i64) -> crate::Result<Vec<(Labels, Vec<Sample>)>> {
            Ok(Vec::new())
        }
        fn append(&self, _: Vec<(Labels, Vec<Sample>)>) -> crate::Result<()> {
            Err(crate::Error::Unusable("writes go through the round".into()))
        }
    }

    #[test]
    fn a_group_evaluates_as_one_round() {
        let specs = parse_rule_file(
            "t.yml",
            "groups:\n- name: g\n  rules:\n  - record: r\n    expr: a\n  - alert: A\n    expr: b\n",
            &Fake::default(),
        )
        .unwrap();
        let mut g = Group::new(specs.into_iter().next().unwrap(), Duration::from_secs(1));
        let backend = Rounds::default();
        let labels = BTreeMap::new();
        let ctx = EvalContext {
            backend: &backend,
            external_labels: &labels,
            external_url: "",
        };
        g.eval(&ctx, 0);
        assert!(g.rules.iter().all(|r| r.health == Health::Ok));
        assert_eq!(
            *backend.log.lock().unwrap(),
            [
                "start",
                "query a",
                "write r",
                "query b",
                "write ALERTS",
                "end"
            ]
        );
    }

    /// An in-memory store: a query `m` or `m > k` returns metric `m`'s
    /// series (with a value above `k`); what is written lands at once and
    /// is logged, one entry per append (sorted: a rule's alerts and gone
    /// series come in hash order). The first query of expression `meet` waits (up to 10 s)
    /// for a second query to be running alongside it.
    #[derive(Default)]
    struct Store {
        series: Mutex<BTreeMap<String, BTreeMap<Labels, f64>>>,
        written: Mutex<Vec<Vec<(Labels, i64, u64)>>>,
        meet: Option<&'static str>,
        in_flight: AtomicUsize,
        most_in_flight: AtomicUsize,
        first: std::sync::atomic::AtomicBool,
    }

    impl Store {
        /// `base0`..`base4`, 20 series each, some missing and the values
        /// moving with `ts`.
        fn scrape(&self, ts: i64) {
            let mut series = self.series.lock().unwrap();
            for m in 0..5 {
                let metric = series.entry(format!("base{m}")).or_default();
                metric.clear();
                for i in 0..20i64 {
                    if (i + ts / 1000) % 7 == 0 {
                        continue;
                    }
                    let labels = Labels::from_pairs([
                        ("__name__".to_string(), format!("base{m}")),
                        ("instance".to_string(), format!("i{i}")),
                    ]);
                    metric.insert(labels, ((i * 7 + m + ts / 1000) % 10) as f64);
                }
            }
        }
    }

    struct StoreRound<'a>(&'a Store);

    impl crate::EvalRound for StoreRound<'_> {
        fn instant(&self, expr: &str, _: i64) -> crate::Result<QueryResult> {
            let store = self.0;
            let now = store.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            store.most_in_flight.fetch_max(now, Ordering::SeqCst);
            if store.meet == Some(expr) && !store.first.swap(true, Ordering::SeqCst) {
                for _ in 0..10_000 {
                    if store.most_in_flight.load(Ordering::SeqCst) > 1 {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            let (metric, above) = match expr.split_once(" > ") {
                Some((m, k)) => (m, k.parse::<f64>().unwrap_or(f64::NAN)),
                None => (expr, f64::NEG_INFINITY),
            };
            if above.is_nan() {
                store.in_flight.fetch_sub(1, Ordering::SeqCst);
                return Err(crate::Error::Unusable(format!("bad threshold in {expr}")));
            }
            let out = store
                .series
                .lock()
                .unwrap()
                .get(metric)
                .map(|m| {
                    m.iter()
                        .filter(|(_, v)| **v > above)
                        .map(|(l, v)| RuleSample {
                            labels: l.clone(),
                            value: *v,
                        })
                        .collect()
                })
                .unwrap_or_default();
            store.in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(out)
        }
        fn reads(&self, expr: &str) -> Option<Vec<String>> {
            Some(vec![expr.split(' ').next()?.to_string()])
        }
        fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> crate::Result<()> {
            let mut series = self.0.series.lock().unwrap();
            let mut logged = Vec::new();
            for (labels, samples) in batch {
                let s = samples[0];
                logged.push((labels.clone(), s.timestamp_ms, s.value.to_bits()));
                let name = labels.get("__name__").unwrap_or("").to_string();
                let metric = series.entry(name).or_default();
                if sightline_model::is_stale_nan(s.value) {
                    metric.remove(&labels);
                } else {
                    metric.insert(labels, s.value);
                }
            }
            logged.sort_by(|a, b| a.0.cmp(&b.0));
            self.0.written.lock().unwrap().push(logged);
            Ok(())
        }
    }

    impl RuleBackend for Store {
        fn round(&self) -> Option<Box<dyn crate::EvalRound + '_>> {
            Some(Box::new(StoreRound(self)))
        }
        fn check(&self, expr: &str) -> crate::Result<String> {
            Ok(expr.to_string())
        }
        fn instant(&self, _: &str, _: i64) -> crate::Result<QueryResult> {
            Err(crate::Error::Unusable(
                "queries go through the round".into(),
            ))
        }
        fn select(&self, _: &str, _: i64, _: i64) -> crate::Result<Vec<(Labels, Vec<Sample>)>> {
            Ok(Vec::new())
        }
        fn append(&self, _: Vec<(Labels, Vec<Sample>)>) -> crate::Result<()> {
            Err(crate::Error::Unusable("writes go through the round".into()))
        }
    }

    /// 200 rules: recording rules over the base metrics, alerting rules
    /// over base metrics, over series recorded earlier in the group and
    /// over `ALERTS` itself, with a failing rule among them.
    fn many_rules() -> String {
        let mut yaml = String::from("groups:\n- name: g\n  rules:\n");
        for i in 0..200 {
            let rule = match i % 5 {
                0 => format!("  - record: rec{i}\n    expr: base{}\n", i % 3),
                1 => format!(
                    "  - alert: A{i}\n    expr: rec{} > {}\n    for: 2s\n",
                    i - 1,
                    i % 7
                ),
                2 => format!("  - alert: B{i}\n    expr: base{} > 5\n", i % 5),
                3 if i % 50 == 3 => format!("  - alert: C{i}\n    expr: ALERTS\n"),
                3 => format!("  - record: rec{i}\n    expr: rec{} > 2\n", i - 3),
                _ if i == 44 => "  - record: bad\n    expr: base1 > x\n".to_string(),
                _ => format!(
                    "  - alert: D{i}\n    expr: base{} > 3\n    for: 1s\n    keep_firing_for: 2s\n    annotations:\n      v: '{{{{ $value }}}}'\n",
                    i % 4
                ),
            };
            yaml.push_str(&rule);
        }
        yaml
    }

    #[test]
    fn a_concurrent_round_matches_one_rule_after_another() {
        let yaml = many_rules();
        let one_by_one = Store::default();
        let concurrent = Store {
            // The first of a run of five rules that do not read each other.
            meet: Some("rec5 > 6"),
            ..Store::default()
        };
        let mut g1 = group(&yaml);
        let mut g4 = group(&yaml);
        let labels = BTreeMap::new();
        let runs = independent_runs(&g4.rules, &StoreRound(&concurrent));
        assert_eq!(runs.iter().sum::<usize>(), 200);
        assert!(runs.len() > 1 && runs.len() < 100, "{runs:?}");
        for round in 0..8 {
            let ts = round * 1_000;
            for (g, store, workers) in [(&mut g1, &one_by_one, 1), (&mut g4, &concurrent, 4)] {
                store.scrape(ts);
                let ctx = EvalContext {
                    backend: store,
                    external_labels: &labels,
                    external_url: "",
                };
                g.eval_on(&ctx, ts, workers);
            }
        }
        assert!(concurrent.most_in_flight.load(Ordering::SeqCst) > 1);
        assert_eq!(one_by_one.most_in_flight.load(Ordering::SeqCst), 1);
        let written = one_by_one.written.lock().unwrap();
        let all = || written.iter().flatten();
        assert!(all().any(|(l, ..)| l.get("__name__") == Some("rec8")));
        assert!(all().any(|(l, ..)| l.get("alertname") == Some("A1")));
        assert!(all().any(|(l, ..)| l.get("alertname") == Some("C3")));
        let other = concurrent.written.lock().unwrap();
        assert_eq!(written.len(), other.len());
        for (i, (a, b)) in written.iter().zip(other.iter()).enumerate() {
            assert!(a == b, "append {i} differs: {a:?} {b:?}");
        }
        for (a, b) in g1.rules.iter().zip(&g4.rules) {
            assert_eq!(a.health, b.health, "{}", a.spec.name());
            assert_eq!(a.last_error, b.last_error);
            assert_eq!(a.alerts(), b.alerts(), "{}", a.spec.name());
            assert_eq!(a.last_evaluation, Some(7_000));
        }
        assert!(g1.rules.iter().any(|r| r.health == Health::Err));
        assert!(g1.rules.iter().any(|r| r.state() == AlertState::Firing));
    }

    #[test]
    fn restore_shifts_pending_and_keeps_firing() {
        let mut set = AlertSet::default();
        let key: BTreeMap<String, String> = [("alertname".to_string(), "A".to_string())].into();
        let alert = |active_at| Alert {
            labels: key.clone(),
            annotations: BTreeMap::new(),
            state: AlertState::Pending,
            value: 1.0,
            active_at,
            fired_at: None,
            resolved_at: None,
            last_sent_at: None,
            keep_firing_since: None,
        };
        // Pending for 10 min of a 1 h `for`, down 5 min: shifted by 5 min.
        set.active.insert(key.clone(), alert(1_000_000));
        let last = HashMap::from([(key.clone(), (600_000i64, 0.0))]);
        set.restore(&last, 900_000, 3_600_000, 60_000);
        assert_eq!(set.active[&key].active_at, 300_000);
        assert!(set.restored);
        // Was already firing: the original activeAt comes back.
        let mut set = AlertSet::default();
        set.active.insert(key.clone(), alert(1_000_000));
        let last = HashMap::from([(key.clone(), (5_000_000i64, 1_000.0))]);
        set.restore(&last, 6_000_000, 60_000, 10_000);
        assert_eq!(set.active[&key].active_at, 1_000_000);
        // Close to firing: pushed to fire no sooner than the grace period.
        let mut set = AlertSet::default();
        set.active.insert(key.clone(), alert(1_000_000));
        let last = HashMap::from([(key.clone(), (55_000i64, 0.0))]);
        set.restore(&last, 100_000, 60_000, 30_000);
        assert_eq!(set.active[&key].active_at, 100_000 + 30_000 - 60_000);
    }
}
