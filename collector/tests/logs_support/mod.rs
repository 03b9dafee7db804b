//! A Loki push receiver on 127.0.0.1 that decodes bodies for real
//! (protobuf + snappy, or JSON), and writers that produce container log
//! files the way container runtimes and the kubelet do, rotation included.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use sightline_model::loki_push::PushRequest;

/// One entry as received.
#[derive(Debug, Clone)]
pub struct Got {
    pub labels: String,
    pub line: String,
    pub timestamp_ns: i64,
    pub metadata: Vec<(String, String)>,
    pub at: Instant,
}

#[derive(Debug, Default)]
pub struct ReceiverState {
    pub entries: Mutex<Vec<Got>>,
    pub requests: AtomicUsize,
    /// Answer 503 to everything while set.
    pub down: AtomicBool,
    /// Status for accepted requests (0 = 204).
    pub status: AtomicU16,
    pub content_types: Mutex<Vec<String>>,
}

#[derive(Debug)]
pub struct Receiver {
    pub addr: SocketAddr,
    pub state: Arc<ReceiverState>,
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(ReceiverState::default());
        let app = Router::new()
            .route("/loki/api/v1/push", post(push))
            .route("/api/v1/write", post(|| async { StatusCode::NO_CONTENT }))
            .layer(DefaultBodyLimit::max(64 << 20))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}/loki/api/v1/push", self.addr)
    }

    pub fn entries(&self) -> Vec<Got> {
        self.state.entries.lock().unwrap().clone()
    }

    /// Lines received, counted.
    pub fn counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for e in self.state.entries.lock().unwrap().iter() {
            *counts.entry(e.line.clone()).or_default() += 1;
        }
        counts
    }

    pub fn len(&self) -> usize {
        self.state.entries.lock().unwrap().len()
    }
}

async fn push(
    State(state): State<Arc<ReceiverState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    state.requests.fetch_add(1, Ordering::Relaxed);
    if state.down.load(Ordering::Relaxed) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let status = state.status.load(Ordering::Relaxed);
    if status != 0 {
        return StatusCode::from_u16(status).unwrap();
    }
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let now = Instant::now();
    let mut got = Vec::new();
    if content_type == "application/json" {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        for s in v["streams"].as_array().unwrap() {
            let mut labels: Vec<(String, String)> = s["stream"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                .collect();
            labels.sort();
            let labels = format!(
                "{{{}}}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            for row in s["values"].as_array().unwrap() {
                let metadata = row
                    .get(2)
                    .and_then(|m| m.as_object())
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                            .collect()
                    })
                    .unwrap_or_default();
                got.push(Got {
                    labels: labels.clone(),
                    line: row[1].as_str().unwrap().to_string(),
                    timestamp_ns: row[0].as_str().unwrap().parse().unwrap(),
                    metadata,
                    at: now,
                });
            }
        }
    } else {
        let Ok(req) = PushRequest::decode_snappy(&body, 256 << 20) else {
            return StatusCode::BAD_REQUEST;
        };
        for s in req.streams {
            for e in s.entries {
                got.push(Got {
                    labels: s.labels.clone(),
                    line: e.line,
                    timestamp_ns: e.timestamp.map_or(0, |t| t.as_nanos()),
                    metadata: e
                        .structured_metadata
                        .into_iter()
                        .map(|p| (p.name, p.value))
                        .collect(),
                    at: now,
                });
            }
        }
    }
    state.content_types.lock().unwrap().push(content_type);
    state.entries.lock().unwrap().extend(got);
    StatusCode::NO_CONTENT
}

/// Polls `cond` every 20 ms until it holds or `limit` passes.
pub async fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The message of entry `n` (what the receiver must see).
pub fn message(n: u64) -> String {
    // Mixed lengths, some long.
    let pad = "abcdefghij".repeat((n % 23) as usize);
    format!("line-{n:08} {pad}")
}

/// The bytes a CRI runtime writes for message `n`: one `F` line, or for
/// every 10th message a `P` line and an `F` line, written at once.
pub fn cri_record(n: u64) -> Vec<u8> {
    let ts = format!(
        "2024-05-01T10:00:{:02}.{:09}Z",
        (n / 1_000_000_000) % 60,
        n % 1_000_000_000
    );
    let msg = message(n);
    if n % 10 == 3 && msg.len() > 16 {
        let (a, b) = msg.split_at(12);
        format!("{ts} stdout P {a}\n{ts} stdout F {b}\n").into_bytes()
    } else {
        format!("{ts} stdout F {msg}\n").into_bytes()
    }
}

