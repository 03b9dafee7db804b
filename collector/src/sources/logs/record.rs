//! Lines to records: parse each line in the file's format, merge partial
//! lines (CRI `P` … `F`, Docker's split lines) per stream, join multi-line
//! records by a start-of-record pattern, and cut at `max_line_bytes`.
//!
//! The assembler also knows the earliest file offset whose bytes are not
//! yet in an emitted record ([`Assembler::safe_offset`]): a checkpoint never
//! passes it, so a restart re-reads a record that was half assembled.

use std::time::{Duration, Instant};

use regex::Regex;

use super::parse::{self, Format, StreamName};

/// A complete log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub timestamp_ns: i64,
    pub stream: StreamName,
    pub message: Vec<u8>,
    /// Cut at `max_line_bytes`.
    pub truncated: bool,
}

#[derive(Debug)]
struct Pending {
    timestamp_ns: i64,
    message: Vec<u8>,
    truncated: bool,
    /// File offset of the record's first line.
    start: u64,
    last_line_at: Instant,
}

/// Multi-line joining for one file.
#[derive(Debug, Clone)]
pub struct Multiline {
    pub start: Regex,
    pub timeout: Duration,
}

/// Per-file line assembly.
#[derive(Debug)]
pub struct Assembler {
    format: Option<Format>,
    max_bytes: usize,
    multiline: Option<Multiline>,
    /// Partial lines being merged, per stream.
    partial: [Option<Pending>; 3],
    /// Multi-line records being joined, per stream.
    joining: [Option<Pending>; 3],
    /// Lines that did not fit the file's format, shipped raw.
    pub unparsed: u64,
}

fn slot(stream: StreamName) -> usize {
    match stream {
        StreamName::Stdout => 0,
        StreamName::Stderr => 1,
        StreamName::None => 2,
    }
}

const STREAMS: [StreamName; 3] = [StreamName::Stdout, StreamName::Stderr, StreamName::None];

impl Assembler {
    pub fn new(max_bytes: usize, multiline: Option<Multiline>) -> Self {
        Self {
            format: None,
            max_bytes,
            multiline,
            partial: [None, None, None],
            joining: [None, None, None],
            unparsed: 0,
        }
    }

    #[cfg(test)]
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// Forgets the format (the file was truncated and starts over).
    pub fn reset_format(&mut self) {
        self.format = None;
    }

    /// One line without its newline, starting at file offset `start`.
    /// `cut` says the line was already cut (no newline within the limit).
    pub fn line(
        &mut self,
        line: &[u8],
        start: u64,
        cut: bool,
        now_ns: i64,
        now: Instant,
        out: &mut Vec<Record>,
    ) {
        let format = match self.format {
            Some(f) => f,
            None if line.is_empty() => Format::Raw,
            None => {
                let f = parse::detect(line);
                self.format = Some(f);
                f
            }
        };
        let parsed = match parse::parse(format, line) {
            Some(p) => p,
            None => {
                self.unparsed += 1;
                parse::Parsed {
                    timestamp_ns: None,
                    stream: StreamName::None,
                    partial: false,
                    message: std::borrow::Cow::Borrowed(line),
                }
            }
        };
        let i = slot(parsed.stream);
        let timestamp_ns = parsed.timestamp_ns.unwrap_or(now_ns);
        let max = self.max_bytes;
        let pending = match self.partial[i].take() {
            Some(mut p) => {
                // Once cut, a record takes no more bytes.
                p.truncated = p.truncated || append(&mut p.message, &parsed.message, max) || cut;
                p.last_line_at = now;
                p
            }
            None => {
                let mut message = Vec::with_capacity(parsed.message.len().min(max));
                let truncated = append(&mut message, &parsed.message, max) || cut;
                Pending {
                    timestamp_ns,
                    message,
                    truncated,
                    start,
                    last_line_at: now,
                }
            }
        };
        if parsed.partial {
            self.partial[i] = Some(pending);
            return;
        }
        self.complete(parsed.stream, pending, out);
    }

