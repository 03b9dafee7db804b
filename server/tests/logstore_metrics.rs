//! The log store's counters on `/metrics` of a real `sightline` process:
//! what a push stored and refused, what a commit made of it, and searches.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use sightline_model::loki_push::{Entry, PushRequest, Stream, Timestamp};

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} missing in:\n{text}"))
        .parse()
        .unwrap()
}

#[tokio::test]
async fn logstore_counters_follow_pushes_commits_and_searches() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &dir.path().join("data"),
        &[
            ("SIGHTLINE_LOGS__COMMIT_INTERVAL", "100ms"),
            ("SIGHTLINE_LOGS__MAX_STREAMS", "1"),
            ("SIGHTLINE_LOGS__MAX_LINE_BYTES", "64"),
        ],
    )
    .await;
    let c = reqwest::Client::new();
    let now = now_ns();
    let stream = |labels: &str, lines: &[(i64, &str)]| Stream {
        labels: labels.into(),
        entries: lines
            .iter()
            .map(|&(ts, line)| Entry {
                timestamp: Some(Timestamp::from_nanos(ts)),
                line: line.into(),
                structured_metadata: vec![],
            })
            .collect(),
        hash: 0,
    };
    let body = PushRequest {
        streams: vec![
            stream(
                r#"{app="api"}"#,
                &[(now, "GET /health 200"), (now + 1, "trace=4bf92f3577b3 ok")],
            ),
            // A second stream is past `max_streams`: refused, counted.
            stream(r#"{app="web"}"#, &[(now, "refused")]),
        ],
    }
    .encode_snappy();
    let status = c
        .post(format!("{}/loki/api/v1/push", server.url))
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 429);

    // The commit runs every 100 ms: wait for it rather than for a time.
    let mut text = String::new();
    for _ in 0..200 {
        text = get_text(&c, &server.url, "/metrics").await;
        if value(&text, "sightline_logstore_commits_total") >= 2.0
            && value(&text, "sightline_logstore_head_bytes") == 0.0
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(value(&text, "sightline_logstore_ingested_lines_total"), 2.0);
    assert_eq!(
        value(&text, "sightline_logstore_ingested_bytes_total"),
        36.0
    );
    assert_eq!(
        value(
            &text,
            "sightline_logstore_rejected_lines_total{reason=\"stream_limit\"}"
        ),
        1.0
    );
    // Refusals decided before the store are counted too: a stream with
    // invalid labels (both its lines) and a line over `max_line_bytes`.
    let body = PushRequest {
        streams: vec![
            stream(r#"{app=}"#, &[(now, "a"), (now + 1, "b")]),
            stream(r#"{app="api"}"#, &[(now + 2, &"x".repeat(65))]),
        ],
    }
    .encode_snappy();
    let status = c
        .post(format!("{}/loki/api/v1/push", server.url))
        .header("Content-Type", "application/x-protobuf")
        .body(body)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status.as_u16(), 400);
    let text = get_text(&c, &server.url, "/metrics").await;
    for (reason, n) in [
        ("invalid_labels", 2.0),
        ("line_too_long", 1.0),
        ("rate_limited", 0.0),
        ("stream_limit", 1.0),
    ] {
        let series = format!("sightline_logstore_rejected_lines_total{{reason=\"{reason}\"}}");
        assert_eq!(value(&text, &series), n, "{series}");
    }
    assert_eq!(value(&text, "sightline_logstore_ingested_lines_total"), 2.0);
    assert_eq!(value(&text, "sightline_logstore_streams"), 1.0);
    assert_eq!(value(&text, "sightline_logstore_partitions"), 1.0);
    assert!(
        value(&text, "sightline_logstore_index_bytes") > 0.0,
        "{text}"
    );
    assert!(value(&text, "sightline_logstore_wal_bytes_written_total") > 0.0);
    assert!(text.contains("# TYPE sightline_logstore_scan_duration_seconds summary"));
    let scans = value(&text, "sightline_logstore_scan_duration_seconds_count");

    let query = [
        ("query", r#"{app="api"} |= "3577b""#.to_string()),
        ("start", (now - 60_000_000_000).to_string()),
        ("end", (now + 60_000_000_000).to_string()),
    ];
    let found = c
        .get(format!("{}/loki/api/v1/query_range", server.url))
        .query(&query)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    assert_eq!(
        found["data"]["result"][0]["values"][0][1],
        "trace=4bf92f3577b3 ok"
    );
    let text = get_text(&c, &server.url, "/metrics").await;
    assert_eq!(
        value(&text, "sightline_logstore_scan_duration_seconds_count"),
        scans + 1.0
    );
    assert!(value(&text, "sightline_logstore_scan_lines_read_total") >= 1.0);
}
