//! `index/stats`, `index/volume` and `index/volume_range`: how much a
//! selector covers, for Grafana's query size hints and its volume panels.
//!
//! `index/stats` answers `{"streams","chunks","entries","bytes"}`. The
//! volume endpoints answer bytes per group in Prometheus's vector/matrix
//! shape, as Loki does: groups are the stream labels the selector names (or
//! `targetLabels`) with `aggregateBy=series`, or each label name alone
//! (value `""`) with `aggregateBy=labels`; each bucket keeps its `limit`
//! largest groups; the largest come first. An instant volume is stamped at
//! `end`; a range bucket at its end less a millisecond, the last at `end`.
//! Buckets are multiples of `step`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use sightline_model::{Label, Labels, MatchOp, Matcher};
use sightline_query::logql::{self, LogqlValue, QueryStats, SeriesResult};
use sightline_read::logs::LogQuerier;

use super::query::{now_ns, render, step_param, time_param};
use super::{LokiError, LokiState};
use crate::api::params::Params;
use crate::api::query::json;

const HOUR_NS: i64 = 3_600_000_000_000;
const MS_NS: i64 = 1_000_000;
const DEFAULT_VOLUME_LIMIT: usize = 100;

fn timed_out(timeout: Duration) -> LokiError {
    LokiError {
        status: StatusCode::GATEWAY_TIMEOUT,
        message: format!("query timed out after {timeout:?}"),
    }
}

fn required_query(p: &Params) -> Result<&str, LokiError> {
    p.get("query")
        .filter(|q| !q.trim().is_empty())
        .ok_or_else(|| LokiError::bad_request("query parameter is required"))
}

/// `start`/`end`, the last hour by default; `end` must not precede `start`.
fn time_range(p: &Params) -> Result<(i64, i64), LokiError> {
    let end = time_param(p, "end", now_ns())?;
    let start = time_param(p, "start", end - HOUR_NS)?;
    if end < start {
        return Err(LokiError::bad_request(
            "end timestamp must not be before or equal to start time",
        ));
    }
    Ok((start, end))
}

/// The selector of `query`: a selector alone, or a log query's.
fn selector(q: &str) -> Result<Vec<Matcher>, LokiError> {
    match logql::parse_selector(q) {
        Ok(m) => Ok(m),
        Err(e) => match logql::parse(q) {
            Ok(logql::ast::Query::Log(l)) => Ok(l.matchers),
            _ => Err(e.into()),
        },
    }
}

pub async fn index_stats(
    State(state): State<LokiState>,
    params: Params,
) -> Result<Response, LokiError> {
    let matchers = selector(required_query(&params)?)?;
    let (start, end) = time_range(&params)?;
    let store = state.store.clone();
    let timeout = state.config.query.timeout.0;
    let deadline = Instant::now() + timeout;
    let stats =
        tokio::task::spawn_blocking(move || store.index_stats(&matchers, start, end, deadline))
            .await
            .map_err(LokiError::internal)?
            .map_err(LokiError::internal)?
            .ok_or_else(|| timed_out(timeout))?;
    Ok(json(
        serde_json::json!({
            "streams": stats.streams,
            "chunks": stats.chunks,
            "entries": stats.entries,
            "bytes": stats.bytes,
        })
        .to_string(),
    ))
}

/// What a volume request asks for.
struct VolumeRequest {
    matchers: Vec<Matcher>,
    start: i64,
    end: i64,
    limit: usize,
    /// Labels a group is made of; empty with `aggregateBy=labels` and no
    /// `targetLabels`: every label.
    group_by: BTreeSet<String>,
    by_labels: bool,
}

