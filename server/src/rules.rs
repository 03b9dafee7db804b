//! Rules in the server: the rule engine's backend over the PromQL engine and
//! the metrics store, the rule settings, and `sightline rules check`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::Deserialize;
use sightline_alertmanager::rules::{parse_rule_file, GroupSpec, RuleOptions};
use sightline_alertmanager::{EvalRound, QueryResult, RuleBackend, RuleSample};
use sightline_model::{LabelLimits, Labels, Sample, METRIC_NAME};
use sightline_query::ast::Expr;
use sightline_query::engine::SharedSelections;
use sightline_query::value::Value;
use sightline_query::Engine;
use sightline_read::metrics::TimeRange;
use sightline_tsdb::Tsdb;

use sightline_alertmanager::notify::{AmAlert, Dispatcher, NotifyConfig};
use sightline_alertmanager::rules::OutgoingAlert;

use crate::config::PromDuration;

/// Used when no `alertmanager_config` is given: alerts are accepted and
/// listed, silences work, nothing is sent.
const DEFAULT_NOTIFY_CONFIG: &str = "route:\n  receiver: default\nreceivers:\n  - name: default\n";

/// Reads and validates the Alertmanager configuration (its `templates`
/// relative to its directory); the error lists every problem.
fn load_notify_config(path: Option<&std::path::Path>) -> Result<NotifyConfig, String> {
    let (loaded, source) = match path {
        Some(path) => (NotifyConfig::load(path), path.display().to_string()),
        None => (
            NotifyConfig::parse(DEFAULT_NOTIFY_CONFIG),
            "defaults".into(),
        ),
    };
    loaded.map_err(|problems| {
        format!(
            "invalid Alertmanager configuration ({source}):\n  - {}",
            problems.join("\n  - ")
        )
    })
}

fn start_dispatcher(config: &crate::config::Config) -> anyhow::Result<Arc<Dispatcher>> {
    let notify =
        load_notify_config(config.alertmanager_config.as_deref()).map_err(anyhow::Error::msg)?;
    Dispatcher::new(
        notify,
        Some(config.data_dir.join("alertmanager")),
        external_url(config),
    )
    .map_err(|e| anyhow::anyhow!("opening the notification state: {e}"))
}

/// The URL this server is reached at: `rules.external_url`, or the listen
/// address.
pub fn external_url(config: &crate::config::Config) -> String {
    if config.rules.external_url.is_empty() {
        format!("http://{}", config.listen_addr())
    } else {
        config.rules.external_url.trim_end_matches('/').to_string()
    }
}

fn to_am_alert(a: OutgoingAlert) -> AmAlert {
    AmAlert {
        labels: a.labels,
        annotations: a.annotations,
        starts_at: a.starts_at,
        ends_at: a.ends_at,
        generator_url: a.generator_url,
        updated_at: a.starts_at,
        timeout: false,
    }
}

/// Rule evaluation settings beyond `rule_files` and `evaluation_interval`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct RulesConfig {
    /// Labels `$externalLabels` holds in templates, added to alerts sent.
    pub external_labels: BTreeMap<String, String>,
    /// The URL `$externalURL` holds, and the base of alerts' generator URLs.
    pub external_url: String,
    /// Alerts with a shorter `for` are not restored after a restart; a
    /// restored alert fires no sooner than this after the restart.
    pub for_grace_period: PromDuration,
    /// How far back alert state is looked up when restoring.
    pub outage_tolerance: PromDuration,
    /// Firing alerts are re-sent to the notifier at most this often.
    pub resend_delay: PromDuration,
}

impl Default for RulesConfig {
    fn default() -> Self {
        let o = RuleOptions::default();
        Self {
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            for_grace_period: PromDuration(o.for_grace_period),
            outage_tolerance: PromDuration(o.outage_tolerance),
            resend_delay: PromDuration(o.resend_delay),
        }
    }
}

impl RulesConfig {
    pub fn options(&self, evaluation_interval: Duration) -> RuleOptions {
        RuleOptions {
            evaluation_interval,
            external_labels: self.external_labels.clone(),
            external_url: self.external_url.clone(),
            for_grace_period: self.for_grace_period.0,
            outage_tolerance: self.outage_tolerance.0,
            resend_delay: self.resend_delay.0,
        }
    }