    fn complete(&mut self, stream: StreamName, record: Pending, out: &mut Vec<Record>) {
        let i = slot(stream);
        let Some(multiline) = &self.multiline else {
            out.push(finish(stream, record));
            return;
        };
        let starts = multiline
            .start
            .is_match(&String::from_utf8_lossy(&record.message));
        match self.joining[i].take() {
            Some(mut joined) if !starts => {
                let max = self.max_bytes;
                joined.truncated = joined.truncated
                    || append(&mut joined.message, b"\n", max)
                    || append(&mut joined.message, &record.message, max)
                    || record.truncated;
                joined.last_line_at = record.last_line_at;
                self.joining[i] = Some(joined);
            }
            previous => {
                if let Some(p) = previous {
                    out.push(finish(stream, p));
                }
                self.joining[i] = Some(record);
            }
        }
    }

    /// Emits multi-line records whose last line is older than the timeout.
    pub fn expire(&mut self, now: Instant, out: &mut Vec<Record>) {
        let Some(timeout) = self.multiline.as_ref().map(|m| m.timeout) else {
            return;
        };
        for (i, stream) in STREAMS.iter().enumerate() {
            if self.joining[i]
                .as_ref()
                .is_some_and(|p| now.duration_since(p.last_line_at) >= timeout)
            {
                if let Some(p) = self.joining[i].take() {
                    out.push(finish(*stream, p));
                }
            }
        }
    }

    /// Emits everything pending (the file is finished).
    pub fn flush(&mut self, out: &mut Vec<Record>) {
        for (i, stream) in STREAMS.iter().enumerate() {
            if let Some(p) = self.partial[i].take() {
                self.complete(*stream, p, out);
            }
        }
        for (i, stream) in STREAMS.iter().enumerate() {
            if let Some(p) = self.joining[i].take() {
                out.push(finish(*stream, p));
            }
        }
    }

    /// The earliest offset not yet in an emitted record, given that every
    /// line before `consumed` was handed to [`Self::line`].
    pub fn safe_offset(&self, consumed: u64) -> u64 {
        self.partial
            .iter()
            .chain(self.joining.iter())
            .flatten()
            .map(|p| p.start)
            .fold(consumed, u64::min)
    }
}

fn finish(stream: StreamName, p: Pending) -> Record {
    Record {
        timestamp_ns: p.timestamp_ns,
        stream,
        message: p.message,
        truncated: p.truncated,
    }
}

