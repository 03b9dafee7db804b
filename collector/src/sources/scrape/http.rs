//! A small blocking HTTP/1.1 GET over `std::net::TcpStream`, enough to
//! scrape an exporter from the collector's blocking thread: plain `http`
//! only, one request per connection (`Connection: close`), bodies framed
//! by `Content-Length`, chunked transfer encoding or end of stream, and
//! `Accept-Encoding: identity` so nothing arrives compressed. Every read
//! and write is bounded by one deadline and the body by a byte budget.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Why a GET failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    #[error("invalid response: {0}")]
    Protocol(String),
    #[error("server returned HTTP status {0}")]
    Status(u16),
    #[error("body larger than the limit of {0} bytes")]
    TooLarge(u64),
}

/// Where to send the request, split from a URL once at configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTarget {
    /// `host:port` (IPv6 hosts in brackets), also the `Host` header.
    pub authority: String,
    /// Path and query, at least `/`.
    pub path: String,
}

/// A response's parts that matter to a scrape.
#[derive(Debug, Clone)]
pub struct Response {
    pub content_type: String,
    pub body: Vec<u8>,
}

const MAX_HEADER_BYTES: usize = 64 << 10;

/// Sends one GET and reads a `200 OK` response within `timeout`.
pub fn get(
    target: &HttpTarget,
    accept: &str,
    timeout: Duration,
    max_body: u64,
) -> Result<Response, HttpError> {
    let deadline = Instant::now() + timeout;
    let stream = connect(&target.authority, deadline, timeout)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: sightline-collector/{}\r\nAccept: {accept}\r\n\
         Accept-Encoding: identity\r\nX-Prometheus-Scrape-Timeout-Seconds: {}\r\nConnection: close\r\n\r\n",
        target.path,
        target.authority,
        env!("CARGO_PKG_VERSION"),
        timeout.as_secs_f64(),
    );
    let mut stream = Deadlined {
        stream,
        deadline,
        timeout,
    };
    stream
        .write_all(request.as_bytes())
        .map_err(|e| timed(e, timeout))?;
    let mut reader = BufReader::new(stream);
    read_response(&mut reader, max_body).map_err(|e| match e {
        HttpError::Io(io) => timed(io, timeout),
        other => other,
    })
}

fn timed(e: std::io::Error, timeout: Duration) -> HttpError {
    match e.kind() {
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
            HttpError::Timeout(timeout)
        }
        _ => HttpError::Io(e),
    }
}

fn connect(authority: &str, deadline: Instant, timeout: Duration) -> Result<TcpStream, HttpError> {
    let mut last = None;
    for addr in authority.to_socket_addrs()? {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HttpError::Timeout(timeout));
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => timed(e, timeout),
        None => HttpError::Protocol(format!("{authority} resolves to no address")),
    })
}

/// A stream whose every read and write gets only the time left before the
/// deadline.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
    timeout: Duration,
}

impl Deadlined {
    fn left(&self) -> std::io::Result<Duration> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("timed out after {:?}", self.timeout),
            ));
        }
        Ok(left)
    }
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

