//! The shipper against a small remote-write receiver on 127.0.0.1 that can
//! be stopped (connections refused) and told which status to answer.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sightline_collector::shipper::{Round, Shipper, ShipperConfig, USER_AGENT};
use sightline_collector::Metric;
use sightline_model::remote_write::WriteRequest;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

#[derive(Debug, Clone)]
struct Received {
    headers: HashMap<String, String>,
    request: WriteRequest,
}

#[derive(Debug, Default)]
struct ReceiverState {
    /// Requests answered with 2xx.
    accepted: Mutex<Vec<Received>>,
    /// Every request seen, whatever the answer.
    attempts: AtomicUsize,
    /// Answer 503 to this many requests before `status`.
    fail_next: AtomicUsize,
    /// Status for requests not failed by `fail_next` (0 = 204).
    status: AtomicU16,
}

/// A remote-write receiver that can be stopped and restarted on its port.
struct Receiver {
    addr: SocketAddr,
    state: Arc<ReceiverState>,
    server: Option<JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState::default());
        let server = Some(tokio::spawn(serve(listener, Arc::clone(&state))));
        Self {
            addr,
            state,
            server,
        }
    }

    /// A receiver whose port is known but refuses connections until
    /// [`Receiver::resume`].
    async fn stopped() -> Self {
        let mut r = Self::start().await;
        r.stop().await;
        r
    }

    fn url(&self) -> String {
        format!("http://{}/api/v1/write", self.addr)
    }

    /// Closes the listener and every open connection.
    async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
            let _ = server.await;
        }
    }

    async fn resume(&mut self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.server = Some(tokio::spawn(serve(listener, Arc::clone(&self.state))));
    }

    fn accepted(&self) -> Vec<Received> {
        self.state.accepted.lock().unwrap().clone()
    }

    /// Every accepted sample as (series name and labels, timestamp, value bits).
    fn samples(&self) -> Vec<(String, i64, u64)> {
        self.accepted()
            .iter()
            .flat_map(|r| r.request.timeseries.clone())
            .flat_map(|ts| {
                let name: Vec<String> = ts
                    .labels
                    .iter()
                    .map(|l| {
                        let (n, v) = l.as_strs().unwrap();
                        format!("{n}={v}")
                    })
                    .collect();
                let name = name.join(",");
                ts.samples
                    .into_iter()
                    .map(move |s| (name.clone(), s.timestamp, s.value.to_bits()))
            })
            .collect()
    }
}

async fn serve(listener: TcpListener, state: Arc<ReceiverState>) {
    // Dropping the set (when this task is aborted) aborts the connections.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        connections.spawn(connection(stream, Arc::clone(&state)));
    }
}

async fn connection(stream: TcpStream, state: Arc<ReceiverState>) {
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    loop {
        let mut line = String::new();
        if read.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        assert!(line.starts_with("POST /api/v1/write "), "{line}");
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            read.read_line(&mut line).await.unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
        }
        let len: usize = headers["content-length"].parse().unwrap();
        let mut body = vec![0u8; len];
        read.read_exact(&mut body).await.unwrap();
        state.attempts.fetch_add(1, Ordering::SeqCst);
        let failing = state
            .fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let status = match state.status.load(Ordering::SeqCst) {
            _ if failing => 503,
            0 => 204,
            s => s,
        };
        if (200..300).contains(&status) {
            let request = WriteRequest::decode_snappy(&body, 64 << 20).unwrap();
            state
                .accepted
                .lock()
                .unwrap()
                .push(Received { headers, request });
        }
        let reason = "X";
        let response = format!("HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\n\r\n");
        if write.write_all(response.as_bytes()).await.is_err() {
            return;
        }
    }
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

fn config(url: String) -> ShipperConfig {
    ShipperConfig {
        flush_interval: Duration::from_millis(50),
        min_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(100),
        request_timeout: Duration::from_secs(5),
        shutdown_grace: Duration::from_millis(200),
        ..ShipperConfig::new(url)
    }
}

/// `n` metrics `m{i="0".."n"}` with value `value`.
fn round(timestamp_ms: i64, n: usize, value: f64) -> Round {
    Round {
        timestamp_ms,
        metrics: (0..n)
            .map(|i| Metric::new("m", &[("i", &i.to_string())], value))
            .collect(),
    }
}

fn expected(rounds: std::ops::Range<i64>, n: usize) -> Vec<(String, i64, u64)> {
    rounds
        .flat_map(|r| {
            (0..n).map(move |i| (format!("__name__=m,i={i}"), r * 1000, (r as f64).to_bits()))
        })
        .collect()
}

fn segment_count(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().count()
}

