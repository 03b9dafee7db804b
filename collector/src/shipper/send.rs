//! One POST of an encoded request (remote write or Loki push), how its
//! outcome is classified, and the retry backoff.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;

/// `User-Agent` sent with every request.
pub const USER_AGENT: &str = concat!("sightline-collector/", env!("CARGO_PKG_VERSION"));

/// What to do after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// 2xx: done.
    Delivered,
    /// 5xx, 429 or a connection/timeout error: try again later, at the
    /// earliest after `retry_after` if the server said so.
    Retry {
        reason: String,
        retry_after: Option<Duration>,
    },
    /// Any other status (4xx): the server will never take this request.
    Reject { status: StatusCode, message: String },
}

/// Classifies a response status.
pub(crate) fn classify(status: StatusCode) -> OutcomeKind {
    if status.is_success() {
        OutcomeKind::Delivered
    } else if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        OutcomeKind::Retry
    } else {
        OutcomeKind::Reject
    }
}

/// [`Outcome`] without its details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutcomeKind {
    Delivered,
    Retry,
    Reject,
}

/// Most bytes of an error body kept for the log line.
const MAX_ERROR_BODY: usize = 512;

/// What a request body is, which decides its headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wire {
    /// Prometheus remote write 1.0: snappy-compressed protobuf.
    RemoteWrite,
    /// Loki push: snappy-compressed protobuf (no `Content-Encoding`, as
    /// Promtail sends it).
    LokiProtobuf,
    /// Loki push as JSON.
    LokiJson,
}

/// An HTTP client bound to one URL and one wire format.
#[derive(Debug, Clone)]
pub(crate) struct PushClient {
    client: reqwest::Client,
    url: String,
    wire: Wire,
}

impl PushClient {
    pub fn new(url: &str, wire: Wire, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .user_agent(USER_AGENT)
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()?;
        Ok(Self {
            client,
            url: url.to_string(),
            wire,
        })
    }

    /// POSTs one encoded request.
    pub async fn post(&self, body: Bytes) -> Outcome {
        let request = self.client.post(&self.url);
        let request = match self.wire {
            Wire::RemoteWrite => request
                .header(reqwest::header::CONTENT_ENCODING, "snappy")
                .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                .header("X-Prometheus-Remote-Write-Version", "0.1.0"),
            Wire::LokiProtobuf => {
                request.header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            }
            Wire::LokiJson => request.header(reqwest::header::CONTENT_TYPE, "application/json"),
        };
        let response = request.body(body).send().await;
        let mut response = match response {
            Ok(r) => r,
            Err(e) => {
                return Outcome::Retry {
                    reason: error_chain(&e),
                    retry_after: None,
                }
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let kind = classify(status);
        // Read a bounded prefix of the body for the log (and to let the
        // connection be reused).
        let mut message = Vec::new();
        while message.len() < MAX_ERROR_BODY {
            match response.chunk().await {
                Ok(Some(chunk)) => message.extend_from_slice(&chunk),
                Ok(None) | Err(_) => break,
            }
        }
        message.truncate(MAX_ERROR_BODY);
        let message = String::from_utf8_lossy(&message).trim().to_string();
        match kind {
            OutcomeKind::Delivered => Outcome::Delivered,
            OutcomeKind::Retry => Outcome::Retry {
                reason: format!("{status}: {message}"),
                retry_after,
            },
            OutcomeKind::Reject => Outcome::Reject { status, message },
        }
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Exponential backoff with "equal jitter": the n-th delay is uniform in
/// `[d/2, d]` where `d = min(min * 2^n, max)`.
#[derive(Debug)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
    rng: u64,
}

impl Backoff {
    pub fn new(min: Duration, max: Duration) -> Self {
        // Seeded from the standard library's per-process random keys; this
        // is jitter, not cryptography.
        let seed = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Self {
            min,
            max: max.max(min),
            attempt: 0,
            rng: seed | 1,
        }
    }

    /// The delay before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1u32 << self.attempt.min(30))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = ceiling / 2;
        let nanos = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
        half + Duration::from_nanos(self.next_random() % nanos.saturating_add(1))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_classification() {
        for (code, kind) in [
            (200, OutcomeKind::Delivered),
            (204, OutcomeKind::Delivered),
            (400, OutcomeKind::Reject),
            (401, OutcomeKind::Reject),
            (404, OutcomeKind::Reject),
            (413, OutcomeKind::Reject),
            (429, OutcomeKind::Retry),
            (500, OutcomeKind::Retry),
            (503, OutcomeKind::Retry),
            (302, OutcomeKind::Reject),
        ] {
            assert_eq!(
                classify(StatusCode::from_u16(code).unwrap()),
                kind,
                "{code}"
            );
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let min = Duration::from_millis(100);
        let max = Duration::from_secs(30);
        let mut b = Backoff::new(min, max);
        for n in 0..40u32 {
            let ceiling = min.saturating_mul(1 << n.min(30)).min(max);
            let d = b.next_delay();
            assert!(d >= ceiling / 2 && d <= ceiling, "attempt {n}: {d:?}");
        }
        b.reset();
        assert!(b.next_delay() <= min);
    }

    #[tokio::test]
    async fn connection_refused_is_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let client = PushClient::new(
            &format!("http://{addr}/api/v1/write"),
            Wire::RemoteWrite,
            Duration::from_secs(2),
        )
        .unwrap();
        assert!(matches!(
            client.post(Bytes::from_static(b"x")).await,
            Outcome::Retry { .. }
        ));
    }
}
