//! `POST /loki/api/v1/push`.
//!
//! Bodies are Loki's `PushRequest`: protobuf with snappy block compression
//! (the default; Promtail, Alloy, Fluent Bit's `loki` output and our
//! collector send it) or JSON (`Content-Type: application/json`,
//! `{"streams":[{"stream":{…},"values":[["<ns>","line",{metadata}]]}]}`,
//! optionally `Content-Encoding: gzip`, inflated up to
//! `ingest.max_decompressed_bytes`).
//! Answers as Loki does: 204 once everything is in the WAL; 400 listing what
//! was refused (stream labels, line size) while the valid rest is stored;
//! 429 listing the entries of streams past their rate
//! (`logs.per_stream_rate_limit`, a token bucket per stream) or streams past
//! `logs.max_streams`, the rest stored; 413 past the size limits; 503 with
//! `Retry-After` when saturated.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sightline_logstore::{Limits, NewEntry, StoreStats, StreamBatch, StreamRateLimiter};
use sightline_model::loki_push::PushRequest;
use sightline_model::remote_write::DecodeError;
use sightline_model::MatchOp;

use super::{LokiError, LokiState};

/// One stream as received, before validation.
struct Incoming {
    labels_text: String,
    pairs: Result<Vec<(String, String)>, String>,
    entries: Vec<NewEntry>,
}

pub async fn push(
    State(state): State<LokiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, LokiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-protobuf")
        .to_ascii_lowercase();
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let gzip = encoding == "gzip";
    if !gzip && !encoding.is_empty() && encoding != "identity" && encoding != "snappy" {
        return Err(LokiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            message: format!("unsupported Content-Encoding {encoding:?}"),
        });
    }
    let permit = match tokio::time::timeout(
        state.config.ingest.queue_timeout.0,
        state.push_permits.clone().acquire_owned(),
    )
    .await
    {
        Ok(Ok(p)) => p,
        _ => {
            let mut r = LokiError {
                status: StatusCode::SERVICE_UNAVAILABLE,
                message: "too many concurrent push requests; retry later".into(),
            }
            .into_response();
            r.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return Ok(r);
        }
    };
    let limits = state.config.logs.limits();
    let max_decompressed = state.config.ingest.max_decompressed_bytes;
    let store = state.store.clone();
    let tail = state.tail.clone();
    let rate = state.rate.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let body = if gzip {
            gunzip(&body, max_decompressed)?
        } else {
            body
        };
        let incoming = if content_type.starts_with("application/json") {
            decode_json(&body)?
        } else {
            decode_protobuf(&body, max_decompressed)?
        };
        let (mut batches, mut problems) = validate(incoming, &limits, store.stats(), store.oldest_accepted_ns());
        let before: usize = batches.iter().map(|b| b.entries.len()).sum();
        let rate_limited = apply_rate_limit(&mut batches, &limits, &rate);
        let after: usize = batches.iter().map(|b| b.entries.len()).sum();
        count(&store.stats().entries_rate_limited, before - after);
        let mut refused = Vec::new();
        if !batches.is_empty() {
            refused = store
                .push(&batches)
                .map_err(LokiError::internal)?
                .refused_streams;
            if tail.receiver_count() > 0 {
                let mut stored = batches;
                stored.retain(|b| !refused.contains(&b.labels));
                // No receiver left meanwhile is not an error.
                let _ = tail.send(Arc::new(stored));
            }
        }
        let too_fast = !rate_limited.is_empty();
        problems.extend(rate_limited);
        if too_fast || !refused.is_empty() {
            // Loki's answer to too many streams or too fast a stream: 429,
            // so senders back off. What was admitted is stored; a retry of
            // the whole batch is de-duplicated on read.
            problems.extend(refused.iter().map(|l| format!(
                "Maximum active stream limit exceeded when trying to create stream {l}, reduce the number of active streams (reduce labels or reduce label values), or contact your administrator to see if the limit can be increased"
            )));
            return Err(LokiError {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: problems.join("\n"),
            });
        }
        if problems.is_empty() {
            Ok(StatusCode::NO_CONTENT.into_response())
        } else {
            Err(LokiError::bad_request(problems.join("\n")))
        }
    })
    .await;
    outcome.unwrap_or_else(|e| Err(LokiError::internal(e)))
}

/// Inflates a gzip body, refusing to produce more than `max` bytes.
fn gunzip(body: &[u8], max: usize) -> Result<Bytes, LokiError> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body)
        .take(max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| LokiError::bad_request(format!("invalid gzip body: {e}")))?;
    if out.len() > max {
        return Err(LokiError {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: format!("decompressed body exceeds the limit of {max} bytes"),
        });
    }
    Ok(Bytes::from(out))
}

fn decode_protobuf(body: &[u8], max_decompressed: usize) -> Result<Vec<Incoming>, LokiError> {
    let request = match PushRequest::decode_snappy(body, max_decompressed) {
        Ok(r) => r,
        Err(e @ DecodeError::TooLarge { .. }) => {
            return Err(LokiError {
                status: StatusCode::PAYLOAD_TOO_LARGE,
                message: e.to_string(),
            })
        }
        Err(e) => return Err(LokiError::bad_request(e.to_string())),
    };
    Ok(request
        .streams
        .into_iter()
        .map(|s| Incoming {
            pairs: parse_labels(&s.labels),
            labels_text: s.labels,
            entries: s
                .entries
                .into_iter()
                .map(|e| NewEntry {
                    ts_ns: e.timestamp.map_or(0, |t| t.as_nanos()),
                    line: e.line,
                    metadata: e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect(),
                })
                .collect(),
        })
        .collect())
}

