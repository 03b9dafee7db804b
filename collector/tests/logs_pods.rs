//! Pod labels on container log streams, from pod metadata read off a
//! Kubernetes-API-shaped server on 127.0.0.1 (list, then a watch that adds
//! a pod later): a known pod's streams carry its labels from the first
//! line; a file of a pod not yet known waits for it rather than shipping
//! some lines without and the rest with; a pod never known ships without,
//! counted, once `pod_labels_wait` has passed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod logs_support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use logs_support::{wait_for, Receiver};
use sightline_collector::kube::{self, KubeConfig, PodStore};
use sightline_collector::shipper::ShipperConfig;
use sightline_collector::sources::logs::{LogCollector, LogStats, LogsConfig};

const KNOWN: &str = "11111111-aaaa-4bbb-8ccc-000000000001";
const LATE: &str = "22222222-aaaa-4bbb-8ccc-000000000002";
const UNKNOWN: &str = "33333333-aaaa-4bbb-8ccc-000000000003";

fn pod(uid: &str, name: &str, labels: &str) -> String {
    format!(
        r#"{{"metadata":{{"name":"{name}","namespace":"shop","uid":"{uid}","resourceVersion":"5","labels":{{{labels}}}}},
        "spec":{{"nodeName":"node-a","containers":[{{"name":"app","image":"shop/app:1"}}]}},
        "status":{{"phase":"Running"}}}}"#
    )
    .replace('\n', "")
}

/// Lists the first pod; the watch adds the second after `late_after`, then
/// stays open.
fn fake_api(late_after: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            reader.read_line(&mut request).unwrap();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
            }
            if !request.contains("watch=1") {
                let body = format!(
                    r#"{{"kind":"PodList","metadata":{{"resourceVersion":"5"}},"items":[{}]}}"#,
                    pod(
                        KNOWN,
                        "web-1",
                        r#""app":"web","app.kubernetes.io/name":"shop-web","other":"x""#
                    )
                );
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                continue;
            }
            std::thread::spawn(move || {
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n"
                );
                std::thread::sleep(late_after);
                let added = pod(LATE, "api-1", r#""app":"api""#);
                let _ = writeln!(stream, r#"{{"type":"ADDED","object":{added}}}"#);
                let _ = stream.flush();
                std::thread::sleep(Duration::from_secs(60));
            });
        }
    });
    port
}

fn pod_log(root: &Path, pod: &str, uid: &str) -> PathBuf {
    let dir = root.join(format!("shop_{pod}_{uid}")).join("app");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("0.log");
    let lines: String = (0..50)
        .map(|i| format!("2024-05-01T10:00:00.{i:09}Z stdout F {pod} line {i}\n"))
        .collect();
    std::fs::write(&path, lines).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_carry_pod_labels_and_never_split() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pods");
    pod_log(&root, "web-1", KNOWN);
    pod_log(&root, "api-1", LATE);
    pod_log(&root, "batch-1", UNKNOWN);

    let api = fake_api(Duration::from_millis(1500));
    let store = PodStore::shared(Duration::from_secs(60));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let kube_config = KubeConfig {
        enabled: Some(true),
        api_server: format!("http://127.0.0.1:{api}"),
        token_file: tmp.path().join("no-token"),
        ca_file: tmp.path().join("no-ca"),
        ..KubeConfig::default()
    };
    tokio::spawn(kube::run(
        kube_config.clone(),
        kube_config.api_server().unwrap(),
        "node-a".into(),
        Arc::clone(&store),
        stop_rx,
    ));

    let config: LogsConfig = serde_yaml::from_str(&format!(
        r#"
paths: ["{}/*/*/*.log"]
poll_interval: 50ms
batch_wait: 100ms
pod_labels: [app, app.kubernetes.io/name, missing]
pod_labels_wait: 6s
"#,
        root.display()
    ))
    .unwrap();
    let state = tmp.path().join("state");
    let settings = config.validate(&state, "node-a").unwrap();
    let mut shipper = ShipperConfig::new(receiver.url());
    shipper.buffer_dir = Some(state.join("logs"));
    let collector =
        LogCollector::start(settings, shipper, config.format, Some(Arc::clone(&store))).unwrap();
    let metrics = collector.metrics();

    wait_for("the known pod's lines", Duration::from_secs(20), || {
        receiver.len() >= 50
    })
    .await;
    wait_for("all lines", Duration::from_secs(30), || {
        receiver.len() >= 150
    })
    .await;
    let entries = receiver.entries();
    assert_eq!(entries.len(), 150);
    let labels_of = |pod: &str| -> Vec<String> {
        let mut l: Vec<String> = entries
            .iter()
            .filter(|e| e.line.starts_with(&format!("{pod} ")))
            .map(|e| e.labels.clone())
            .collect();
        assert_eq!(l.len(), 50, "{pod}");
        l.dedup();
        l
    };
    assert_eq!(
        labels_of("web-1"),
        [
            r#"{app="web", app_kubernetes_io_name="shop-web", container="app", namespace="shop", node="node-a", pod="web-1", stream="stdout"}"#
        ]
    );
    // Known only after 1.5 s: held until then, so no line went without.
    assert_eq!(
        labels_of("api-1"),
        [
            r#"{app="api", container="app", namespace="shop", node="node-a", pod="api-1", stream="stdout"}"#
        ]
    );
    assert_eq!(
        labels_of("batch-1"),
        [r#"{container="app", namespace="shop", node="node-a", pod="batch-1", stream="stdout"}"#]
    );
    // The order of arrival: the known pod first, the late one next, the
    // unknown one once the wait ran out.
    let first = |pod: &str| {
        entries
            .iter()
            .position(|e| e.line.starts_with(&format!("{pod} ")))
            .unwrap()
    };
    assert!(first("web-1") < first("api-1") && first("api-1") < first("batch-1"));
    assert_eq!(LogStats::get(&metrics.stats.pod_labels_missing), 1);
    assert!(metrics
        .render()
        .contains("sightline_collector_log_pod_labels_missing_total 1\n"));
    collector.shutdown().await;
    let _ = stop_tx.send(true);
}
