//! Alertmanager API v2 (the subset `amtool` and Prometheus use):
//! `/api/v2/status`, `/api/v2/alerts` (GET, POST), `/api/v2/alerts/groups`,
//! `/api/v2/silences` (GET, POST), `/api/v2/silence/{id}` (GET, DELETE),
//! `/api/v2/receivers`. Errors are Alertmanager's: a status code and a JSON
//! string.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sightline_alertmanager::notify::dispatch::now_ms;
use sightline_alertmanager::notify::matchers::{all_match, ApiMatcher, MatchType, Matcher};
use sightline_alertmanager::notify::silence::{Silence, SilenceError};
use sightline_alertmanager::notify::{AlertView, AmAlert, Dispatcher};
use sightline_alertmanager::rules::api::rfc3339;

use super::AppState;

/// The API v2 routes over a dispatcher.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
}

/// What the Alertmanager handlers reach: the dispatcher and when the API
/// started (reported as Alertmanager's uptime).
#[derive(Debug)]
pub struct AlertsState {
    dispatcher: Arc<Dispatcher>,
    at: i64,
}

impl AlertsState {
    pub fn new(dispatcher: Arc<Dispatcher>) -> Self {
        Self {
            dispatcher,
            at: now_ms(),
        }
    }
}

impl FromRef<AppState> for Arc<AlertsState> {
    fn from_ref(state: &AppState) -> Self {
        Arc::clone(&state.alerts)
    }
}

type S = State<Arc<AlertsState>>;

/// An error in Alertmanager's shape: a JSON string body.
fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(Value::String(message.into()))).into_response()
}

/// A server-side failure: logged with the request id, which the body names.
fn internal(detail: impl std::fmt::Display) -> Response {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        super::request_id::internal(&detail),
    )
}

/// Go's zero `time.Time` in Unix milliseconds.
const GO_ZERO_TIME_MS: i64 = -62_135_596_800_000;

fn parse_time(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

async fn status(State(s): S) -> Response {
    Json(json!({
        "cluster": {"name": "", "status": "disabled", "peers": []},
        "config": {"original": s.dispatcher.config().original},
        "uptime": rfc3339(Some(s.at)),
        "versionInfo": {
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": "", "version": env!("CARGO_PKG_VERSION"),
        },
    }))
    .into_response()
}

async fn receivers(State(s): S) -> Response {
    let names: Vec<Value> = s
        .dispatcher
        .receivers()
        .into_iter()
        .map(|n| json!({"name": n}))
        .collect();
    Json(Value::Array(names)).into_response()
}

fn alert_json(v: &AlertView) -> Value {
    let state = if v.silenced_by.is_empty() && v.inhibited_by.is_empty() {
        "active"
    } else {
        "suppressed"
    };
    let receivers: Vec<Value> = v.receivers.iter().map(|r| json!({"name": r})).collect();
    json!({
        "annotations": v.alert.annotations,
        "endsAt": rfc3339(Some(v.alert.ends_at)),
        "fingerprint": v.fingerprint,
        "receivers": receivers,
        "startsAt": rfc3339(Some(v.alert.starts_at)),
        "status": {"inhibitedBy": v.inhibited_by, "silencedBy": v.silenced_by, "state": state},
        "updatedAt": rfc3339(Some(v.alert.updated_at)),
        "generatorURL": v.alert.generator_url,
        "labels": v.alert.labels,
    })
}

/// `filter`, `active`, `silenced`, `inhibited`, `receiver` parameters.
struct AlertFilter {
    matchers: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    receiver: Option<Matcher>,
}

impl AlertFilter {
    fn parse(query: Option<&str>) -> Result<Self, String> {
        let mut f = AlertFilter {
            matchers: Vec::new(),
            active: true,
            silenced: true,
            inhibited: true,
            receiver: None,
        };
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            let flag = || v != "false";
            match k.as_ref() {
                "filter" => f.matchers.extend(Matcher::parse_list(&v)?),
                "active" => f.active = flag(),
                "silenced" => f.silenced = flag(),
                "inhibited" => f.inhibited = flag(),
                "receiver" if !v.is_empty() => {
                    f.receiver = Some(Matcher::new("receiver", MatchType::Regex, &v)?);
                }
                _ => {}
            }
        }
        Ok(f)
    }

    fn keeps(&self, v: &AlertView) -> bool {
        let silenced = !v.silenced_by.is_empty();
        let inhibited = !v.inhibited_by.is_empty();
        if !self.active && !silenced && !inhibited {
            return false;
        }
        if !self.silenced && silenced {
            return false;
        }
        if !self.inhibited && inhibited {
            return false;
        }
        if let Some(r) = &self.receiver {
            let matched = v
                .receivers
                .iter()
                .any(|n| r.matches(&BTreeMap::from([("receiver".to_string(), n.clone())])));
            if !matched {
                return false;
            }
        }
        all_match(&self.matchers, &v.alert.labels)
    }
}

