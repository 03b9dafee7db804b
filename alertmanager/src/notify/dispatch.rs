//! The dispatcher, with Alertmanager's semantics: alerts are routed to
//! aggregation groups (per route and group labels); a group first flushes
//! after `group_wait`, then every `group_interval`; at a flush, silenced and
//! inhibited alerts are dropped and each receiver integration is notified
//! only if the notification log says something changed, or
//! `repeat_interval` has passed. The log is persisted, so a restart neither
//! loses nor repeats notifications. A route in one of its
//! `mute_time_intervals`, or outside its `active_time_intervals`, skips its
//! flushes (the group keeps its alerts and timers). The configuration can
//! be swapped while running ([`Dispatcher::reload`]); alerts, silences and
//! the log stay.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::config::{NotifyConfig, Receiver, Route};
use super::matchers::all_match;
pub use super::metrics::NotifyStats;
use super::receivers::{self, Integration, Notification};
use super::silence::{write_atomically, SilenceState, Silences};

/// An alert held by the dispatcher; times are Unix ms.
#[derive(Debug, Clone, PartialEq)]
pub struct AmAlert {
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub generator_url: String,
    pub updated_at: i64,
    /// `ends_at` was not given: the alert resolves after `resolve_timeout`
    /// unless it is sent again.
    pub timeout: bool,
}

impl AmAlert {
    pub fn resolved(&self, now: i64) -> bool {
        self.ends_at <= now
    }
}

/// Prometheus's label-set fingerprint (FNV-1a over the sorted pairs).
pub fn fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut add = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for (k, v) in labels {
        add(k.as_bytes());
        add(&[255]);
        add(v.as_bytes());
        add(&[255]);
    }
    format!("{h:016x}")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct LogEntry {
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    timestamp: i64,
}

#[derive(Debug)]
struct AggrGroup {
    key: String,
    route: Route,
    labels: BTreeMap<String, String>,
    alerts: BTreeSet<String>,
    next_flush: i64,
}

struct State {
    alerts: HashMap<String, AmAlert>,
    groups: BTreeMap<String, AggrGroup>,
    nflog: BTreeMap<String, LogEntry>,
    silences: Silences,
    /// When resolved alerts no group holds are next looked for (Unix ms).
    next_forget: i64,
}

/// How often resolved alerts no group holds are looked for: the dispatcher
/// ticks every 50 ms, and scanning every alert that often is wasted work.
const FORGET_EVERY_MS: i64 = 1_000;

/// Routes, groups, mutes and sends alerts.
pub struct Dispatcher {
    config: RwLock<Arc<NotifyConfig>>,
    state: Mutex<State>,
    nflog_path: Option<PathBuf>,
    external_url: String,
    pub stats: Arc<NotifyStats>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// An alert and why it is muted, for the API.
#[derive(Debug, Clone)]
pub struct AlertView {
    pub alert: AmAlert,
    pub fingerprint: String,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
    pub receivers: Vec<String>,
}

impl Dispatcher {
    /// A dispatcher keeping its silences and notification log under
    /// `data_dir` (in memory only if `None`).
    pub fn new(
        config: NotifyConfig,
        data_dir: Option<PathBuf>,
        external_url: String,
    ) -> crate::Result<Arc<Self>> {
        let silences = Silences::open(data_dir.as_ref().map(|d| d.join("silences.json")))?;
        let nflog_path = data_dir.as_ref().map(|d| d.join("nflog.json"));
        let nflog = match &nflog_path {
            Some(p) if p.exists() => std::fs::read_to_string(p)
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok())
                .unwrap_or_default(),
            _ => BTreeMap::new(),
        };
        let stats = Arc::new(NotifyStats::default());
        stats.reloaded(true);
        Ok(Arc::new(Self {
            config: RwLock::new(Arc::new(config)),
            state: Mutex::new(State {
                alerts: HashMap::new(),
                groups: BTreeMap::new(),
                nflog,
                silences,
                next_forget: 0,
            }),
            nflog_path,
            external_url,
            stats,
        }))
    }