fn decode_json(body: &[u8]) -> Result<Vec<Incoming>, LokiError> {
    let bad = |m: String| LokiError::bad_request(m);
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("malformed JSON push body: {e}")))?;
    let streams = v
        .get("streams")
        .and_then(|s| s.as_array())
        .ok_or_else(|| bad("malformed JSON push body: no \"streams\" array".into()))?;
    let mut out = Vec::with_capacity(streams.len());
    for s in streams {
        let labels = s.get("stream").and_then(|l| l.as_object()).ok_or_else(|| {
            bad("malformed JSON push body: a stream has no \"stream\" object".into())
        })?;
        let mut pairs = Vec::with_capacity(labels.len());
        for (k, v) in labels {
            let v = v.as_str().ok_or_else(|| {
                bad(format!(
                    "malformed JSON push body: label {k:?} is not a string"
                ))
            })?;
            pairs.push((k.clone(), v.to_string()));
        }
        let text = format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        let values = s.get("values").and_then(|v| v.as_array()).ok_or_else(|| {
            bad("malformed JSON push body: a stream has no \"values\" array".into())
        })?;
        let mut entries = Vec::with_capacity(values.len());
        for v in values {
            let tuple = v.as_array().filter(|t| t.len() == 2 || t.len() == 3).ok_or_else(|| {
                bad("malformed JSON push body: a value is not [\"<ns>\", \"<line>\"(, {metadata})]".into())
            })?;
            let ts_ns = tuple[0]
                .as_str()
                .and_then(|t| t.parse::<i64>().ok())
                .ok_or_else(|| {
                    bad(format!(
                        "malformed JSON push body: timestamp {} is not a string of nanoseconds",
                        tuple[0]
                    ))
                })?;
            let line = tuple[1]
                .as_str()
                .ok_or_else(|| bad("malformed JSON push body: a line is not a string".into()))?
                .to_string();
            let mut metadata = Vec::new();
            if let Some(md) = tuple.get(2) {
                let md = md.as_object().ok_or_else(|| {
                    bad("malformed JSON push body: structured metadata is not an object".into())
                })?;
                for (k, v) in md {
                    let v = v.as_str().ok_or_else(|| {
                        bad(format!(
                            "malformed JSON push body: metadata {k:?} is not a string"
                        ))
                    })?;
                    metadata.push((k.clone(), v.to_string()));
                }
            }
            entries.push(NewEntry {
                ts_ns,
                line,
                metadata,
            });
        }
        out.push(Incoming {
            labels_text: text,
            pairs: Ok(pairs),
            entries,
        });
    }
    Ok(out)
}

/// `{a="b", c="d"}` to pairs; only `=` is meaningful in a push.
fn parse_labels(text: &str) -> Result<Vec<(String, String)>, String> {
    let matchers = sightline_query::logql::parse_selector(text)
        .map_err(|e| format!("Error parsing labels '{text}' with error: {e}"))?;
    matchers
        .into_iter()
        .map(|m| match m.op {
            MatchOp::Equal => Ok((m.name, m.value)),
            _ => Err(format!(
                "Error parsing labels '{text}' with error: only = is allowed in stream labels"
            )),
        })
        .collect()
}

fn count(counter: &std::sync::atomic::AtomicU64, n: usize) {
    counter.fetch_add(n as u64, std::sync::atomic::Ordering::Relaxed);
}

/// Splits what the limits admit from Loki's message for each refusal,
/// counting refusals in the store's `rejected` counters.
fn validate(
    incoming: Vec<Incoming>,
    limits: &Limits,
    stats: &StoreStats,
    oldest_ns: i64,
) -> (Vec<StreamBatch>, Vec<String>) {
    let mut batches = Vec::with_capacity(incoming.len());
    let mut problems = Vec::new();
    for s in incoming {
        let labels = match s.pairs.and_then(|p| limits.check_labels(p, &s.labels_text)) {
            Ok(l) => l,
            Err(m) => {
                count(&stats.entries_invalid_labels, s.entries.len());
                problems.push(m);
                continue;
            }
        };
        let mut entries = Vec::with_capacity(s.entries.len());
        for e in s.entries {
            if let Err(m) = limits.check_age(e.ts_ns, oldest_ns, &labels) {
                count(&stats.entries_expired, 1);
                problems.push(m);
            } else if let Err(m) = limits.check_line(&e.line, &labels) {
                count(&stats.entries_line_too_long, 1);
                problems.push(m);
            } else {
                entries.push(e);
            }
        }
        if !entries.is_empty() {
            batches.push(StreamBatch { labels, entries });
        }
    }
    (batches, problems)
}

/// Takes the entries each stream's rate admits out of `batches` (dropping
/// streams left empty) and returns Loki's message for every stream that had
/// entries refused.
fn apply_rate_limit(
    batches: &mut Vec<StreamBatch>,
    limits: &Limits,
    rate: &StreamRateLimiter,
) -> Vec<String> {
    let now = std::time::Instant::now();
    let mut messages = Vec::new();
    for b in batches.iter_mut() {
        let sizes: Vec<u64> = b.entries.iter().map(|e| e.line.len() as u64).collect();
        let admitted = rate.admit(limits, &b.labels, &sizes, now);
        if admitted.iter().all(|&a| a) {
            continue;
        }
        let total = b.entries.len();
        let mut refused = Vec::new();
        let mut verdicts = admitted.into_iter();
        b.entries.retain(|e| {
            let ok = verdicts.next().unwrap_or(false);
            if !ok {
                refused.push((e.ts_ns, e.line.len() as u64));
            }
            ok
        });
        messages.push(limits.rate_limited_message(&b.labels, &refused, total));
    }
    batches.retain(|b| !b.entries.is_empty());
    messages
}