async fn get_alerts(State(s): S, RawQuery(q): RawQuery) -> Response {
    let filter = match AlertFilter::parse(q.as_deref()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let alerts: Vec<Value> = s
        .dispatcher
        .alerts()
        .iter()
        .filter(|v| filter.keeps(v))
        .map(alert_json)
        .collect();
    Json(Value::Array(alerts)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableAlert {
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    starts_at: Option<String>,
    ends_at: Option<String>,
    #[serde(default, rename = "generatorURL")]
    generator_url: String,
}

async fn post_alerts(State(s): S, body: Bytes) -> Response {
    let posted: Vec<PostableAlert> = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let now = now_ms();
    let mut alerts = Vec::with_capacity(posted.len());
    let mut problems = Vec::new();
    for p in posted {
        // Go's zero time (`0001-01-01T00:00:00Z`) means "not set".
        let time = |v: &Option<String>| {
            v.as_deref()
                .filter(|s| !s.is_empty())
                .map(parse_time)
                .filter(|t| t.is_none_or(|ms| ms > GO_ZERO_TIME_MS))
        };
        let (starts, ends) = (time(&p.starts_at), time(&p.ends_at));
        if matches!(starts, Some(None)) || matches!(ends, Some(None)) {
            problems.push("invalid time".to_string());
            continue;
        }
        let labels: BTreeMap<String, String> = p
            .labels
            .into_iter()
            .filter(|(_, v)| !v.is_empty())
            .collect();
        if labels.is_empty() {
            problems.push("at least one label pair required".into());
            continue;
        }
        if let Some(bad) = labels
            .keys()
            .find(|k| !sightline_model::is_valid_label_name(k))
        {
            problems.push(format!("invalid label set: invalid name {bad:?}"));
            continue;
        }
        let starts_at = starts.flatten().unwrap_or(now);
        let ends_at = ends.flatten().unwrap_or(0);
        if ends_at != 0 && ends_at < starts_at {
            problems.push("start time must be before end time".into());
            continue;
        }
        alerts.push(AmAlert {
            labels,
            annotations: p.annotations,
            starts_at,
            ends_at,
            generator_url: p.generator_url,
            updated_at: now,
            timeout: false,
        });
    }
    s.dispatcher.receive(alerts);
    if problems.is_empty() {
        StatusCode::OK.into_response()
    } else {
        error(StatusCode::BAD_REQUEST, problems.join(";"))
    }
}

async fn groups(State(s): S, RawQuery(q): RawQuery) -> Response {
    let filter = match AlertFilter::parse(q.as_deref()) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let alerts: BTreeMap<String, AlertView> = s
        .dispatcher
        .alerts()
        .into_iter()
        .map(|v| (v.fingerprint.clone(), v))
        .collect();
    let out: Vec<Value> = s
        .dispatcher
        .groups()
        .into_iter()
        .filter_map(|(labels, receiver, fps)| {
            let members: Vec<Value> = fps
                .iter()
                .filter_map(|fp| alerts.get(fp))
                .filter(|v| filter.keeps(v))
                .map(alert_json)
                .collect();
            (!members.is_empty()).then(
                || json!({"labels": labels, "receiver": {"name": receiver}, "alerts": members}),
            )
        })
        .collect();
    Json(Value::Array(out)).into_response()
}

fn silence_json(sil: &Silence, now: i64) -> Value {
    json!({
        "id": sil.id,
        "status": {"state": sil.state(now).as_str()},
        "updatedAt": rfc3339(Some(sil.updated_at)),
        "comment": sil.comment,
        "createdBy": sil.created_by,
        "endsAt": rfc3339(Some(sil.ends_at)),
        "matchers": sil.matchers,
        "startsAt": rfc3339(Some(sil.starts_at)),
    })
}

async fn get_silences(State(s): S, RawQuery(q): RawQuery) -> Response {
    let mut matchers = Vec::new();
    for (k, v) in form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes()) {
        if k == "filter" {
            match Matcher::parse_list(&v) {
                Ok(m) => matchers.extend(m),
                Err(e) => return error(StatusCode::BAD_REQUEST, e),
            }
        }
    }
    let now = now_ms();
    let list: Vec<Value> = s.dispatcher.with_silences(|sil| {
        let mut l: Vec<&Silence> = sil
            .list()
            .iter()
            .filter(|x| {
                // A silence passes a filter when its own equality matchers
                // satisfy it (as Alertmanager's silence filtering).
                let labels: BTreeMap<String, String> = x
                    .matchers
                    .iter()
                    .map(|m| (m.name.clone(), m.value.clone()))
                    .collect();
                all_match(&matchers, &labels)
            })
            .collect();
        l.sort_by_key(|x| (x.state(now) as u8, x.ends_at));
        l.into_iter().map(|x| silence_json(x, now)).collect()
    });
    Json(Value::Array(list)).into_response()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PostableSilence {
    #[serde(default)]
    id: String,
    matchers: Vec<ApiMatcher>,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    comment: String,
}

async fn post_silence(State(s): S, body: Bytes) -> Response {
    let p: PostableSilence = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let (Some(starts_at), Some(ends_at)) = (parse_time(&p.starts_at), parse_time(&p.ends_at))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid startsAt or endsAt");
    };
    let silence = Silence {
        id: p.id,
        matchers: p.matchers,
        starts_at,
        ends_at,
        updated_at: 0,
        created_by: p.created_by,
        comment: p.comment,
    };
    let d = Arc::clone(&s.dispatcher);
    let r =
        tokio::task::spawn_blocking(move || d.with_silences(|sil| sil.upsert(silence, now_ms())))
            .await;
    match r {
        Ok(Ok(id)) => Json(json!({"silenceID": id})).into_response(),
        Ok(Err(SilenceError::NotFound(id))) => {
            error(StatusCode::NOT_FOUND, format!("silence {id} not found"))
        }
        Ok(Err(SilenceError::Invalid(m))) => error(StatusCode::BAD_REQUEST, m),
        Ok(Err(e)) => internal(format_args!("saving a silence: {e}")),
        Err(e) => internal(e),
    }
}

async fn get_silence(State(s): S, Path(id): Path<String>) -> Response {
    let now = now_ms();
    match s
        .dispatcher
        .with_silences(|sil| sil.get(&id).map(|x| silence_json(x, now)))
    {
        Some(v) => Json(v).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_silence(State(s): S, Path(id): Path<String>) -> Response {
    let d = Arc::clone(&s.dispatcher);
    let r =
        tokio::task::spawn_blocking(move || d.with_silences(|sil| sil.expire(&id, now_ms()))).await;
    match r {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(SilenceError::NotFound(_))) => StatusCode::NOT_FOUND.into_response(),
        Ok(Err(SilenceError::Invalid(m))) => error(StatusCode::BAD_REQUEST, m),
        Ok(Err(e)) => internal(format_args!("expiring a silence: {e}")),
        Err(e) => internal(e),
    }
}

#[cfg(test)]
mod error_tests {
    use super::*;

    #[tokio::test]
    async fn a_server_side_failure_names_the_request_id_not_the_detail() {
        let response = internal("writing /data/alertmanager/silences.json: disk full");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        let text = body.as_str().unwrap_or_default();
        assert!(
            text.starts_with("internal server error (request id "),
            "{body}"
        );
        assert!(!text.contains("disk full"), "{body}");
    }
}
