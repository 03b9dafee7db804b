//! Rules in the server, as wiring: the rule settings, the rule engine's
//! backend (`sightline_alertmanager::rules::QueryBackend`) over this
//! server's stores, the rule service's lifecycle (start, reload, stop), and
//! `sightline rules check`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use sightline_alertmanager::rules::{
    parse_rule_file, GroupSpec, LogRules, ParseOnlyBackend, QueryBackend, RuleOptions, SeriesSink,
};
use sightline_alertmanager::RuleBackend;
use sightline_model::{Labels, Sample};
use sightline_query::Engine;
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

/// Rule results written to the metrics store: one append (WAL write and
/// fsync) per call.
struct MetricsSink(Arc<Tsdb>);

impl SeriesSink for MetricsSink {
    fn append(
        &self,
        batch: &[(Labels, Vec<Sample>)],
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.0.append(batch).map(|_| ()).map_err(Into::into)
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
    backend: Arc<QueryBackend>,
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
        let log_rules = LogRules {
            store: logs,
            limits: sightline_query::logql::QueryLimits {
                timeout: config.query.timeout.0,
                ..config.logs.query_limits()
            },
        };
        let backend = Arc::new(QueryBackend::new(
            Arc::clone(&tsdb) as _,
            Arc::new(MetricsSink(tsdb)),
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
