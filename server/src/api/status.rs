//! Health, readiness and self-metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::telemetry;

pub async fn healthy() -> &'static str {
    "Sightline is Healthy.\n"
}

/// The listener is only opened once the WAL has been replayed, so a server
/// that answers is ready.
pub async fn ready() -> &'static str {
    "Sightline is Ready.\n"
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let body = telemetry::render(&state.ingest, &state.tsdb, state.started_at);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}
