//! The collector keeps collecting while the server is down: a real
//! `sightline` process is SIGKILLed and restarted some seconds later on the
//! same port; every round collected meanwhile arrives once it is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use sightline_collector::agent::{self, AgentConfig, CgroupConfig};

#[tokio::test(flavor = "multi_thread")]
async fn rounds_collected_during_an_outage_arrive() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let mut server = ServerProcess::start_on(port, &data, &[]).await;

    let config = AgentConfig {
        server: server.url.clone(),
        interval: Duration::from_secs(1).into(),
        listen: String::new(),
        node_name: "test-node".into(),
        cgroup: CgroupConfig {
            enabled: false,
            ..Default::default()
        },
        buffer_dir: dir.path().join("buffer"),
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let collector = tokio::spawn(agent::run(config, async {
        let _ = stop_rx.await;
    }));

    let c = reqwest::Client::new();
    let rounds = |url: String| {
        let c = c.clone();
        async move {
            // Every round carries one node_time_seconds sample.
            let (_, body) = get_json(
                &c,
                &url,
                &format!("/api/v1/query?query={}", enc("node_time_seconds[10m]")),
            )
            .await;
            body["data"]["result"][0]["values"]
                .as_array()
                .map(|v| v.iter().map(|p| p[0].as_f64().unwrap()).collect::<Vec<_>>())
                .unwrap_or_default()
        }
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while rounds(server.url.clone()).await.len() < 3 {
        assert!(
            Instant::now() < deadline,
            "no rounds arrived; log:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    server.kill9();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let server = ServerProcess::start_on(port, &data, &[]).await;

    // Wait for the buffered rounds and a few new ones, then look for gaps.
    let deadline = Instant::now() + Duration::from_secs(60);
    let times = loop {
        let times = rounds(server.url.clone()).await;
        if times.len() >= 14 {
            break times;
        }
        assert!(
            Instant::now() < deadline,
            "only {} rounds arrived; log:\n{}",
            times.len(),
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let _ = stop_tx.send(());
    collector.await.unwrap().unwrap();
    let gaps: Vec<f64> = times
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|g| *g > 1.5)
        .collect();
    assert!(
        gaps.is_empty(),
        "rounds missing around the outage: gaps {gaps:?} in {times:?}"
    );
}
