//! The real `sightline-collector` process killed with SIGKILL while it
//! ships a growing container log, then restarted: nothing is lost, and
//! only lines past the acknowledged position it had written to disk may
//! arrive twice. And stopped while the kubelet rotates and gzips the file
//! it was reading: finished from the `.gz`, every line once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod logs_support;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use logs_support::{cri_record, message, wait_for, write_log, Receiver, Rotation};

const WAIT: Duration = Duration::from_secs(60);

struct Collector(Child);

impl Drop for Collector {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(config: &Path, log_path: &str, log: &Path) -> Collector {
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    Collector(
        Command::new(env!("CARGO_BIN_EXE_sightline-collector"))
            .arg("--config")
            .arg(config)
            .args(["--log-path", log_path])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn get(url: &str) -> Option<String> {
    let r = reqwest::get(url).await.ok()?;
    r.text().await.ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_loses_nothing() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let dir = pods.join("ns_app-0_1234-abcd/app");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("0.log");
    std::fs::write(&log, "").unwrap();
    let state = tmp.path().join("state");
    let port = free_port();
    let config = tmp.path().join("collector.yml");
    std::fs::write(
        &config,
        format!(
            r#"
server: http://{addr}
listen: 127.0.0.1:{port}
node: {{ enabled: false }}
cgroup: {{ enabled: false }}
buffer_dir: {state}
logs:
  poll_interval: 50ms
  batch_wait: 100ms
  batch_bytes: 16384
  checkpoint_interval: 100ms
"#,
            addr = receiver.addr,
            state = state.display(),
        ),
    )
    .unwrap();
    let stderr = tmp.path().join("collector.log");
    let pattern = format!("{}/*/*/*.log", pods.display());

    let total = 150_000u64;
    let mut first = spawn(&config, &pattern, &stderr);
    let writer = write_log(log.clone(), total, 0, Rotation::None);
    wait_for("lines before the kill", WAIT, || receiver.len() >= 30_000).await;
    let metrics = get(&format!("http://127.0.0.1:{port}/metrics"))
        .await
        .unwrap();
    assert!(
        metrics.contains("sightline_collector_log_files 1\n"),
        "{metrics}"
    );
    assert!(metrics.contains("sightline_collector_log_shipper_entries_sent_total"));
    first.0.kill().unwrap(); // SIGKILL
    first.0.wait().unwrap();
    drop(first);
    let received_before = receiver.len();
    assert!(
        (received_before as u64) < total,
        "the kill must land mid-stream"
    );

    // What the killed process had acknowledged and written down.
    let positions: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("log-positions.json")).unwrap()).unwrap();
    let acked_offset = positions["files"][0]["offset"].as_u64().unwrap();
    assert!(
        acked_offset > 0,
        "positions were checkpointed before the kill"
    );

    let second = spawn(&config, &pattern, &stderr);
    writer.join().unwrap();
    let counts = |r: &Receiver| -> HashMap<String, usize> { r.counts() };
    let deadline = std::time::Instant::now() + WAIT;
    while (counts(&receiver).len() as u64) < total {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {total} lines after the restart; collector log:\n{}",
            counts(&receiver).len(),
            std::fs::read_to_string(&stderr).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&second.0),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    let mut second = second;
    assert!(second.0.wait().unwrap().success());

    // Every line arrived; lines wholly before the acknowledged position
    // arrived exactly once; duplicates only past it.
    let counts = receiver.counts();
    let mut end = 0u64;
    let mut duplicates = 0;
    for n in 0..total {
        end += cri_record(n).len() as u64;
        let c = counts.get(&message(n)).copied().unwrap_or(0);
        assert!(c >= 1, "line {n} lost");
        if end <= acked_offset {
            assert_eq!(
                c, 1,
                "line {n} was acknowledged before the kill yet arrived {c} times"
            );
        } else if c > 1 {
            duplicates += c - 1;
        }
    }
    assert!(
        duplicates <= received_before,
        "{duplicates} duplicates, more than was in flight"
    );
    let log_text = std::fs::read_to_string(&stderr).unwrap();
    assert!(log_text.contains("log collection running"), "{log_text}");
}

fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

fn records(range: std::ops::Range<u64>) -> Vec<u8> {
    range.flat_map(cri_record).collect()
}

fn stop(collector: Collector) {
    let mut collector = collector;
    rustix::process::kill_process(
        rustix::process::Pid::from_child(&collector.0),
        rustix::process::Signal::TERM,
    )
    .unwrap();
    assert!(collector.0.wait().unwrap().success());
}

/// The kubelet's rotation while the collector is stopped: the file the
/// checkpoint points into gets more lines, is renamed and then compressed
/// with gzip (the original gone); a further generation is rotated without
/// compression; a new file takes the path. After the restart the rest of
/// the first file comes from the `.gz`, then the second, then the new one:
/// every line once, in order, a partial line split across the stop merged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_and_gzipped_while_stopped_is_finished_from_the_gz() {
    gzipped_while_stopped(false).await;
}

