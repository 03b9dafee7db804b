//! Pod metadata from a Kubernetes-API-shaped server on 127.0.0.1: list,
//! watch (events, bookmark, `410 Gone` → relist), bearer token and node
//! field selector; then container metrics labelled with container and image,
//! and annotated pods scraped.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sightline_collector::kube::{self, KubeConfig, PodStore};
use sightline_collector::sources::cgroup::CgroupSource;
use sightline_collector::sources::scrape::{ScrapeConfig, ScrapeSource};
use sightline_collector::Source;

const POD_UID: &str = "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b";

fn pod(uid: &str, name: &str, rv: u32, scrape_port: u16) -> String {
    let (app, sidecar) = if uid == POD_UID {
        ("bbbb2222", "cccc3333")
    } else {
        ("eeee5555", "ffff6666")
    };
    format!(
        r#"{{"metadata":{{"name":"{name}","namespace":"shop","uid":"{uid}","resourceVersion":"{rv}",
        "annotations":{{"prometheus.io/scrape":"true","prometheus.io/port":"{scrape_port}"}}}},
        "spec":{{"nodeName":"node-1","containers":[{{"name":"app","image":"shop/web:2"}},{{"name":"sidecar","image":"envoy:1"}}]}},
        "status":{{"podIP":"127.0.0.1","phase":"Running","containerStatuses":[
          {{"name":"app","containerID":"containerd://{app}","image":"docker.io/shop/web:2","state":{{"running":{{"startedAt":"2026-11-22T08:00:00.5Z"}}}}}},
          {{"name":"sidecar","containerID":"containerd://{sidecar}","image":"docker.io/envoy:1"}}]}}}}"#
    )
    .replace('\n', "")
}

/// What the fake API server saw.
#[derive(Default)]
struct Seen {
    requests: Vec<(String, String)>,
}

/// Answers lists and watches as the Kubernetes API does (HTTP/1.1,
/// close-delimited bodies). Watch 1: an update, a new pod, a bookmark,
/// then `410 Gone`. List 2 has both pods; watch 2 deletes the second and
/// stays open.
fn fake_api(scrape_port: u16) -> (u16, Arc<Mutex<Seen>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let record = Arc::clone(&seen);
    std::thread::spawn(move || {
        let (mut lists, mut watches) = (0, 0);
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut auth = String::new();
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h.trim().is_empty() {
                    break;
                }
                if h.to_ascii_lowercase().starts_with("authorization:") {
                    auth = h.trim().to_string();
                }
            }
            record
                .lock()
                .unwrap()
                .requests
                .push((request_line.clone(), auth));
            let a = pod(POD_UID, "web-1", 100, scrape_port);
            if !request_line.contains("watch=1") {
                lists += 1;
                let items = if lists == 1 {
                    a
                } else {
                    format!("{a},{}", pod("uid-2", "web-2", 110, scrape_port))
                };
                let rv = if lists == 1 { 100 } else { 110 };
                respond(
                    stream,
                    &format!(
                        r#"{{"kind":"PodList","metadata":{{"resourceVersion":"{rv}"}},"items":[{items}]}}"#
                    ),
                    false,
                );
                continue;
            }
            watches += 1;
            let events = if watches == 1 {
                vec![
                    format!(r#"{{"type":"MODIFIED","object":{}}}"#, pod(POD_UID, "web-1", 101, scrape_port)),
                    format!(r#"{{"type":"ADDED","object":{}}}"#, pod("uid-2", "web-2", 102, scrape_port)),
                    r#"{"type":"BOOKMARK","object":{"kind":"Pod","metadata":{"resourceVersion":"103"}}}"#.to_string(),
                    r#"{"type":"ERROR","object":{"kind":"Status","code":410,"reason":"Expired"}}"#.to_string(),
                ]
            } else {
                vec![format!(
                    r#"{{"type":"DELETED","object":{}}}"#,
                    pod("uid-2", "web-2", 111, scrape_port)
                )]
            };
            let keep_open = watches > 1;
            std::thread::spawn(move || {
                let mut s = stream;
                let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n");
                for e in events {
                    let _ = writeln!(s, "{e}");
                    let _ = s.flush();
                    std::thread::sleep(Duration::from_millis(30));
                }
                if keep_open {
                    std::thread::sleep(Duration::from_secs(30));
                }
            });
        }
    });
    (port, seen)
}

