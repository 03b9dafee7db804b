//! Loki's read endpoints: LogQL queries and the stream table.

use std::fmt::Write;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::Response;
use sightline_model::Matcher;
use sightline_query::logql::{
    self, Direction, Evaluator, LogqlValue, QueryStats, SeriesResult, StreamResult,
};
use sightline_query::value::format_value;
use sightline_read::logs::LogQuerier;

use super::{LokiError, LokiState};
use crate::api::params::Params;
use crate::api::query::{json, labels as labels_json, string};

const HOUR_NS: i64 = 3_600_000_000_000;

pub(super) fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// A Loki timestamp: nanoseconds (or seconds, if ≤ 10 digits), float
/// seconds, or RFC 3339.
pub fn parse_time_ns(raw: &str) -> Option<i64> {
    if raw.contains('.') {
        if let Ok(secs) = raw.parse::<f64>() {
            return secs.is_finite().then(|| (secs * 1e9).round() as i64);
        }
    }
    match raw.parse::<i64>() {
        Ok(n) if raw.trim_start_matches('-').len() <= 10 => Some(n.saturating_mul(1_000_000_000)),
        Ok(n) => Some(n),
        Err(_) => chrono::DateTime::parse_from_rfc3339(raw)
            .ok()
            .and_then(|t| t.timestamp_nanos_opt()),
    }
}

pub(super) fn time_param(p: &Params, key: &str, default: i64) -> Result<i64, LokiError> {
    match p.get(key) {
        None | Some("") => Ok(default),
        Some(raw) => parse_time_ns(raw).ok_or_else(|| {
            LokiError::bad_request(format!("invalid {key} parameter: cannot parse \"{raw}\""))
        }),
    }
}

/// `step`: a duration (`30s`) or float seconds.
pub(super) fn step_param(p: &Params, start: i64, end: i64) -> Result<i64, LokiError> {
    let Some(raw) = p.get("step").filter(|s| !s.is_empty()) else {
        // Loki's default: about 250 points, at least one second.
        return Ok(((end - start) / 250).max(1_000_000_000) / 1_000_000_000 * 1_000_000_000);
    };
    if let Ok(secs) = raw.parse::<f64>() {
        return Ok((secs * 1e9).round() as i64);
    }
    sightline_model::parse_duration(raw)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .map_err(|_| {
            LokiError::bad_request(format!("invalid step parameter: cannot parse \"{raw}\""))
        })
}

fn direction_param(p: &Params) -> Result<Direction, LokiError> {
    match p.get("direction").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("backward") => Ok(Direction::Backward),
        Some("forward") => Ok(Direction::Forward),
        Some(other) => Err(LokiError::bad_request(format!(
            "invalid direction parameter {other:?}: must be forward or backward"
        ))),
    }
}

pub(super) fn limit_param(p: &Params) -> Result<usize, LokiError> {
    match p.get("limit").filter(|s| !s.is_empty()) {
        None => Ok(100),
        Some(raw) => raw.parse().map_err(|_| {
            LokiError::bad_request(format!("invalid limit parameter: cannot parse \"{raw}\""))
        }),
    }
}

pub(super) fn query_param(p: &Params) -> Result<logql::ast::Query, LokiError> {
    let q = p
        .get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| LokiError::bad_request("query parameter is required"))?;
    Ok(logql::parse(q)?)
}