/// The same, when the filesystem gives the checkpointed file's freed inode
/// to the new file at its path (made certain here by pointing the
/// checkpoint at the new file's inode): the position still goes to the
/// `.gz`, and the new file is read from its start.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzipped_while_stopped_with_the_inode_reused() {
    gzipped_while_stopped(true).await;
}

async fn gzipped_while_stopped(reuse_inode: bool) {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let dir = pods.join("ns_app-0_5678-efgh/app");
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("0.log");
    let state = tmp.path().join("state");
    let config = tmp.path().join("collector.yml");
    std::fs::write(
        &config,
        format!(
            r#"
server: http://{addr}
listen: ""
node: {{ enabled: false }}
cgroup: {{ enabled: false }}
kubernetes: {{ enabled: false }}
buffer_dir: {state}
logs:
  poll_interval: 50ms
  discover_interval: 200ms
  batch_wait: 100ms
  batch_bytes: 16384
  rotate_wait: 500ms
  checkpoint_interval: 100ms
"#,
            addr = receiver.addr,
            state = state.display(),
        ),
    )
    .unwrap();
    let stderr = tmp.path().join("collector.log");
    let pattern = format!("{}/*/*/*.log", pods.display());

    // Before the stop: 5,000 records and the first half of the next.
    let (n1, n2, n3, n4) = (5_000u64, 8_000u64, 9_000u64, 10_000u64);
    let ts = "2024-05-01T11:00:00.000000000Z";
    let split = message(n1);
    let (head, tail) = split.split_at(12);
    append(&log, &records(0..n1));
    append(&log, format!("{ts} stdout P {head}\n").as_bytes());
    let first = spawn(&config, &pattern, &stderr);
    wait_for("the first lines", WAIT, || receiver.len() as u64 >= n1).await;
    stop(first);
    assert_eq!(receiver.len() as u64, n1, "the partial line waits");
    let positions: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.join("log-positions.json")).unwrap()).unwrap();
    let checkpoint = positions["files"][0]["offset"].as_u64().unwrap();
    assert_eq!(
        checkpoint,
        records(0..n1).len() as u64,
        "the checkpoint is at the partial line"
    );

    // While stopped: the rest, renamed and gzipped; one more generation
    // renamed; a new file.
    append(&log, format!("{ts} stdout F {tail}\n").as_bytes());
    append(&log, &records(n1 + 1..n2));
    let rotated = dir.join("0.log.20240501-110000");
    std::fs::rename(&log, &rotated).unwrap();
    let gzip = Command::new("gzip").arg(&rotated).status().unwrap();
    assert!(gzip.success());
    assert!(!rotated.exists() && dir.join("0.log.20240501-110000.gz").exists());
    append(&log, &records(n2..n3));
    std::fs::rename(&log, dir.join("0.log.20240501-110100")).unwrap();
    append(&log, &records(n3..n4));
    if reuse_inode {
        use std::os::unix::fs::MetadataExt;
        let mut positions = positions;
        positions["files"][0]["ino"] = std::fs::metadata(&log).unwrap().ino().into();
        std::fs::write(
            state.join("log-positions.json"),
            serde_json::to_vec(&positions).unwrap(),
        )
        .unwrap();
    }

    let second = spawn(&config, &pattern, &stderr);
    wait_for("every line after the restart", WAIT, || {
        receiver.len() as u64 >= n4
    })
    .await;
    // Late duplicates would show within a few batch intervals.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop(second);
    let received: Vec<String> = receiver.entries().into_iter().map(|e| e.line).collect();
    let expected: Vec<String> = (0..n4).map(message).collect();
    assert_eq!(received.len(), expected.len(), "lost or duplicated lines");
    let first_difference = received.iter().zip(&expected).position(|(a, b)| a != b);
    assert_eq!(first_difference, None, "lines out of order or altered");
    let log_text = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        log_text.contains("finishing a file rotated while the collector was stopped")
            && log_text.contains("0.log.20240501-110000.gz"),
        "{log_text}"
    );
}