    pub fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        for k in self.external_labels.keys() {
            if !sightline_model::is_valid_label_name(k) {
                p.push(format!("rules.external_labels: invalid label name {k:?}"));
            }
        }
        if self.resend_delay.0.is_zero() {
            p.push("rules.resend_delay: must be positive".into());
        }
        p
    }
}

/// Parsed rule expressions kept past this many are dropped all at once
/// (only reloads with ever-new expressions get there).
const MAX_PARSED_EXPRESSIONS: usize = 100_000;

/// Rules' access to PromQL and the store.
pub struct TsdbRuleBackend {
    tsdb: Arc<Tsdb>,
    engine: Engine,
    logs: Option<crate::rules_logs::LogRules>,
    /// Rule expressions parsed once, not every round.
    parsed: Mutex<HashMap<String, Arc<ParsedExpr>>>,
}

impl std::fmt::Debug for TsdbRuleBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsdbRuleBackend").finish_non_exhaustive()
    }
}

impl TsdbRuleBackend {
    pub fn new(tsdb: Arc<Tsdb>, engine: Engine, logs: Option<crate::rules_logs::LogRules>) -> Self {
        Self {
            tsdb,
            engine,
            logs,
            parsed: Mutex::new(HashMap::new()),
        }
    }

    /// `expr` parsed, from the cache when it was parsed before.
    fn parsed(&self, expr: &str) -> Result<Arc<ParsedExpr>, String> {
        let lock = || self.parsed.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = lock().get(expr) {
            return Ok(Arc::clone(p));
        }
        let parsed = sightline_query::parse(expr).map_err(|e| e.to_string())?;
        let parsed = Arc::new(ParsedExpr::new(parsed));
        let mut cache = lock();
        if cache.len() >= MAX_PARSED_EXPRESSIONS {
            cache.clear();
        }
        cache.insert(expr.to_string(), Arc::clone(&parsed));
        Ok(parsed)
    }

    /// A query's value as rules see it.
    fn rule_result(value: Value) -> Result<QueryResult, String> {
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
            Value::String { .. } => Err("rule result is not a vector or scalar".into()),
            Value::Matrix(_) => Err("rule result is not a vector or scalar".into()),
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
struct TsdbRound<'a> {
    backend: &'a TsdbRuleBackend,
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

impl TsdbRound<'_> {
    fn held(&self) -> std::sync::MutexGuard<'_, HeldWrites> {
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Appends what is held; the metrics written are read afresh later.
    fn flush(&self) -> Result<(), String> {
        let _exclusive = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let held = std::mem::take(&mut *self.held());
        if held.batch.is_empty() {
            return Ok(());
        }
        for name in &held.names {
            self.shared.forget(name);
        }
        self.backend
            .tsdb
            .append(&held.batch)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

impl EvalRound for TsdbRound<'_> {
    fn instant(&self, expr: &str, t_ms: i64) -> Result<QueryResult, String> {
        let parsed = self.backend.parsed(expr)?;
        let shared = || self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let mut gate = shared();
        let must_flush = {
            let held = self.held();
            !held.batch.is_empty() && parsed.may_read(&held.names)
        };
        if must_flush {
            drop(gate);
            self.flush()
                .map_err(|e| format!("writing earlier rules' series: {e}"))?;
            gate = shared();
        }
        let value = self
            .backend
            .engine
            .instant_shared(
                self.backend.tsdb.querier(),
                &parsed.expr,
                t_ms,
                &self.shared,
            )
            .map_err(|e| e.to_string())?;
        drop(gate);
        TsdbRuleBackend::rule_result(value)
    }

    fn reads(&self, expr: &str) -> Option<Vec<String>> {
        self.backend.parsed(expr).ok()?.reads.clone()
    }

    fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
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

impl Drop for TsdbRound<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "writing rule results failed");
        }
    }
}

/// Sorted, validated label sets (rules build them unchecked).
fn validate(batch: Vec<(Labels, Vec<Sample>)>) -> Result<Vec<(Labels, Vec<Sample>)>, String> {
    let limits = LabelLimits::default();
    batch
        .into_iter()
        .map(|(labels, samples)| {
            labels
                .validated(&limits)
                .map(|l| (l, samples))
                .map_err(|e| e.to_string())
        })
        .collect()
}

