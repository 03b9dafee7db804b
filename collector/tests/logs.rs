//! Log collection end to end: real files in a temporary directory, the
//! collector tailing them, a Loki push receiver on 127.0.0.1 decoding what
//! arrives. Rotation happens while a writer writes at full speed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod logs_support;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use logs_support::{
    assert_exactly_once, message, wait_for, write_log, write_log_paced, Receiver, Rotation,
};
use sightline_collector::shipper::loki::PushFormat;
use sightline_collector::shipper::ShipperConfig;
use sightline_collector::sources::logs::{LogCollector, LogStats, LogsConfig};

const WAIT: Duration = Duration::from_secs(60);

fn logs_config(paths: &[String]) -> LogsConfig {
    LogsConfig {
        paths: paths.to_vec(),
        poll_interval: Duration::from_millis(50).into(),
        discover_interval: Duration::from_millis(200).into(),
        batch_wait: Duration::from_millis(100).into(),
        rotate_wait: Duration::from_millis(500).into(),
        checkpoint_interval: Duration::from_millis(100).into(),
        batch_bytes: 64 << 10,
        ..LogsConfig::default()
    }
}

fn start(config: &LogsConfig, state: &Path, url: &str) -> LogCollector {
    let settings = config.validate(state, "node-a").unwrap();
    let mut shipper = ShipperConfig::new(url);
    shipper.buffer_dir = Some(state.join("logs"));
    shipper.buffer_max_bytes = config.buffer_max_bytes;
    shipper.queue_capacity = 4;
    shipper.min_backoff = Duration::from_millis(10);
    shipper.max_backoff = Duration::from_millis(200);
    LogCollector::start(settings, shipper, config.format, None).unwrap()
}

/// `<root>/<ns>_<pod>_<uid>/<container>/0.log`, directories created.
fn pod_log(root: &Path, ns: &str, pod: &str, container: &str) -> PathBuf {
    let dir = root
        .join(format!("{ns}_{pod}_0a1b2c3d-{pod}"))
        .join(container);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("0.log")
}

