//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON shapes.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use super::file::RuleKind;
use super::group::{Group, RuleStatus};
use super::{Alert, AlertState, RuleManager};
use crate::template::gofmt::format_e_shortest;

/// Go's `time.Time` JSON (RFC 3339, nanoseconds without trailing zeros);
/// `None` is Go's zero time.
pub fn rfc3339(ms: Option<i64>) -> String {
    let Some(ms) = ms else {
        return "0001-01-01T00:00:00Z".into();
    };
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || "0001-01-01T00:00:00Z".into(),
        |t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true),
    )
}

/// A float as Go's JSON encoder writes it: integral values without `.0`.
fn go_float(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn map(m: &BTreeMap<String, String>) -> Value {
    Value::Object(
        m.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn alert_json(a: &Alert) -> Value {
    json!({
        "labels": map(&a.labels),
        "annotations": map(&a.annotations),
        "state": a.state.as_str(),
        "activeAt": rfc3339(Some(a.active_at)),
        "value": format_e_shortest(a.value),
    })
}

fn rule_json(r: &RuleStatus, type_filter: Option<&str>) -> Option<Value> {
    let mut o = Map::new();
    match &r.spec.kind {
        RuleKind::Alerting {
            hold,
            keep_firing_for,
            annotations,
            ..
        } => {
            if type_filter.is_some_and(|t| t != "alert") {
                return None;
            }
            o.insert("state".into(), r.state().as_str().into());
            o.insert("name".into(), r.spec.name().into());
            o.insert("query".into(), r.spec.query.clone().into());
            o.insert("duration".into(), go_float(hold.as_secs_f64()));
            o.insert(
                "keepFiringFor".into(),
                go_float(keep_firing_for.as_secs_f64()),
            );
            o.insert("labels".into(), map(&r.labels));
            o.insert("annotations".into(), map(annotations));
            let alerts: Vec<Value> = r
                .alerts()
                .into_iter()
                .filter(|a| a.state != AlertState::Inactive)
                .map(alert_json)
                .collect();
            o.insert("alerts".into(), Value::Array(alerts));
        }
        RuleKind::Recording { .. } => {
            if type_filter.is_some_and(|t| t != "record") {
                return None;
            }
            o.insert("name".into(), r.spec.name().into());
            o.insert("query".into(), r.spec.query.clone().into());
            if !r.labels.is_empty() {
                o.insert("labels".into(), map(&r.labels));
            }
        }
    }
    o.insert("health".into(), r.health.as_str().into());
    if let Some(e) = &r.last_error {
        o.insert("lastError".into(), e.clone().into());
    }
    o.insert(
        "evaluationTime".into(),
        go_float(r.evaluation_time.as_secs_f64()),
    );
    o.insert("lastEvaluation".into(), rfc3339(r.last_evaluation).into());
    o.insert(
        "type".into(),
        match r.spec.kind {
            RuleKind::Alerting { .. } => "alerting",
            RuleKind::Recording { .. } => "recording",
        }
        .into(),
    );
    Some(Value::Object(o))
}

fn group_json(g: &Group, type_filter: Option<&str>) -> Value {
    let rules: Vec<Value> = g
        .rules
        .iter()
        .filter_map(|r| rule_json(r, type_filter))
        .collect();
    json!({
        "name": g.name,
        "file": g.file,
        "rules": rules,
        "interval": go_float(g.interval.as_secs_f64()),
        "limit": g.limit,
        "evaluationTime": go_float(g.evaluation_time.as_secs_f64()),
        "lastEvaluation": rfc3339(g.last_evaluation),
    })
}

/// The `data` of `/api/v1/rules`; `type_filter` is the `type` parameter
/// (`alert` or `record`).
pub fn rules_data(manager: &RuleManager, type_filter: Option<&str>) -> Value {
    manager.with_groups(|groups| {
        let groups: Vec<Value> = groups.iter().map(|g| group_json(g, type_filter)).collect();
        json!({ "groups": groups })
    })
}

/// The `data` of `/api/v1/alerts`: every pending and firing alert.
pub fn alerts_data(manager: &RuleManager) -> Value {
    manager.with_groups(|groups| {
        let alerts: Vec<Value> = groups
            .iter()
            .flat_map(|g| g.rules.iter())
            .flat_map(|r| r.alerts())
            .filter(|a| a.state != AlertState::Inactive)
            .map(alert_json)
            .collect();
        json!({ "alerts": alerts })
    })
}
