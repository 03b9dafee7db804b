//! A Prometheus HTTP API client for one target: timed range queries (GET
//! `/api/v1/query_range`), and the instant query that tells when loaded data
//! has become visible.
//!
//! A query's latency runs from sending the request to having read the whole
//! answer; the JSON is only looked at after the clock has stopped.

use crate::sender::describe_transport_error;
use std::time::{Duration, Instant};

use anyhow::Context;
use reqwest::Url;
use serde_json::Value;

/// Longest error text kept for the report.
const MAX_ERROR_CHARS: usize = 300;

/// The time range and resolution of every range query, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeWindow {
    pub start_s: i64,
    pub end_s: i64,
    pub step_s: u64,
}

impl RangeWindow {
    /// The largest step-aligned window within `[first_ms, last_ms]`, as a
    /// dashboard aligns its panels; every system then evaluates the same
    /// instants.
    pub fn aligned(first_ms: i64, last_ms: i64, step: Duration) -> Self {
        let step_s = step.as_secs().max(1);
        let step = i64::try_from(step_s).unwrap_or(i64::MAX);
        let first_s = first_ms.div_euclid(1000) + i64::from(first_ms.rem_euclid(1000) != 0);
        let start_s =
            first_s.div_euclid(step) * step + step * i64::from(first_s.rem_euclid(step) != 0);
        let end_s = last_ms.div_euclid(1000).div_euclid(step) * step;
        Self {
            start_s,
            end_s: end_s.max(start_s),
            step_s,
        }
    }

    /// Evaluation instants in the window.
    pub fn steps(&self) -> u64 {
        (self.end_s - self.start_s).unsigned_abs() / self.step_s.max(1) + 1
    }
}

/// The shape of a successful range-query answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixShape {
    pub series: usize,
    /// Samples over all series.
    pub points: usize,
}

/// One timed query.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub latency: Duration,
    /// The answer's shape, or why the query failed.
    pub result: Result<MatrixShape, String>,
}

/// Queries one target.
#[derive(Debug, Clone)]
pub struct PromClient {
    http: reqwest::Client,
    range_url: Url,
    instant_url: Url,
}

impl PromClient {
    pub fn new(base_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent("sightline-benches/0.1")
            .build()
            .context("building the HTTP client")?;
        let url = |path: &str| {
            Url::parse(&format!("{base_url}{path}"))
                .with_context(|| format!("bad target URL {base_url}{path}"))
        };
        Ok(Self {
            http,
            range_url: url("/api/v1/query_range")?,
            instant_url: url("/api/v1/query")?,
        })
    }

    /// Runs `promql` over `window` and times it.
    pub async fn query_range(&self, promql: &str, window: &RangeWindow) -> Answer {
        let mut url = self.range_url.clone();
        url.query_pairs_mut()
            .append_pair("query", promql)
            .append_pair("start", &window.start_s.to_string())
            .append_pair("end", &window.end_s.to_string())
            .append_pair("step", &window.step_s.to_string());
        let started = Instant::now();
        let fetched = self.fetch(url).await;
        let latency = started.elapsed();
        let result = fetched.and_then(|(status, body)| matrix_shape(status, &body));
        Answer { latency, result }
    }

    /// The value of an instant query answering one sample, e.g.
    /// `count({__name__=~".+"})`; `Ok(None)` when it answers no sample.
    pub async fn instant_value(&self, promql: &str, time_s: i64) -> Result<Option<f64>, String> {
        let mut url = self.instant_url.clone();
        url.query_pairs_mut()
            .append_pair("query", promql)
            .append_pair("time", &time_s.to_string());
        let (status, body) = self.fetch(url).await?;
        single_value(status, &body)
    }

    async fn fetch(&self, url: Url) -> Result<(reqwest::StatusCode, bytes::Bytes), String> {
        let response = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| describe_transport_error(&e))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| describe_transport_error(&e))?;
        Ok((status, body))
    }
}

