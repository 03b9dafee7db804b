//! Real clients of the Prometheus query API: `promtool query …` (Debian
//! package `prometheus`) and the request sequence Grafana's Prometheus data
//! source sends when it connects, in the query editor, and for a panel.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

/// Three series of `up` and a counter, written at 15 s steps up to now.
async fn server_with_data() -> (ServerProcess, tempfile::TempDir, i64) {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(&dir.path().join("data")).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let now = now - now % 15_000;
    let c = reqwest::Client::new();
    for i in 0..40 {
        let t = now - (39 - i) * 15_000;
        let req = request(vec![
            series(
                &[("__name__", "up"), ("job", "node"), ("instance", "a:9100")],
                &[(t, 1.0)],
            ),
            series(
                &[("__name__", "up"), ("job", "node"), ("instance", "b:9100")],
                &[(t, 0.0)],
            ),
            series(
                &[
                    ("__name__", "http_requests_total"),
                    ("job", "api"),
                    ("code", "200"),
                ],
                &[(t, (i * 30) as f64)],
            ),
        ]);
        assert_eq!(write(&c, &server.url, &req).await.0, 204);
    }
    (server, dir, now)
}

fn promtool(args: &[&str]) -> String {
    let out = Command::new("promtool")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("promtool is needed (Debian package `prometheus`; .ci/run installs it): {e}")
        });
    assert!(
        out.status.success(),
        "promtool {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn promtool_queries() {
    let (server, _dir, now) = server_with_data().await;
    let url = server.url.clone();
    let out = tokio::task::spawn_blocking(move || {
        let now_s = (now / 1000).to_string();
        let start_s = (now / 1000 - 300).to_string();
        (
            promtool(&[
                "query",
                "instant",
                "--time",
                &now_s,
                &url,
                "sum by (job) (up)",
            ]),
            promtool(&[
                "query",
                "range",
                "--start",
                &start_s,
                "--end",
                &now_s,
                "--step",
                "1m",
                &url,
                "rate(http_requests_total[2m])",
            ]),
            promtool(&["query", "series", "--match", "up", &url]),
            promtool(&["query", "labels", &url, "instance"]),
        )
    })
    .await
    .unwrap();
    let (instant, range, series, labels) = out;
    assert!(instant.contains(r#"{job="node"} => 1 @["#), "{instant}");
    // 30 per 15 s is 2/s; six steps over five minutes.
    assert!(range.contains(r#"{code="200", job="api"} =>"#), "{range}");
    assert_eq!(range.matches("2 @[").count(), 6, "{range}");
    assert!(
        series.contains(r#"{__name__="up", instance="a:9100", job="node"}"#),
        "{series}"
    );
    assert!(
        series.contains(r#"{__name__="up", instance="b:9100", job="node"}"#),
        "{series}"
    );
    assert_eq!(
        labels.split_whitespace().collect::<Vec<_>>(),
        ["a:9100", "b:9100"],
        "{labels}"
    );
}

async fn form(c: &reqwest::Client, url: &str, path: &str, body: &[(&str, String)]) -> (u16, Value) {
    let body: String = body
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = c
        .post(format!("{url}{path}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn grafana_request_sequence() {
    let (server, _dir, now) = server_with_data().await;
    let c = reqwest::Client::new();
    let url = &server.url;
    let (start, end) = ((now - 600_000) / 1000, now / 1000);
    let s = |v: i64| v.to_string();

    // "Save & test": an instant `1+1`, then buildinfo.
    let (status, body) = get_json(
        &c,
        url,
        &format!("/api/v1/query?query={}&time={end}", enc("1+1")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["resultType"], "scalar");
    assert_eq!(body["data"]["result"][1], "2");
    let (_, body) = get_json(&c, url, "/api/v1/status/buildinfo").await;
    assert!(body["data"]["version"].as_str().unwrap().starts_with("2."));

    // Query editor: metric names, label names, values, series, metadata.
    let (_, body) = get_json(
        &c,
        url,
        &format!("/api/v1/label/__name__/values?start={start}&end={end}"),
    )
    .await;
    assert_eq!(
        body["data"],
        serde_json::json!(["http_requests_total", "up"])
    );
    let (_, body) = form(
        &c,
        url,
        "/api/v1/labels",
        &[("start", s(start)), ("end", s(end))],
    )
    .await;
    assert_eq!(
        body["data"],
        serde_json::json!(["__name__", "code", "instance", "job"])
    );
    let (_, body) = get_json(
        &c,
        url,
        &format!(
            "/api/v1/label/job/values?match[]={}&start={start}&end={end}",
            enc("up")
        ),
    )
    .await;
    assert_eq!(body["data"], serde_json::json!(["node"]));
    let (_, body) = form(
        &c,
        url,
        "/api/v1/series",
        &[
            ("match[]", "up".into()),
            ("start", s(start)),
            ("end", s(end)),
        ],
    )
    .await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    let (status, body) = get_json(&c, url, "/api/v1/metadata").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("success")));

    // A panel: query_range with a float step, and an instant table query.
    let (status, body) = form(
        &c,
        url,
        "/api/v1/query_range",
        &[
            ("query", "sum by (instance) (up)".into()),
            ("start", s(start)),
            ("end", s(end)),
            ("step", "15".into()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    let result = body["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    for series in result {
        let values = series["values"].as_array().unwrap();
        // The first step precedes the oldest sample (600 s back, data 585 s back).
        assert_eq!(values.len(), 40, "{series}");
        assert!(values[0][0].is_number() && values[0][1].is_string());
    }
    let (status, body) = form(
        &c,
        url,
        "/api/v1/query",
        &[("query", "up == 0".into()), ("time", s(end))],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["result"][0]["metric"]["instance"], "b:9100");

    // Errors in Prometheus's shape.
    let (status, body) = get_json(&c, url, &format!("/api/v1/query?query={}", enc("sum(up"))).await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data"))
    );
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid parameter \"query\": 1:"),
        "{body}"
    );
    let (status, body) = form(
        &c,
        url,
        "/api/v1/query_range",
        &[
            ("query", "up".into()),
            ("start", s(end)),
            ("end", s(start)),
            ("step", "15".into()),
        ],
    )
    .await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data"))
    );
    let (status, body) = get_json(
        &c,
        url,
        &format!("/api/v1/query?query={}&time={end}", enc("up + on() up")),
    )
    .await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (422, Some("execution")),
        "{body}"
    );
}