    /// The configuration in force.
    pub fn config(&self) -> Arc<NotifyConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Puts `config` in force. Alerts, silences and the notification log
    /// stay; alerts are routed again, groups that still exist keep their
    /// timers and new ones wait their `group_wait`. Sends already under way
    /// finish with the integration they started with.
    pub fn reload(&self, config: NotifyConfig) {
        let config = Arc::new(config);
        let now = now_ms();
        let mut st = lock(&self.state);
        let old = std::mem::take(&mut st.groups);
        let mut groups = BTreeMap::new();
        for (fp, a) in &st.alerts {
            for route in config.route.matching(&a.labels) {
                let labels = route.group_labels(&a.labels);
                let key = group_key(route, &labels);
                let next_flush = old
                    .get(&key)
                    .map_or(now + route.group_wait.as_millis() as i64, |g| g.next_flush);
                groups
                    .entry(key.clone())
                    .or_insert_with(|| AggrGroup {
                        key,
                        route: route.clone(),
                        labels,
                        alerts: BTreeSet::new(),
                        next_flush,
                    })
                    .alerts
                    .insert(fp.clone());
            }
        }
        st.groups = groups;
        *self.config.write().unwrap_or_else(PoisonError::into_inner) = config;
        drop(st);
        self.stats.reloaded(true);
    }

    /// The dispatcher's metrics in the Prometheus text format, under
    /// Alertmanager's names.
    pub fn metrics_text(&self) -> String {
        let now = now_ms();
        let (mut active, mut suppressed) = (0, 0);
        for v in self.alerts() {
            if v.silenced_by.is_empty() && v.inhibited_by.is_empty() {
                active += 1;
            } else {
                suppressed += 1;
            }
        }
        let mut sil = [0usize; 3];
        self.with_silences(|s| {
            for x in s.list() {
                sil[match x.state(now) {
                    SilenceState::Active => 0,
                    SilenceState::Pending => 1,
                    SilenceState::Expired => 2,
                }] += 1;
            }
        });
        let mut out = self.stats.exposition();
        out.push_str(&super::metrics::state_gauges(
            [("active", active), ("suppressed", suppressed)],
            [("active", sil[0]), ("pending", sil[1]), ("expired", sil[2])],
        ));
        out
    }

    /// Takes alerts in (from rules or `POST /api/v2/alerts`).
    pub fn receive(&self, alerts: Vec<AmAlert>) {
        let now = now_ms();
        let mut st = lock(&self.state);
        // Read under the state lock: a reload swaps the two together.
        let config = self.config();
        for mut a in alerts {
            a.updated_at = now;
            if a.ends_at == 0 {
                a.timeout = true;
                a.ends_at = now + config.resolve_timeout.as_millis() as i64;
            }
            let fp = fingerprint(&a.labels);
            if let Some(old) = st.alerts.get(&fp) {
                // Same alert again: keep when it started, unless the old one
                // had already ended before the new one begins.
                if !old.resolved(a.starts_at.max(now)) || old.ends_at >= a.starts_at {
                    a.starts_at = a.starts_at.min(old.starts_at);
                }
            }
            for route in config.route.matching(&a.labels) {
                let labels = route.group_labels(&a.labels);
                let key = group_key(route, &labels);
                let wait = route.group_wait.as_millis() as i64;
                let g = st.groups.entry(key.clone()).or_insert_with(|| AggrGroup {
                    key,
                    route: route.clone(),
                    labels,
                    alerts: BTreeSet::new(),
                    next_flush: now + wait,
                });
                g.alerts.insert(fp.clone());
            }
            st.alerts.insert(fp, a);
        }
    }