/// How the writer rotates its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    None,
    /// The kubelet's way: rename `0.log` to `0.log.<stamp>`, the runtime
    /// writes a few more records to the renamed file before it reopens
    /// `0.log`; rotated files beyond `keep` are deleted, and with `gzip`
    /// every older rotated file is replaced by a compressed copy.
    Rename {
        keep: usize,
        gzip: bool,
    },
    /// logrotate's copytruncate: copy `0.log` to `0.log.<n>`, truncate it
    /// in place; the writer appends (O_APPEND) and is held off during the
    /// copy and truncation, as logrotate assumes.
    CopyTruncate,
}

/// Writes `total` records to `path` in bursts of 1,000 written as fast as
/// possible with 10 ms between bursts, rotating every `every` records
/// (rotation at this pace is still far faster than the kubelet's, which
/// checks every 10 s). Returns the number of rotations done.
pub fn write_log(
    path: PathBuf,
    total: u64,
    every: u64,
    rotation: Rotation,
) -> std::thread::JoinHandle<u64> {
    write_log_paced(path, total, every, rotation, || u64::MAX)
}

/// [`write_log`], except that a rotated file is compressed or deleted only
/// once `delivered()` counts every record written to it (or a minute has
/// passed). The kubelet compresses a rotated file one rotation later, and
/// rotates at most every 10 s; at this writer's pace a loaded machine could
/// otherwise delete a generation before any reader opened it, which no
/// tailer can recover.
pub fn write_log_paced(
    path: PathBuf,
    total: u64,
    every: u64,
    rotation: Rotation,
    delivered: impl Fn() -> u64 + Send + 'static,
) -> std::thread::JoinHandle<u64> {
    let settle = move |end: u64| {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while delivered() < end && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    };
    std::thread::spawn(move || {
        let open = |p: &Path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .unwrap()
        };
        let mut file = open(&path);
        let mut rotations = 0u64;
        // Rotated files with the record count at their end.
        let mut rotated: Vec<(PathBuf, u64)> = Vec::new();
        let mut n = 0;
        while n < total {
            file.write_all(&cri_record(n)).unwrap();
            n += 1;
            if n % 1000 == 0 {
                std::thread::sleep(Duration::from_millis(10));
            }
            if every == 0 || n % every != 0 || n == total {
                continue;
            }
            rotations += 1;
            match rotation {
                Rotation::None => {}
                Rotation::Rename { keep, gzip } => {
                    let renamed =
                        PathBuf::from(format!("{}.2024050110{rotations:04}", path.display()));
                    std::fs::rename(&path, &renamed).unwrap();
                    // The runtime has not reopened yet: these records land
                    // in the renamed file.
                    for _ in 0..3 {
                        if n < total {
                            file.write_all(&cri_record(n)).unwrap();
                            n += 1;
                        }
                    }
                    if gzip {
                        for (old, end) in &rotated {
                            if old.exists() {
                                settle(*end);
                                let bytes = std::fs::read(old).unwrap();
                                // A stand-in for gzip: another file under
                                // the compressed name, the original gone.
                                let gz = PathBuf::from(format!("{}.gz", old.display()));
                                std::fs::write(&gz, &bytes[..bytes.len().min(100)]).unwrap();
                                std::fs::remove_file(old).unwrap();
                            }
                        }
                    }
                    rotated.push((renamed, n));
                    while rotated.len() > keep {
                        let (old, end) = rotated.remove(0);
                        settle(end);
                        let _ = std::fs::remove_file(&old);
                        let _ = std::fs::remove_file(format!("{}.gz", old.display()));
                    }
                    file = open(&path);
                }
                Rotation::CopyTruncate => {
                    let copy = PathBuf::from(format!("{}.{rotations}", path.display()));
                    std::fs::copy(&path, &copy).unwrap();
                    file.set_len(0).unwrap();
                }
            }
        }
        rotations
    })
}

/// Asserts that messages `0..total` each arrived exactly once, with their
/// exact content.
pub fn assert_exactly_once(receiver: &Receiver, total: u64) {
    let counts = receiver.counts();
    let mut missing = Vec::new();
    let mut duplicated = Vec::new();
    for n in 0..total {
        match counts.get(&message(n)).copied().unwrap_or(0) {
            0 => missing.push(n),
            1 => {}
            _ => duplicated.push(n),
        }
    }
    assert!(
        missing.is_empty(),
        "{} missing, first {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        duplicated.is_empty(),
        "{} duplicated, first {:?}",
        duplicated.len(),
        &duplicated[..duplicated.len().min(10)]
    );
    assert_eq!(receiver.len() as u64, total, "unexpected extra entries");
}
