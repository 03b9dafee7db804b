//! `/api/v1/query` and `/api/v1/query_range`: PromQL over the store, in the
//! Prometheus API's JSON shapes; and `/api/v1/format_query`, which only
//! parses and prints.

use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use sightline_model::Labels;
use sightline_query::ast::ValueType;
use sightline_query::value::{format_value, Value};
use sightline_query::{Engine, EngineOptions};

use super::error::success;
use super::params::{parse_time, Params};
use super::{ApiError, AppState};

/// Most points a range query may return per series, as Prometheus.
const MAX_POINTS_PER_SERIES: i64 = 11_000;

pub async fn instant(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let expr = parse_query(&params)?;
    let t = match params.get("time") {
        Some(raw) => parse_time(raw).ok_or_else(|| bad_param("time", raw, "timestamp"))?,
        None => now_ms(),
    };
    let engine = engine(&state, &params)?;
    let tsdb = Arc::clone(&state.tsdb);
    let (value, stats) =
        tokio::task::spawn_blocking(move || engine.instant_with_stats(tsdb.querier(), &expr, t))
            .await
            .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))??;
    Ok(json(render_with_stats(
        &value,
        wants_stats(&params).then_some(&stats),
    )))
}

pub async fn range(State(state): State<AppState>, params: Params) -> Result<Response, ApiError> {
    let expr = parse_query(&params)?;
    let time = |key: &str| -> Result<i64, ApiError> {
        let raw = params.get(key).unwrap_or("");
        parse_time(raw).ok_or_else(|| bad_param(key, raw, "timestamp"))
    };
    let (start, end) = (time("start")?, time("end")?);
    if end < start {
        return Err(ApiError::BadData(
            "end timestamp must not be before start time".into(),
        ));
    }
    let raw_step = params.get("step").unwrap_or("");
    let step = parse_step(raw_step).ok_or_else(|| bad_param("step", raw_step, "duration"))?;
    if step <= 0 {
        return Err(ApiError::BadData(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if (end - start) / step > MAX_POINTS_PER_SERIES {
        return Err(ApiError::BadData(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)".into(),
        ));
    }
    match expr.value_type() {
        ValueType::Scalar | ValueType::Vector => {}
        other => {
            return Err(ApiError::BadData(format!(
            "invalid expression type \"{other}\" for range query, must be Scalar or instant Vector"
        )))
        }
    }
    let engine = engine(&state, &params)?;
    let tsdb = Arc::clone(&state.tsdb);
    let matrix =
        tokio::task::spawn_blocking(move || engine.range(tsdb.querier(), &expr, start, end, step))
            .await
            .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))??;
    Ok(json(render(&Value::Matrix(matrix))))
}

/// `/api/v1/format_query`: the `query` parameter reformatted as Prometheus
/// does (its `Prettify`), or the same 400 a query with a parse error gets.
pub async fn format(params: Params) -> Result<Response, ApiError> {
    let expr = parse_query(&params)?;
    Ok(success(sightline_query::prettify(&expr)))
}

fn parse_query(params: &Params) -> Result<sightline_query::ast::Expr, ApiError> {
    sightline_query::parse(params.get("query").unwrap_or(""))
        .map_err(|e| ApiError::from(sightline_query::QueryError::Parse(e)))
}

/// The engine for this request: the configured limits, with the request's
/// `timeout` if it is shorter.
fn engine(state: &AppState, params: &Params) -> Result<Engine, ApiError> {
    let mut options: EngineOptions = state.config.query.engine_options();
    if let Some(raw) = params.get("timeout") {
        let ms = parse_step(raw).ok_or_else(|| bad_param("timeout", raw, "duration"))?;
        if ms > 0 {
            options.timeout = options.timeout.min(Duration::from_millis(ms as u64));
        }
    }
    Ok(Engine::new(options))
}

fn bad_param(key: &str, raw: &str, what: &str) -> ApiError {
    ApiError::BadData(format!(
        "invalid parameter \"{key}\": cannot parse \"{raw}\" to a valid {what}"
    ))
}

