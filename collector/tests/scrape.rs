//! The scrape source against the real node_exporter (Debian's
//! `prometheus-node-exporter`), plus a target that refuses connections.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sightline_collector::pipeline::Pipeline;
use sightline_collector::sources::scrape::{ScrapeConfig, ScrapeSource, ScrapeTargetConfig};
use sightline_collector::{Metric, Source};

const BINARY: &str = "prometheus-node-exporter";

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The exporter process, killed when dropped.
struct Exporter {
    child: Child,
    port: u16,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_exporter() -> Exporter {
    let port = free_port();
    let child = Command::new(BINARY)
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        // Keep the textfile collector off the host's directory.
        .arg("--no-collector.textfile")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot start `{BINARY}` ({e}); install the Debian package \
                 prometheus-node-exporter to run this test"
            )
        });
    let mut exporter = Exporter { child, port };
    let deadline = Instant::now() + Duration::from_secs(15);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = exporter.child.try_wait() {
            panic!("`{BINARY}` exited early with {status}");
        }
        assert!(
            Instant::now() < deadline,
            "`{BINARY}` did not listen on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    exporter.port = port;
    exporter
}

fn name(m: &Metric) -> &str {
    m.labels.get("__name__").unwrap_or("")
}

fn of_instance<'a>(metrics: &'a [Metric], instance: &str) -> Vec<&'a Metric> {
    metrics
        .iter()
        .filter(|m| m.labels.get("instance") == Some(instance))
        .collect()
}

fn synthetic(metrics: &[&Metric], metric: &str) -> f64 {
    let found: Vec<_> = metrics.iter().filter(|m| name(m) == metric).collect();
    assert_eq!(found.len(), 1, "{metric}");
    found[0].value
}

const SYNTHETIC: [&str; 3] = ["up", "scrape_duration_seconds", "scrape_samples_scraped"];

#[test]
fn scrapes_node_exporter() {
    let exporter = start_exporter();
    let instance = format!("127.0.0.1:{}", exporter.port);
    let mut target = ScrapeTargetConfig::new(format!("http://{instance}/metrics"), "node");
    target.labels.insert("env".into(), "test".into());
    let mut source = ScrapeSource::new(&ScrapeConfig {
        targets: vec![target],
    })
    .unwrap();

    let mut out = Vec::new();
    source
        .collect(&mut out)
        .expect("node_exporter's output parses without line errors");
    let mine = of_instance(&out, &instance);
    assert_eq!(mine.len(), out.len(), "every metric carries instance");
    assert_eq!(synthetic(&mine, "up"), 1.0);
    assert!(synthetic(&mine, "scrape_duration_seconds") > 0.0);

    let samples: Vec<&&Metric> = mine
        .iter()
        .filter(|m| !SYNTHETIC.contains(&name(m)))
        .collect();
    assert_eq!(
        synthetic(&mine, "scrape_samples_scraped"),
        samples.len() as f64
    );
    assert!(samples.len() > 100, "only {} samples", samples.len());
    for m in &samples {
        assert_eq!(m.labels.get("job"), Some("node"), "{}", m.labels);
        assert_eq!(m.labels.get("env"), Some("test"), "{}", m.labels);
    }
    for expected in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_load1",
        "node_exporter_build_info",
        "go_goroutines",
    ] {
        assert!(
            samples.iter().any(|m| name(m) == expected),
            "{expected} missing"
        );
    }
    // Histograms and summaries arrive as plain samples.
    assert!(samples
        .iter()
        .any(|m| name(m) == "go_gc_duration_seconds" && m.labels.get("quantile").is_some()));
}

#[test]
fn a_refused_target_is_down_without_failing_the_round() {
    let exporter = start_exporter();
    let live = format!("127.0.0.1:{}", exporter.port);
    let dead = format!("127.0.0.1:{}", free_port());
    let mut refused = ScrapeTargetConfig::new(format!("http://{dead}/metrics"), "gone");
    refused.timeout = "2s".into();
    let source = ScrapeSource::new(&ScrapeConfig {
        targets: vec![
            refused,
            ScrapeTargetConfig::new(format!("http://{live}/metrics"), "node"),
        ],
    })
    .unwrap();

    let mut pipeline = Pipeline::new(vec![Box::new(source)]);
    let round = pipeline.collect();

    let down = of_instance(&round.metrics, &dead);
    assert_eq!(down.len(), 3, "only synthetic metrics for the dead target");
    assert_eq!(synthetic(&down, "up"), 0.0);
    assert_eq!(synthetic(&down, "scrape_samples_scraped"), 0.0);
    assert!(down.iter().all(|m| m.labels.get("job") == Some("gone")));

    let up = of_instance(&round.metrics, &live);
    assert_eq!(synthetic(&up, "up"), 1.0);
    assert!(up.iter().any(|m| name(m) == "node_load1"));
}
