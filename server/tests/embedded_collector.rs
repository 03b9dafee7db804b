//! `sightline serve` collects the machine it runs on: node_exporter-named
//! host metrics (and cAdvisor-named container metrics where cgroups are
//! readable) arrive through the embedded collector.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn serve_collects_this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        &dir.path().join("data"),
        &[
            ("SIGHTLINE_COLLECTOR__ENABLED", "true"),
            ("SIGHTLINE_COLLECTOR__INTERVAL", "1s"),
        ],
    )
    .await;
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let query = format!(
        "/api/v1/query?query={}",
        enc(r#"count by (job) ({job="node-exporter"})"#)
    );
    loop {
        let (_, body) = get_json(&c, &server.url, &query).await;
        if body["data"]["result"]
            .as_array()
            .is_some_and(|r| !r.is_empty())
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no node metrics arrived; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Values are sane: memory available within total, CPU time counting up.
    let (_, body) = get_json(
        &c,
        &server.url,
        &format!(
            "/api/v1/query?query={}",
            enc("node_memory_MemAvailable_bytes <= node_memory_MemTotal_bytes")
        ),
    )
    .await;
    assert_eq!(
        body["data"]["result"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, body) = get_json(
        &c,
        &server.url,
        &format!(
            "/api/v1/query?query={}",
            enc("sum(rate(node_cpu_seconds_total[1m])) > 0")
        ),
    )
    .await;
    assert_eq!(
        body["data"]["result"].as_array().unwrap().len(),
        1,
        "{body}"
    );
    let (_, body) = get_json(&c, &server.url, "/api/v1/label/instance/values").await;
    assert!(!body["data"].as_array().unwrap().is_empty(), "{body}");
}
