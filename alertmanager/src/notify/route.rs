//! The routing tree of `route:`: each node with its inherited settings
//! resolved, which routes an alert goes to, and how it is grouped there.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use serde::Deserialize;

use super::config::{duration, legacy_matchers, parse_matchers};
use super::matchers::Matcher;
use super::timeinterval::TimeInterval;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub receiver: Option<String>,
    group_by: Option<Vec<String>>,
    group_wait: Option<String>,
    group_interval: Option<String>,
    repeat_interval: Option<String>,
    #[serde(default)]
    pub matchers: Vec<String>,
    #[serde(default, rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    #[serde(default)]
    pub match_re: BTreeMap<String, String>,
    #[serde(default, rename = "continue")]
    continue_: bool,
    #[serde(default)]
    routes: Vec<RawRoute>,
    #[serde(default)]
    pub mute_time_intervals: Vec<String>,
    #[serde(default)]
    pub active_time_intervals: Vec<String>,
}

/// A node of the routing tree, with inherited settings resolved.
#[derive(Debug, Clone)]
pub struct Route {
    pub receiver: String,
    /// `None` is `['...']`: group by every label.
    pub group_by: Option<Vec<String>>,
    pub group_wait: Duration,
    pub group_interval: Duration,
    pub repeat_interval: Duration,
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub routes: Vec<Route>,
    /// Position in the tree (`0.1.2`): part of aggregation group keys.
    pub id: String,
    /// Names of time intervals in which the route sends nothing (not
    /// inherited by child routes, as in Alertmanager).
    pub mute_time_intervals: Vec<String>,
    /// Names of time intervals outside which the route sends nothing.
    pub active_time_intervals: Vec<String>,
}

/// What routes may refer to.
pub(crate) struct RouteNames<'a> {
    pub receivers: &'a HashSet<String>,
    pub intervals: &'a BTreeMap<String, Vec<TimeInterval>>,
}

/// Builds the node `r` (at `at` in messages, `id` in the tree) and its
/// children, inheriting unset settings from `parent`.
pub(crate) fn build_route(
    r: RawRoute,
    parent: &Route,
    at: &str,
    id: &str,
    known: &RouteNames<'_>,
    p: &mut Vec<String>,
) -> Route {
    let receiver = r.receiver.unwrap_or_else(|| parent.receiver.clone());
    if !receiver.is_empty() && !known.receivers.contains(&receiver) {
        p.push(format!(
            "{at}: undefined receiver {receiver:?} used in route"
        ));
    }
    let group_by = match r.group_by {
        None => parent.group_by.clone(),
        Some(g) if g.iter().any(|l| l == "...") => {
            if g.len() > 1 {
                p.push(format!("{at}.group_by: cannot have wildcard group_by (`...`) and other labels at the same time"));
            }
            None
        }
        Some(g) => {
            let mut seen = HashSet::new();
            for l in &g {
                if !sightline_model::is_valid_label_name(l) {
                    p.push(format!("{at}.group_by: invalid label name {l:?}"));
                }
                if !seen.insert(l) {
                    p.push(format!("{at}.group_by: duplicated label {l:?}"));
                }
            }
            Some(g)
        }
    };
    for name in r.mute_time_intervals.iter().chain(&r.active_time_intervals) {
        if !known.intervals.contains_key(name) {
            p.push(format!(
                "{at}: undefined time interval {name:?} used in route"
            ));
        }
    }
    let mut matchers = parse_matchers(&r.matchers, at, p);
    matchers.extend(legacy_matchers(&r.match_eq, &r.match_re, at, p));
    let group_interval = duration(
        &r.group_interval,
        parent.group_interval,
        &format!("{at}.group_interval"),
        p,
    );
    let repeat_interval = duration(
        &r.repeat_interval,
        parent.repeat_interval,
        &format!("{at}.repeat_interval"),
        p,
    );
    if group_interval.is_zero() {
        p.push(format!("{at}.group_interval: cannot be zero"));
    }
    if repeat_interval.is_zero() {
        p.push(format!("{at}.repeat_interval: cannot be zero"));
    }
    let mut node = Route {
        receiver,
        group_by,
        group_wait: duration(
            &r.group_wait,
            parent.group_wait,
            &format!("{at}.group_wait"),
            p,
        ),
        group_interval,
        repeat_interval,
        matchers,
        continue_: r.continue_,
        routes: Vec::new(),
        id: id.to_string(),
        mute_time_intervals: r.mute_time_intervals,
        active_time_intervals: r.active_time_intervals,
    };
    node.routes = r
        .routes
        .into_iter()
        .enumerate()
        .map(|(i, c)| {
            build_route(
                c,
                &node,
                &format!("{at}.routes[{i}]"),
                &format!("{id}.{i}"),
                known,
                p,
            )
        })
        .collect();
    node
}

impl Route {
    /// The routes an alert goes to: the deepest matching children, with
    /// `continue` letting later siblings match too; the node itself if no
    /// child matches.
    pub fn matching(&self, labels: &BTreeMap<String, String>) -> Vec<&Route> {
        if !super::matchers::all_match(&self.matchers, labels) {
            return Vec::new();
        }
        let mut out = Vec::new();
        for child in &self.routes {
            let found = child.matching(labels);
            if found.is_empty() {
                continue;
            }
            out.extend(found);
            if !child.continue_ {
                break;
            }
        }
        if out.is_empty() {
            out.push(self);
        }
        out
    }

    /// The labels an alert is grouped by on this route.
    pub fn group_labels(&self, labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
        match &self.group_by {
            None => labels.clone(),
            Some(by) => by
                .iter()
                .filter_map(|k| labels.get(k).map(|v| (k.clone(), v.clone())))
                .collect(),
        }
    }
}
