//! A notification receiver on 127.0.0.1: vmalert's `-notifier.url` (it
//! needs one), and Sightline's webhook receiver with `--notify-latency`. It
//! answers every HTTP request `200 OK` at once and counts the requests, so
//! sending alerts costs the sender as little as a fast receiver would; for
//! Alertmanager webhook payloads it also records how long after the newest
//! alert's `startsAt` the notification arrived.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head read; longer heads close the connection.
const MAX_HEAD: usize = 64 * 1024;

/// The running receiver; stops when dropped.
#[derive(Debug)]
pub struct NotificationSink {
    url: String,
    state: Arc<SinkState>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct SinkState {
    requests: AtomicU64,
    /// Per webhook notification: arrival minus its newest alert's start.
    latencies: Mutex<Vec<Duration>>,
}

impl NotificationSink {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding the notification receiver")?;
        let url = format!("http://{}", listener.local_addr()?);
        let state = Arc::new(SinkState::default());
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Ok(Self { url, state, task })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::Relaxed)
    }

    /// Latencies of the webhook notifications received so far.
    pub fn latencies(&self) -> Vec<Duration> {
        self.state
            .latencies
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Drop for NotificationSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers the requests of one keep-alive connection.
async fn serve(mut stream: TcpStream, state: Arc<SinkState>) {
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        // Read the head.
        let head_end = loop {
            if let Some(i) = find(&buf, b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > MAX_HEAD {
                return;
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        // Skip the body.
        while buf.len() < head_end + length {
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        if let Some(latency) = webhook_latency(&buf[head_end..head_end + length]) {
            state
                .latencies
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(latency);
        }
        buf.drain(..head_end + length);
        state.requests.fetch_add(1, Ordering::Relaxed);
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// For an Alertmanager webhook payload (`{"alerts": [{"startsAt": …}]}`),
/// the time from its newest firing alert's start until now.
fn webhook_latency(body: &[u8]) -> Option<Duration> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let newest = json["alerts"]
        .as_array()?
        .iter()
        .filter(|a| a["status"] == "firing")
        .filter_map(|a| super::status::rfc3339_ns(a["startsAt"].as_str()?).ok())
        .max()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_nanos() as i128;
    Some(Duration::from_nanos(
        u64::try_from(now - newest).unwrap_or(0),
    ))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_and_counts_posts() {
        let sink = NotificationSink::start().await.unwrap();
        let client = reqwest::Client::new();
        for _ in 0..3 {
            let r = client
                .post(format!("{}/api/v2/alerts", sink.url()))
                .body("[{\"labels\":{\"alertname\":\"x\"}}]")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
        }
        assert_eq!(sink.requests(), 3);
        assert!(sink.latencies().is_empty(), "not webhook payloads");
        // A webhook notification of an alert that started a second ago.
        let started = SystemTime::now() - Duration::from_secs(1);
        let secs = started.duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
        let body = format!(
            "{{\"alerts\":[{{\"status\":\"firing\",\"startsAt\":\"{}\"}}]}}",
            rfc3339(secs)
        );
        client.post(sink.url()).body(body).send().await.unwrap();
        let latencies = sink.latencies();
        assert_eq!(latencies.len(), 1);
        assert!(latencies[0] >= Duration::from_secs(1), "{latencies:?}");
        assert!(latencies[0] < Duration::from_secs(600), "{latencies:?}");
    }

    /// `secs` since the epoch as RFC 3339 in UTC.
    fn rfc3339(secs: i64) -> String {
        let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Civil date from days since 1970-01-01 (Howard Hinnant's method).
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let d = doy - (153 * mp + 2) / 5 + 1;
        let m = if mp < 10 { mp + 3 } else { mp - 9 };
        let y = yoe + era * 400 + i64::from(m <= 2);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60
        )
    }
}