impl Write for Deadlined {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let left = self.left()?;
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

/// Reads status line, headers and body from any buffered reader (tests
/// feed it byte slices).
pub(crate) fn read_response(r: &mut impl BufRead, max_body: u64) -> Result<Response, HttpError> {
    let mut header_budget = MAX_HEADER_BYTES;
    let status_line = read_line(r, &mut header_budget)?;
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Protocol(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Protocol(format!("status line {status_line:?}")))?;

    let mut content_type = String::new();
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    loop {
        let line = read_line(r, &mut header_budget)?;
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(HttpError::Protocol(format!("header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-type") {
            content_type = value.to_string();
        } else if name.eq_ignore_ascii_case("content-length") {
            content_length = Some(
                value
                    .parse()
                    .map_err(|_| HttpError::Protocol(format!("Content-Length {value:?}")))?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-encoding")
            && !value.eq_ignore_ascii_case("identity")
        {
            return Err(HttpError::Protocol(format!(
                "unsupported Content-Encoding {value:?}"
            )));
        }
    }
    if status != 200 {
        return Err(HttpError::Status(status));
    }

    let body = if chunked {
        read_chunked(r, max_body, &mut header_budget)?
    } else if let Some(len) = content_length {
        if len > max_body {
            return Err(HttpError::TooLarge(max_body));
        }
        let mut body = Vec::with_capacity(len.min(1 << 20) as usize);
        r.take(len).read_to_end(&mut body)?;
        if (body.len() as u64) < len {
            return Err(HttpError::Protocol(format!(
                "body ended after {} of {len} bytes",
                body.len()
            )));
        }
        body
    } else {
        read_capped(r, u64::MAX, max_body)?
    };
    Ok(Response { content_type, body })
}

/// Reads up to `len` bytes (all when `u64::MAX`), failing beyond `max`.
fn read_capped(r: &mut impl BufRead, len: u64, max: u64) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    r.take(len.min(max.saturating_add(1)))
        .read_to_end(&mut body)?;
    if body.len() as u64 > max {
        return Err(HttpError::TooLarge(max));
    }
    Ok(body)
}

fn read_chunked(
    r: &mut impl BufRead,
    max_body: u64,
    header_budget: &mut usize,
) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    loop {
        let line = read_line(r, header_budget)?;
        let size_text = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_text, 16)
            .map_err(|_| HttpError::Protocol(format!("chunk size {line:?}")))?;
        if size == 0 {
            // Trailers, then the final empty line.
            while !read_line(r, header_budget)?.is_empty() {}
            return Ok(body);
        }
        if body.len() as u64 + size > max_body {
            return Err(HttpError::TooLarge(max_body));
        }
        let before = body.len();
        r.take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(HttpError::Protocol("body ended inside a chunk".into()));
        }
        if !read_line(r, header_budget)?.is_empty() {
            return Err(HttpError::Protocol("chunk not followed by CRLF".into()));
        }
    }
}

/// One CRLF- (or LF-) terminated line, charged to `budget`.
fn read_line(r: &mut impl BufRead, budget: &mut usize) -> Result<String, HttpError> {
    let mut line = Vec::new();
    let limit = (*budget as u64).saturating_add(1);
    r.take(limit).read_until(b'\n', &mut line)?;
    if line.len() > *budget {
        return Err(HttpError::Protocol("header section too large".into()));
    }
    *budget -= line.len();
    if line.last() != Some(&b'\n') {
        return Err(HttpError::Protocol("connection closed mid-response".into()));
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    String::from_utf8(line).map_err(|_| HttpError::Protocol("non-UTF-8 header".into()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(raw: &str, max: u64) -> Result<Response, HttpError> {
        read_response(&mut raw.as_bytes(), max)
    }

    #[test]
    fn content_length_chunked_and_eof_bodies() {
        let r = read(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 4\r\n\r\nup 1extra",
            100,
        )
        .unwrap();
        assert_eq!(r.body, b"up 1");
        assert_eq!(r.content_type, "text/plain; version=0.0.4");

        let r = read(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nup \r\n2\r\n1\n\r\n0\r\nTrailer: a\r\n\r\n",
            100,
        )
        .unwrap();
        assert_eq!(r.body, b"up 1\n");

        let r = read("HTTP/1.0 200 OK\n\nup 1\n", 100).unwrap();
        assert_eq!(r.body, b"up 1\n");
    }

    #[test]
    fn bad_responses() {
        assert!(matches!(
            read("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", 10),
            Err(HttpError::Status(404))
        ));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n", 10),
            Err(HttpError::TooLarge(10))
        ));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\n\r\n01234567890", 10),
            Err(HttpError::TooLarge(10))
        ));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n01234567\r\n8\r\n01234567\r\n0\r\n\r\n", 10),
            Err(HttpError::TooLarge(10))
        ));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort", 100),
            Err(HttpError::Protocol(_))
        ));
        assert!(matches!(
            read(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                100
            ),
            Err(HttpError::Protocol(_))
        ));
        assert!(matches!(
            read("HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n", 100),
            Err(HttpError::Protocol(_))
        ));
        assert!(matches!(
            read("garbage\r\n\r\n", 100),
            Err(HttpError::Protocol(_))
        ));
        assert!(matches!(read("", 100), Err(HttpError::Protocol(_))));
    }
}
