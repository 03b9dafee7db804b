//! WAL payloads of the log store.
//!
//! Two record types, each starting with a type byte; integers are LEB128
//! varints (zig-zag for timestamps), strings are length-prefixed bytes:
//!
//! - *streams*: `(id, first_ns, last_ns, [(name, value)])` per stream — a
//!   stream's definition, also written (with its current time bounds) into
//!   every checkpoint so the stream table survives WAL truncation;
//! - *entries*: `(stream id, ts_ns, line, [(name, value)] structured metadata)`.

use sightline_model::{Label, Labels};

use crate::{LogEntry, StreamId};

const TYPE_STREAMS: u8 = 1;
const TYPE_ENTRIES: u8 = 2;

/// A stream definition as logged.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamDef {
    pub id: StreamId,
    pub first_ns: i64,
    pub last_ns: i64,
    pub labels: Labels,
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Streams(Vec<StreamDef>),
    Entries(Vec<LogEntry>),
}

pub fn encode_streams<'a>(buf: &mut Vec<u8>, defs: impl IntoIterator<Item = &'a StreamDef>) {
    buf.clear();
    buf.push(TYPE_STREAMS);
    for d in defs {
        put_uvarint(buf, d.id.0);
        put_varint(buf, d.first_ns);
        put_varint(buf, d.last_ns);
        put_uvarint(buf, d.labels.len() as u64);
        for l in d.labels.iter() {
            put_bytes(buf, l.name.as_bytes());
            put_bytes(buf, l.value.as_bytes());
        }
    }
}

pub fn encode_entries<'a>(buf: &mut Vec<u8>, entries: impl IntoIterator<Item = &'a LogEntry>) {
    buf.clear();
    buf.push(TYPE_ENTRIES);
    for e in entries {
        put_uvarint(buf, e.stream.0);
        put_varint(buf, e.ts_ns);
        put_bytes(buf, e.line.as_bytes());
        put_uvarint(buf, e.metadata.len() as u64);
        for (n, v) in &e.metadata {
            put_bytes(buf, n.as_bytes());
            put_bytes(buf, v.as_bytes());
        }
    }
}

pub fn decode(payload: &[u8]) -> Result<Record, String> {
    let (&kind, mut rest) = payload.split_first().ok_or("empty record")?;
    let r = &mut rest;
    match kind {
        TYPE_STREAMS => {
            let mut out = Vec::new();
            while !r.is_empty() {
                let id = StreamId(uvarint(r)?);
                let first_ns = varint(r)?;
                let last_ns = varint(r)?;
                let n = uvarint(r)?;
                let mut labels = Vec::new();
                for _ in 0..n {
                    labels.push(Label {
                        name: string(r)?,
                        value: string(r)?,
                    });
                }
                if !labels.windows(2).all(|w| w[0].name < w[1].name) {
                    return Err("stream labels not sorted".into());
                }
                out.push(StreamDef {
                    id,
                    first_ns,
                    last_ns,
                    labels: Labels::from_sorted(labels),
                });
            }
            Ok(Record::Streams(out))
        }
        TYPE_ENTRIES => {
            let mut out = Vec::new();
            while !r.is_empty() {
                let stream = StreamId(uvarint(r)?);
                let ts_ns = varint(r)?;
                let line = string(r)?;
                let n = uvarint(r)?;
                let mut metadata = Vec::new();
                for _ in 0..n {
                    metadata.push((string(r)?, string(r)?));
                }
                out.push(LogEntry {
                    stream,
                    ts_ns,
                    line,
                    metadata,
                });
            }
            Ok(Record::Entries(out))
        }
        k => Err(format!("unknown record type {k}")),
    }
}

pub(crate) fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

pub(crate) fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

pub(crate) fn uvarint(r: &mut &[u8]) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = r.split_first().ok_or("record ends early")?;
        *r = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b < 0x80 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

pub(crate) fn varint(r: &mut &[u8]) -> Result<i64, String> {
    let u = uvarint(r)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

pub(crate) fn bytes<'a>(r: &mut &'a [u8]) -> Result<&'a [u8], String> {
    let n = usize::try_from(uvarint(r)?).map_err(|_| "length overflows")?;
    if n > r.len() {
        return Err("record ends early".into());
    }
    let (b, rest) = r.split_at(n);
    *r = rest;
    Ok(b)
}

pub(crate) fn string(r: &mut &[u8]) -> Result<String, String> {
    String::from_utf8(bytes(r)?.to_vec()).map_err(|_| "text is not UTF-8".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn entries_round_trip(
            raw in proptest::collection::vec(
                (any::<u64>(), any::<i64>(), ".{0,40}", proptest::collection::vec(("[a-z]{1,5}", ".{0,5}"), 0..3)),
                0..20,
            )
        ) {
            let entries: Vec<LogEntry> = raw
                .into_iter()
                .map(|(s, ts_ns, line, metadata)| LogEntry { stream: StreamId(s), ts_ns, line, metadata })
                .collect();
            let mut buf = Vec::new();
            encode_entries(&mut buf, &entries);
            prop_assert_eq!(decode(&buf), Ok(Record::Entries(entries)));
            // Every strict prefix is refused or decodes to fewer entries, never garbage.
            for cut in 1..buf.len() {
                if let Ok(Record::Entries(got)) = decode(&buf[..cut]) {
                    prop_assert!(got.len() < 20);
                }
            }
        }
    }

    #[test]
    fn streams_round_trip() {
        let defs = vec![StreamDef {
            id: StreamId(7),
            first_ns: -5,
            last_ns: 1_700_000_000_000_000_000,
            labels: Labels::from_pairs([("app", "api"), ("pod", "é")]),
        }];
        let mut buf = Vec::new();
        encode_streams(&mut buf, &defs);
        assert_eq!(decode(&buf), Ok(Record::Streams(defs)));
        assert!(decode(&[9]).is_err());
        assert!(decode(&[]).is_err());
    }
}