/// A duration as Prometheus's API takes it: float seconds or `1m30s`.
pub fn parse_step(raw: &str) -> Option<i64> {
    if let Ok(secs) = raw.parse::<f64>() {
        let ms = secs * 1000.0;
        return (ms.is_finite() && ms.abs() < 9.2e18).then(|| ms.round() as i64);
    }
    sightline_model::parse_duration(raw)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A hand-written JSON body as a response (also the Loki API's).
pub(crate) fn json(body: String) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// `stats` asked for, as Prometheus reads it (any non-empty value).
fn wants_stats(params: &Params) -> bool {
    params.get("stats").is_some_and(|s| !s.is_empty())
}

/// [`render`], with Prometheus's `stats` object when asked for: timings in
/// seconds and the samples the query touched.
pub fn render_with_stats(value: &Value, stats: Option<&sightline_query::QueryStats>) -> String {
    let mut out = render(value);
    if let Some(s) = stats {
        let total = (s.load + s.eval).as_secs_f64();
        let stats = format!(
            r#","stats":{{"timings":{{"evalTotalTime":{},"resultSortTime":0,"queryPreparationTime":{},"innerEvalTime":{},"execQueueTime":0,"execTotalTime":{}}},"samples":{{"totalQueryableSamples":{},"peakSamples":{}}}}}"#,
            total,
            s.load.as_secs_f64(),
            s.eval.as_secs_f64(),
            total,
            s.samples,
            s.samples
        );
        // Insert before the closing braces of `data` and the envelope.
        out.truncate(out.len() - 2);
        out.push_str(&stats);
        out.push_str("}}");
    }
    out
}

/// Writes the success envelope by hand: values must be formatted exactly as
/// Prometheus does (`[1700000000.5,"0.1"]`, `"+Inf"`), which a generic
/// serializer of floats would not do.
pub fn render(value: &Value) -> String {
    let mut out = String::from(r#"{"status":"success","data":{"resultType":""#);
    match value {
        Value::Scalar { t, v } => {
            out.push_str(r#"scalar","result":"#);
            point(&mut out, *t, &format_value(*v));
        }
        Value::String { t, v } => {
            out.push_str(r#"string","result":"#);
            point(&mut out, *t, v);
        }
        Value::Vector(vector) => {
            out.push_str(r#"vector","result":["#);
            for (i, s) in vector.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                labels(&mut out, &s.labels);
                out.push_str(r#","value":"#);
                point(&mut out, s.t, &format_value(s.v));
                out.push('}');
            }
            out.push(']');
        }
        Value::Matrix(matrix) => {
            out.push_str(r#"matrix","result":["#);
            for (i, s) in matrix.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"metric":"#);
                labels(&mut out, &s.labels);
                out.push_str(r#","values":["#);
                for (j, p) in s.points.iter().enumerate() {
                    if j > 0 {
                        out.push(',');
                    }
                    point(&mut out, p.t, &format_value(p.v));
                }
                out.push_str("]}");
            }
            out.push(']');
        }
    }
    out.push_str("}}");
    out
}

fn point(out: &mut String, t_ms: i64, value: &str) {
    let _ = write!(out, "[{},", format_value(t_ms as f64 / 1000.0));
    string(out, value);
    out.push(']');
}

/// A label set as a JSON object (also the Loki API's streams).
pub(crate) fn labels(out: &mut String, labels: &Labels) {
    out.push('{');
    for (i, l) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        string(out, &l.name);
        out.push(':');
        string(out, &l.value);
    }
    out.push('}');
}

/// A JSON string literal.
pub(crate) fn string(out: &mut String, s: &str) {
    // serde_json's escaping of a &str cannot fail.
    out.push_str(&serde_json::to_string(s).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_query::value::{InstantSample, Point, RangeSeries};

    #[test]
    fn renders_prometheus_shapes() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "a\"b")]);
        let v = Value::Vector(vec![InstantSample {
            labels: l.clone(),
            t: 1_700_000_000_500,
            v: f64::INFINITY,
        }]);
        assert_eq!(
            render(&v),
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"up","job":"a\"b"},"value":[1700000000.5,"+Inf"]}]}}"#
        );
        let m = Value::Matrix(vec![RangeSeries {
            labels: l,
            points: vec![
                Point { t: 1000, v: 0.1 },
                Point {
                    t: 2000,
                    v: f64::NAN,
                },
            ]
            .into(),
        }]);
        assert!(
            render(&m).contains(r#""values":[[1,"0.1"],[2,"NaN"]]"#),
            "{}",
            render(&m)
        );
        assert_eq!(
            render(&Value::Scalar { t: 0, v: 2.0 }),
            r#"{"status":"success","data":{"resultType":"scalar","result":[0,"2"]}}"#
        );
    }

    #[test]
    fn steps() {
        assert_eq!(parse_step("15"), Some(15_000));
        assert_eq!(parse_step("0.5"), Some(500));
        assert_eq!(parse_step("1m30s"), Some(90_000));
        assert_eq!(parse_step("soon"), None);
    }
}
