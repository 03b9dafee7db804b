//! The Loki API on a real `sightline` process: pushes in the payloads
//! Promtail (protobuf + snappy) and Fluent Bit / curl (JSON) send, queries
//! in the shapes Grafana and logcli parse, and refusals in Loki's words.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::{json, Value};
use sightline_model::loki_push::{Entry, LabelPair, PushRequest, Stream, Timestamp};

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

fn stream(labels: &str, entries: &[(i64, &str)]) -> Stream {
    Stream {
        labels: labels.into(),
        entries: entries
            .iter()
            .map(|&(ts, line)| Entry {
                timestamp: Some(Timestamp::from_nanos(ts)),
                line: line.into(),
                structured_metadata: vec![],
            })
            .collect(),
        hash: 0,
    }
}

/// A server whose retention (10 years) keeps the fixed 2023 timestamps
/// these tests use.
async fn start(dir: &tempfile::TempDir) -> ServerProcess {
    ServerProcess::start_with(
        &dir.path().join("data"),
        &[("SIGHTLINE_LOGS__RETENTION", "10y")],
    )
    .await
}

async fn push_proto(c: &reqwest::Client, url: &str, streams: Vec<Stream>) -> (u16, String) {
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

async fn push_json(c: &reqwest::Client, url: &str, body: &Value) -> (u16, String) {
    let r = c
        .post(format!("{url}/loki/api/v1/push"))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap())
}

async fn get(
    c: &reqwest::Client,
    url: &str,
    path: &str,
    params: &[(&str, String)],
) -> (u16, String, Value) {
    let r = c
        .get(format!("{url}{path}"))
        .query(params)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let ct = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::Null);
    (
        status,
        ct,
        if v.is_null() { Value::String(text) } else { v },
    )
}

fn range(query: &str, extra: &[(&str, &str)]) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("query", query.to_string()),
        ("start", T0.to_string()),
        ("end", (T0 + 3600 * SEC).to_string()),
    ];
    for (k, v) in extra {
        let key: &'static str = match *k {
            "limit" => "limit",
            "direction" => "direction",
            "step" => "step",
            other => panic!("unexpected parameter {other}"),
        };
        p.push((key, v.to_string()));
    }
    p
}

