//! An alerting rule's alerts and Prometheus's state machine:
//! inactive ▶ pending ▶ firing (after `for`) ▶ inactive (resolved), with
//! `keep_firing_for` holding a firing alert after its condition clears.

use std::collections::{BTreeMap, HashMap, HashSet};

use sightline_model::{Labels, METRIC_NAME};

use crate::template::{expand, QueryFn, TemplateData};
use crate::QueryResult;

/// Resolved alerts are kept (and re-sent) this long, as Prometheus.
const RESOLVED_RETENTION_MS: i64 = 15 * 60 * 1000;

/// An alert's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    /// The name the API and the `alertstate` label use.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert of an alerting rule; times are Unix milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Sorted, with `alertname`.
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub state: AlertState,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub keep_firing_since: Option<i64>,
}

/// What an alerting rule needs to evaluate.
pub(crate) struct AlertingParams<'a> {
    pub name: &'a str,
    pub hold_ms: i64,
    pub keep_firing_for_ms: i64,
    pub labels: &'a BTreeMap<String, String>,
    pub annotations: &'a BTreeMap<String, String>,
    pub limit: usize,
    pub external_labels: &'a BTreeMap<String, String>,
    pub external_url: &'a str,
}

/// The alerts of one rule, keyed by their label set.
#[derive(Debug, Default)]
pub(crate) struct AlertSet {
    pub active: HashMap<BTreeMap<String, String>, Alert>,
    /// `for` state has been restored (or needed no restoring): only then are
    /// `ALERTS_FOR_STATE` samples written.
    pub restored: bool,
}

fn to_labels(m: &BTreeMap<String, String>) -> Labels {
    Labels::from_pairs(m.iter().filter(|(_, v)| !v.is_empty()))
}

impl AlertSet {
    /// One evaluation at `ts`: updates the alerts from the query result and
    /// returns the `ALERTS` and `ALERTS_FOR_STATE` samples to write.
    pub fn eval(
        &mut self,
        p: &AlertingParams<'_>,
        result: QueryResult,
        ts: i64,
        query: QueryFn<'_>,
    ) -> Result<Vec<(Labels, f64)>, String> {
        let mut seen: HashSet<BTreeMap<String, String>> = HashSet::new();
        let mut fresh: Vec<Alert> = Vec::new();
        for s in result {
            let mut labels: BTreeMap<String, String> = s
                .labels
                .iter()
                .filter(|l| l.name != METRIC_NAME)
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            let data = TemplateData {
                labels: labels.clone(),
                external_labels: p.external_labels.clone(),
                external_url: p.external_url.to_string(),
                value: s.value,
            };
            for (k, v) in p.labels {
                let v = expand(v, &data, Some(query));
                if v.is_empty() {
                    labels.remove(k);
                } else {
                    labels.insert(k.clone(), v);
                }
            }
            let annotations: BTreeMap<String, String> = p
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), expand(v, &data, Some(query))))
                .collect();
            labels.insert("alertname".into(), p.name.to_string());
            if !seen.insert(labels.clone()) {
                return Err(
                    "vector contains metrics with the same labelset after applying alert labels"
                        .into(),
                );
            }
            if let Some(a) = self.active.get_mut(&labels) {
                if a.state != AlertState::Inactive {
                    a.value = s.value;
                    a.annotations = annotations;
                    continue;
                }
            }
            fresh.push(Alert {
                labels,
                annotations,
                state: AlertState::Pending,
                value: s.value,
                active_at: ts,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                keep_firing_since: None,
            });
        }
        for a in fresh {
            self.active.insert(a.labels.clone(), a);
        }
        let mut to_delete = Vec::new();
        for (key, a) in &mut self.active {
            if !seen.contains(key) {
                if p.keep_firing_for_ms > 0 && a.state == AlertState::Firing {
                    let since = *a.keep_firing_since.get_or_insert(ts);
                    if ts - since < p.keep_firing_for_ms {
                        continue;
                    }
                }
                if a.state == AlertState::Pending
                    || a.resolved_at
                        .is_some_and(|r| ts - r > RESOLVED_RETENTION_MS)
                {
                    to_delete.push(key.clone());
                } else if a.state != AlertState::Inactive {
                    a.state = AlertState::Inactive;
                    a.resolved_at = Some(ts);
                }
                continue;
            }
            a.keep_firing_since = None;
            if a.state == AlertState::Pending && ts - a.active_at >= p.hold_ms {
                a.state = AlertState::Firing;
                a.fired_at = Some(ts);
            }
        }
        for k in to_delete {
            self.active.remove(&k);
        }
        let pending_or_firing = self
            .active
            .values()
            .filter(|a| a.state != AlertState::Inactive)
            .count();
        if p.limit > 0 && pending_or_firing > p.limit {
            self.active.clear();
            return Err(format!(
                "exceeded limit of {} with {} alerts",
                p.limit, pending_or_firing
            ));
        }
        let mut out = Vec::new();
        for a in self.active.values() {
            if a.state == AlertState::Inactive {
                continue;
            }
            let mut l = a.labels.clone();
            l.insert(METRIC_NAME.into(), "ALERTS".into());
            l.insert("alertstate".into(), a.state.as_str().into());
            out.push((to_labels(&l), 1.0));
            if self.restored {
                let mut l = a.labels.clone();
                l.insert(METRIC_NAME.into(), "ALERTS_FOR_STATE".into());
                out.push((to_labels(&l), (a.active_at / 1000) as f64));
            }
        }
        Ok(out)
    }

    /// The rule's state: the highest of its alerts'.
    pub fn state(&self) -> AlertState {
        self.active
            .values()
            .map(|a| a.state)
            .max()
            .unwrap_or(AlertState::Inactive)
    }

    /// Applies Prometheus's `for`-state restore to the active alerts, given
    /// each alert's last `ALERTS_FOR_STATE` sample before `ts`
    /// (`(sample time ms, active-at seconds)`).
    pub fn restore(
        &mut self,
        last: &HashMap<BTreeMap<String, String>, (i64, f64)>,
        ts: i64,
        hold_ms: i64,
        grace_ms: i64,
    ) {
        for (key, a) in &mut self.active {
            let Some(&(down_at, active_secs)) = last.get(key) else {
                continue;
            };
            let mut restored = (active_secs as i64) * 1000;
            let remaining = hold_ms - (down_at - restored);
            if remaining <= 0 {
                // It was firing when the server went down; the next
                // evaluation makes it fire again if it still holds.
            } else if remaining < grace_ms {
                restored = ts + grace_ms - hold_ms;
            } else {
                restored += ts - down_at;
            }
            a.active_at = restored;
        }
        self.restored = true;
    }
}
