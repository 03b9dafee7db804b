//! Relabeling against the real Prometheus: one exposition served over
//! HTTP, scraped by Prometheus and by the collector with the same
//! `relabel_configs` and `metric_relabel_configs`; both end with the same
//! series.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use sightline_collector::sources::scrape::{self, ScrapeConfig};

const BODY: &str = "\
# TYPE http_requests_total counter
http_requests_total{method=\"get\",code=\"200\",k8s_pod=\"web-1\",k8s_ns=\"shop\"} 5
http_requests_total{method=\"post\",code=\"503\",k8s_pod=\"web-1\",k8s_ns=\"shop\"} 2
# TYPE node_cpu_seconds_total counter
node_cpu_seconds_total{cpu=\"0\",mode=\"idle\"} 10
node_cpu_seconds_total{cpu=\"0\",mode=\"user\"} 3
node_cpu_seconds_total{cpu=\"1\",mode=\"user\"} 4
# TYPE go_goroutines gauge
go_goroutines 42
# TYPE zone_info gauge
zone_info{Zone=\"EU-West\"} 1
";

const RULES: &str = r#"
    relabel_configs:
      - source_labels: [__address__]
        regex: '([^:]+):\d+'
        target_label: host
      - source_labels: [job, team]
        separator: '/'
        target_label: owner
    metric_relabel_configs:
      - source_labels: [__name__]
        regex: '(http_.*|node_.*|zone_.*)'
        action: keep
      - source_labels: [mode]
        regex: idle
        action: drop
      - regex: 'k8s_(.+)'
        action: labelmap
        replacement: 'kube_$1'
      - regex: 'k8s_.+'
        action: labeldrop
      - source_labels: [code]
        regex: '(\d)..'
        replacement: '${1}xx'
        target_label: status_class
      - source_labels: [method]
        target_label: method
        action: uppercase
      - source_labels: [Zone]
        target_label: zone
        action: lowercase
      - regex: Zone
        action: labeldrop
"#;

/// Serves `BODY` to every request until the test ends.
fn serve_exposition() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{BODY}",
                BODY.len()
            );
        }
    });
    port
}

fn synthetic(name: &str) -> bool {
    name == "up" || name.starts_with("scrape_")
}

#[tokio::test(flavor = "multi_thread")]
async fn same_series_as_prometheus_after_relabeling() {
    let port = serve_exposition();
    let addr = format!("127.0.0.1:{port}");

    // Prometheus, scraping every second with the rules.
    let dir = tempfile::tempdir().unwrap();
    let prom_config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: relabel\n    static_configs:\n      - targets: ['{addr}']\n        labels: {{team: storefront}}\n{RULES}"
    );
    let prom = PrometheusProcess::start(dir.path(), |_| prom_config.clone(), &[]).await;
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let want: BTreeSet<String> = loop {
        let (_, body) = get_json(
            &c,
            &prom.url,
            &format!("/api/v1/series?match[]={}", enc(r#"{job="relabel"}"#)),
        )
        .await;
        let set: BTreeSet<String> = body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| !synthetic(s["__name__"].as_str().unwrap_or("")))
            .map(|s| {
                let m: std::collections::BTreeMap<String, String> =
                    serde_json::from_value(s.clone()).unwrap();
                format!("{m:?}")
            })
            .collect();
        if set.len() >= 5 {
            break set;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus did not scrape: {set:?}\n{}",
            prom.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The collector, with the same rules in its own config.
    let ours_config = format!(
        "targets:\n  - url: http://{addr}/metrics\n    job: relabel\n    labels: {{team: storefront}}\n{RULES}"
    );
    let config: ScrapeConfig = serde_yaml::from_str(&ours_config).unwrap();
    let targets = config.validate().unwrap();
    assert_eq!(targets.len(), 1);
    let (metrics, result) = tokio::task::spawn_blocking(move || scrape::scrape(&targets[0]))
        .await
        .unwrap();
    result.unwrap();
    let got: BTreeSet<String> = metrics
        .iter()
        .filter(|m| !synthetic(m.labels.get("__name__").unwrap_or("")))
        .map(|m| {
            let map: std::collections::BTreeMap<String, String> = m
                .labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect();
            format!("{map:?}")
        })
        .collect();
    assert_eq!(got, want);
    // The rules did something: idle dropped, labels mapped and rewritten.
    let all = got.iter().cloned().collect::<Vec<_>>().join("\n");
    assert!(!all.contains("idle"));
    assert!(all.contains("\"kube_pod\": \"web-1\""));
    assert!(all.contains("\"status_class\": \"5xx\""));
    assert!(all.contains("\"method\": \"POST\""));
    assert!(all.contains("\"zone\": \"eu-west\""));
    assert!(all.contains("\"owner\": \"relabel/storefront\""));
    assert!(all.contains("\"host\": \"127.0.0.1\""));
}
