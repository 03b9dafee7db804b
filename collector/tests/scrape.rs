//! The scrape source against the real node_exporter (Debian's
//! `prometheus-node-exporter`), plus a target that refuses connections;
//! `hashmod` relabeling against the real Prometheus.

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
    refused.timeout = Duration::from_secs(2).into();
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

/// `hashmod` gives the shard the real Prometheus gives: Prometheus loads
/// the same rules for static targets and reports each target's labels
/// after relabeling at `/api/v1/targets`.
#[tokio::test(flavor = "multi_thread")]
async fn hashmod_agrees_with_prometheus() {
    use sightline_collector::sources::scrape::relabel::{self, RelabelConfig};
    use std::collections::BTreeMap;

    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addresses: Vec<String> = (1..=12)
        .map(|i| format!("127.0.0.1:{i}"))
        .chain(
            ["node-a.example:9100", "db.prod.internal:5432", "x:1"]
                .into_iter()
                .map(String::from),
        )
        .collect();
    // Small, prime and the largest u64 moduli; one and two source labels.
    let jobs: [(&str, &str); 3] = [
        (
            "small",
            "- source_labels: [__address__]\n  action: hashmod\n  modulus: 8\n  target_label: shard\n",
        ),
        (
            "prime",
            "- source_labels: [job, __address__]\n  separator: /\n  action: hashmod\n  modulus: 1000003\n  target_label: shard\n",
        ),
        (
            "wide",
            "- source_labels: [__address__, job]\n  action: hashmod\n  modulus: 18446744073709551615\n  target_label: shard\n",
        ),
    ];
    let indent =
        |text: &str, by: &str| -> String { text.lines().map(|l| format!("{by}{l}\n")).collect() };
    let mut config = String::from("global:\n  scrape_interval: 1h\nscrape_configs:\n");
    for (job, rules) in &jobs {
        config.push_str(&format!(
            "  - job_name: {job}\n    static_configs:\n      - targets: [{}]\n    relabel_configs:\n{}",
            addresses.join(", "),
            indent(rules, "      ")
        ));
    }
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, &config).unwrap();
    let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
    let child = Command::new("prometheus")
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("`prometheus` (Debian package) is needed: {e}"));
    let _prometheus = Exporter { child, port };

    // Prometheus's view: job → address → shard.
    let client = reqwest::Client::new();
    let expected_targets = addresses.len() * jobs.len();
    let deadline = Instant::now() + Duration::from_secs(60);
    let theirs: BTreeMap<(String, String), String> = loop {
        let url = format!("http://127.0.0.1:{port}/api/v1/targets?state=active");
        let body: Option<serde_json::Value> = match client.get(&url).send().await {
            Ok(r) => r
                .text()
                .await
                .ok()
                .and_then(|t| serde_json::from_str(&t).ok()),
            Err(_) => None,
        };
        let mut found = BTreeMap::new();
        if let Some(targets) = body
            .as_ref()
            .and_then(|b| b["data"]["activeTargets"].as_array())
        {
            for t in targets {
                let labels = &t["labels"];
                let (Some(job), Some(address), Some(shard)) = (
                    labels["job"].as_str(),
                    t["discoveredLabels"]["__address__"].as_str(),
                    labels["shard"].as_str(),
                ) else {
                    continue;
                };
                found.insert((job.to_string(), address.to_string()), shard.to_string());
            }
        }
        if found.len() == expected_targets {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus listed {} of {expected_targets} targets",
            found.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // Ours, from the same rules.
    let mut distinct = std::collections::BTreeSet::new();
    for (job, rules) in &jobs {
        let configs: Vec<RelabelConfig> = serde_yaml::from_str(rules).unwrap();
        let compiled = relabel::compile_all(&configs, "relabel_configs").unwrap();
        for address in &addresses {
            let mut labels = BTreeMap::from([
                ("job".to_string(), job.to_string()),
                ("__address__".to_string(), address.clone()),
            ]);
            assert!(relabel::apply(&compiled, &mut labels));
            let key = (job.to_string(), address.clone());
            assert_eq!(
                labels.get("shard"),
                theirs.get(&key),
                "{job} {address}: ours vs Prometheus"
            );
            distinct.insert(labels["shard"].clone());
        }
    }
    // The comparison spans many different shards, not one repeated value.
    assert!(distinct.len() > 20, "{distinct:?}");
}