#[tokio::test]
async fn batches_arrive_with_headers_samples_and_staleness_markers() {
    let receiver = Receiver::start().await;
    let shipper = Shipper::start(ShipperConfig {
        max_samples_per_request: 3,
        ..config(receiver.url())
    })
    .unwrap();
    let handle = shipper.handle();
    handle.send(round(1000, 5, 1.0)).unwrap();
    handle.send(round(2000, 2, 2.0)).unwrap();
    // 5 + 2 samples and 3 staleness markers, in requests of at most 3.
    wait_for("10 samples", || {
        handle.stats().snapshot().samples_sent == 10
    })
    .await;

    let accepted = receiver.accepted();
    assert_eq!(accepted.len(), 4);
    for r in &accepted {
        assert_eq!(r.headers["content-encoding"], "snappy");
        assert_eq!(r.headers["content-type"], "application/x-protobuf");
        assert_eq!(r.headers["x-prometheus-remote-write-version"], "0.1.0");
        assert_eq!(r.headers["user-agent"], USER_AGENT);
        assert!(USER_AGENT.starts_with("sightline-collector/"));
        assert!(r.request.timeseries.len() <= 3);
    }
    let stale = f64::from_bits(sightline_model::STALE_NAN_BITS).to_bits();
    let mut want = expected(1..2, 5);
    want.extend(expected(2..3, 2));
    for i in 2..5 {
        want.push((format!("__name__=m,i={i}"), 2000, stale));
    }
    assert_eq!(receiver.samples(), want);

    let metrics = handle.render_metrics();
    assert!(metrics.contains("sightline_collector_shipper_samples_sent_total 10\n"));
    shipper.shutdown().await;
}

#[tokio::test]
async fn outage_spills_to_disk_and_delivers_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::stopped().await;
    let shipper = Shipper::start(ShipperConfig {
        max_samples_per_request: 10,
        queue_capacity: 2,
        buffer_dir: Some(dir.path().to_path_buf()),
        ..config(receiver.url())
    })
    .unwrap();
    let handle = shipper.handle();
    for r in 1..31 {
        handle.send(round(r * 1000, 10, r as f64)).unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    wait_for("spill to disk", || {
        let s = handle.stats().snapshot();
        s.queue_requests == 2 && s.buffer_requests >= 27
    })
    .await;
    assert!(segment_count(dir.path()) > 0);
    assert!(handle.stats().snapshot().samples_retried > 0);

    // Back, but overloaded for a few requests.
    receiver.state.fail_next.store(3, Ordering::SeqCst);
    receiver.resume().await;
    wait_for("300 samples", || {
        handle.stats().snapshot().samples_sent == 300
    })
    .await;

    assert_eq!(receiver.samples(), expected(1..31, 10));
    let s = handle.stats().snapshot();
    assert_eq!(
        (
            s.samples_dropped,
            s.samples_failed,
            s.buffer_requests,
            s.buffer_bytes
        ),
        (0, 0, 0, 0)
    );
    assert!(receiver.state.attempts.load(Ordering::SeqCst) >= 33);
    assert_eq!(segment_count(dir.path()), 0);
    shipper.shutdown().await;
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    let receiver = Receiver::start().await;
    receiver.state.status.store(400, Ordering::SeqCst);
    let shipper = Shipper::start(config(receiver.url())).unwrap();
    let handle = shipper.handle();
    handle.send(round(1000, 4, 1.0)).unwrap();
    wait_for("rejection", || {
        handle.stats().snapshot().samples_failed == 4
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(receiver.state.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(handle.stats().snapshot().samples_retried, 0);

    // The shipper moves on to the next request.
    receiver.state.status.store(0, Ordering::SeqCst);
    handle.send(round(2000, 4, 2.0)).unwrap();
    wait_for("delivery", || handle.stats().snapshot().samples_sent == 4).await;
    assert_eq!(receiver.samples(), expected(2..3, 4));
    shipper.shutdown().await;
}

#[tokio::test]
async fn disk_buffer_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut receiver = Receiver::stopped().await;
    let settings = ShipperConfig {
        max_samples_per_request: 5,
        queue_capacity: 1,
        buffer_dir: Some(dir.path().to_path_buf()),
        ..config(receiver.url())
    };

    let first = Shipper::start(settings.clone()).unwrap();
    for r in 1..9 {
        first.handle().send(round(r * 1000, 5, r as f64)).unwrap();
    }
    // Shutdown flushes, tries for the grace period, then persists.
    first.shutdown().await;
    assert!(segment_count(dir.path()) > 0);

    receiver.resume().await;
    let second = Shipper::start(settings).unwrap();
    let handle = second.handle();
    assert_eq!(handle.stats().snapshot().buffer_requests, 8);
    handle.send(round(9000, 5, 9.0)).unwrap();
    wait_for("45 samples", || {
        handle.stats().snapshot().samples_sent == 45
    })
    .await;
    assert_eq!(receiver.samples(), expected(1..10, 5));
    assert_eq!(segment_count(dir.path()), 0);
    second.shutdown().await;
}