fn pods_glob(root: &Path) -> String {
    format!("{}/*/*/*.log", root.display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cri_and_docker_files_arrive_parsed_and_labelled() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let containers = tmp.path().join("containers");
    std::fs::create_dir_all(&containers).unwrap();

    let cri = pod_log(&pods, "shop", "web-7d9f", "nginx");
    let mut cri_bytes = Vec::new();
    cri_bytes.extend_from_slice(b"2024-05-01T10:00:00.000000001Z stdout F hello from nginx\n");
    cri_bytes.extend_from_slice(b"2024-05-01T10:00:00.000000002Z stderr P first half, \n");
    cri_bytes.extend_from_slice(b"2024-05-01T10:00:00.000000003Z stdout F interleaved\n");
    cri_bytes.extend_from_slice(b"2024-05-01T10:00:00.000000004Z stderr F second half\n");
    cri_bytes.extend_from_slice(b"not a cri line at all\n");
    cri_bytes.extend_from_slice(b"2024-05-01T10:00:00.000000005Z stdout F bad \xff\xfe utf8\n");
    std::fs::write(&cri, &cri_bytes).unwrap();

    let docker = pod_log(&pods, "shop", "api-5c6b", "api");
    std::fs::write(
        &docker,
        concat!(
            r#"{"log":"docker says hi\n","stream":"stdout","time":"2024-05-01T10:00:01.5Z"}"#,
            "\n",
            r#"{"log":"split ","stream":"stderr","time":"2024-05-01T10:00:02Z"}"#,
            "\n",
            r#"{"log":"message\n","stream":"stderr","time":"2024-05-01T10:00:02Z"}"#,
            "\n",
        ),
    )
    .unwrap();
    // /var/log/containers-style links to the same files: read once.
    std::os::unix::fs::symlink(&cri, containers.join("web-7d9f_shop_nginx-abc.log")).unwrap();
    std::os::unix::fs::symlink(&docker, containers.join("api-5c6b_shop_api-def.log")).unwrap();

    let config = logs_config(&[format!("{}/*.log", containers.display()), pods_glob(&pods)]);
    let collector = start(&config, &tmp.path().join("state"), &receiver.url());
    wait_for("first files", WAIT, || receiver.len() >= 7).await;

    // A container started later is picked up within seconds.
    let late = pod_log(&pods, "batch", "job-1", "worker");
    std::fs::write(&late, "2024-05-01T10:00:03Z stdout F late arrival\n").unwrap();
    wait_for("the new file", Duration::from_secs(10), || {
        receiver.len() >= 8
    })
    .await;

    let entries = receiver.entries();
    let find = |line: &str| {
        entries
            .iter()
            .find(|e| e.line == line)
            .unwrap_or_else(|| panic!("{line:?} not received: {entries:#?}"))
    };
    let hello = find("hello from nginx");
    assert_eq!(
        hello.labels,
        r#"{container="nginx", namespace="shop", node="node-a", pod="web-7d9f", stream="stdout"}"#
    );
    assert_eq!(hello.timestamp_ns, 1_714_557_600_000_000_001);
    let merged = find("first half, second half");
    assert!(merged.labels.contains(r#"stream="stderr""#));
    assert_eq!(merged.timestamp_ns, 1_714_557_600_000_000_002);
    find("interleaved");
    let raw = find("not a cri line at all");
    assert_eq!(
        raw.labels,
        r#"{container="nginx", namespace="shop", node="node-a", pod="web-7d9f"}"#
    );
    assert!(
        raw.timestamp_ns > 1_714_557_600_000_000_005,
        "raw lines carry the read time"
    );
    find("bad \u{fffd}\u{fffd} utf8");
    let docker_hi = find("docker says hi");
    assert_eq!(
        docker_hi.labels,
        r#"{container="api", namespace="shop", node="node-a", pod="api-5c6b", stream="stdout"}"#
    );
    assert_eq!(docker_hi.timestamp_ns, 1_714_557_601_500_000_000);
    assert!(find("split message").labels.contains(r#"stream="stderr""#));
    assert!(find("late arrival").labels.contains(r#"pod="job-1""#));
    assert_eq!(entries.len(), 8, "each file read once: {entries:#?}");

    let metrics = collector.metrics();
    // The receiver stores a batch before it answers; the collector counts
    // it when the answer arrives.
    wait_for("the acknowledgement", WAIT, || {
        metrics.shipper.stats().snapshot().samples_sent == 8
    })
    .await;
    assert_eq!(LogStats::get(&metrics.stats.invalid_utf8), 1);
    assert_eq!(LogStats::get(&metrics.stats.unparsed_lines), 1);
    assert_eq!(LogStats::get(&metrics.stats.files), 3);
    let text = metrics.render();
    assert!(
        text.contains("sightline_collector_log_lines_read_total 10\n"),
        "{text}"
    );
    assert!(
        text.contains("sightline_collector_log_shipper_entries_sent_total 8\n"),
        "{text}"
    );
    assert!(text.contains("sightline_collector_log_paused 0\n"));
    assert!(receiver
        .state
        .content_types
        .lock()
        .unwrap()
        .iter()
        .all(|c| c == "application/x-protobuf"));
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_push_format() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("app.log");
    std::fs::write(&log, "plain line one\nplain \"quoted\" two\n").unwrap();
    let mut config = logs_config(&[format!("{}/*.log", tmp.path().display())]);
    config.format = PushFormat::Json;
    let collector = start(&config, &tmp.path().join("state"), &receiver.url());
    wait_for("two lines", WAIT, || receiver.len() == 2).await;
    let entries = receiver.entries();
    assert_eq!(entries[1].line, "plain \"quoted\" two");
    assert_eq!(
        entries[0].labels,
        format!(r#"{{filename="{}", node="node-a"}}"#, log.display())
    );
    assert_eq!(
        receiver.state.content_types.lock().unwrap()[0],
        "application/json"
    );
    collector.shutdown().await;
}

async fn rotation_under_load(rotation: Rotation) {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let log = pod_log(&pods, "load", "writer-0", "app");
    std::fs::write(&log, "").unwrap();
    let collector = start(
        &logs_config(&[pods_glob(&pods)]),
        &tmp.path().join("state"),
        &receiver.url(),
    );
    let total = 60_000;
    let state = Arc::clone(&receiver.state);
    let delivered = move || state.entries.lock().unwrap().len() as u64;
    let rotations = write_log_paced(log, total, 7_000, rotation, delivered)
        .join()
        .unwrap();
    assert_eq!(rotations, 8);
    let waited = tokio::time::timeout(WAIT, async {
        while (receiver.len() as u64) < total {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    if waited.is_err() {
        assert_exactly_once(&receiver, total);
    }
    // Shutting down delivers anything still queued, duplicates included.
    let metrics = collector.metrics();
    collector.shutdown().await;
    assert_exactly_once(&receiver, total);
    match rotation {
        Rotation::CopyTruncate => assert!(LogStats::get(&metrics.stats.truncations) >= 1),
        _ => assert!(LogStats::get(&metrics.stats.rotations) >= 1),
    }
    // Entries of one stream arrive in the order they were written.
    let order: Vec<String> = receiver.entries().into_iter().map(|e| e.line).collect();
    let expected: Vec<String> = (0..total).map(message).collect();
    assert_eq!(order, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_rotation_loses_and_duplicates_nothing() {
    rotation_under_load(Rotation::Rename {
        keep: 4,
        gzip: false,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rename_and_gzip_rotation_loses_and_duplicates_nothing() {
    rotation_under_load(Rotation::Rename {
        keep: 2,
        gzip: true,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copytruncate_loses_and_duplicates_nothing() {
    rotation_under_load(Rotation::CopyTruncate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_pauses_reading_when_the_buffer_is_full_and_loses_nothing() {
    let receiver = Receiver::start().await;
    receiver.state.down.store(true, Ordering::Relaxed);
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let log = pod_log(&pods, "load", "writer-0", "app");
    let total = 40_000;
    write_log(log, total, 0, Rotation::None).join().unwrap();
    let mut config = logs_config(&[pods_glob(&pods)]);
    config.batch_bytes = 16 << 10;
    config.buffer_max_bytes = 256 << 10;
    let collector = start(&config, &tmp.path().join("state"), &receiver.url());
    let metrics = collector.metrics();
    wait_for("reading to pause", WAIT, || {
        LogStats::get(&metrics.stats.paused) == 1
    })
    .await;
    let text = metrics.render();
    assert!(
        text.contains("sightline_collector_log_paused 1\n"),
        "{text}"
    );
    let read_while_paused = LogStats::get(&metrics.stats.bytes_read);
    let file_size = std::fs::metadata(pods.join("load_writer-0_0a1b2c3d-writer-0/app/0.log"))
        .unwrap()
        .len();
    assert!(read_while_paused < file_size, "reading must stop, not drop");
    let s = metrics.shipper.stats().snapshot();
    assert!(s.buffer_bytes <= 256 << 10);
    assert!(s.buffer_requests > 0, "batches wait in the disk buffer");

    receiver.state.down.store(false, Ordering::Relaxed);
    wait_for("every line", WAIT, || receiver.len() as u64 >= total).await;
    wait_for("reading to resume", WAIT, || {
        LogStats::get(&metrics.stats.paused) == 0
    })
    .await;
    collector.shutdown().await;
    assert_exactly_once(&receiver, total);
    assert_eq!(metrics.shipper.stats().snapshot().samples_dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_pod_files_are_read_to_the_end() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let log = pod_log(&pods, "gone", "short-lived", "app");
    let collector = start(
        &logs_config(&[pods_glob(&pods)]),
        &tmp.path().join("state"),
        &receiver.url(),
    );
    write_log(log.clone(), 1, 0, Rotation::None).join().unwrap();
    wait_for("the file to be followed", WAIT, || receiver.len() == 1).await;
    // The pod writes its last lines and is deleted with its directory
    // before the collector has read them.
    let mut file = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    for n in 1..5_000 {
        std::io::Write::write_all(&mut file, &logs_support::cri_record(n)).unwrap();
    }
    drop(file);
    std::fs::remove_dir_all(log.parent().unwrap().parent().unwrap()).unwrap();
    wait_for("every line", WAIT, || receiver.len() >= 5_000).await;
    let metrics = collector.metrics();
    wait_for("the file to be let go", WAIT, || {
        LogStats::get(&metrics.stats.files) == 0
    })
    .await;
    collector.shutdown().await;
    assert_exactly_once(&receiver, 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiline_records_and_long_lines() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let java = pod_log(&pods, "prod", "billing-1", "java");
    let other = pod_log(&pods, "prod", "web-1", "web");
    let trace = "2024-05-01T10:00:00Z stdout F 2024-05-01 12:00:00 ERROR failed\n\
                 2024-05-01T10:00:00Z stdout F java.lang.IllegalStateException: boom\n\
                 2024-05-01T10:00:00Z stdout F \tat com.example.Billing.charge(Billing.java:42)\n\
                 2024-05-01T10:00:01Z stdout F 2024-05-01 12:00:01 INFO recovered\n";
    std::fs::write(&java, trace).unwrap();
    let long = "y".repeat(5000);
    std::fs::write(
        &other,
        format!("2024-05-01T10:00:00Z stdout F {long}\n2024-05-01T10:00:00Z stdout F \tindented\n"),
    )
    .unwrap();
    let yaml = format!(
        r#"
paths: ["{}"]
poll_interval: 50ms
batch_wait: 100ms
max_line_bytes: 1000
multiline:
  - {{ container: java, start: '^\d{{4}}-\d{{2}}-\d{{2}} ', timeout: 300ms }}
"#,
        pods_glob(&pods)
    );
    let config: LogsConfig = serde_yaml::from_str(&yaml).unwrap();
    let collector = start(&config, &tmp.path().join("state"), &receiver.url());
    wait_for("four entries", WAIT, || receiver.len() == 4).await;
    let entries = receiver.entries();
    let lines: Vec<&str> = entries.iter().map(|e| e.line.as_str()).collect();
    assert!(lines.contains(
        &"2024-05-01 12:00:00 ERROR failed\njava.lang.IllegalStateException: boom\n\tat com.example.Billing.charge(Billing.java:42)"
    ), "{lines:?}");
    // The last record is sent once its timeout passes.
    assert!(lines.contains(&"2024-05-01 12:00:01 INFO recovered"));
    // Other containers are not joined.
    assert!(lines.contains(&"\tindented"));
    let cut = entries.iter().find(|e| e.line.starts_with('y')).unwrap();
    assert_eq!(cut.line, "y".repeat(1000));
    assert_eq!(
        cut.metadata,
        vec![("truncated".to_string(), "true".to_string())]
    );
    collector.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_resumes_including_a_file_rotated_meanwhile() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let pods = tmp.path().join("pods");
    let state = tmp.path().join("state");
    let log = pod_log(&pods, "ns", "app-0", "app");
    let config = logs_config(&[pods_glob(&pods)]);
    let append = |path: &Path, range: std::ops::Range<u64>| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        for n in range {
            std::io::Write::write_all(&mut f, &logs_support::cri_record(n)).unwrap();
        }
    };
    append(&log, 0..1000);
    let collector = start(&config, &state, &receiver.url());
    wait_for("the first lines", WAIT, || receiver.len() == 1000).await;
    collector.shutdown().await;
    assert!(state.join("log-positions.json").exists());

    // While the collector is away: more lines, a rotation, a new file.
    append(&log, 1000..1500);
    std::fs::rename(&log, log.with_extension("log.20240501-100000")).unwrap();
    append(&log, 1500..2000);
    let collector = start(&config, &state, &receiver.url());
    wait_for("the rest", WAIT, || receiver.len() >= 2000).await;
    collector.shutdown().await;
    assert_exactly_once(&receiver, 2000);
    let order: Vec<String> = receiver.entries().into_iter().map(|e| e.line).collect();
    assert_eq!(order, (0..2000).map(message).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_end_skips_what_was_there_at_the_first_start() {
    let receiver = Receiver::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("syslog.log");
    std::fs::write(&log, "old line 1\nold line 2\n").unwrap();
    let mut config = logs_config(&[format!("{}/*.log", tmp.path().display())]);
    config.start_at = sightline_collector::sources::logs::StartAt::End;
    let collector = start(&config, &tmp.path().join("state"), &receiver.url());
    let metrics = collector.metrics();
    wait_for("the file to be followed", WAIT, || {
        LogStats::get(&metrics.stats.files) == 1
    })
    .await;
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    std::io::Write::write_all(&mut f, b"new line\n").unwrap();
    wait_for("the new line", WAIT, || receiver.len() == 1).await;
    collector.shutdown().await;
    assert_eq!(receiver.entries()[0].line, "new line");
    assert_eq!(receiver.len(), 1);
}
