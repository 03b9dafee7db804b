//! Errors of the Prometheus-compatible API, in Prometheus's JSON shape.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// An API failure; each variant is one of Prometheus's `errorType`s.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request was wrong: 400 `bad_data`.
    #[error("{0}")]
    BadData(String),
    /// A valid query that cannot be evaluated: 422 `execution`.
    #[error("{0}")]
    Execution(String),
    /// The query ran out of time: 503 `timeout`.
    #[error("{0}")]
    Timeout(String),
    /// The server failed: 500 `internal`. The detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadData(_) => (StatusCode::BAD_REQUEST, "bad_data"),
            ApiError::Execution(_) => (StatusCode::UNPROCESSABLE_ENTITY, "execution"),
            ApiError::Timeout(_) => (StatusCode::SERVICE_UNAVAILABLE, "timeout"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<sightline_tsdb::Error> for ApiError {
    fn from(e: sightline_tsdb::Error) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<sightline_read::ReadError> for ApiError {
    fn from(e: sightline_read::ReadError) -> Self {
        ApiError::Internal(e.to_string())
    }
}

impl From<sightline_query::QueryError> for ApiError {
    fn from(e: sightline_query::QueryError) -> Self {
        use sightline_query::QueryError as Q;
        match e {
            Q::Parse(p) => ApiError::BadData(format!("invalid parameter \"query\": {p}")),
            Q::Execution(_) | Q::TooManySamples(_) => ApiError::Execution(e.to_string()),
            Q::Timeout(_) => ApiError::Timeout(e.to_string()),
            Q::Storage(_) => ApiError::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, kind) = self.parts();
        let message = match &self {
            ApiError::Internal(detail) => super::request_id::internal(detail),
            ApiError::BadData(m) | ApiError::Execution(m) | ApiError::Timeout(m) => m.clone(),
        };
        let body = json!({"status": "error", "errorType": kind, "error": message});
        (status, Json(body)).into_response()
    }
}

/// Prometheus's success envelope, written straight from `data` (no copy
/// into a `serde_json::Value` first). Fields in the order `json!` gave.
pub fn success(data: impl serde::Serialize) -> Response {
    #[derive(serde::Serialize)]
    struct Success<T> {
        data: T,
        status: &'static str,
    }
    Json(Success {
        data,
        status: "success",
    })
    .into_response()
}
