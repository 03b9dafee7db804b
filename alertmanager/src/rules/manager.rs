//! Runs rule groups: one task per group, evaluating on the group's interval
//! on a blocking thread; reloads keep alert state.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use super::file::GroupSpec;
use super::group::{EvalContext, Group};
use super::AlertState;
use crate::RuleBackend;

/// Settings of rule evaluation.
#[derive(Debug, Clone)]
pub struct RuleOptions {
    /// Interval of groups that do not set their own.
    pub evaluation_interval: Duration,
    /// `$externalLabels` in templates, and added to alerts sent out.
    pub external_labels: BTreeMap<String, String>,
    /// `$externalURL` in templates and the base of alerts' generator URLs.
    pub external_url: String,
    /// Alerts whose `for` is shorter than this are not restored after a
    /// restart, and restored ones fire no sooner than this after it.
    pub for_grace_period: Duration,
    /// How far back `ALERTS_FOR_STATE` is read when restoring.
    pub outage_tolerance: Duration,
    /// Firing alerts are re-sent to the notifier at most this often.
    pub resend_delay: Duration,
}

impl Default for RuleOptions {
    fn default() -> Self {
        Self {
            evaluation_interval: Duration::from_secs(60),
            external_labels: BTreeMap::new(),
            external_url: String::new(),
            for_grace_period: Duration::from_secs(600),
            outage_tolerance: Duration::from_secs(3600),
            resend_delay: Duration::from_secs(60),
        }
    }
}

/// An alert as sent to Alertmanager (its API v2 `postableAlert`); times are
/// Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub generator_url: String,
}

/// Receives the alerts to send after each group evaluation.
pub type Notifier = Arc<dyn Fn(Vec<OutgoingAlert>) + Send + Sync>;

/// Holds the groups and runs them.
pub struct RuleManager {
    backend: Arc<dyn RuleBackend>,
    options: RuleOptions,
    groups: Mutex<Vec<Arc<Mutex<Group>>>>,
    stop: Mutex<Option<watch::Sender<bool>>>,
    notifier: Mutex<Option<Notifier>>,
}

impl std::fmt::Debug for RuleManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleManager")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while evaluating leaves plain data behind; keep serving it.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl RuleManager {
    pub fn new(backend: Arc<dyn RuleBackend>, options: RuleOptions) -> Arc<Self> {
        Arc::new(Self {
            backend,
            options,
            groups: Mutex::new(Vec::new()),
            stop: Mutex::new(None),
            notifier: Mutex::new(None),
        })
    }

    pub fn options(&self) -> &RuleOptions {
        &self.options
    }

    /// Where alerts go after each evaluation (the dispatcher).
    pub fn set_notifier(&self, notifier: Notifier) {
        *lock(&self.notifier) = Some(notifier);
    }

    /// Replaces the groups with `specs` and (re)starts their evaluation on
    /// the current tokio runtime. Alerts of rules that survive the change
    /// keep their state.
    pub fn update(self: &Arc<Self>, specs: Vec<GroupSpec>) {
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(true);
        }
        // The old groups stay visible to readers until the new ones replace
        // them.
        let mut old: Vec<Arc<Mutex<Group>>> = lock(&self.groups).clone();
        let mut new = Vec::with_capacity(specs.len());
        for spec in specs {
            let mut g = Group::new(spec, self.options.evaluation_interval);
            if let Some(prev) = old.iter_mut().find(|o| {
                let o = lock(o);
                o.name == g.name && o.file == g.file
            }) {
                g.adopt(&mut lock(prev));
            }
            new.push(Arc::new(Mutex::new(g)));
        }
        let (tx, rx) = watch::channel(false);
        for g in &new {
            tokio::spawn(Arc::clone(self).run_group(Arc::clone(g), rx.clone()));
        }
        *lock(&self.groups) = new;
        *lock(&self.stop) = Some(tx);
    }

    /// Stops evaluation.
    pub fn stop(&self) {
        if let Some(stop) = lock(&self.stop).take() {
            let _ = stop.send(true);
        }
    }

    async fn run_group(self: Arc<Self>, group: Arc<Mutex<Group>>, mut stop: watch::Receiver<bool>) {
        let interval = lock(&group).interval.max(Duration::from_millis(10));
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            if *stop.borrow() {
                return;
            }
            let this = Arc::clone(&self);
            let g = Arc::clone(&group);
            let done = tokio::task::spawn_blocking(move || this.eval_group(&g)).await;
            if let Err(e) = done {
                tracing::error!(error = %e, "rule group evaluation failed");
            }
        }
    }

    /// One evaluation of one group at the current time (used by the run
    /// loop; public so callers can drive evaluation themselves).
    pub fn eval_group(&self, group: &Mutex<Group>) {
        let ts = now_ms();
        let mut g = lock(group);
        let ctx = EvalContext {
            backend: self.backend.as_ref(),
            external_labels: &self.options.external_labels,
            external_url: &self.options.external_url,
        };
        g.eval(&ctx, ts);
        g.restore(
            self.backend.as_ref(),
            ts,
            self.options.for_grace_period,
            self.options.outage_tolerance,
        );
        let outgoing = self.to_send(&mut g, ts);
        drop(g);
        if outgoing.is_empty() {
            return;
        }
        let notifier = lock(&self.notifier).clone();
        if let Some(n) = notifier {
            n(outgoing);
        }
    }

    /// Firing alerts (at most every `resend_delay`) and resolved ones, as
    /// Prometheus sends them.
    fn to_send(&self, g: &mut Group, ts: i64) -> Vec<OutgoingAlert> {
        let resend = self.options.resend_delay.as_millis() as i64;
        let valid_for = 4 * resend.max(g.interval.as_millis() as i64);
        let mut out = Vec::new();
        for r in &mut g.rules {
            for a in r.alerts.active.values_mut() {
                if a.state == AlertState::Pending {
                    continue;
                }
                let resolved_since_sent = a
                    .resolved_at
                    .is_some_and(|res| a.last_sent_at.is_none_or(|sent| sent < res));
                let due = a.last_sent_at.is_none_or(|sent| sent + resend <= ts);
                if !(resolved_since_sent || due) {
                    continue;
                }
                if a.state == AlertState::Inactive && a.last_sent_at.is_none() {
                    continue;
                }
                a.last_sent_at = Some(ts);
                let mut labels = self.options.external_labels.clone();
                labels.extend(a.labels.clone());
                out.push(OutgoingAlert {
                    labels,
                    annotations: a.annotations.clone(),
                    starts_at: a.fired_at.unwrap_or(a.active_at),
                    ends_at: a.resolved_at.unwrap_or(ts + valid_for),
                    generator_url: format!(
                        "{}/graph?g0.expr={}&g0.tab=1",
                        self.options.external_url,
                        encode(&r.spec.query)
                    ),
                });
            }
        }
        out
    }

    /// Runs `f` over the groups, sorted by file then name (the API's order).
    pub fn with_groups<T>(&self, f: impl FnOnce(&[&Group]) -> T) -> T {
        let groups: Vec<Arc<Mutex<Group>>> = lock(&self.groups).clone();
        let guards: Vec<MutexGuard<'_, Group>> = groups.iter().map(|g| lock(g)).collect();
        let mut refs: Vec<&Group> = guards.iter().map(|g| &**g).collect();
        refs.sort_by(|a, b| (&a.file, &a.name).cmp(&(&b.file, &b.name)));
        f(&refs)
    }
}

fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