    /// Runs the dispatcher until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            self.flush_due();
        }
    }

    /// The silences and the inhibiting alerts muting alert `a`, whose
    /// fingerprint is `fp`.
    fn muted(
        config: &NotifyConfig,
        st: &State,
        fp: &str,
        a: &AmAlert,
        now: i64,
    ) -> (Vec<String>, Vec<String>) {
        let silenced = st.silences.muting(&a.labels, now);
        let mut inhibited = Vec::new();
        for rule in &config.inhibit_rules {
            if !all_match(&rule.target, &a.labels) {
                continue;
            }
            for (sfp, s) in &st.alerts {
                if sfp == fp || s.resolved(now) || !all_match(&rule.source, &s.labels) {
                    continue;
                }
                if rule
                    .equal
                    .iter()
                    .all(|l| s.labels.get(l) == a.labels.get(l))
                {
                    inhibited.push(sfp.clone());
                    break;
                }
            }
        }
        (silenced, inhibited)
    }

    /// Flushes every group whose time has come.
    pub fn flush_due(self: &Arc<Self>) {
        let now = now_ms();
        let mut st = lock(&self.state);
        let due: Vec<String> = st
            .groups
            .values()
            .filter(|g| g.next_flush <= now)
            .map(|g| g.key.clone())
            .collect();
        if due.is_empty() && now < st.next_forget {
            return;
        }
        let config = self.config();
        let mut jobs = Vec::new();
        for key in due {
            let Some(g) = st.groups.get(&key) else {
                continue;
            };
            let route = g.route.clone();
            let group_labels = g.labels.clone();
            let members: Vec<String> = g.alerts.iter().cloned().collect();
            let mut firing = Vec::new();
            let mut resolved = Vec::new();
            for fp in &members {
                let Some(a) = st.alerts.get(fp) else { continue };
                let (s, i) = Self::muted(&config, &st, fp, a, now);
                if !s.is_empty() || !i.is_empty() {
                    continue;
                }
                if a.resolved(now) {
                    resolved.push((fp.clone(), a.clone()));
                } else {
                    firing.push((fp.clone(), a.clone()));
                }
            }
            // Outside its active times, or inside a mute time, the route
            // sends nothing; the group carries on as usual.
            let time_muted = config.time_muted(&route, now);
            if let Some(why) = &time_muted {
                tracing::debug!(group = %key, reason = %why, "notifications muted by time");
            }
            let receiver = config
                .receiver(&route.receiver)
                .filter(|_| time_muted.is_none());
            if let Some(receiver) = receiver {
                let firing_set: BTreeSet<String> = firing.iter().map(|(f, _)| f.clone()).collect();
                let resolved_set: BTreeSet<String> =
                    resolved.iter().map(|(f, _)| f.clone()).collect();
                for integration in receivers::integrations(receiver) {
                    let log_key = format!("{key}/{}/{}", receiver.name, integration.id());
                    let entry = st.nflog.get(&log_key);
                    let repeat = route.repeat_interval.as_millis() as i64;
                    if !needs_update(
                        entry,
                        &firing_set,
                        &resolved_set,
                        integration.send_resolved(),
                        repeat,
                        now,
                    ) {
                        continue;
                    }
                    let mut alerts: Vec<(String, AmAlert)> = firing.clone();
                    if integration.send_resolved() {
                        alerts.extend(resolved.iter().cloned());
                    }
                    jobs.push(Job {
                        log_key,
                        firing: firing_set.clone(),
                        resolved: resolved_set.clone(),
                        notification: Notification {
                            receiver: receiver.name.clone(),
                            group_key: key.clone(),
                            group_labels: group_labels.clone(),
                            alerts,
                            external_url: self.external_url.clone(),
                            now,
                            templates: Arc::clone(&config.templates),
                        },
                        integration,
                        deadline: now + route.group_interval.as_millis() as i64,
                    });
                }
            }
            // Resolved alerts leave the group once handled.
            let resolved_fps: Vec<String> = members
                .iter()
                .filter(|fp| st.alerts.get(*fp).is_none_or(|a| a.resolved(now)))
                .cloned()
                .collect();
            if let Some(g) = st.groups.get_mut(&key) {
                for fp in &resolved_fps {
                    g.alerts.remove(fp);
                }
                g.next_flush = now + route.group_interval.as_millis() as i64;
                if g.alerts.is_empty() {
                    st.groups.remove(&key);
                }
            }
        }
        // Forget resolved alerts no group holds any more (now and then).
        if now >= st.next_forget {
            st.next_forget = now + FORGET_EVERY_MS;
            let st = &mut *st;
            let held: HashSet<&str> = st
                .groups
                .values()
                .flat_map(|g| g.alerts.iter().map(String::as_str))
                .collect();
            st.alerts
                .retain(|fp, a| held.contains(fp.as_str()) || !a.resolved(now - 15 * 60 * 1000));
        }
        drop(st);
        for job in jobs {
            let this = Arc::clone(self);
            tokio::spawn(async move { this.deliver(job).await });
        }
    }

    async fn deliver(self: Arc<Self>, job: Job) {
        let kind = job.integration.kind_index();
        self.stats.notification(kind);
        let mut backoff = Duration::from_millis(100);
        loop {
            let started = Instant::now();
            let result = receivers::send(&job.integration, &job.notification).await;
            self.stats.request(kind, started.elapsed(), result.is_ok());
            match result {
                Ok(()) => {
                    self.record(&job);
                    return;
                }
                Err(e) => {
                    tracing::warn!(receiver = %job.notification.receiver, integration = job.integration.id(), error = %e, "notification failed");
                    if now_ms() + backoff.as_millis() as i64 >= job.deadline {
                        self.stats.failed(kind, e.reason);
                        return;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            }
        }
    }

    fn record(&self, job: &Job) {
        let mut st = lock(&self.state);
        st.nflog.insert(
            job.log_key.clone(),
            LogEntry {
                firing: job.firing.clone(),
                resolved: job.resolved.clone(),
                timestamp: job.notification.now,
            },
        );
        if let Some(p) = &self.nflog_path {
            match serde_json::to_vec(&st.nflog) {
                Ok(body) => {
                    if let Err(e) = write_atomically(p, &body) {
                        tracing::error!(error = %e, "cannot persist the notification log");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot encode the notification log"),
            }
        }
    }

    /// Alerts (not yet resolved) with their mute status, for the API.
    pub fn alerts(&self) -> Vec<AlertView> {
        let now = now_ms();
        let st = lock(&self.state);
        let config = self.config();
        let mut out: Vec<AlertView> = st
            .alerts
            .iter()
            .filter(|(_, a)| !a.resolved(now))
            .map(|(fp, a)| {
                let (s, i) = Self::muted(&config, &st, fp, a, now);
                AlertView {
                    alert: a.clone(),
                    fingerprint: fp.clone(),
                    silenced_by: s,
                    inhibited_by: i,
                    receivers: config
                        .route
                        .matching(&a.labels)
                        .iter()
                        .map(|r| r.receiver.clone())
                        .collect(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        out
    }

    /// Aggregation groups: (labels, receiver, alert fingerprints).
    pub fn groups(&self) -> Vec<(BTreeMap<String, String>, String, Vec<String>)> {
        let st = lock(&self.state);
        st.groups
            .values()
            .map(|g| {
                (
                    g.labels.clone(),
                    g.route.receiver.clone(),
                    g.alerts.iter().cloned().collect(),
                )
            })
            .collect()
    }

    /// Runs `f` on the silences.
    pub fn with_silences<T>(&self, f: impl FnOnce(&mut Silences) -> T) -> T {
        f(&mut lock(&self.state).silences)
    }

    pub fn receivers(&self) -> Vec<String> {
        self.config()
            .receivers
            .iter()
            .map(|r: &Receiver| r.name.clone())
            .collect()
    }
}

struct Job {
    log_key: String,
    firing: BTreeSet<String>,
    resolved: BTreeSet<String>,
    notification: Notification,
    integration: Integration,
    deadline: i64,
}

fn needs_update(
    entry: Option<&LogEntry>,
    firing: &BTreeSet<String>,
    resolved: &BTreeSet<String>,
    send_resolved: bool,
    repeat_ms: i64,
    now: i64,
) -> bool {
    let Some(e) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    if firing.is_empty() {
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    e.timestamp < now - repeat_ms
}

/// Alertmanager's group key: the route's matcher path, then the group labels.
fn group_key(route: &Route, labels: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::String(v.clone())))
        .collect();
    let route_part = if route.matchers.is_empty() {
        format!("{{}}/{}", route.id)
    } else {
        let ms: Vec<String> = route.matchers.iter().map(|m| m.to_text()).collect();
        format!("{{}}/{{{}}}/{}", ms.join(","), route.id)
    };
    format!("{route_part}:{{{}}}", pairs.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn dedup_follows_alertmanager() {
        let e = LogEntry {
            firing: set(&["a"]),
            resolved: set(&[]),
            timestamp: 1000,
        };
        assert!(needs_update(
            None,
            &set(&["a"]),
            &set(&[]),
            false,
            100,
            1000
        ));
        assert!(!needs_update(
            None,
            &set(&[]),
            &set(&["a"]),
            true,
            100,
            1000
        ));
        assert!(!needs_update(
            Some(&e),
            &set(&["a"]),
            &set(&[]),
            false,
            10_000,
            2000
        ));
        assert!(needs_update(
            Some(&e),
            &set(&["a"]),
            &set(&[]),
            false,
            500,
            2000
        ));
        assert!(needs_update(
            Some(&e),
            &set(&["a", "b"]),
            &set(&[]),
            false,
            10_000,
            2000
        ));
        assert!(needs_update(
            Some(&e),
            &set(&[]),
            &set(&["a"]),
            false,
            10_000,
            2000
        ));
    }

    #[test]
    fn fingerprint_is_prometheus_fnv() {
        let empty = BTreeMap::new();
        assert_eq!(fingerprint(&empty), "cbf29ce484222325");
    }
}
