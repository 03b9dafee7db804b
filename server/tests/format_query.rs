//! `/api/v1/format_query`: the envelope and errors over a real socket; then
//! every case of `query/tests/format_query.txt`, every query of
//! `tests/promql_queries.txt` and some invalid queries sent to Sightline and
//! to the real Prometheus 2.42 binary (Debian package `prometheus`;
//! `PROMETHEUS_BIN` overrides the path), whose answers must agree with each
//! other (and, for the cases file, with the file).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value as Json};

const CASES_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../query/tests/format_query.txt"
);
const DIFFERENTIAL_QUERIES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/promql_queries.txt");

/// Queries Prometheus rejects with `bad_data`; the messages are compared
/// too.
const INVALID: &[&str] = &[
    "",
    "sum(x",
    "rate(x)",
    "x offset 0s",
    "1 == 1",
    "x[5m] + 1",
    "sum(x) by (a) by (b)",
    "{}",
    r#""unterminated"#,
];

#[tokio::test(flavor = "multi_thread")]
async fn format_query_answers_in_prometheus_shape() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();

    let q = r#"sum(rate(x{b="1",a=~"2"}[90s] offset 1h30m @ 100)) by (job) > bool 1e6"#;
    let (status, body) = get_json(
        &c,
        &s.url,
        &format!("/api/v1/format_query?query={}", enc(q)),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"status": "success",
               "data": r#"sum by (job) (rate(x{a=~"2",b="1"}[1m30s] @ 100.000 offset 1h30m)) > bool 1e+06"#})
    );

    // POST with a form body; long queries are split over lines.
    let q = r#"histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket{job="api-server",handler="/api/v1/query"}[5m])))"#;
    let r = c
        .post(format!("{}/api/v1/format_query", s.url))
        .form(&[("query", q)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Json = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(
        body["data"],
        "histogram_quantile(\n  0.99,\n  sum by (le, job) (\n    rate(http_request_duration_seconds_bucket{handler=\"/api/v1/query\",job=\"api-server\"}[5m])\n  )\n)"
    );

    let (status, body) = get_json(
        &c,
        &s.url,
        &format!("/api/v1/format_query?query={}", enc("sum(x")),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"status": "error", "errorType": "bad_data",
               "error": "invalid parameter \"query\": 1:6: parse error: unclosed left parenthesis"})
    );

    let (status, body) = get_json(&c, &s.url, "/api/v1/format_query").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "invalid parameter \"query\": 1:1: parse error: no expression found in input"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn format_query_agrees_with_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let prom = PrometheusProcess::start(
        dir.path(),
        |_| "global:\n  scrape_interval: 15s\n".into(),
        &[],
    )
    .await;
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();

    let cases = read_cases(&std::fs::read_to_string(CASES_FILE).unwrap());
    assert!(cases.len() > 100, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (query, expected) in &cases {
        let ours = format_query(&c, &s.url, query).await;
        let theirs = format_query(&c, &prom.url, query).await;
        let want = (200, json!({"status": "success", "data": expected}));
        if theirs != want {
            failures.push(format!(
                "{query}\n  file:       {expected:?}\n  prometheus: {theirs:?}"
            ));
        }
        if ours != theirs {
            failures.push(format!(
                "{query}\n  prometheus: {theirs:?}\n  sightline:  {ours:?}"
            ));
        }
    }
    let differential = std::fs::read_to_string(DIFFERENTIAL_QUERIES).unwrap();
    let more = differential
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            l.replace("$MID", "1700000000.5")
                .replace("$END", "1700003600")
        });
    for query in INVALID.iter().map(|q| q.to_string()).chain(more) {
        let ours = format_query(&c, &s.url, &query).await;
        let theirs = format_query(&c, &prom.url, &query).await;
        if ours != theirs {
            failures.push(format!(
                "{query:?}\n  prometheus: {theirs:?}\n  sightline:  {ours:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} mismatch(es):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

async fn format_query(c: &reqwest::Client, url: &str, query: &str) -> (u16, Json) {
    get_json(
        c,
        url,
        &format!("/api/v1/format_query?query={}", enc(query)),
    )
    .await
}

/// `(query, expected output)` from the cases file: `format <query>`, then
/// the output's lines indented by two spaces.
fn read_cases(text: &str) -> Vec<(String, String)> {
    let mut cases: Vec<(String, Vec<&str>)> = Vec::new();
    for line in text.lines() {
        if let Some(query) = line.strip_prefix("format ") {
            cases.push((query.to_string(), Vec::new()));
        } else if let Some(out) = line.strip_prefix("  ") {
            cases.last_mut().expect("output before a query").1.push(out);
        }
    }
    cases
        .into_iter()
        .map(|(q, lines)| (q, lines.join("\n")))
        .collect()
}