pub async fn range(State(state): State<LokiState>, params: Params) -> Result<Response, LokiError> {
    let query = query_param(&params)?;
    let end = time_param(&params, "end", now_ns())?;
    let start = time_param(&params, "start", end - HOUR_NS)?;
    if end < start {
        return Err(LokiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    let step = step_param(&params, start, end)?;
    let limit = limit_param(&params)?;
    let direction = direction_param(&params)?;
    run(state, move |ev| {
        ev.range(&query, start, end, step, limit, direction)
    })
    .await
}

pub async fn instant(
    State(state): State<LokiState>,
    params: Params,
) -> Result<Response, LokiError> {
    let query = query_param(&params)?;
    let t = time_param(&params, "time", now_ns())?;
    run(state, move |ev| ev.instant(&query, t)).await
}

async fn run(
    state: LokiState,
    f: impl FnOnce(&mut Evaluator<'_>) -> Result<LogqlValue, logql::LogqlError> + Send + 'static,
) -> Result<Response, LokiError> {
    let limits = sightline_query::logql::QueryLimits {
        timeout: state.config.query.timeout.0,
        ..state.config.logs.query_limits()
    };
    let store = state.store.clone();
    let started = Instant::now();
    let (value, stats) = tokio::task::spawn_blocking(move || {
        let mut ev = Evaluator::new(store.as_ref(), limits);
        let v = f(&mut ev);
        v.map(|v| (v, ev.stats))
    })
    .await
    .map_err(LokiError::internal)??;
    Ok(json(render(
        &value,
        &stats,
        started.elapsed().as_secs_f64(),
    )))
}

fn point(out: &mut String, t_ns: i64, v: f64) {
    let _ = write!(out, "[{},", format_value(t_ns as f64 / 1e9));
    string(out, &format_value(v));
    out.push(']');
}

fn series_list(out: &mut String, series: &[SeriesResult], one: bool) {
    out.push('[');
    for (i, s) in series.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"metric":"#);
        labels_json(out, &s.labels);
        if one {
            out.push_str(r#","value":"#);
            if let Some(&(t, v)) = s.points.first() {
                point(out, t, v);
            }
        } else {
            out.push_str(r#","values":["#);
            for (j, &(t, v)) in s.points.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                point(out, t, v);
            }
            out.push(']');
        }
        out.push('}');
    }
    out.push(']');
}

pub(super) fn streams_list(out: &mut String, streams: &[StreamResult]) {
    out.push('[');
    for (i, s) in streams.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(r#"{"stream":"#);
        labels_json(out, &s.labels);
        out.push_str(r#","values":["#);
        for (j, (t, line)) in s.entries.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            let _ = write!(out, "[\"{t}\",");
            string(out, line);
            out.push(']');
        }
        out.push_str("]}");
    }
    out.push(']');
}

/// Loki's envelope: `{"status":"success","data":{"resultType":…,"result":…,"stats":…}}`.
pub fn render(value: &LogqlValue, stats: &QueryStats, exec_secs: f64) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":""#);
    match value {
        LogqlValue::Streams(s) => {
            out.push_str(r#"streams","result":"#);
            streams_list(&mut out, s);
        }
        LogqlValue::Matrix(m) => {
            out.push_str(r#"matrix","result":"#);
            series_list(&mut out, m, false);
        }
        LogqlValue::Vector(v) => {
            out.push_str(r#"vector","result":"#);
            series_list(&mut out, v, true);
        }
        LogqlValue::Scalar(t, v) => {
            out.push_str(r#"scalar","result":"#);
            point(&mut out, *t, *v);
        }
    }
    let per_sec = |n: u64| {
        if exec_secs > 0.0 {
            (n as f64 / exec_secs) as u64
        } else {
            0
        }
    };
    let summary = serde_json::json!({
        "bytesProcessedPerSecond": per_sec(stats.bytes_processed),
        "linesProcessedPerSecond": per_sec(stats.lines_processed),
        "totalBytesProcessed": stats.bytes_processed,
        "totalLinesProcessed": stats.lines_processed,
        "totalEntriesReturned": stats.entries_returned,
        "execTime": exec_secs,
        "queueTime": 0,
        "subqueries": 0,
        "splits": 0,
        "shards": 0,
        "totalPostFilterLines": stats.entries_returned,
        "totalStructuredMetadataBytesProcessed": 0,
    });
    let store = serde_json::json!({
        "totalChunksRef": 0,
        "totalChunksDownloaded": 0,
        "chunksDownloadTime": 0,
        "queryReferencedStructuredMetadata": false,
        "chunk": {
            "headChunkBytes": 0,
            "headChunkLines": 0,
            "decompressedBytes": stats.bytes_processed,
            "decompressedLines": stats.lines_processed,
            "compressedBytes": 0,
            "totalDuplicates": 0,
            "postFilterLines": stats.entries_returned,
            "headChunkStructuredMetadataBytes": 0,
            "decompressedStructuredMetadataBytes": 0,
        },
    });
    let stats = serde_json::json!({
        "summary": summary,
        "querier": {"store": store},
        "ingester": {
            "totalReached": 0,
            "totalChunksMatched": 0,
            "totalBatches": 0,
            "totalLinesSent": 0,
            "store": store,
        },
    });
    let _ = write!(out, r#","stats":{stats}}}}}"#);
    out
}

/// The selector of `query` (labels, label values) or none.
fn optional_selector(p: &Params) -> Result<Vec<Matcher>, LokiError> {
    match p.get("query").filter(|q| !q.trim().is_empty()) {
        None => Ok(Vec::new()),
        Some(q) => Ok(logql::parse_selector(q)?),
    }
}

/// `start`/`end` for metadata endpoints: the last 6 hours by default.
fn metadata_range(p: &Params) -> Result<(i64, i64), LokiError> {
    let end = time_param(p, "end", now_ns())?;
    let start = time_param(p, "start", end - 6 * HOUR_NS)?;
    Ok((start, end))
}

fn data(values: impl serde::Serialize) -> Response {
    json(serde_json::json!({"status": "success", "data": values}).to_string())
}

pub async fn labels(State(state): State<LokiState>, params: Params) -> Result<Response, LokiError> {
    let matchers = optional_selector(&params)?;
    let (start, end) = metadata_range(&params)?;
    Ok(data(state.store.label_names(&matchers, start, end)?))
}

pub async fn label_values(
    State(state): State<LokiState>,
    Path(name): Path<String>,
    params: Params,
) -> Result<Response, LokiError> {
    let matchers = optional_selector(&params)?;
    let (start, end) = metadata_range(&params)?;
    Ok(data(
        state.store.label_values(&name, &matchers, start, end)?,
    ))
}

pub async fn series(State(state): State<LokiState>, params: Params) -> Result<Response, LokiError> {
    let (start, end) = metadata_range(&params)?;
    let selectors: Vec<&str> = params.all("match[]").chain(params.all("match")).collect();
    if selectors.is_empty() {
        return Err(LokiError::bad_request(
            "at least one match[] argument is required",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for s in selectors {
        let matchers = logql::parse_selector(s)?;
        for stream in state.store.streams(&matchers, start, end)? {
            seen.insert(stream.labels);
        }
    }
    let out: Vec<serde_json::Map<String, serde_json::Value>> = seen
        .iter()
        .map(|l| {
            l.iter()
                .map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone())))
                .collect()
        })
        .collect();
    Ok(data(out))
}

pub async fn buildinfo() -> Response {
    json(
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        })
        .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loki_timestamps() {
        assert_eq!(parse_time_ns("1700000000"), Some(1_700_000_000_000_000_000));
        assert_eq!(
            parse_time_ns("1700000000000000001"),
            Some(1_700_000_000_000_000_001)
        );
        assert_eq!(
            parse_time_ns("1700000000.5"),
            Some(1_700_000_000_500_000_000)
        );
        assert_eq!(
            parse_time_ns("2023-11-14T22:13:20Z"),
            Some(1_700_000_000_000_000_000)
        );
        assert_eq!(parse_time_ns("soon"), None);
    }
}