#[tokio::test(flavor = "multi_thread")]
async fn protobuf_push_then_query_in_lokis_shape() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = reqwest::Client::new();
    let mut api = stream(
        r#"{app="api", namespace="prod"}"#,
        &[
            (T0 + SEC, "level=info msg=\"GET /health\" status=200"),
            (
                T0 + 2 * SEC,
                "level=error msg=\"db connection refused\" status=500",
            ),
            (T0 + 3 * SEC, "level=info msg=\"GET /users\" status=200"),
        ],
    );
    api.entries[1].structured_metadata = vec![LabelPair {
        name: "trace_id".into(),
        value: "abc123".into(),
    }];
    let web = stream(
        r#"{app="web", namespace="prod"}"#,
        &[(T0 + 4 * SEC, "GET /index.html 200")],
    );
    assert_eq!(
        push_proto(&c, &server.url, vec![api, web]).await,
        (204, String::new())
    );

    // Readable at once, before the index commit.
    let (status, ct, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &range(r#"{namespace="prod"} |= "GET""#, &[]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/json");
    assert_eq!(body["status"], "success");
    assert_eq!(body["data"]["resultType"], "streams");
    assert_eq!(
        body["data"]["result"],
        json!([
            {"stream": {"app": "api", "namespace": "prod"},
             "values": [[(T0 + 3 * SEC).to_string(), "level=info msg=\"GET /users\" status=200"],
                        [(T0 + SEC).to_string(), "level=info msg=\"GET /health\" status=200"]]},
            {"stream": {"app": "web", "namespace": "prod"},
             "values": [[(T0 + 4 * SEC).to_string(), "GET /index.html 200"]]}
        ])
    );
    let summary = &body["data"]["stats"]["summary"];
    assert!(
        summary["totalLinesProcessed"].as_u64().unwrap() >= 3,
        "{summary}"
    );
    assert_eq!(summary["totalEntriesReturned"], 3);

    // Structured metadata comes back as labels; direction and limit.
    let (_, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &range(
            r#"{app="api"} | logfmt | status >= 500"#,
            &[("direction", "forward")],
        ),
    )
    .await;
    assert_eq!(
        body["data"]["result"][0]["stream"],
        json!({"app": "api", "level": "error", "msg": "db connection refused", "namespace": "prod", "status": "500", "trace_id": "abc123"})
    );
    let (_, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &range(
            r#"{app="api"}"#,
            &[("direction", "forward"), ("limit", "2")],
        ),
    )
    .await;
    // The second entry carries metadata, so it is a stream of its own.
    let result = body["data"]["result"].as_array().unwrap();
    let total: usize = result
        .iter()
        .map(|s| s["values"].as_array().unwrap().len())
        .sum();
    assert_eq!(total, 2, "{body}");
    assert_eq!(result[0]["values"][0][0], (T0 + SEC).to_string());
    assert_eq!(result[1]["values"][0][0], (T0 + 2 * SEC).to_string());

    // Metric queries: matrix over the range, vector at an instant.
    let (status, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &[
            (
                "query",
                "sum by (app) (count_over_time({namespace=\"prod\"}[10s]))".to_string(),
            ),
            ("start", ((T0 + 5 * SEC) / SEC).to_string()),
            ("end", ((T0 + 10 * SEC) / SEC).to_string()),
            ("step", "5s".to_string()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "matrix");
    assert_eq!(
        body["data"]["result"],
        json!([
            {"metric": {"app": "api"}, "values": [[1_700_000_005, "3"], [1_700_000_010, "3"]]},
            {"metric": {"app": "web"}, "values": [[1_700_000_005, "1"], [1_700_000_010, "1"]]}
        ])
    );
    let (status, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query",
        &[
            (
                "query",
                "sum(rate({app=\"api\"} |= \"status=200\" [10s]))".to_string(),
            ),
            ("time", "2023-11-14T22:13:30Z".to_string()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["resultType"], "vector");
    assert_eq!(
        body["data"]["result"],
        json!([{"metric": {}, "value": [1_700_000_010, "0.2"]}])
    );

    // The stream table.
    let window = [
        ("start", T0.to_string()),
        ("end", (T0 + 3600 * SEC).to_string()),
    ];
    let (_, _, body) = get(&c, &server.url, "/loki/api/v1/labels", &window).await;
    assert_eq!(
        body,
        json!({"status": "success", "data": ["app", "namespace"]})
    );
    let (_, _, body) = get(&c, &server.url, "/loki/api/v1/label/app/values", &window).await;
    assert_eq!(body["data"], json!(["api", "web"]));
    let mut p = window.to_vec();
    p.push(("match[]", r#"{app=~"w.+"}"#.to_string()));
    let (_, _, body) = get(&c, &server.url, "/loki/api/v1/series", &p).await;
    assert_eq!(body["data"], json!([{"app": "web", "namespace": "prod"}]));
}

#[tokio::test(flavor = "multi_thread")]
async fn json_push_as_fluent_bit_sends_it() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = reqwest::Client::new();
    let body = json!({"streams": [{
        "stream": {"job": "fluent-bit", "host": "node-1"},
        "values": [
            [(T0 + SEC).to_string(), "{\"log\":\"user alice logged in\",\"level\":\"info\"}"],
            [(T0 + 2 * SEC).to_string(), "{\"log\":\"user bob failed\",\"level\":\"warn\"}", {"pod_uid": "u-1"}]
        ]
    }]});
    assert_eq!(
        push_json(&c, &server.url, &body).await,
        (204, String::new())
    );
    // The same again, gzipped: a retry of identical entries is stored once.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, body.to_string().as_bytes()).unwrap();
    let r = c
        .post(format!("{}/loki/api/v1/push", server.url))
        .header("Content-Type", "application/json")
        .header("Content-Encoding", "gzip")
        .body(gz.finish().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (_, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &range(
            r#"{job="fluent-bit"} | json | level="warn" | line_format "{{.log}}""#,
            &[],
        ),
    )
    .await;
    assert_eq!(
        body["data"]["result"],
        json!([{"stream": {"host": "node-1", "job": "fluent-bit", "level": "warn", "log": "user bob failed", "pod_uid": "u-1"},
                "values": [[(T0 + 2 * SEC).to_string(), "user bob failed"]]}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_in_lokis_words() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = reqwest::Client::new();

    // A line over 256 KiB is refused; the rest of the push is stored.
    let big = "x".repeat((256 << 10) + 1);
    let (status, text) = push_proto(
        &c,
        &server.url,
        vec![stream(r#"{app="a"}"#, &[(T0, "fine"), (T0 + 1, &big)])],
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        text,
        "Max entry size '262144' bytes exceeded for stream '{app=\"a\"}' while adding an entry with length '262145' bytes\n"
    );
    let (_, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &range(r#"{app="a"}"#, &[]),
    )
    .await;
    assert_eq!(
        body["data"]["result"][0]["values"],
        json!([[T0.to_string(), "fine"]])
    );

    // Past retention.
    let (status, text) = push_proto(
        &c,
        &server.url,
        vec![stream(r#"{app="a"}"#, &[(SEC, "old")])],
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("entry for stream '{app=\"a\"}' has timestamp too old: 1970-01-01T00:00:01Z, oldest acceptable timestamp is: "),
        "{text}"
    );

    // Sixteen labels.
    let labels: Vec<String> = (0..16).map(|i| format!("l{i}=\"v\"")).collect();
    let text16 = format!("{{{}}}", labels.join(", "));
    let (status, text) = push_proto(&c, &server.url, vec![stream(&text16, &[(T0, "x")])]).await;
    assert_eq!(status, 400);
    assert_eq!(
        text,
        format!("entry for stream '{text16}' has 16 label names; limit 15\n")
    );

    // Undecodable bodies.
    let (status, _) = {
        let r = c
            .post(format!("{}/loki/api/v1/push", server.url))
            .header("Content-Type", "application/x-protobuf")
            .body(vec![0xff, 0xfe, 0xfd])
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), ())
    };
    assert_eq!(status, 400);
    let (status, text) = push_json(
        &c,
        &server.url,
        &json!({"streams": [{"stream": {"a": "b"}, "values": [[1, "x"]]}]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("is not a string of nanoseconds"), "{text}");
    let (status, text) = push_proto(&c, &server.url, vec![stream("app=\"x\"", &[(T0, "x")])]).await;
    assert_eq!(status, 400);
    assert!(
        text.starts_with("Error parsing labels 'app=\"x\"'"),
        "{text}"
    );

    // Query errors: plain text, 400.
    let (status, ct, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &range(r#"{app=~".*"}"#, &[]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert!(
        body.as_str().unwrap().starts_with("parse error at line 1, col 1: syntax error: queries require at least one regexp or equality matcher"),
        "{body}"
    );
    let (status, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &range(r#"{app="a"}"#, &[("limit", "9000")]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body.as_str()
            .unwrap()
            .contains("max entries limit per query exceeded"),
        "{body}"
    );
    let (status, _, _) = get(&c, &server.url, "/loki/api/v1/query_range", &[]).await;
    assert_eq!(status, 400);
    let (status, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &[
            ("query", r#"{app="a"}"#.to_string()),
            ("start", "yesterday".to_string()),
        ],
    )
    .await;
    assert_eq!(status, 400, "{body}");
}

/// The requests Grafana's Loki data source makes when it is added and used.
#[tokio::test(flavor = "multi_thread")]
async fn grafana_data_source_sequence() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    assert_eq!(
        push_proto(
            &c,
            &server.url,
            vec![stream(
                r#"{job="varlogs", filename="/var/log/syslog"}"#,
                &[(now - SEC, "kernel: eth0 up")]
            )]
        )
        .await
        .0,
        204
    );
    // "Save & test": an instant query.
    let (status, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query",
        &[("query", "vector(1)+vector(1)".to_string())],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "2");
    let (status, _, body) = get(&c, &server.url, "/loki/api/v1/status/buildinfo", &[]).await;
    assert_eq!(status, 200);
    assert!(body["version"].is_string());
    // Newer Grafana asks for detected labels first and falls back on 404.
    let (status, _, _) = get(
        &c,
        &server.url,
        "/loki/api/v1/detected_labels",
        &[("query", "{job=\"varlogs\"}".to_string())],
    )
    .await;
    assert_eq!(status, 404);
    // Label browser: default time range (last 6 hours).
    let (_, _, body) = get(&c, &server.url, "/loki/api/v1/labels", &[]).await;
    assert_eq!(body["data"], json!(["filename", "job"]));
    let (_, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/label/job/values",
        &[("query", "{filename=~\".+\"}".to_string())],
    )
    .await;
    assert_eq!(body["data"], json!(["varlogs"]));
    // Explore: logs with the default window, then the volume histogram.
    let (_, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &[
            ("query", "{job=\"varlogs\"} |= \"eth0\"".to_string()),
            ("limit", "1000".to_string()),
            ("direction", "backward".to_string()),
        ],
    )
    .await;
    assert_eq!(body["data"]["result"][0]["values"][0][1], "kernel: eth0 up");
    let (status, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/query_range",
        &[
            (
                "query",
                "sum by (level) (count_over_time({job=\"varlogs\"} |= \"eth0\" [1m]))".to_string(),
            ),
            ("start", ((now - 600 * SEC) / SEC).to_string()),
            ("end", (now / SEC).to_string()),
            ("step", "60".to_string()),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let values = body["data"]["result"][0]["values"].as_array().unwrap();
    assert_eq!(values.last().unwrap()[1], "1");
    assert_eq!(get(&c, &server.url, "/ready", &[]).await.0, 200);
}

/// Live tail over a WebSocket, as Grafana's "Live" button and `logcli
/// query --tail` use it.
#[tokio::test(flavor = "multi_thread")]
async fn live_tail_sends_recent_then_new_entries() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    let dir = tempfile::tempdir().unwrap();
    let server = start(&dir).await;
    let c = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let labels = r#"{app="tailme"}"#;
    assert_eq!(
        push_proto(
            &c,
            &server.url,
            vec![stream(labels, &[(now - SEC, "level=info before")])]
        )
        .await
        .0,
        204
    );

    let query =
        form_urlencoded::byte_serialize(br#"{app="tailme"} |= "level=" | logfmt | level!="debug""#)
            .collect::<String>();
    let ws_url = format!(
        "{}/loki/api/v1/tail?query={query}&start={}",
        server.url.replace("http://", "ws://"),
        now - 60 * SEC
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(ws_url).await.unwrap();
    async fn next<S>(ws: &mut S) -> Value
    where
        S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>>
            + Unpin,
    {
        let m = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
            .await
            .expect("a tail message within 10 s")
            .unwrap()
            .unwrap();
        match m {
            Message::Text(t) => serde_json::from_str::<Value>(&t).unwrap(),
            other => panic!("unexpected message {other:?}"),
        }
    }
    let first = next(&mut ws).await;
    assert_eq!(
        first,
        json!({"streams": [{"stream": {"app": "tailme", "level": "info"}, "values": [[(now - SEC).to_string(), "level=info before"]]}],
               "dropped_entries": null})
    );
    assert_eq!(
        push_proto(
            &c,
            &server.url,
            vec![
                stream(
                    labels,
                    &[(now, "level=debug hidden"), (now + 1, "level=warn live")]
                ),
                stream(r#"{app="other"}"#, &[(now, "level=warn elsewhere")]),
            ]
        )
        .await
        .0,
        204
    );
    let live = next(&mut ws).await;
    assert_eq!(
        live["streams"],
        json!([{"stream": {"app": "tailme", "level": "warn"}, "values": [[(now + 1).to_string(), "level=warn live"]]}])
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_past_the_limit_answer_429() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &dir.path().join("data"),
        &[
            ("SIGHTLINE_LOGS__RETENTION", "10y"),
            ("SIGHTLINE_LOGS__MAX_STREAMS", "2"),
        ],
    )
    .await;
    let c = reqwest::Client::new();
    let push = |pod: &str| stream(&format!("{{app=\"a\", pod=\"{pod}\"}}"), &[(T0, "x")]);
    assert_eq!(
        push_proto(&c, &server.url, vec![push("1"), push("2")])
            .await
            .0,
        204
    );
    let (status, text) = push_proto(&c, &server.url, vec![push("1"), push("3")]).await;
    assert_eq!(status, 429);
    assert!(
        text.starts_with("Maximum active stream limit exceeded when trying to create stream {app=\"a\", pod=\"3\"}"),
        "{text}"
    );
    let (_, _, body) = get(
        &c,
        &server.url,
        "/loki/api/v1/label/pod/values",
        &[("start", T0.to_string())],
    )
    .await;
    assert_eq!(body["data"], json!(["1", "2"]));
}
