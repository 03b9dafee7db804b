//! A block's stored form (the `body` field): its entries column by column.

use super::read::Candidate;
use crate::record::{bytes, put_bytes, put_uvarint, put_varint, uvarint, varint};
use crate::LogEntry;

/// A block's stored form, column by column so that like compresses with
/// like: the entry count; every timestamp (zig-zag varint, each relative to
/// the one before, the first to `ts_min`); every line (length-prefixed);
/// every entry's structured metadata (pair count, then length-prefixed
/// names and values).
pub(super) fn encode_block(entries: &[LogEntry], ts_min: i64, out: &mut Vec<u8>) {
    put_uvarint(out, entries.len() as u64);
    let mut prev = ts_min;
    for e in entries {
        put_varint(out, e.ts_ns.wrapping_sub(prev));
        prev = e.ts_ns;
    }
    for e in entries {
        put_bytes(out, e.line.as_bytes());
    }
    for e in entries {
        put_uvarint(out, e.metadata.len() as u64);
        for (n, v) in &e.metadata {
            put_bytes(out, n.as_bytes());
            put_bytes(out, v.as_bytes());
        }
    }
}

pub(super) fn decode_block(
    mut r: &[u8],
    c: &Candidate,
) -> std::result::Result<Vec<LogEntry>, String> {
    let r = &mut r;
    let n = uvarint(r)?;
    if n > r.len() as u64 {
        return Err(format!("{n} entries in {} bytes", r.len()));
    }
    let text = |b: &[u8]| match std::str::from_utf8(b) {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(b).into_owned(),
    };
    let mut out = Vec::with_capacity(n as usize);
    let mut ts_ns = c.ts_min;
    for _ in 0..n {
        ts_ns = ts_ns.wrapping_add(varint(r)?);
        out.push(LogEntry {
            stream: c.stream,
            ts_ns,
            line: String::new(),
            metadata: Vec::new(),
        });
    }
    for e in &mut out {
        e.line = text(bytes(r)?);
    }
    for e in &mut out {
        for _ in 0..uvarint(r)? {
            e.metadata.push((text(bytes(r)?), text(bytes(r)?)));
        }
    }
    Ok(out)
}
