//! A Loki push receiver on 127.0.0.1, in this process: HTTP/1.1 with
//! keep-alive, every body decoded for real (snappy, then protobuf), every
//! entry checked against the expected message (content hash, stream's
//! `pod` label) and counted once.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context;
use sightline_model::loki_push::PushRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::files::{fnv1a, LogFiles};

/// What arrived, against what was expected.
#[derive(Debug, Default)]
pub struct Tally {
    /// Per file, per message: times received.
    seen: Vec<Vec<u8>>,
    pods: Vec<String>,
    expected: Vec<Vec<u64>>,
    pub received: u64,
    pub duplicates: u64,
    /// Entries not matching any expected message, or in the wrong stream.
    pub wrong: u64,
    pub first_wrong: Option<String>,
    pub requests: u64,
    /// Compressed body bytes.
    pub wire_bytes: u64,
    /// Message bytes (decoded entries).
    pub line_bytes: u64,
}

impl Tally {
    fn new(files: &LogFiles) -> Self {
        Self {
            seen: files.expected.iter().map(|e| vec![0; e.len()]).collect(),
            pods: files.pods.clone(),
            expected: files.expected.clone(),
            ..Self::default()
        }
    }

    /// Distinct expected messages received.
    pub fn distinct(&self) -> u64 {
        self.received - self.duplicates - self.wrong
    }

    fn wrong(&mut self, why: String) {
        self.wrong += 1;
        self.first_wrong.get_or_insert(why);
    }

    fn check(&mut self, labels: &str, line: &str) {
        self.received += 1;
        self.line_bytes += line.len() as u64;
        let b = line.as_bytes();
        let parse = |r: std::ops::Range<usize>| -> Option<usize> {
            std::str::from_utf8(b.get(r)?).ok()?.parse().ok()
        };
        let (Some(file), Some(n)) = (parse(1..4), parse(6..15)) else {
            return self.wrong(format!("unknown line {:?}", &line[..line.len().min(60)]));
        };
        let Some(&hash) = self.expected.get(file).and_then(|e| e.get(n)) else {
            return self.wrong(format!("no message f{file} m{n}"));
        };
        if fnv1a(b) != hash {
            return self.wrong(format!("f{file} m{n} arrived altered: {line:?}"));
        }
        if !labels.contains(&format!("pod=\"{}\"", self.pods[file])) {
            return self.wrong(format!("f{file} m{n} in stream {labels}"));
        }
        let seen = &mut self.seen[file][n];
        if *seen > 0 {
            self.duplicates += 1;
        }
        *seen = seen.saturating_add(1);
    }
}

pub type SharedTally = Arc<Mutex<Tally>>;

/// Binds a free port and serves until the runtime stops; returns the
/// address and the shared tally.
pub async fn start(files: &LogFiles) -> anyhow::Result<(std::net::SocketAddr, SharedTally)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("binding the receiver")?;
    let addr = listener.local_addr()?;
    let tally = Arc::new(Mutex::new(Tally::new(files)));
    let shared = Arc::clone(&tally);
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tally = Arc::clone(&shared);
            tokio::spawn(async move {
                if let Err(e) = serve(stream, tally).await {
                    eprintln!("[receiver] connection ended: {e:#}");
                }
            });
        }
    });
    Ok((addr, tally))
}

/// Requests on one connection, until the client closes it.
async fn serve(mut stream: TcpStream, tally: SharedTally) -> anyhow::Result<()> {
    let mut buf: Vec<u8> = Vec::with_capacity(1 << 20);
    loop {
        // Headers.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if stream.read_buf(&mut buf).await? == 0 {
                return Ok(());
            }
        };
        let head = std::str::from_utf8(&buf[..head_end]).context("request head")?;
        let path = head.split(' ').nth(1).unwrap_or_default().to_string();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("content-length")
                    .then(|| value.trim().parse().ok())?
            })
            .context("a request without Content-Length")?;
        while buf.len() < head_end + length {
            if stream.read_buf(&mut buf).await? == 0 {
                anyhow::bail!("connection closed mid-body");
            }
        }
        let body = &buf[head_end..head_end + length];
        let status = if path == "/loki/api/v1/push" {
            match PushRequest::decode_snappy(body, 256 << 20) {
                Ok(req) => {
                    let mut t = tally.lock().unwrap_or_else(PoisonError::into_inner);
                    t.requests += 1;
                    t.wire_bytes += length as u64;
                    for s in &req.streams {
                        for e in &s.entries {
                            t.check(&s.labels, &e.line);
                        }
                    }
                    "204 No Content"
                }
                Err(e) => {
                    eprintln!("[receiver] undecodable push: {e}");
                    "400 Bad Request"
                }
            }
        } else {
            "204 No Content"
        };
        buf.drain(..head_end + length);
        stream
            .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
            .await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::loki_push::{Entry, Stream, Timestamp};

    #[tokio::test]
    async fn decodes_checks_and_counts_over_http() {
        let dir = tempfile::tempdir().unwrap();
        let files = super::super::files::generate(dir.path(), 1, 4096, 3).unwrap();
        let (addr, tally) = start(&files).await.unwrap();
        let text = std::fs::read_to_string(&files.paths[0]).unwrap();
        // The first full message, as the collector would ship it.
        let first = text
            .lines()
            .find(|l| l.contains(" F f000 m000000000"))
            .unwrap();
        let message = first.splitn(4, ' ').nth(3).unwrap().to_string();
        let labels = format!("{{pod=\"{}\"}}", files.pods[0]);
        let entry = |line: &str| Entry {
            timestamp: Some(Timestamp::from_nanos(1)),
            line: line.into(),
            structured_metadata: Vec::new(),
        };
        let body = PushRequest {
            streams: vec![Stream {
                labels: labels.clone(),
                entries: vec![entry(&message), entry(&message), entry("f000 m000000000 x")],
                hash: 0,
            }],
        }
        .encode_snappy();
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let r = client
                .post(format!("http://{addr}/loki/api/v1/push"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 204);
        }
        let t = tally.lock().unwrap();
        assert_eq!((t.received, t.duplicates, t.wrong), (6, 3, 2));
        assert_eq!(t.distinct(), 1);
        assert_eq!(t.requests, 2);
    }
}