fn volume_request(p: &Params) -> Result<VolumeRequest, LokiError> {
    let mut matchers = logql::parse_selector(required_query(p)?)?;
    let (start, end) = time_range(p)?;
    let limit = match p.get("limit").filter(|s| !s.is_empty()) {
        None => DEFAULT_VOLUME_LIMIT,
        Some(raw) => match raw.parse::<i64>() {
            Ok(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Ok(_) => return Err(LokiError::bad_request("limit must be a positive value")),
            Err(_) => {
                return Err(LokiError::bad_request(format!(
                    "invalid limit parameter: cannot parse \"{raw}\""
                )))
            }
        },
    };
    let by_labels = match p.get("aggregateBy").unwrap_or("") {
        "" | "series" => false,
        "labels" => true,
        _ => return Err(LokiError::bad_request("invalid aggregation option")),
    };
    let targets: Vec<String> = p
        .get("targetLabels")
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect();
    let group_by: BTreeSet<String> = if targets.is_empty() {
        if by_labels {
            BTreeSet::new()
        } else {
            matchers.iter().map(|m| m.name.clone()).collect()
        }
    } else {
        // Every target is required: streams without one are not counted.
        for t in &targets {
            if !matchers.iter().any(|m| &m.name == t) {
                let m = Matcher::new(MatchOp::RegexMatch, t.as_str(), ".+").map_err(|e| {
                    LokiError::bad_request(format!("invalid target label {t:?}: {e}"))
                })?;
                matchers.push(m);
            }
        }
        targets.into_iter().collect()
    };
    Ok(VolumeRequest {
        matchers,
        start,
        end,
        limit,
        group_by,
        by_labels,
    })
}

pub async fn volume(State(state): State<LokiState>, params: Params) -> Result<Response, LokiError> {
    let request = volume_request(&params)?;
    run_volume(state, request, None).await
}

pub async fn volume_range(
    State(state): State<LokiState>,
    params: Params,
) -> Result<Response, LokiError> {
    let request = volume_request(&params)?;
    let step = step_param(&params, request.start, request.end)?;
    if step <= 0 {
        return Err(LokiError::bad_request(
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (request.end - request.start) / step > 11_000 {
        return Err(LokiError::bad_request(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    run_volume(state, request, Some(step)).await
}

async fn run_volume(
    state: LokiState,
    r: VolumeRequest,
    step: Option<i64>,
) -> Result<Response, LokiError> {
    let store = state.store.clone();
    let timeout = state.config.query.timeout.0;
    let deadline = Instant::now() + timeout;
    let value = tokio::task::spawn_blocking(move || {
        let Some(volumes) =
            store.volumes(&r.matchers, r.start, r.end, step.unwrap_or(0), deadline)?
        else {
            return Ok(None);
        };
        // Bytes per group per bucket.
        let mut buckets: BTreeMap<i64, HashMap<Labels, u64>> = BTreeMap::new();
        for v in volumes {
            let groups = buckets.entry(v.bucket_ns).or_default();
            if r.by_labels {
                for l in v.labels.iter() {
                    if r.group_by.is_empty() || r.group_by.contains(&l.name) {
                        let key = Labels::from_sorted(vec![Label {
                            name: l.name.clone(),
                            value: String::new(),
                        }]);
                        *groups.entry(key).or_default() += v.bytes;
                    }
                }
            } else {
                let key = Labels::from_sorted(
                    v.labels
                        .iter()
                        .filter(|l| r.group_by.contains(&l.name))
                        .cloned()
                        .collect(),
                );
                *groups.entry(key).or_default() += v.bytes;
            }
        }
        let stamp = |bucket: i64| match step {
            Some(s) if bucket.saturating_add(s) < r.end => bucket + s - MS_NS,
            _ => r.end,
        };
        let mut series: HashMap<Labels, Vec<(i64, f64)>> = HashMap::new();
        for (bucket, groups) in buckets {
            let mut ranked: Vec<(Labels, u64)> = groups.into_iter().collect();
            ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            ranked.truncate(r.limit);
            for (labels, bytes) in ranked {
                series
                    .entry(labels)
                    .or_default()
                    .push((stamp(bucket), bytes as f64));
            }
        }
        let mut out: Vec<SeriesResult> = series
            .into_iter()
            .map(|(labels, points)| SeriesResult { labels, points })
            .collect();
        out.sort_by(|a, b| {
            b.points[0]
                .1
                .total_cmp(&a.points[0].1)
                .then_with(|| a.labels.cmp(&b.labels))
        });
        // As Loki: a vector unless some group has more than one point.
        Ok::<_, sightline_read::ReadError>(Some(if out.iter().any(|s| s.points.len() > 1) {
            LogqlValue::Matrix(out)
        } else {
            LogqlValue::Vector(out)
        }))
    })
    .await
    .map_err(LokiError::internal)?
    .map_err(LokiError::internal)?
    .ok_or_else(|| timed_out(timeout))?;
    Ok(json(render(&value, &QueryStats::default(), 0.0)))
}
