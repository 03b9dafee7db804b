//! Loki's `index/stats`, `index/volume`, `index/volume_range` and the
//! per-stream rate limit on a real `sightline` process: figures checked
//! against exactly what was pushed, refusals in Loki's words, and nothing
//! accepted lost across a SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use sightline_model::loki_push::{Entry, PushRequest, Stream, Timestamp};

/// 2023-11-14T22:13:20Z, 20 s into a minute.
const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn stream(labels: &str, entries: &[(i64, String)]) -> Stream {
    Stream {
        labels: labels.into(),
        entries: entries
            .iter()
            .map(|(ts, line)| Entry {
                timestamp: Some(Timestamp::from_nanos(*ts)),
                line: line.clone(),
                structured_metadata: vec![],
            })
            .collect(),
        hash: 0,
    }
}

/// A line of exactly `n` bytes.
fn line(n: usize, tag: char) -> String {
    std::iter::repeat_n(tag, n).collect()
}

async fn push(c: &reqwest::Client, url: &str, streams: Vec<Stream>) -> (u16, String) {
    let r = c
        .post(format!("{url}/loki/api/v1/push"))
        .header("Content-Type", "application/x-protobuf")
        .body(PushRequest { streams }.encode_snappy())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn get(c: &reqwest::Client, url: &str, path: &str, params: &[(&str, &str)]) -> (u16, Value) {
    let r = c
        .get(format!("{url}{path}"))
        .query(params)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `[[ts, "v"], …]` of a volume result as `(labels, [(seconds, bytes)])`.
fn series(body: &Value) -> Vec<(Value, Vec<(f64, u64)>)> {
    let point = |p: &Value| {
        (
            p[0].as_f64().unwrap(),
            p[1].as_str().unwrap().parse::<u64>().unwrap(),
        )
    };
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let points = match s.get("values") {
                Some(v) => v.as_array().unwrap().iter().map(point).collect(),
                None => vec![point(&s["value"])],
            };
            (s["metric"].clone(), points)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn index_stats_and_volumes_count_what_was_pushed() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &dir.path().join("data"),
        &[("SIGHTLINE_LOGS__RETENTION", "10y")],
    )
    .await;
    let c = reqwest::Client::new();
    let url = &server.url;
    let streams = vec![
        stream(
            r#"{app="api", env="prod", pod="a"}"#,
            &[(T0 + SEC, line(100, 'a')), (T0 + 2 * SEC, line(200, 'a'))],
        ),
        stream(
            r#"{app="api", env="prod", pod="b"}"#,
            &[(T0 + 3 * SEC, line(50, 'b'))],
        ),
        stream(
            r#"{app="api", env="dev", pod="c"}"#,
            &[(T0 + 70 * SEC, line(10, 'c'))],
        ),
        stream(
            r#"{app="web", env="prod"}"#,
            &[
                (T0 + 5 * SEC, line(30, 'w')),
                (T0 + 65 * SEC, line(40, 'w')),
            ],
        ),
    ];
    assert_eq!(push(&c, url, streams.clone()).await, (204, String::new()));
    // Pushed again: stored once, counted once.
    assert_eq!(push(&c, url, streams).await, (204, String::new()));

    let (start, end) = (T0.to_string(), (T0 + 3600 * SEC).to_string());
    let stats = |query: &'static str, from: String| {
        let c = c.clone();
        let end = end.clone();
        async move {
            get(
                &c,
                url,
                "/loki/api/v1/index/stats",
                &[("query", query), ("start", &from), ("end", &end)],
            )
            .await
        }
    };
    // All in one day's partition: a chunk per stream.
    assert_eq!(
        stats(r#"{app="api"}"#, start.clone()).await,
        (
            200,
            json!({"streams": 3, "chunks": 3, "entries": 4, "bytes": 360})
        )
    );
    assert_eq!(
        stats(r#"{env="prod"}"#, start.clone()).await,
        (
            200,
            json!({"streams": 3, "chunks": 3, "entries": 5, "bytes": 420})
        )
    );
    // The range counts: only the second minute.
    assert_eq!(
        stats(r#"{app=~".+"}"#, (T0 + 60 * SEC).to_string()).await,
        (
            200,
            json!({"streams": 2, "chunks": 2, "entries": 2, "bytes": 50})
        )
    );
    // A log query's selector is used; nothing matching is all zeros.
    assert_eq!(
        stats(r#"{app="api"} |= "a""#, start.clone()).await.1["bytes"],
        360
    );
    assert_eq!(
        stats(r#"{app="nope"}"#, start.clone()).await,
        (
            200,
            json!({"streams": 0, "chunks": 0, "entries": 0, "bytes": 0})
        )
    );

    let volume = |extra: Vec<(&'static str, &'static str)>| {
        let c = c.clone();
        let (start, end) = (start.clone(), end.clone());
        async move {
            let mut p: Vec<(&str, &str)> = vec![("start", &start), ("end", &end)];
            p.extend(extra);
            get(&c, url, "/loki/api/v1/index/volume", &p).await
        }
    };
    let end_s = (T0 + 3600 * SEC) as f64 / 1e9;
    // By the labels the selector names, largest first, stamped at `end`.
    let (status, body) = volume(vec![("query", r#"{app=~".+"}"#)]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(
        series(&body),
        [
            (json!({"app": "api"}), vec![(end_s, 360)]),
            (json!({"app": "web"}), vec![(end_s, 70)]),
        ]
    );
    let (_, body) = volume(vec![("query", r#"{app="api", env=~".+"}"#)]).await;
    assert_eq!(
        series(&body),
        [
            (json!({"app": "api", "env": "prod"}), vec![(end_s, 350)]),
            (json!({"app": "api", "env": "dev"}), vec![(end_s, 10)]),
        ]
    );
    // targetLabels replace the selector's names.
    let (_, body) = volume(vec![("query", r#"{app=~".+"}"#), ("targetLabels", "env")]).await;
    assert_eq!(
        series(&body),
        [
            (json!({"env": "prod"}), vec![(end_s, 420)]),
            (json!({"env": "dev"}), vec![(end_s, 10)]),
        ]
    );
    // aggregateBy=labels: one group per label name, value "".
    let (_, body) = volume(vec![("query", r#"{app="api"}"#), ("aggregateBy", "labels")]).await;
    assert_eq!(
        series(&body),
        [
            (json!({"app": ""}), vec![(end_s, 360)]),
            (json!({"env": ""}), vec![(end_s, 360)]),
            (json!({"pod": ""}), vec![(end_s, 360)]),
        ]
    );
    // A target label is required: the stream without `pod` is left out.
    let (_, body) = volume(vec![
        ("query", r#"{app=~".+"}"#),
        ("aggregateBy", "labels"),
        ("targetLabels", "pod"),
    ])
    .await;
    assert_eq!(series(&body), [(json!({"pod": ""}), vec![(end_s, 360)])]);
    let (_, body) = volume(vec![("query", r#"{app=~".+"}"#), ("limit", "1")]).await;
    assert_eq!(series(&body), [(json!({"app": "api"}), vec![(end_s, 360)])]);

    // Range: minute buckets, each stamped at its end less 1 ms.
    let (status, body) = get(
        &c,
        url,
        "/loki/api/v1/index/volume_range",
        &[
            ("query", r#"{app=~".+"}"#),
            ("start", &start),
            ("end", &(T0 + 120 * SEC).to_string()),
            ("step", "60s"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        series(&body),
        [
            (
                json!({"app": "api"}),
                vec![(1_700_000_039.999, 350), (1_700_000_099.999, 10)]
            ),
            (
                json!({"app": "web"}),
                vec![(1_700_000_039.999, 30), (1_700_000_099.999, 40)]
            ),
        ]
    );

    // Refusals.
    for (params, words) in [
        (vec![], "query parameter is required"),
        (
            vec![("query", r#"{app="api"}"#), ("aggregateBy", "pods")],
            "invalid aggregation option",
        ),
        (
            vec![("query", r#"{app="api"}"#), ("limit", "0")],
            "limit must be a positive value",
        ),
        (
            vec![("query", "{app=~\".*\"}")],
            "queries require at least one",
        ),
    ] {
        let (status, body) = volume(params).await;
        assert_eq!(status, 400, "{body}");
        assert!(body.as_str().unwrap().contains(words), "{body}");
    }
    let (status, body) = get(&c, url, "/loki/api/v1/index/stats", &[]).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn per_stream_rate_limit_refuses_with_429_and_keeps_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [
        ("SIGHTLINE_LOGS__RETENTION", "10y"),
        ("SIGHTLINE_LOGS__PER_STREAM_RATE_LIMIT", "1KB"),
        ("SIGHTLINE_LOGS__PER_STREAM_RATE_LIMIT_BURST", "2KB"),
    ];
    let port = free_port();
    let mut server = ServerProcess::start_on(port, &data, &env).await;
    let c = reqwest::Client::new();

    // Stream a: 3 × 1000 bytes against a 2048-byte burst, so the third is
    // refused; stream b is well within its own bucket.
    let a: Vec<(i64, String)> = (0..3).map(|i| (T0 + i * SEC, line(1000, 'a'))).collect();
    let b = vec![(T0, "small".to_string())];
    let (status, body) = push(
        &c,
        &server.url,
        vec![stream(r#"{app="a"}"#, &a), stream(r#"{app="b"}"#, &b)],
    )
    .await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body,
        "entry with timestamp 2023-11-14 22:13:22 +0000 UTC ignored, reason: 'Per stream rate limit exceeded (limit: 1KB/sec) while attempting to ingest for stream '{app=\"a\"}' totaling 1000B, consider splitting a stream via additional labels or contact your Loki administrator to see if the limit can be increased',\nuser 'fake', total ignored: 1 out of 3 for stream: {app=\"a\"}\n"
    );
    let metrics = get_text(&c, &server.url, "/metrics").await;
    assert!(
        metrics.contains("sightline_logstore_rejected_lines_total{reason=\"rate_limited\"} 1\n"),
        "{metrics}"
    );

    let count = |server_url: String| {
        let c = c.clone();
        async move {
            let (status, body) = get(
                &c,
                &server_url,
                "/loki/api/v1/index/stats",
                &[
                    ("query", r#"{app=~"a|b"}"#),
                    ("start", &T0.to_string()),
                    ("end", &(T0 + 60 * SEC).to_string()),
                ],
            )
            .await;
            assert_eq!(status, 200, "{body}");
            (
                body["entries"].as_u64().unwrap(),
                body["bytes"].as_u64().unwrap(),
            )
        }
    };
    // What was admitted is stored: a's first two, and b.
    assert_eq!(count(server.url.clone()).await, (3, 2005));
    let (_, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{app="a"}"#),
            ("start", &T0.to_string()),
            ("end", &(T0 + 60 * SEC).to_string()),
            ("direction", "forward"),
        ],
    )
    .await;
    let stamps: Vec<&str> = body["data"]["result"][0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v[0].as_str().unwrap())
        .collect();
    assert_eq!(stamps, [T0.to_string(), (T0 + SEC).to_string()]);

    // The bucket refills at the rate: after a second and a bit, the refused
    // entry goes in.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, body) = push(&c, &server.url, vec![stream(r#"{app="a"}"#, &a[2..])]).await;
    assert_eq!((status, body.as_str()), (204, ""));
    assert_eq!(count(server.url.clone()).await, (4, 3005));

    // Acknowledged means durable: all of it after a SIGKILL.
    server.kill9();
    let server = ServerProcess::start_on(port, &data, &env).await;
    assert_eq!(count(server.url.clone()).await, (4, 3005));
}
