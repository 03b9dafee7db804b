//! `sightline serve --log-path GLOB` follows this machine's log files with
//! its embedded collector and ships them to its own Loki push API: lines
//! written to a file come back from a LogQL query.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;

#[tokio::test(flavor = "multi_thread")]
async fn serve_ships_followed_log_files_to_its_own_log_store() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("app-logs");
    std::fs::create_dir_all(&logs).unwrap();
    let file = logs.join("app.log");
    let mut f = std::fs::File::create(&file).unwrap();
    for n in 0..100 {
        writeln!(f, "request {n} served").unwrap();
    }
    drop(f);

    let port = free_port();
    let data = dir.path().join("data");
    let log_path = dir.path().join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(&data)
        .arg("--log-path")
        .arg(format!("{}/*.log", logs.display()))
        .env("SIGHTLINE_COLLECTOR__ENABLED", "true")
        .env("SIGHTLINE_COLLECTOR__NODE__ENABLED", "false")
        .env("SIGHTLINE_COLLECTOR__CGROUP__ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let server_log = || std::fs::read_to_string(&log_path).unwrap_or_default();

    let c = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !c
        .get(format!("{url}/-/ready"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "not ready; log:\n{}",
            server_log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let now_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let start = now_ns - 3_600 * 1_000_000_000;
    let end = now_ns + 3_600 * 1_000_000_000;
    let query = format!(
        "/loki/api/v1/query_range?query={}&start={start}&end={end}&limit=1000",
        enc(&format!(r#"{{filename="{}"}}"#, file.display()))
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    let lines = loop {
        let (status, body) = get_json(&c, &url, &query).await;
        let lines: Vec<String> = if status == 200 {
            body["data"]["result"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|s| s["values"].as_array().cloned().unwrap_or_default())
                .map(|v| v[1].as_str().unwrap_or_default().to_string())
                .collect()
        } else {
            Vec::new()
        };
        if lines.len() >= 100 {
            break lines;
        }
        assert!(
            Instant::now() < deadline,
            "{} of 100 lines arrived; last answer {status}: {body}\nlog:\n{}",
            lines.len(),
            server_log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let mut expected: Vec<String> = (0..100).map(|n| format!("request {n} served")).collect();
    let mut got = lines;
    expected.sort();
    got.sort();
    assert_eq!(got, expected);

    let (_, body) = get_json(&c, &url, "/loki/api/v1/label/node/values").await;
    assert!(
        body["data"].as_array().is_some_and(|v| !v.is_empty()),
        "entries carry the node label: {body}"
    );
    let _ = child.kill();
    let _ = child.wait();
}
