//! Interop with the real Prometheus binary (Debian package `prometheus`):
//! Prometheus scrapes itself and remote-writes to Sightline; its series
//! arrive and are listed by `/api/v1/series`, the same set Prometheus holds.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::*;

fn names(body: &serde_json::Value) -> BTreeSet<String> {
    body["data"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["__name__"].as_str().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn prometheus_remote_writes_its_own_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let sightline = ServerProcess::start(&dir.path().join("sightline")).await;
    let sightline_url = sightline.url.clone();
    let prom = PrometheusProcess::start(
        dir.path(),
        |port| {
            format!(
                "global:\n  scrape_interval: 1s\n  external_labels:\n    cluster: interop\n\
                 scrape_configs:\n  - job_name: prometheus\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n\
                 remote_write:\n  - url: {sightline_url}/api/v1/write\n    queue_config:\n      batch_send_deadline: 1s\n      min_backoff: 100ms\n      max_backoff: 1s\n"
            )
        },
        &[],
    )
    .await;
    let port = prom.port;

    let c = reqwest::Client::new();
    let selector = format!("/api/v1/series?match[]={}", enc(r#"{job="prometheus"}"#));
    let prom_url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(90);
    let (ours, theirs) = loop {
        let (_, ours) = get_json(&c, &sightline.url, &selector).await;
        let ours = names(&ours);
        // Compare against what Prometheus itself holds, once several scrapes
        // have had time to be shipped.
        let theirs = match c.get(format!("{prom_url}{selector}")).send().await {
            Ok(r) => names(&serde_json::from_str(&r.text().await.unwrap()).unwrap_or_default()),
            Err(_) => BTreeSet::new(),
        };
        if ours.contains("up")
            && ours.contains("prometheus_build_info")
            && !theirs.is_empty()
            && theirs.is_subset(&ours)
        {
            break (ours, theirs);
        }
        assert!(
            Instant::now() < deadline,
            "series did not arrive: ours {} names, theirs {}; missing {:?}\nsightline log:\n{}\nprometheus log:\n{}",
            ours.len(),
            theirs.len(),
            theirs.difference(&ours).take(10).collect::<Vec<_>>(),
            sightline.log_text(),
            prom.log_text()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert!(ours.len() > 100, "only {} metric names", ours.len());
    assert!(theirs.is_subset(&ours));

    // External labels arrive as labels; label endpoints see them.
    let (_, values) = get_json(&c, &sightline.url, "/api/v1/label/cluster/values").await;
    assert_eq!(values["data"], serde_json::json!(["interop"]));
    let (_, jobs) = get_json(&c, &sightline.url, "/api/v1/label/job/values").await;
    assert_eq!(jobs["data"], serde_json::json!(["prometheus"]));

    // Prometheus got only successes back. Series are visible as soon as
    // they are in the head; the request is counted once it is answered.
    let deadline = Instant::now() + Duration::from_secs(30);
    let m = loop {
        let m = get_text(&c, &sightline.url, "/metrics").await;
        if m.contains("sightline_remote_write_requests_total{code=\"204\"}") {
            break m;
        }
        assert!(Instant::now() < deadline, "no request answered 204: {m}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for code in ["400", "413", "500", "503"] {
        assert!(
            !m.contains(&format!("code=\"{code}\"")),
            "Prometheus was refused: {m}"
        );
    }
}
