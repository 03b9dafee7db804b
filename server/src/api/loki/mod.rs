//! The Loki HTTP API over the log store.
//!
//! | route | what |
//! |---|---|
//! | `POST /loki/api/v1/push` | Loki push: protobuf + snappy (Promtail, Alloy, our collector) or JSON |
//! | `GET/POST /loki/api/v1/query_range`, `/query` | LogQL; `streams`, `matrix`, `vector` or `scalar` results with `stats` |
//! | `GET/POST /loki/api/v1/labels`, `/label/{name}/values`, `/series` | the stream table |
//! | `GET/POST /loki/api/v1/index/stats`, `/index/volume`, `/index/volume_range` | streams, entries and bytes a selector covers |
//! | `GET /loki/api/v1/tail` (WebSocket) | live tail: recent entries, then each push as it is acknowledged |
//! | `GET /loki/api/v1/status/buildinfo`, `/ready` | what Grafana and logcli probe |
//!
//! Errors are Loki's: a plain-text body with the reason and a 4xx/5xx
//! status. Routes Loki has and we do not (`detected_labels`, …) answer 404,
//! which Grafana takes as "not supported" and falls back from.

mod push;
mod query;
mod stats;
mod tail;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, FromRef};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use sightline_logstore::{LogStore, StreamBatch, StreamRateLimiter};
use tokio::sync::Semaphore;

use super::AppState;
use crate::config::Config;

/// Pushes a slow tail may fall behind by before it misses some.
const TAIL_BUFFER: usize = 1024;

/// What the Loki handlers reach.
#[derive(Debug, Clone)]
pub struct LokiState {
    pub store: Arc<LogStore>,
    pub config: Arc<Config>,
    /// Bounds concurrent pushes (and the blocking threads they use).
    push_permits: Arc<Semaphore>,
    /// Acknowledged pushes, for live tails.
    tail: tokio::sync::broadcast::Sender<Arc<Vec<StreamBatch>>>,
    /// Per-stream ingestion rate (`logs.per_stream_rate_limit`).
    rate: Arc<StreamRateLimiter>,
}

impl LokiState {
    pub fn new(store: Arc<LogStore>, config: Arc<Config>) -> Self {
        Self {
            push_permits: Arc::new(Semaphore::new(config.ingest.max_concurrent_writes)),
            tail: tokio::sync::broadcast::channel(TAIL_BUFFER).0,
            rate: Arc::new(StreamRateLimiter::new()),
            store,
            config,
        }
    }
}

impl FromRef<AppState> for LokiState {
    fn from_ref(state: &AppState) -> Self {
        state.loki.clone()
    }
}

/// The Loki routes.
pub fn routes(body_limit: usize) -> Router<AppState> {
    Router::new()
        .route(
            "/loki/api/v1/push",
            post(push::push).layer(DefaultBodyLimit::max(body_limit)),
        )
        .route(
            "/loki/api/v1/query",
            get(query::instant).post(query::instant),
        )
        .route(
            "/loki/api/v1/query_range",
            get(query::range).post(query::range),
        )
        .route(
            "/loki/api/v1/labels",
            get(query::labels).post(query::labels),
        )
        .route(
            "/loki/api/v1/label/{name}/values",
            get(query::label_values).post(query::label_values),
        )
        .route(
            "/loki/api/v1/series",
            get(query::series).post(query::series),
        )
        .route(
            "/loki/api/v1/index/stats",
            get(stats::index_stats).post(stats::index_stats),
        )
        .route(
            "/loki/api/v1/index/volume",
            get(stats::volume).post(stats::volume),
        )
        .route(
            "/loki/api/v1/index/volume_range",
            get(stats::volume_range).post(stats::volume_range),
        )
        .route("/loki/api/v1/tail", get(tail::tail))
        .route("/loki/api/v1/status/buildinfo", get(query::buildinfo))
        .route("/ready", get(|| async { "ready\n" }))
}

/// A Loki API failure: a status and a plain-text reason.
#[derive(Debug)]
pub struct LokiError {
    pub status: StatusCode,
    pub message: String,
}

impl LokiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    /// A server-side failure: the detail is logged, the body names the
    /// request id.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: super::request_id::internal(&detail),
        }
    }
}

impl IntoResponse for LokiError {
    fn into_response(self) -> Response {
        (
            self.status,
            [("content-type", "text/plain; charset=utf-8")],
            format!("{}\n", self.message),
        )
            .into_response()
    }
}

impl From<sightline_query::logql::LogqlError> for LokiError {
    fn from(e: sightline_query::logql::LogqlError) -> Self {
        use sightline_query::logql::LogqlError as E;
        match e {
            E::Parse(_) | E::BadQuery(_) | E::Limit(_) => Self::bad_request(e.to_string()),
            E::Timeout(_) => Self {
                status: StatusCode::GATEWAY_TIMEOUT,
                message: e.to_string(),
            },
            E::Storage(s) => Self::internal(s),
        }
    }
}

impl From<sightline_read::ReadError> for LokiError {
    fn from(e: sightline_read::ReadError) -> Self {
        Self::internal(e)
    }
}

impl From<sightline_query::logql::ParseError> for LokiError {
    fn from(e: sightline_query::logql::ParseError) -> Self {
        Self::bad_request(e.to_string())
    }
}