fn respond(mut s: TcpStream, body: &str, _keep: bool) {
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// Serves a small exposition for annotation-discovered scrapes.
fn exposition() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = [0u8; 2048];
            let _ = std::io::Read::read(&mut s, &mut buf);
            let body = "shop_orders_total 7\n";
            let _ = write!(s, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        }
    });
    port
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cgroup")
}

#[test]
fn list_watch_relist_then_labels_and_discovery() {
    let scrape_port = exposition();
    let (api_port, seen) = fake_api(scrape_port);
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "secret-token\n").unwrap();
    let config = KubeConfig {
        enabled: Some(true),
        api_server: format!("http://127.0.0.1:{api_port}"),
        token_file: token,
        ca_file: dir.path().join("no-ca"),
        grace_period: Duration::from_secs(3600).into(),
        annotation_discovery: true,
    };
    let store = PodStore::shared(Duration::from_secs(3600));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let api = config.api_server().unwrap();
    runtime.spawn(kube::run(
        config,
        api,
        "node-1".into(),
        Arc::clone(&store),
        stop_rx,
    ));

    // The watch's events, then the relist after 410 and the deletion.
    wait("the relist after 410 and the deletion of web-2", || {
        seen.lock()
            .unwrap()
            .requests
            .iter()
            .filter(|(r, _)| r.contains("watch=1"))
            .count()
            >= 2
            && store.read().unwrap().live().len() == 1
    });
    {
        let s = store.read().unwrap();
        assert!(
            s.pod("uid-2").is_some(),
            "deleted pod kept for the grace period"
        );
        let (pod, c) = s.container("bbbb2222").unwrap();
        assert_eq!(
            (pod.name.as_str(), c.name.as_str(), c.image.as_str()),
            ("web-1", "app", "docker.io/shop/web:2")
        );
    }
    let requests = seen.lock().unwrap().requests.clone();
    assert!(
        requests
            .iter()
            .all(|(_, auth)| auth == "authorization: Bearer secret-token"),
        "{requests:?}"
    );
    assert!(
        requests
            .iter()
            .all(|(r, _)| r.contains("fieldSelector=spec.nodeName%3Dnode-1")),
        "{requests:?}"
    );
    assert_eq!(
        requests
            .iter()
            .filter(|(r, _)| !r.contains("watch=1"))
            .count(),
        2,
        "one relist: {requests:?}"
    );
    let first_watch = requests
        .iter()
        .find(|(r, _)| r.contains("watch=1"))
        .unwrap();
    assert!(
        first_watch.0.contains("resourceVersion=100"),
        "{first_watch:?}"
    );

    // Container metrics carry container and image from the API.
    let mut cgroup = CgroupSource::new(fixtures().join("v2"))
        .with_sys_dev_block(fixtures().join("sys-dev-block"))
        .with_pod_logs(fixtures().join("no-pod-logs"))
        .with_api_pods(Arc::clone(&store));
    let mut out = Vec::new();
    cgroup.collect(&mut out).unwrap();
    let app = out
        .iter()
        .find(|m| {
            m.labels.get("name") == Some("bbbb2222")
                && m.labels.get("__name__") == Some("container_memory_usage_bytes")
        })
        .expect("the app container's memory");
    assert_eq!(app.labels.get("container"), Some("app"));
    assert_eq!(app.labels.get("image"), Some("docker.io/shop/web:2"));
    assert_eq!(app.labels.get("pod"), Some("web-1"));
    assert_eq!(app.labels.get("namespace"), Some("shop"));
    let started = out
        .iter()
        .find(|m| {
            m.labels.get("name") == Some("bbbb2222")
                && m.labels.get("__name__") == Some("container_start_time_seconds")
        })
        .expect("the app container's start time");
    assert_eq!(started.value, 1_795_334_400.5);
    assert_eq!(started.labels.get("container"), Some("app"));

    // The annotated pod is scraped.
    let mut scrape = ScrapeSource::new(&ScrapeConfig::default())
        .unwrap()
        .with_pod_discovery(Arc::clone(&store));
    let mut out = Vec::new();
    scrape.collect(&mut out).unwrap();
    let orders = out
        .iter()
        .find(|m| m.labels.get("__name__") == Some("shop_orders_total"))
        .expect("scraped");
    assert_eq!(orders.value, 7.0);
    assert_eq!(orders.labels.get("job"), Some("kubernetes-pods"));
    assert_eq!(orders.labels.get("pod"), Some("web-1"));
    assert_eq!(
        orders.labels.get("instance"),
        Some(format!("127.0.0.1:{scrape_port}").as_str())
    );
    let _ = stop_tx.send(true);
}