/// Parses only: what `rules check` needs, without a store.
#[derive(Debug, Default)]
pub struct ParseOnlyBackend;

fn check_expr(expr: &str) -> Result<String, String> {
    sightline_query::parse(expr)
        .map(|e| e.to_string())
        .map_err(|e| e.to_string())
}

impl RuleBackend for ParseOnlyBackend {
    fn check(&self, expr: &str) -> Result<String, String> {
        check_expr(expr)
    }

    fn check_logql(&self, expr: &str) -> Result<String, String> {
        crate::rules_logs::check(expr)
    }

    fn instant(&self, _: &str, _: i64) -> Result<QueryResult, String> {
        Err("no store to query".into())
    }

    fn select(&self, _: &str, _: i64, _: i64) -> Result<Vec<(Labels, Vec<Sample>)>, String> {
        Err("no store to query".into())
    }

    fn append(&self, _: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
        Err("no store to write to".into())
    }
}

impl RuleBackend for TsdbRuleBackend {
    fn check(&self, expr: &str) -> Result<String, String> {
        check_expr(expr)
    }

    fn check_logql(&self, expr: &str) -> Result<String, String> {
        crate::rules_logs::check(expr)
    }

    fn instant_logql(&self, expr: &str, t_ms: i64) -> Result<QueryResult, String> {
        match &self.logs {
            Some(l) => l.instant(expr, t_ms),
            None => Err("no log store".into()),
        }
    }

    fn round(&self) -> Option<Box<dyn EvalRound + '_>> {
        Some(Box::new(TsdbRound {
            backend: self,
            shared: SharedSelections::new(),
            held: Mutex::new(HeldWrites::default()),
            gate: RwLock::new(()),
        }))
    }

    fn instant(&self, expr: &str, t_ms: i64) -> Result<QueryResult, String> {
        let parsed = self.parsed(expr)?;
        let value = self
            .engine
            .instant(self.tsdb.querier(), &parsed.expr, t_ms)
            .map_err(|e| e.to_string())?;
        Self::rule_result(value)
    }

    fn select(
        &self,
        selector: &str,
        start_ms: i64,
        end_ms: i64,
    ) -> Result<Vec<(Labels, Vec<Sample>)>, String> {
        let matchers =
            sightline_query::parse_series_selector(selector).map_err(|e| e.to_string())?;
        let set = self
            .tsdb
            .querier()
            .select(&matchers, TimeRange::new(start_ms, end_ms))
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for s in set {
            let s = s.map_err(|e| e.to_string())?;
            out.push((s.labels, s.samples.collect()));
        }
        Ok(out)
    }

    fn append(&self, batch: Vec<(Labels, Vec<Sample>)>) -> Result<(), String> {
        let valid = validate(batch)?;
        self.tsdb.append(&valid).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// `sightline rules check FILE…`: validates each file as `promtool check
/// rules` does, printing what it found; true when every file is valid.
pub fn check_files(files: &[std::path::PathBuf], out: &mut dyn std::io::Write) -> bool {
    let mut all_ok = true;
    for path in files {
        let name = path.display().to_string();
        let _ = writeln!(out, "Checking {name}");
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(out, "  FAILED:\n{name}: {e}\n");
                all_ok = false;
                continue;
            }
        };
        match parse_rule_file(&name, &text, &ParseOnlyBackend) {
            Ok(groups) => {
                let rules: usize = groups.iter().map(|g: &GroupSpec| g.rules.len()).sum();
                let _ = writeln!(out, "  SUCCESS: {rules} rules found\n");
            }
            Err(problems) => {
                all_ok = false;
                let _ = writeln!(out, "  FAILED:");
                for p in problems {
                    let _ = writeln!(out, "{p}");
                }
                let _ = writeln!(out);
            }
        }
    }
    all_ok
}

