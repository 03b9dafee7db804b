//! The collector ships to any remote-write receiver: the real Prometheus
//! (Debian `prometheus`, with its receiver enabled) and VictoriaMetrics
//! (Debian `victoria-metrics`) both end up holding this machine's metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sightline_collector::agent::{self, AgentConfig, CgroupConfig};

struct Peer(Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(bin: &str, args: &[String], dir: &std::path::Path) -> Peer {
    let log = std::fs::File::create(dir.join(format!("{bin}.log"))).unwrap();
    Peer(
        Command::new(bin)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("`{bin}` is needed (Debian package of that name; .ci/run installs it): {e}")
            }),
    )
}

async fn wait_ready(url: &str) {
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "{url} never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Polls a Prometheus-compatible query API until `query` returns data.
async fn wait_for(base: &str, query: &str) -> String {
    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let url = format!("{base}/api/v1/query?query={query}");
        if let Ok(r) = c.get(&url).send().await {
            let body = r.text().await.unwrap_or_default();
            if body.contains("\"result\":[{") {
                return body;
            }
        }
        assert!(Instant::now() < deadline, "{query} never arrived at {base}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

async fn ship_to(url: String, dir: &std::path::Path) -> tokio::sync::oneshot::Sender<()> {
    let config = AgentConfig {
        server: url,
        interval: Duration::from_secs(1).into(),
        listen: String::new(),
        node_name: "test-node".into(),
        cgroup: CgroupConfig {
            enabled: false,
            ..Default::default()
        },
        buffer_dir: dir.join("buffer"),
        ..Default::default()
    };
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(agent::run(config, async {
        let _ = rx.await;
    }));
    tx
}

#[tokio::test(flavor = "multi_thread")]
async fn ships_to_prometheus_and_victoria_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let (pp, vp) = (free_port(), free_port());
    std::fs::write(dir.path().join("prometheus.yml"), "global: {}\n").unwrap();
    let _prom = spawn(
        "prometheus",
        &[
            format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ),
            format!("--storage.tsdb.path={}", dir.path().join("prom").display()),
            format!("--web.listen-address=127.0.0.1:{pp}"),
            "--web.enable-remote-write-receiver".into(),
        ],
        dir.path(),
    );
    let _vm = spawn(
        "victoria-metrics",
        &[
            format!("-storageDataPath={}", dir.path().join("vm").display()),
            format!("-httpListenAddr=127.0.0.1:{vp}"),
            "-search.latencyOffset=0s".into(),
        ],
        dir.path(),
    );
    let (prom_url, vm_url) = (
        format!("http://127.0.0.1:{pp}"),
        format!("http://127.0.0.1:{vp}"),
    );
    wait_ready(&format!("{prom_url}/-/ready")).await;
    wait_ready(&format!("{vm_url}/health")).await;

    let prom_dir = dir.path().join("to-prom");
    let vm_dir = dir.path().join("to-vm");
    let stop_prom = ship_to(format!("{prom_url}/api/v1/write"), &prom_dir).await;
    let stop_vm = ship_to(format!("{vm_url}/api/v1/write"), &vm_dir).await;

    for base in [&prom_url, &vm_url] {
        let body = wait_for(base, "node_load1").await;
        assert!(body.contains(r#""job":"node-exporter""#), "{body}");
        let body = wait_for(base, "node_cpu_seconds_total").await;
        assert!(body.contains(r#""mode":"idle""#), "{body}");
    }
    let _ = stop_prom.send(());
    let _ = stop_vm.send(());
}
