//! Health, readiness, self-metrics, and the Prometheus `status` endpoints.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::error::success;
use super::AppState;
use crate::telemetry;

/// The Prometheus HTTP API version whose behaviour we match; clients such as
/// Grafana read it from buildinfo to choose features.
const PROMETHEUS_API_VERSION: &str = "2.42.0";

pub async fn healthy() -> &'static str {
    "Sightline is Healthy.\n"
}

/// The listener is only opened once the WAL has been replayed, so a server
/// that answers is ready.
pub async fn ready() -> &'static str {
    "Sightline is Ready.\n"
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = telemetry::render(&state.ingest, &state.tsdb, state.started_at);
    body.push_str(&state.rules.dispatcher.metrics_text());
    body.push_str(&state.logs.metrics_text());
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

pub async fn buildinfo() -> Response {
    success(json!({
        "version": PROMETHEUS_API_VERSION,
        "application": format!("Sightline {}", env!("CARGO_PKG_VERSION")),
        "revision": "",
        "branch": "",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    }))
}

pub async fn runtimeinfo(State(state): State<AppState>) -> Response {
    let start = chrono::DateTime::from_timestamp_millis((state.started_at * 1000.0) as i64)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    success(json!({
        "startTime": start,
        "CWD": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "reloadConfigSuccess": true,
        "lastConfigTime": start,
        "corruptionCount": state.tsdb.wal().stats().replay_corruptions.load(Ordering::Relaxed),
        "goroutineCount": 0,
        "GOMAXPROCS": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "GOGC": "",
        "GODEBUG": "",
        "storageRetention": "unlimited",
    }))
}

pub async fn tsdb(State(state): State<AppState>) -> Response {
    let tsdb = state.tsdb.clone();
    let (stats, card) = match tokio::task::spawn_blocking(move || {
        let head = tsdb.head();
        let s = head.stats();
        (
            (
                s.series.load(Ordering::Relaxed),
                s.chunks.load(Ordering::Relaxed),
                head.min_time(),
                head.max_time(),
            ),
            head.cardinality(10),
        )
    })
    .await
    {
        Ok(r) => r,
        Err(e) => {
            return super::ApiError::Internal(format!("status task failed: {e}")).into_response()
        }
    };
    let (series, chunks, min_t, max_t) = stats;
    let list = |l: &[(String, usize)]| -> serde_json::Value {
        l.iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect()
    };
    success(json!({
        "headStats": {
            "numSeries": series,
            "numLabelPairs": card.label_pairs,
            "chunkCount": chunks,
            "minTime": if min_t <= max_t { min_t } else { 0 },
            "maxTime": if min_t <= max_t { max_t } else { 0 },
        },
        "seriesCountByMetricName": list(&card.series_by_metric_name),
        "labelValueCountByLabelName": list(&card.values_by_label_name),
        "memoryInBytesByLabelName": list(&card.bytes_by_label_name),
        "seriesCountByLabelValuePair": list(&card.series_by_label_pair),
    }))
}

/// Metric metadata is not stored yet: an empty map, as Prometheus answers
/// for metrics it has no metadata for.
pub async fn metadata() -> Response {
    success(json!({}))
}

/// Exemplars are not stored: always an empty list.
pub async fn query_exemplars() -> Response {
    success(json!([]))
}