/// The running rule engine and what it was loaded from, so it can reload.
#[derive(Debug)]
pub struct RuleService {
    pub manager: Arc<sightline_alertmanager::rules::RuleManager>,
    pub dispatcher: Arc<Dispatcher>,
    patterns: Vec<String>,
    /// The Alertmanager configuration file, read again on reload.
    alertmanager_config: Option<std::path::PathBuf>,
    backend: Arc<TsdbRuleBackend>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl RuleService {
    /// Loads the configured rule files (failing on any invalid one) and
    /// starts evaluating them on the current runtime.
    pub fn start(
        config: &crate::config::Config,
        tsdb: Arc<Tsdb>,
        logs: Arc<sightline_logstore::LogStore>,
    ) -> anyhow::Result<Arc<Self>> {
        let log_rules = crate::rules_logs::LogRules {
            store: logs,
            limits: sightline_query::logql::QueryLimits {
                timeout: config.query.timeout.0,
                ..config.logs.query_limits()
            },
        };
        let backend = Arc::new(TsdbRuleBackend::new(
            tsdb,
            Engine::new(config.query.engine_options()),
            Some(log_rules),
        ));
        let groups =
            sightline_alertmanager::rules::load_files(&config.rule_files, backend.as_ref())
                .map_err(|e| anyhow::anyhow!("invalid rule files:\n{e}"))?;
        let manager = sightline_alertmanager::rules::RuleManager::new(
            Arc::clone(&backend) as Arc<dyn RuleBackend>,
            RuleOptions {
                external_url: external_url(config),
                ..config.rules.options(config.evaluation_interval.0)
            },
        );
        tracing::info!(
            groups = groups.len(),
            rules = groups.iter().map(|g| g.rules.len()).sum::<usize>(),
            "rules loaded"
        );
        let dispatcher = start_dispatcher(config)?;
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(Arc::clone(&dispatcher).run(stopped));
        let sink = Arc::clone(&dispatcher);
        manager.set_notifier(Arc::new(move |alerts: Vec<OutgoingAlert>| {
            sink.receive(alerts.into_iter().map(to_am_alert).collect());
        }));
        manager.update(groups);
        Ok(Arc::new(Self {
            manager,
            dispatcher,
            patterns: config.rule_files.clone(),
            alertmanager_config: config.alertmanager_config.clone(),
            backend,
            stop,
        }))
    }

    /// Stops rule evaluation and the dispatcher.
    pub fn stop(&self) {
        self.manager.stop();
        let _ = self.stop.send(true);
    }

    /// Reads the rule files and the Alertmanager configuration again; if
    /// either is invalid, nothing changes and the error lists every
    /// problem. Alerts of unchanged rules keep their state; the dispatcher
    /// keeps its alerts, silences and notification log.
    pub fn reload(&self) -> Result<(), String> {
        let groups =
            sightline_alertmanager::rules::load_files(&self.patterns, self.backend.as_ref())
                .map_err(|e| e.to_string());
        let notify = load_notify_config(self.alertmanager_config.as_deref());
        let (groups, notify) = match (groups, notify) {
            (Ok(g), Ok(n)) => (g, n),
            (g, n) => {
                self.dispatcher.stats.reloaded(false);
                let errors: Vec<String> = [g.err(), n.err()].into_iter().flatten().collect();
                return Err(errors.join("\n"));
            }
        };
        self.manager.update(groups);
        self.dispatcher.reload(notify);
        tracing::info!("rules and Alertmanager configuration reloaded");
        Ok(())
    }

    /// Reloads on every SIGHUP.
    pub fn reload_on_sighup(self: &Arc<Self>) {
        #[cfg(unix)]
        {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let kind = tokio::signal::unix::SignalKind::hangup();
                let Ok(mut hup) = tokio::signal::unix::signal(kind) else {
                    tracing::error!("cannot listen for SIGHUP");
                    return;
                };
                while hup.recv().await.is_some() {
                    if let Err(e) = this.reload() {
                        tracing::error!(error = %e, "reloading rules failed");
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const T: i64 = 1_700_000_000_000;

    /// A store holding `x{job, instance}` for two jobs of three instances,
    /// a sample every 15 s over the 20 minutes before `T`, and `y` on one.
    fn backend() -> (tempfile::TempDir, TsdbRuleBackend) {
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
        (dir, TsdbRuleBackend::new(tsdb, Engine::default(), None))
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
