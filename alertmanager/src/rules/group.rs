//! A rule group: its rules evaluated in order at one timestamp, their
//! health, and the series they write (with staleness markers for series
//! that stop being produced).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use sightline_model::{Labels, Sample, METRIC_NAME};

use super::alerting::{AlertSet, AlertingParams};
use super::file::{GroupSpec, QueryLanguage, RuleKind, RuleSpec};
use super::{Alert, AlertState};
use crate::RuleBackend;

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
    /// later in the group see what earlier ones wrote.
    pub(crate) fn eval(&mut self, ctx: &EvalContext<'_>, ts: i64) {
        let started = Instant::now();
        let limit = self.limit;
        let lang = self.query_language;
        for rule in &mut self.rules {
            let rule_started = Instant::now();
            let query = |q: &str| ctx.backend.instant(q, ts);
            let result = match lang {
                QueryLanguage::Promql => ctx.backend.instant(&rule.spec.expr, ts),
                QueryLanguage::Logql => ctx.backend.instant_logql(&rule.spec.expr, ts),
            };
            let produced = result.and_then(|result| match &rule.spec.kind {
                RuleKind::Recording { record } => {
                    record_series(record, &rule.labels, result, limit)
                }
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
            if !batch.is_empty() {
                if let Err(e) = ctx.backend.append(batch) {
                    rule.health = Health::Err;
                    rule.last_error = Some(format!("writing the rule's series: {e}"));
                }
            }
            rule.last_evaluation = Some(ts);
            rule.evaluation_time = rule_started.elapsed();
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
        fn check(&self, expr: &str) -> Result<String, String> {
            Ok(expr.to_string())
        }
        fn instant(&self, expr: &str, _: i64) -> Result<QueryResult, String> {
            if expr == "fail" {
                return Err("boom".into());
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
        fn select(&self, _: &str, _: i64, _: i64) -> Result<Vec<(Labels, Vec<Sample>)>, String> {
            Ok(Vec::new())
        }
        fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
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
