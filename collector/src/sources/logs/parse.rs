//! Container log line formats, detected per file: the CRI format written
//! by containerd and CRI-O (`<RFC3339Nano> <stdout|stderr> <P|F> <message>`)
//! and Docker's json-file (`{"log":…,"stream":…,"time":…}`). A line that
//! fits neither is kept whole, as raw text.

use std::borrow::Cow;

/// How a file's lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Cri,
    Docker,
    /// Plain text: each line is a message.
    Raw,
}

/// The stream a line was written to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StreamName {
    Stdout,
    Stderr,
    /// Plain files have no stream.
    None,
}

impl StreamName {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stdout => "stdout",
            Self::Stderr => "stderr",
            Self::None => "",
        }
    }

    fn parse(s: &[u8]) -> Option<Self> {
        match s {
            b"stdout" => Some(Self::Stdout),
            b"stderr" => Some(Self::Stderr),
            _ => None,
        }
    }
}

/// One line, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    /// Nanoseconds since the epoch, if the line carried a time.
    pub timestamp_ns: Option<i64>,
    pub stream: StreamName,
    /// More of this message follows on the next line of the same stream.
    pub partial: bool,
    pub message: Cow<'a, [u8]>,
}

/// Guesses a file's format from its first line.
pub fn detect(line: &[u8]) -> Format {
    if parse_docker(line).is_some() {
        Format::Docker
    } else if parse_cri(line).is_some() {
        Format::Cri
    } else {
        Format::Raw
    }
}

/// Parses `line` (without its newline) as `format`; `None` if it does not
/// fit, and the caller ships it raw.
pub fn parse(format: Format, line: &[u8]) -> Option<Parsed<'_>> {
    match format {
        Format::Cri => parse_cri(line),
        Format::Docker => parse_docker(line),
        Format::Raw => Some(Parsed {
            timestamp_ns: None,
            stream: StreamName::None,
            partial: false,
            message: Cow::Borrowed(line),
        }),
    }
}

fn parse_cri(line: &[u8]) -> Option<Parsed<'_>> {
    let mut fields = line.splitn(4, |&b| b == b' ');
    let time = fields.next()?;
    let stream = StreamName::parse(fields.next()?)?;
    let tag = fields.next()?;
    // A full line with an empty message may end right after the tag.
    let message = fields.next().unwrap_or_default();
    // The tag is `P` or `F`, possibly followed by further `:`-separated
    // attributes in later CRI versions.
    let partial = match tag.split(|&b| b == b':').next()? {
        b"P" => true,
        b"F" => false,
        _ => return None,
    };
    let timestamp_ns = parse_rfc3339(std::str::from_utf8(time).ok()?)?;
    Some(Parsed {
        timestamp_ns: Some(timestamp_ns),
        stream,
        partial,
        message: Cow::Borrowed(message),
    })
}

#[derive(serde::Deserialize)]
struct DockerLine<'a> {
    #[serde(borrow)]
    log: Cow<'a, str>,
    #[serde(borrow)]
    stream: Cow<'a, str>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

fn parse_docker(line: &[u8]) -> Option<Parsed<'_>> {
    if line.first() != Some(&b'{') {
        return None;
    }
    let parsed: DockerLine<'_> = serde_json::from_slice(line).ok()?;
    let stream = StreamName::parse(parsed.stream.as_bytes())?;
    let timestamp_ns = parse_rfc3339(&parsed.time)?;
    // Docker ends every complete message with a newline; a message split
    // at 16 KiB has none until its last part.
    let (message, partial) = match parsed.log {
        Cow::Borrowed(s) => match s.strip_suffix('\n') {
            Some(m) => (Cow::Borrowed(m.as_bytes()), false),
            None => (Cow::Borrowed(s.as_bytes()), true),
        },
        Cow::Owned(mut s) => {
            let partial = !s.ends_with('\n');
            if !partial {
                s.pop();
            }
            (Cow::Owned(s.into_bytes()), partial)
        }
    };
    Some(Parsed {
        timestamp_ns: Some(timestamp_ns),
        stream,
        partial,
        message,
    })
}

/// `2024-01-02T03:04:05.123456789Z` or with a `±hh:mm` offset, to
/// nanoseconds since the epoch.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let digits = &b[r];
        if digits.iter().all(u8::is_ascii_digit) {
            Some(
                digits
                    .iter()
                    .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
            )
        } else {
            None
        }
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let digits = i - start;
        if digits == 0 {
            return None;
        }
        for _ in digits..9 {
            nanos *= 10;
        }
    }
    let offset_s = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let secs = num(i + 1..i + 3)? * 3600 + num(i + 4..i + 6)? * 60;
            if *sign == b'+' {
                secs
            } else {
                -secs
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_s;
    secs.checked_mul(1_000_000_000)?.checked_add(nanos)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2023-10-06T00:17:09.669794202Z"),
            Some(1_696_551_429_669_794_202)
        );
        assert_eq!(
            parse_rfc3339("2023-10-06T02:17:09.5+02:00"),
            Some(1_696_551_429_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00-01:30"),
            Some(1_709_213_400_000_000_000)
        );
        for bad in [
            "",
            "2023-10-06",
            "2023-13-06T00:00:00Z",
            "2023-10-06T00:00:00",
            "2023-10-06T00:00:00.Z",
            "2023-10-06T00:00:00Zjunk",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn cri_lines() {
        let p = parse(
            Format::Cri,
            b"2023-10-06T00:17:09.669794202Z stdout F hello world",
        )
        .unwrap();
        assert_eq!(p.stream, StreamName::Stdout);
        assert!(!p.partial);
        assert_eq!(&*p.message, b"hello world");
        let p = parse(Format::Cri, b"2023-10-06T00:17:09Z stderr P part ").unwrap();
        assert!(p.partial);
        assert_eq!(p.stream, StreamName::Stderr);
        assert_eq!(&*p.message, b"part ");
        let p = parse(Format::Cri, b"2023-10-06T00:17:09Z stdout F").unwrap();
        assert_eq!(&*p.message, b"");
        for bad in [
            &b"2023-10-06T00:17:09Z stdin F x"[..],
            b"2023-10-06T00:17:09Z stdout X x",
            b"yesterday stdout F x",
            b"plain text",
        ] {
            assert!(parse(Format::Cri, bad).is_none());
        }
        assert_eq!(detect(b"2023-10-06T00:17:09Z stdout F x"), Format::Cri);
    }

    #[test]
    fn docker_lines() {
        let line = br#"{"log":"hello \"q\" \u00e9\n","stream":"stderr","time":"2019-01-01T11:11:11.111111111Z"}"#;
        assert_eq!(detect(line), Format::Docker);
        let p = parse(Format::Docker, line).unwrap();
        assert_eq!(p.stream, StreamName::Stderr);
        assert!(!p.partial);
        assert_eq!(std::str::from_utf8(&p.message).unwrap(), "hello \"q\" é");
        assert_eq!(p.timestamp_ns, Some(1_546_341_071_111_111_111));
        let p = parse(
            Format::Docker,
            br#"{"log":"split","stream":"stdout","time":"2019-01-01T11:11:11Z"}"#,
        )
        .unwrap();
        assert!(p.partial);
        assert_eq!(&*p.message, b"split");
        assert!(parse(Format::Docker, br#"{"log":"x"}"#).is_none());
        assert!(parse(Format::Docker, b"{not json").is_none());
        assert_eq!(detect(b"{\"msg\": 1}"), Format::Raw);
        assert_eq!(detect(b"Jan  1 00:00:00 host sshd[1]: hello"), Format::Raw);
    }
}
