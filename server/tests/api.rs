//! The Prometheus-compatible API over a real socket: remote write, the
//! metadata endpoints, bad input, and self-metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

const T0: i64 = 1_700_000_000_000;

#[tokio::test(flavor = "multi_thread")]
async fn write_then_list_series_labels_and_values() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    let req = request(vec![
        series(
            &[("__name__", "up"), ("job", "node"), ("instance", "a:9100")],
            &[(T0, 1.0)],
        ),
        series(
            &[("__name__", "up"), ("job", "api"), ("instance", "b:80")],
            &[(T0, 0.0), (T0 + 15_000, 1.0)],
        ),
        series(
            &[
                ("__name__", "node_load1"),
                ("job", "node"),
                ("instance", "a:9100"),
            ],
            &[(T0 + 1, 0.5)],
        ),
    ]);
    assert_eq!(write(&c, &s.url, &req).await, (204, String::new()));

    let (status, body) =
        get_json(&c, &s.url, &format!("/api/v1/series?match[]={}", enc("up"))).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({"status": "success", "data": [
            {"__name__": "up", "instance": "a:9100", "job": "node"},
            {"__name__": "up", "instance": "b:80", "job": "api"},
        ]})
    );
    // Several match[] are a union; POST form bodies work like query strings.
    let r = c
        .post(format!("{}/api/v1/series", s.url))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "match[]={}&match[]={}",
            enc(r#"{job="node"}"#),
            enc(r#"up{job=~"a.+"}"#)
        ))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["data"].as_array().unwrap().len(), 3);
    // Time range: only node_load1 has a sample at T0+1.
    let (_, body) = get_json(
        &c,
        &s.url,
        &format!(
            "/api/v1/series?match[]={}&start={}&end={}",
            enc(r#"{job="node"}"#),
            1_700_000_000.001,
            1_700_000_000.002
        ),
    )
    .await;
    assert_eq!(
        body["data"],
        json!([{"__name__": "node_load1", "instance": "a:9100", "job": "node"}])
    );

    let (_, body) = get_json(&c, &s.url, "/api/v1/labels").await;
    assert_eq!(body["data"], json!(["__name__", "instance", "job"]));
    let (_, body) = get_json(&c, &s.url, "/api/v1/label/job/values").await;
    assert_eq!(body["data"], json!(["api", "node"]));
    let (_, body) = get_json(
        &c,
        &s.url,
        &format!(
            "/api/v1/label/__name__/values?match[]={}",
            enc(r#"{instance="a:9100"}"#)
        ),
    )
    .await;
    assert_eq!(body["data"], json!(["node_load1", "up"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_errors_are_prometheus_shaped() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    for path in [
        "/api/v1/series".to_string(),
        format!("/api/v1/series?match[]={}", enc("up{")),
        format!("/api/v1/series?match[]={}", enc(r#"{job=~".*"}"#)),
        "/api/v1/labels?match[]=up&start=tomorrow".to_string(),
        "/api/v1/series?match[]=up&start=10&end=5".to_string(),
        "/api/v1/label/bad-name/values".to_string(),
    ] {
        let (status, body) = get_json(&c, &s.url, &path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["status"], "error", "{path}");
        assert_eq!(body["errorType"], "bad_data", "{path}");
        assert!(!body["error"].as_str().unwrap().is_empty(), "{path}");
    }
    let (_, body) = get_json(&c, &s.url, "/api/v1/series").await;
    assert_eq!(body["error"], "no match[] parameter provided");
}

#[tokio::test(flavor = "multi_thread")]
async fn out_of_order_keeps_the_rest_of_the_batch() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    let up = [("__name__", "up"), ("job", "x")];
    assert_eq!(
        write(&c, &s.url, &request(vec![series(&up, &[(T0 + 10, 1.0)])]))
            .await
            .0,
        204
    );
    let (status, text) = write(
        &c,
        &s.url,
        &request(vec![
            series(&up, &[(T0, 1.0), (T0 + 20, 2.0)]),
            series(&[("__name__", "other")], &[(T0, 3.0)]),
        ]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("out of order sample"), "{text}");
    assert!(text.contains(r#"{__name__="up", job="x"}"#), "{text}");
    // Same timestamp, different value: duplicate.
    let (status, text) = write(&c, &s.url, &request(vec![series(&up, &[(T0 + 20, 9.0)])])).await;
    assert_eq!(
        (status, text.contains("duplicate sample for timestamp")),
        (400, true),
        "{text}"
    );
    // Same timestamp, same value: a harmless resend.
    assert_eq!(
        write(&c, &s.url, &request(vec![series(&up, &[(T0 + 20, 2.0)])]))
            .await
            .0,
        204
    );

    let (_, body) = get_json(
        &c,
        &s.url,
        &format!("/api/v1/series?match[]={}", enc("other")),
    )
    .await;
    assert_eq!(
        body["data"].as_array().unwrap().len(),
        1,
        "the valid rest was stored"
    );
    let m = get_text(&c, &s.url, "/metrics").await;
    assert!(
        m.contains("sightline_ingest_samples_rejected_total{reason=\"out_of_order\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("sightline_ingest_samples_rejected_total{reason=\"duplicate\"} 1"),
        "{m}"
    );
    assert!(m.contains("sightline_ingest_samples_stored_total 3"), "{m}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_4xx_and_the_server_keeps_serving() {
    // Default limits: 16 MiB compressed, 64 MiB decompressed.
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    let compress = |raw: &[u8]| snap::raw::Encoder::new().compress_vec(raw).unwrap();

    // Not snappy at all.
    let (status, text) = post_raw(&c, &s.url, b"this is not snappy".to_vec()).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("snappy"), "{text}");
    // Snappy framing format instead of the block format, and truncated blocks.
    let good = request(vec![series(&[("__name__", "up")], &[(T0, 1.0)])]).encode_snappy();
    let (status, _) = post_raw(&c, &s.url, good[..good.len() / 2].to_vec()).await;
    assert_eq!(status, 400);
    // Valid snappy, garbage protobuf.
    let (status, text) = post_raw(&c, &s.url, compress(&[0xff; 64])).await;
    assert_eq!(status, 400);
    assert!(text.contains("protobuf"), "{text}");
    // Invalid label name, invalid metric name, missing name.
    for (labels, needle) in [
        (
            vec![("__name__", "up"), ("bad-label", "x")],
            "invalid label name \"bad-label\"",
        ),
        (vec![("__name__", "bad metric")], "invalid metric name"),
        (vec![("job", "x")], "no metric name"),
    ] {
        let (status, text) = write(&c, &s.url, &request(vec![series(&labels, &[(T0, 1.0)])])).await;
        assert_eq!(status, 400, "{labels:?}");
        assert!(text.contains(needle), "{needle}: {text}");
    }
    // A huge label value.
    let huge = "v".repeat(100_000);
    let (status, text) = write(
        &c,
        &s.url,
        &request(vec![series(
            &[("__name__", "up"), ("a", &huge)],
            &[(T0, 1.0)],
        )]),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("100000 bytes"), "{text}");
    // A million labels in one request.
    let names: Vec<String> = (0..1_000_000).map(|i| format!("l{i}")).collect();
    let mut labels: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    labels.push(("__name__", "up"));
    let (status, text) = write(&c, &s.url, &request(vec![series(&labels, &[(T0, 1.0)])])).await;
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("more than the limit of 64"), "{text}");
    // Bodies past the compressed and the decompressed limits.
    // The server answers 413 from the Content-Length, before reading the
    // body, and closes the connection: a client still sending may see the
    // close (EPIPE) before the answer. Retry until the answer is read.
    let mut oversize = None;
    for _ in 0..5 {
        let r = c
            .post(format!("{}/api/v1/write", s.url))
            .header("Content-Encoding", "snappy")
            .body(vec![0u8; 17 << 20])
            .send()
            .await;
        if let Ok(r) = r {
            oversize = Some(r.status().as_u16());
            break;
        }
    }
    assert_eq!(oversize, Some(413));
    let bomb = compress(&vec![0u8; 65 << 20]);
    assert!(bomb.len() < 16 << 20);
    let (status, text) = post_raw(&c, &s.url, bomb).await;
    assert_eq!(status, 413, "{text}");
    // Remote write 2.0 is refused explicitly.
    let r = c
        .post(format!("{}/api/v1/write", s.url))
        .header(
            "Content-Type",
            "application/x-protobuf;proto=io.prometheus.write.v2.Request",
        )
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 415);

    // Nothing above broke anything: a valid write still lands.
    assert_eq!(post_raw(&c, &s.url, good).await.0, 204);
    let (_, body) = get_json(&c, &s.url, "/api/v1/label/__name__/values").await;
    assert_eq!(body["data"], json!(["up"]));
    let m = get_text(&c, &s.url, "/metrics").await;
    assert!(
        m.contains("sightline_ingest_samples_rejected_total{reason=\"invalid_labels\"} 5"),
        "{m}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn saturation_answers_503_with_retry_after() {
    let s = InProcess::start(|c| {
        c.ingest.max_concurrent_writes = 1;
        c.ingest.queue_timeout =
            sightline_server::config::PromDuration(std::time::Duration::from_millis(1));
    })
    .await;
    let c = reqwest::Client::new();
    let big: Vec<_> = (0..5_000)
        .map(|i| series(&[("__name__", "m"), ("i", &i.to_string())], &[(T0, 1.0)]))
        .collect();
    let body = request(big).encode_snappy();
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (c, url, body) = (c.clone(), s.url.clone(), body.clone());
            tokio::spawn(async move {
                c.post(format!("{url}/api/v1/write"))
                    .body(body)
                    .send()
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut codes = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status() == 503 {
            assert_eq!(r.headers()["retry-after"], "1");
        }
        codes.push(r.status().as_u16());
    }
    assert!(codes.contains(&503), "{codes:?}");
    assert!(codes.contains(&204), "{codes:?}");
    assert!(codes.iter().all(|c| *c == 503 || *c == 204), "{codes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn health_and_self_metrics() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    for path in ["/-/healthy", "/-/ready"] {
        let r = c.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}");
    }
    write(
        &c,
        &s.url,
        &request(vec![series(
            &[("__name__", "up")],
            &[(T0, 1.0), (T0 + 1, 1.0)],
        )]),
    )
    .await;
    let r = c.get(format!("{}/metrics", s.url)).send().await.unwrap();
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let m = r.text().await.unwrap();
    for line in [
        "sightline_tsdb_head_series 1",
        "sightline_tsdb_head_chunks 1",
        "sightline_ingest_samples_received_total 2",
        "sightline_remote_write_requests_total{code=\"204\"} 1",
        "sightline_tsdb_wal_fsyncs_total 1",
        "# TYPE sightline_tsdb_wal_bytes_written_total counter",
    ] {
        assert!(m.contains(line), "missing {line:?} in\n{m}");
    }
    assert!(m.contains("process_resident_memory_bytes "));
}

#[tokio::test(flavor = "multi_thread")]
async fn query_limits_answer_in_prometheus_terms() {
    let s = InProcess::start(|c| c.query.max_samples = 50).await;
    let c = reqwest::Client::new();
    let samples: Vec<(i64, f64)> = (0..100).map(|i| (T0 + i * 15_000, i as f64)).collect();
    assert_eq!(
        write(
            &c,
            &s.url,
            &request(vec![series(&[("__name__", "m")], &samples)])
        )
        .await
        .0,
        204
    );
    let end = (T0 + 99 * 15_000) / 1000;

    // Within the limit: 21 samples over 5 minutes.
    let (status, body) = get_json(
        &c,
        &s.url,
        &format!(
            "/api/v1/query?query={}&time={end}",
            enc("count_over_time(m[5m])")
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "21");
    // Past it: Prometheus's execution error, 422.
    let (status, body) = get_json(
        &c,
        &s.url,
        &format!(
            "/api/v1/query?query={}&time={end}",
            enc("count_over_time(m[1h])")
        ),
    )
    .await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (422, Some("execution")),
        "{body}"
    );
    assert_eq!(
        body["error"],
        "query processing would load too many samples into memory in query execution"
    );
    // A malformed timeout parameter is bad data.
    let (status, body) = get_json(
        &c,
        &s.url,
        &format!("/api/v1/query?query=m&time={end}&timeout=soon"),
    )
    .await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("bad_data")),
        "{body}"
    );
    // `@` and `offset` through the API.
    let (_, body) = get_json(
        &c,
        &s.url,
        &format!(
            "/api/v1/query?query={}&time={end}",
            enc(&format!("m @ {} offset 30s", (T0 + 15_000 * 10) / 1000))
        ),
    )
    .await;
    assert_eq!(body["data"]["result"][0]["value"][1], "8", "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn stats_all_reports_timings_and_samples() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    let samples: Vec<(i64, f64)> = (0..20).map(|i| (T0 + i * 15_000, i as f64)).collect();
    write(
        &c,
        &s.url,
        &request(vec![series(&[("__name__", "m")], &samples)]),
    )
    .await;
    let end = (T0 + 19 * 15_000) / 1000;
    let (status, body) = get_json(
        &c,
        &s.url,
        &format!(
            "/api/v1/query?query={}&time={end}&stats=all",
            enc("sum_over_time(m[5m])")
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["result"][0]["value"][1], "190");
    assert_eq!(
        body["data"]["stats"]["samples"]["totalQueryableSamples"], 20,
        "{body}"
    );
    assert!(
        body["data"]["stats"]["timings"]["execTotalTime"]
            .as_f64()
            .unwrap()
            >= 0.0
    );
    let (_, body) = get_json(&c, &s.url, &format!("/api/v1/query?query=m&time={end}")).await;
    assert!(body["data"].get("stats").is_none(), "{body}");
}

/// The in-process app is the composition root's whole surface: every API
/// dialect answers, and `/metrics` carries every service's counters.
#[tokio::test(flavor = "multi_thread")]
async fn the_app_serves_every_api() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    for path in [
        "/api/v1/labels",
        "/api/v1/rules",
        "/api/v1/alerts",
        "/api/v2/status",
        "/api/v2/silences",
        "/loki/api/v1/labels",
        "/loki/api/v1/status/buildinfo",
        "/ready",
        "/-/ready",
    ] {
        let r = c.get(format!("{}{path}", s.url)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap());
    }
    let metrics = c
        .get(format!("{}/metrics", s.url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for family in [
        "sightline_tsdb_head_series",
        "sightline_logstore_",
        "alertmanager_silences",
    ] {
        assert!(metrics.contains(family), "{family} missing from /metrics");
    }
}

/// Every response names its request id; a client's own id is echoed, an
/// unsafe one replaced.
#[tokio::test(flavor = "multi_thread")]
async fn responses_carry_a_request_id() {
    let s = InProcess::start(|_| {}).await;
    let c = reqwest::Client::new();
    let id = |r: &reqwest::Response| {
        r.headers()
            .get("x-request-id")
            .map(|v| v.to_str().unwrap().to_string())
    };
    let a = c.get(format!("{}/-/ready", s.url)).send().await.unwrap();
    let b = c
        .get(format!("{}/api/v1/query?query=(", s.url))
        .send()
        .await
        .unwrap();
    assert_eq!(b.status(), 400);
    let (a, b) = (id(&a).unwrap(), id(&b).unwrap());
    assert_ne!(a, b);
    assert_eq!(a.len(), 16, "{a}");
    let mine = c
        .get(format!("{}/loki/api/v1/labels", s.url))
        .header("x-request-id", "grafana-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(id(&mine).as_deref(), Some("grafana-7f3a"));
    let unsafe_id = c
        .get(format!("{}/-/healthy", s.url))
        .header("x-request-id", "a b\"c")
        .send()
        .await
        .unwrap();
    assert_ne!(id(&unsafe_id).as_deref(), Some("a b\"c"));
}
