//! `POST /api/v1/write`: Prometheus remote write 1.0.
//!
//! Responses follow Prometheus's receiver: 204 when everything was stored;
//! 400 with a plain-text reason for bodies that do not decode, invalid series
//! and samples refused by the ordering rules — the valid rest of the batch is
//! stored and 400 tells the sender not to retry; 413 past the size limits;
//! 415 for remote write 2.0 bodies; 503 with `Retry-After` when the server is
//! saturated, so senders back off and retry instead of dropping data; 500 if
//! the WAL cannot be written. 2xx is only sent after the WAL append (and its
//! fsync, per policy).

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sightline_model::remote_write::{DecodeError, Label, WriteRequest};
use sightline_model::{LabelError, Labels, Sample};
use sightline_tsdb::Appender;

use super::AppState;

pub async fn remote_write(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = handle(&state, &headers, body).await;
    state.ingest.count_request(response.status().as_u16());
    response
}

/// Why a write was not (wholly) stored; the one mapping of remote-write
/// failures to Prometheus's receiver responses (plain text).
#[derive(Debug)]
enum WriteError {
    /// 400: a body that does not decode, or series and samples refused;
    /// the sender must not retry.
    BadRequest(String),
    /// 413: past the size limits.
    TooLarge(String),
    /// 415: a format this receiver does not take.
    Unsupported(&'static str),
    /// 503 + `Retry-After`: saturated; the sender retries.
    Overloaded,
    /// 500: the store failed; the detail is logged, not sent.
    Internal(String),
}

impl IntoResponse for WriteError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            WriteError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            WriteError::TooLarge(m) => (StatusCode::PAYLOAD_TOO_LARGE, m),
            WriteError::Unsupported(m) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, m.to_string()),
            WriteError::Overloaded => {
                let mut r = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many concurrent write requests; retry later\n",
                )
                    .into_response();
                r.headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                return r;
            }
            WriteError::Internal(detail) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                super::request_id::internal(&detail),
            ),
        };
        (status, format!("{message}\n")).into_response()
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: Bytes) -> Response {
    match store(state, headers, body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn store(state: &AppState, headers: &HeaderMap, body: Bytes) -> Result<(), WriteError> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        if ct.contains("io.prometheus.write.v2") {
            return Err(WriteError::Unsupported(
                "remote write 2.0 is not supported; send prometheus.WriteRequest (remote write 1.0)",
            ));
        }
    }
    let permit = match tokio::time::timeout(
        state.queue_timeout,
        state.write_permits.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(p)) => p,
        _ => {
            state.ingest.throttled.fetch_add(1, Ordering::Relaxed);
            return Err(WriteError::Overloaded);
        }
    };
    state
        .ingest
        .body_bytes
        .fetch_add(body.len() as u64, Ordering::Relaxed);
    let limits = state.config.ingest.label_limits();
    let max_decompressed = state.config.ingest.max_decompressed_bytes;
    let tsdb = state.tsdb.clone();
    let ingest = state.ingest.clone();
    // Decoding, validation and the WAL fsync are blocking work.
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let request = match WriteRequest::decode_snappy(&body, max_decompressed) {
            Ok(r) => r,
            Err(e @ DecodeError::TooLarge { .. }) => {
                return Err(WriteError::TooLarge(e.to_string()))
            }
            Err(e) => return Err(WriteError::BadRequest(e.to_string())),
        };
        let mut appender = tsdb.appender();
        let (received, invalid) = fill(&mut appender, &request, &limits);
        ingest
            .samples_received
            .fetch_add(received, Ordering::Relaxed);
        ingest
            .rejected_invalid
            .fetch_add(invalid.samples, Ordering::Relaxed);
        let report = appender
            .commit()
            .map_err(|e| WriteError::Internal(format!("remote write: storing failed: {e}")))?;
        ingest
            .samples_stored
            .fetch_add(report.samples_accepted, Ordering::Relaxed);
        let mut problems = Vec::new();
        if let Some(first) = &invalid.first {
            problems.push(format!(
                "{first} ({} series with {} samples rejected)",
                invalid.series, invalid.samples
            ));
        }
        if let Some(first) = &report.first_rejection {
            problems.push(format!("{first} ({} samples rejected)", report.rejected));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            let message = problems.join("; ");
            tracing::debug!(%message, "remote write: partial rejection");
            Err(WriteError::BadRequest(message))
        }
    })
    .await;
    outcome.map_err(|e| WriteError::Internal(format!("remote write task failed: {e}")))?
}

/// Series refused before storage because their labels are invalid.
#[derive(Debug, Default)]
struct Invalid {
    series: u64,
    samples: u64,
    first: Option<LabelError>,
}

/// Adds every series of the request to the appender; returns the number of
/// samples received and what was refused for invalid labels. A series the
/// store already holds is matched on its labels as sent (the fast path, no
/// copies); anything else is validated first. Series without samples are
/// skipped: they would create nothing.
fn fill(
    appender: &mut Appender<'_>,
    request: &WriteRequest,
    limits: &sightline_model::LabelLimits,
) -> (u64, Invalid) {
    let mut invalid = Invalid::default();
    let mut received = 0u64;
    let mut pairs: Vec<(&str, &str)> = Vec::new();
    for ts in &request.timeseries {
        if ts.samples.is_empty() {
            continue;
        }
        received += ts.samples.len() as u64;
        let samples = ts.samples.iter().map(|s| Sample::new(s.timestamp, s.value));
        // Refuse before copying a pathological label list.
        if ts.labels.len() > limits.max_labels {
            invalid.refuse(
                LabelError::TooMany {
                    count: ts.labels.len(),
                    limit: limits.max_labels,
                    series: String::from("{…}"),
                },
                ts.samples.len(),
            );
            continue;
        }
        pairs.clear();
        pairs.extend(ts.labels.iter().map_while(Label::as_strs));
        if pairs.len() != ts.labels.len() {
            invalid.refuse(LabelError::NotUtf8, ts.samples.len());
            continue;
        }
        if appender.append_existing(&pairs, samples.clone()) {
            continue;
        }
        match Labels::from_pairs(pairs.iter().copied()).validated(limits) {
            Ok(labels) => appender.append(labels, samples),
            Err(e) => invalid.refuse(e, ts.samples.len()),
        }
    }
    (received, invalid)
}

impl Invalid {
    fn refuse(&mut self, error: LabelError, samples: usize) {
        self.series += 1;
        self.samples += samples as u64;
        self.first.get_or_insert(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_storage_failure_answers_500_without_the_detail() {
        let response =
            WriteError::Internal("/data/metrics/wal: no space left".into()).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap_or_default();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.starts_with("internal server error (request id "),
            "{body}"
        );
        assert!(!body.contains("no space"), "{body}");
    }

    #[tokio::test]
    async fn overload_asks_the_sender_to_retry() {
        let response = WriteError::Overloaded.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