/// Appends up to `max` bytes in total, never splitting a UTF-8 sequence;
/// returns whether anything was cut.
fn append(to: &mut Vec<u8>, bytes: &[u8], max: usize) -> bool {
    let room = max.saturating_sub(to.len());
    if bytes.len() <= room {
        to.extend_from_slice(bytes);
        return false;
    }
    let mut cut = room;
    // Back up over continuation bytes so a character is kept whole or not
    // at all.
    while cut > 0 && bytes.get(cut).is_some_and(|b| b & 0xC0 == 0x80) {
        cut -= 1;
    }
    to.extend_from_slice(&bytes[..cut]);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(a: &mut Assembler, lines: &[&str]) -> Vec<Record> {
        let mut out = Vec::new();
        let now = Instant::now();
        let mut offset = 0;
        for l in lines {
            a.line(l.as_bytes(), offset, false, 42, now, &mut out);
            offset += l.len() as u64 + 1;
        }
        out
    }

    fn messages(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| String::from_utf8_lossy(&r.message).into_owned())
            .collect()
    }

    #[test]
    fn cri_partials_merge_per_stream() {
        let mut a = Assembler::new(1024, None);
        let out = feed(
            &mut a,
            &[
                "2024-01-01T00:00:00Z stdout P hel",
                "2024-01-01T00:00:01Z stderr F oops",
                "2024-01-01T00:00:02Z stdout P lo ",
                "2024-01-01T00:00:03Z stdout F world",
            ],
        );
        assert_eq!(messages(&out), vec!["oops", "hello world"]);
        assert_eq!(out[1].stream, StreamName::Stdout);
        // The merged record keeps its first line's time.
        assert_eq!(out[1].timestamp_ns, 1_704_067_200_000_000_000);
        assert_eq!(a.safe_offset(1000), 1000);
    }

    #[test]
    fn safe_offset_stops_at_a_pending_record() {
        let mut a = Assembler::new(1024, None);
        let lines = [
            "2024-01-01T00:00:00Z stdout F one",
            "2024-01-01T00:00:01Z stdout P two-",
        ];
        let out = feed(&mut a, &lines);
        assert_eq!(messages(&out), vec!["one"]);
        let second_start = lines[0].len() as u64 + 1;
        assert_eq!(a.safe_offset(999), second_start);
        let mut out = Vec::new();
        a.flush(&mut out);
        assert_eq!(messages(&out), vec!["two-"]);
        assert_eq!(a.safe_offset(999), 999);
    }

    #[test]
    fn merged_partials_are_capped_and_marked() {
        let mut a = Assembler::new(10, None);
        let out = feed(
            &mut a,
            &[
                "2024-01-01T00:00:00Z stdout P 123456",
                "2024-01-01T00:00:00Z stdout P 789éé",
                "2024-01-01T00:00:00Z stdout F tail",
            ],
        );
        assert_eq!(messages(&out), vec!["123456789"]);
        assert!(out[0].truncated);
        let out = feed(&mut a, &["2024-01-01T00:00:00Z stdout F short"]);
        assert!(!out[0].truncated);
    }

    #[test]
    fn malformed_lines_in_a_cri_file_are_kept_raw() {
        let mut a = Assembler::new(1024, None);
        let out = feed(
            &mut a,
            &[
                "2024-01-01T00:00:00Z stdout F ok",
                "garbage without format",
                "",
            ],
        );
        assert_eq!(messages(&out), vec!["ok", "garbage without format", ""]);
        assert_eq!(out[1].timestamp_ns, 42, "raw lines get the read time");
        assert_eq!(out[1].stream, StreamName::None);
        assert_eq!(a.unparsed, 2);
        assert_eq!(a.format(), Some(Format::Cri));
    }

    #[test]
    fn docker_split_lines_merge() {
        let mut a = Assembler::new(1024, None);
        let out = feed(
            &mut a,
            &[
                r#"{"log":"first half ","stream":"stdout","time":"2024-01-01T00:00:00Z"}"#,
                r#"{"log":"second half\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}"#,
            ],
        );
        assert_eq!(messages(&out), vec!["first half second half"]);
    }

    #[test]
    fn multiline_joins_until_the_next_start() {
        let multiline = Multiline {
            start: Regex::new(r"^\d{4}-").unwrap(),
            timeout: Duration::from_millis(50),
        };
        let mut a = Assembler::new(1024, Some(multiline));
        let out = feed(
            &mut a,
            &[
                "2024-01-01T00:00:00Z stdout F 2024-01-01 error: boom",
                "2024-01-01T00:00:00Z stdout F \tat a.b(C.java:1)",
                "2024-01-01T00:00:00Z stdout F \tat d.e(F.java:2)",
                "2024-01-01T00:00:01Z stdout F 2024-01-01 next",
            ],
        );
        assert_eq!(
            messages(&out),
            vec!["2024-01-01 error: boom\n\tat a.b(C.java:1)\n\tat d.e(F.java:2)"]
        );
        let mut out = Vec::new();
        a.expire(Instant::now(), &mut out);
        assert!(out.is_empty(), "not yet timed out");
        a.expire(Instant::now() + Duration::from_millis(60), &mut out);
        assert_eq!(messages(&out), vec!["2024-01-01 next"]);
    }
}