/// The `data` of a successful API answer, or the error it reports.
fn success_data(status: reqwest::StatusCode, body: &[u8]) -> Result<Value, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(format!("HTTP {status}, empty body"));
    }
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let mut json = match parsed {
        Ok(json) => json,
        Err(e) => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.trim().chars().take(MAX_ERROR_CHARS).collect();
            return Err(format!("HTTP {status}, not JSON ({e}): {text}"));
        }
    };
    if json["status"] != "success" || !status.is_success() {
        let kind = json["errorType"].as_str().unwrap_or("no errorType");
        let error = json["error"].as_str().unwrap_or("no error message");
        let error: String = error.chars().take(MAX_ERROR_CHARS).collect();
        return Err(format!("HTTP {status}: {kind}: {error}"));
    }
    Ok(json["data"].take())
}

/// Series and points of a range query's `matrix` answer.
fn matrix_shape(status: reqwest::StatusCode, body: &[u8]) -> Result<MatrixShape, String> {
    let data = success_data(status, body)?;
    if data["resultType"] != "matrix" {
        return Err(format!(
            "resultType {} instead of matrix",
            data["resultType"]
        ));
    }
    let Some(result) = data["result"].as_array() else {
        return Err("no result array".to_string());
    };
    let points = result
        .iter()
        .map(|series| {
            let floats = series["values"].as_array().map_or(0, Vec::len);
            let histograms = series["histograms"].as_array().map_or(0, Vec::len);
            floats + histograms
        })
        .sum();
    Ok(MatrixShape {
        series: result.len(),
        points,
    })
}

/// The value of the only sample of an instant `vector` answer.
fn single_value(status: reqwest::StatusCode, body: &[u8]) -> Result<Option<f64>, String> {
    let data = success_data(status, body)?;
    let Some(result) = data["result"].as_array() else {
        return Err("no result array".to_string());
    };
    let Some(sample) = result.first() else {
        return Ok(None);
    };
    let text = sample["value"][1]
        .as_str()
        .ok_or_else(|| format!("no sample value in {sample}"))?;
    text.parse()
        .map(Some)
        .map_err(|e| format!("bad sample value {text:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    #[test]
    fn window_is_step_aligned_and_inside_the_data() {
        let window = RangeWindow::aligned(
            1_700_000_001_500,
            1_700_010_799_000,
            Duration::from_secs(60),
        );
        assert_eq!(window.start_s % 60, 0);
        assert_eq!(window.end_s % 60, 0);
        assert!(window.start_s * 1000 >= 1_700_000_001_500);
        assert!(window.end_s * 1000 <= 1_700_010_799_000);
        assert_eq!(window.start_s, 1_700_000_040);
        assert_eq!(window.end_s, 1_700_010_780);
        assert_eq!(window.steps(), 180);
        // Already aligned bounds stay.
        let exact = RangeWindow::aligned(120_000, 240_000, Duration::from_secs(60));
        assert_eq!((exact.start_s, exact.end_s, exact.steps()), (120, 240, 3));
    }

    #[test]
    fn reads_matrix_shape() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"a":"1"},"values":[[1,"1"],[2,"2"]]},
            {"metric":{"a":"2"},"values":[[1,"3"]]}]}}"#;
        assert_eq!(
            matrix_shape(StatusCode::OK, body),
            Ok(MatrixShape {
                series: 2,
                points: 3
            })
        );
        let empty = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert_eq!(
            matrix_shape(StatusCode::OK, empty),
            Ok(MatrixShape {
                series: 0,
                points: 0
            })
        );
    }

    #[test]
    fn reports_api_errors() {
        let body = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        let err = matrix_shape(StatusCode::BAD_REQUEST, body).unwrap_err();
        assert_eq!(err, "HTTP 400 Bad Request: bad_data: parse error at char 5");
        let err = matrix_shape(StatusCode::NOT_FOUND, b"404 page not found").unwrap_err();
        assert!(
            err.contains("not JSON") && err.contains("404 page not found"),
            "{err}"
        );
        let err = matrix_shape(StatusCode::NOT_FOUND, b"").unwrap_err();
        assert_eq!(err, "HTTP 404 Not Found, empty body");
        let vector = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(matrix_shape(StatusCode::OK, vector).is_err());
    }

    #[test]
    fn reads_single_value() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{},"value":[1700000000,"10000"]}]}}"#;
        assert_eq!(single_value(StatusCode::OK, body), Ok(Some(10_000.0)));
        let none = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert_eq!(single_value(StatusCode::OK, none), Ok(None));
    }
}
