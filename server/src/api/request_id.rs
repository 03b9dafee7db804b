//! Request ids, and the one way a server-side failure is reported.
//!
//! Every request gets an id — the client's `X-Request-Id` if it sent a
//! sane one, else a new one — echoed in the response's `X-Request-Id`
//! header. A 5xx never sends its cause to the client: [`internal`] logs the
//! detail with the request's id and gives the body a generic message naming
//! the id, so an operator can find the log line a user reports. Each API
//! dialect (Prometheus, remote write, Loki, Alertmanager) calls it from its
//! one error-to-response mapping.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The response (and accepted request) header.
pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Axum middleware: runs the request with its id in scope and sets the
/// response header.
pub async fn assign(request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_sane(v))
        .map_or_else(new_id, str::to_string);
    let mut response = REQUEST_ID.scope(id.clone(), next.run(request)).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, v);
    }
    response
}

/// The current request's id (`"-"` outside a request).
pub fn current() -> String {
    REQUEST_ID
        .try_with(Clone::clone)
        .unwrap_or_else(|_| "-".into())
}

/// Logs a server-side failure with the request id and returns the message
/// a 5xx body carries instead of the detail.
pub fn internal(detail: &dyn Display) -> String {
    let id = current();
    tracing::error!(request_id = %id, error = %detail, "internal error serving a request");
    format!("internal server error (request id {id})")
}

/// Ids clients may choose: short, printable, no spaces or quotes.
fn is_sane(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
}

/// 16 hex digits: a per-process random prefix and a counter, unique within
/// the process and unlikely to repeat across restarts.
fn new_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        h.finish() & 0xffff_ffff_0000_0000
    });
    format!(
        "{:016x}",
        prefix | (NEXT.fetch_add(1, Ordering::Relaxed) & 0xffff_ffff)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_sane() {
        let a = new_id();
        let b = new_id();
        assert_ne!(a, b);
        assert!(is_sane(&a) && a.len() == 16, "{a}");
        assert!(!is_sane("has space"));
        assert!(!is_sane("quote\""));
        assert!(!is_sane(&"x".repeat(65)));
    }

    #[test]
    fn outside_a_request_the_id_is_a_dash() {
        assert_eq!(current(), "-");
        assert_eq!(
            internal(&"secret detail"),
            "internal server error (request id -)"
        );
    }
}

/// Every dialect's 5xx: generic body naming the request id, no detail.
#[cfg(test)]
mod dialect_tests {
    use axum::response::IntoResponse;

    use super::REQUEST_ID;
    use crate::api::loki::LokiError;
    use crate::api::ApiError;

    const SECRET: &str = "/var/lib/sightline/metrics/wal/00000007: disk on fire";

    async fn body_of(response: axum::response::Response) -> (u16, String) {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap_or_default();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    #[tokio::test]
    async fn internal_errors_carry_the_request_id_not_the_detail() {
        let responses = REQUEST_ID
            .scope("req-42".into(), async {
                vec![
                    ApiError::Internal(SECRET.into()).into_response(),
                    LokiError::internal(SECRET).into_response(),
                    LokiError::from(sightline_read::ReadError::Internal(SECRET.into()))
                        .into_response(),
                    ApiError::from(sightline_query::QueryError::Storage(
                        sightline_read::ReadError::io(SECRET, std::io::Error::other("x")),
                    ))
                    .into_response(),
                ]
            })
            .await;
        for r in responses {
            let (status, body) = body_of(r).await;
            assert_eq!(status, 500, "{body}");
            assert!(!body.contains("disk on fire"), "detail leaked: {body}");
            assert!(body.contains("request id req-42"), "{body}");
        }
    }
}
