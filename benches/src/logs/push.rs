//! The data set, twice: Loki push requests (protobuf + snappy, as Promtail
//! sends them, about [`BATCH_BYTES`] of lines each) and the same lines as
//! raw files, one per container, for ripgrep and zstd. Then the sender that
//! posts the requests with a fixed number of clients.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use sightline_model::loki_push::{Entry, PushRequest, Stream, Timestamp};
use tokio::task::JoinSet;

use super::generator::{Line, LogGenerator};

/// Raw line bytes per push request (Promtail's default `batchsize`, 1 MiB).
pub const BATCH_BYTES: usize = 1 << 20;

/// The encoded data set.
#[derive(Debug)]
pub struct DataSet {
    pub bodies: Vec<Vec<u8>>,
    pub lines: u64,
    /// Raw bytes: every line plus its newline, as in the raw files.
    pub raw_bytes: u64,
    pub files: Vec<PathBuf>,
    pub first_ns: i64,
    pub last_ns: i64,
}

impl DataSet {
    pub fn wire_bytes(&self) -> u64 {
        self.bodies.iter().map(|b| b.len() as u64).sum()
    }
}

/// Runs the generator to the end: encodes push bodies and writes the raw
/// files under `raw_dir`.
pub fn build(generator: LogGenerator, raw_dir: &Path) -> anyhow::Result<DataSet> {
    std::fs::create_dir_all(raw_dir)?;
    let specs = generator.streams().to_vec();
    let mut files = Vec::new();
    let mut writers = Vec::new();
    for s in &specs {
        let path = raw_dir.join(s.file_name());
        let f = File::create(&path).with_context(|| format!("creating {}", path.display()))?;
        writers.push(BufWriter::with_capacity(256 << 10, f));
        files.push(path);
    }
    let labels: Vec<String> = specs.iter().map(|s| s.labels()).collect();
    let mut set = DataSet {
        bodies: Vec::new(),
        lines: 0,
        raw_bytes: 0,
        files,
        first_ns: i64::MAX,
        last_ns: i64::MIN,
    };
    let mut batch: BTreeMap<usize, Vec<Entry>> = BTreeMap::new();
    let mut batch_bytes = 0;
    let flush = |batch: &mut BTreeMap<usize, Vec<Entry>>, set: &mut DataSet| {
        let request = PushRequest {
            streams: std::mem::take(batch)
                .into_iter()
                .map(|(s, entries)| Stream {
                    labels: labels[s].clone(),
                    entries,
                    hash: 0,
                })
                .collect(),
        };
        set.bodies.push(request.encode_snappy());
    };
    for Line {
        stream,
        ts_ns,
        text,
    } in generator
    {
        writers[stream].write_all(text.as_bytes())?;
        writers[stream].write_all(b"\n")?;
        set.lines += 1;
        set.raw_bytes += text.len() as u64 + 1;
        set.first_ns = set.first_ns.min(ts_ns);
        set.last_ns = set.last_ns.max(ts_ns);
        batch_bytes += text.len() + 1;
        batch.entry(stream).or_default().push(Entry {
            timestamp: Some(Timestamp::from_nanos(ts_ns)),
            line: text,
            structured_metadata: Vec::new(),
        });
        if batch_bytes >= BATCH_BYTES {
            flush(&mut batch, &mut set);
            batch_bytes = 0;
        }
    }
    if !batch.is_empty() {
        flush(&mut batch, &mut set);
    }
    for mut w in writers {
        w.flush()?;
    }
    Ok(set)
}

/// Posts every body to `url` with `clients` requests in flight; 429 and
/// 503 are retried after a pause, anything else but 204 fails the run.
/// Returns the wall time and the number of retries.
pub async fn send_all(
    url: &str,
    bodies: Arc<Vec<Vec<u8>>>,
    clients: usize,
    timeout: Duration,
) -> anyhow::Result<(Duration, u64)> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .pool_max_idle_per_host(clients)
        .build()
        .context("building the HTTP client")?;
    let url: Arc<str> = url.into();
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..clients.max(1) {
        let (client, url, bodies, next) = (
            client.clone(),
            Arc::clone(&url),
            Arc::clone(&bodies),
            Arc::clone(&next),
        );
        workers.spawn(async move {
            let mut retries = 0u64;
            while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                loop {
                    let response = client
                        .post(&*url)
                        .header(
                            CONTENT_TYPE,
                            HeaderValue::from_static("application/x-protobuf"),
                        )
                        .body(body.clone())
                        .send()
                        .await
                        .context("pushing")?;
                    let status = response.status();
                    if status.as_u16() == 204 || status.is_success() {
                        break;
                    }
                    if status.as_u16() == 429 || status.as_u16() == 503 {
                        retries += 1;
                        let wait = response
                            .headers()
                            .get(RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok())
                            .unwrap_or(1);
                        tokio::time::sleep(Duration::from_millis(100 * wait.min(10))).await;
                        continue;
                    }
                    let text = response.text().await.unwrap_or_default();
                    bail!(
                        "push answered {status}: {}",
                        text.chars().take(300).collect::<String>()
                    );
                }
            }
            Ok(retries)
        });
    }
    let mut retries = 0;
    while let Some(joined) = workers.join_next().await {
        retries += joined.context("a push client panicked")??;
    }
    Ok((started.elapsed(), retries))
}
