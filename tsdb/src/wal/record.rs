//! The metrics store's WAL record payloads (`sightline-wal` frames them).
//!
//! A payload's first byte is the record type. Integers in payloads are
//! LEB128 varints (zig-zag for signed), values raw f64 bits.

use sightline_model::{Label, Labels, Sample};

use crate::chunk::XorChunk;
use crate::SeriesRef;

const TYPE_SERIES: u8 = 1;
const TYPE_SAMPLES: u8 = 2;
const TYPE_CHUNKS: u8 = 3;

/// One decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// New series and the refs their samples use.
    Series(Vec<(SeriesRef, Labels)>),
    /// Samples of already-defined series.
    Samples(Vec<RefSample>),
    /// Whole compressed chunks of already-defined series, in time order per
    /// series; written by checkpoints, which carry the head's recent samples
    /// this way at a tenth of the size of sample records.
    Chunks(Vec<(SeriesRef, XorChunk)>),
}

/// A sample addressed by series ref.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefSample {
    pub series: SeriesRef,
    pub sample: Sample,
}

/// Why a payload could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record ends early")]
    Truncated,
    #[error("unknown record type {0}")]
    UnknownType(u8),
    #[error("label text is not UTF-8")]
    NotUtf8,
}

/// Encodes a series record payload into `buf` (cleared first).
pub fn encode_series<'a>(
    buf: &mut Vec<u8>,
    series: impl IntoIterator<Item = (SeriesRef, &'a Labels)>,
) {
    buf.clear();
    buf.push(TYPE_SERIES);
    for (r, labels) in series {
        put_uvarint(buf, r.0);
        put_uvarint(buf, labels.len() as u64);
        for l in labels.iter() {
            put_bytes(buf, l.name.as_bytes());
            put_bytes(buf, l.value.as_bytes());
        }
    }
}

/// Encodes a samples record payload into `buf` (cleared first). Timestamps
/// are stored as deltas from the first one, which keeps them to 1–3 bytes.
pub fn encode_samples(buf: &mut Vec<u8>, samples: &[RefSample]) {
    buf.clear();
    buf.push(TYPE_SAMPLES);
    let base = samples.first().map_or(0, |s| s.sample.timestamp_ms);
    put_varint(buf, base);
    for s in samples {
        put_uvarint(buf, s.series.0);
        put_varint(buf, s.sample.timestamp_ms.wrapping_sub(base));
        buf.extend_from_slice(&s.sample.value.to_bits().to_le_bytes());
    }
}

/// Encodes a chunks record payload into `buf` (cleared first).
pub fn encode_chunks<'a>(
    buf: &mut Vec<u8>,
    chunks: impl IntoIterator<Item = (SeriesRef, &'a XorChunk)>,
) {
    buf.clear();
    buf.push(TYPE_CHUNKS);
    for (r, c) in chunks {
        put_uvarint(buf, r.0);
        put_varint(buf, c.min_t());
        put_varint(buf, c.max_t().wrapping_sub(c.min_t()));
        put_uvarint(buf, u64::from(c.count()));
        put_bytes(buf, c.bytes());
    }
}

/// Decodes a payload produced by one of the encoders.
pub fn decode(payload: &[u8]) -> Result<Record, DecodeError> {
    let (&kind, mut rest) = payload.split_first().ok_or(DecodeError::Truncated)?;
    match kind {
        TYPE_SERIES => {
            let mut out = Vec::new();
            while !rest.is_empty() {
                let r = SeriesRef(get_uvarint(&mut rest)?);
                let n = get_uvarint(&mut rest)? as usize;
                // Each label takes at least two bytes; a larger count is corrupt.
                if n > rest.len() / 2 {
                    return Err(DecodeError::Truncated);
                }
                let mut labels = Vec::with_capacity(n);
                for _ in 0..n {
                    let name = get_str(&mut rest)?;
                    let value = get_str(&mut rest)?;
                    labels.push(Label { name, value });
                }
                out.push((r, Labels::from_sorted(labels)));
            }
            Ok(Record::Series(out))
        }
        TYPE_SAMPLES => {
            let base = get_varint(&mut rest)?;
            let mut out = Vec::new();
            while !rest.is_empty() {
                let series = SeriesRef(get_uvarint(&mut rest)?);
                let t = base.wrapping_add(get_varint(&mut rest)?);
                let (bits, tail) = rest
                    .split_first_chunk::<8>()
                    .ok_or(DecodeError::Truncated)?;
                rest = tail;
                out.push(RefSample {
                    series,
                    sample: Sample::new(t, f64::from_bits(u64::from_le_bytes(*bits))),
                });
            }
            Ok(Record::Samples(out))
        }
        TYPE_CHUNKS => {
            let mut out = Vec::new();
            while !rest.is_empty() {
                let series = SeriesRef(get_uvarint(&mut rest)?);
                let min_t = get_varint(&mut rest)?;
                let max_t = min_t.wrapping_add(get_varint(&mut rest)?);
                let count =
                    u16::try_from(get_uvarint(&mut rest)?).map_err(|_| DecodeError::Truncated)?;
                let n = get_uvarint(&mut rest)? as usize;
                if n > rest.len() {
                    return Err(DecodeError::Truncated);
                }
                let (bytes, tail) = rest.split_at(n);
                rest = tail;
                out.push((
                    series,
                    XorChunk::from_parts(bytes.to_vec(), count, min_t, max_t),
                ));
            }
            Ok(Record::Chunks(out))
        }
        other => Err(DecodeError::UnknownType(other)),
    }
}

fn put_uvarint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push(v as u8 | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

fn put_varint(buf: &mut Vec<u8>, v: i64) {
    put_uvarint(buf, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_bytes(buf: &mut Vec<u8>, b: &[u8]) {
    put_uvarint(buf, b.len() as u64);
    buf.extend_from_slice(b);
}

fn get_uvarint(buf: &mut &[u8]) -> Result<u64, DecodeError> {
    let mut v = 0u64;
    for (i, &b) in buf.iter().enumerate().take(10) {
        v |= ((b & 0x7f) as u64) << (7 * i);
        if b < 0x80 {
            *buf = &buf[i + 1..];
            return Ok(v);
        }
    }
    Err(DecodeError::Truncated)
}

fn get_varint(buf: &mut &[u8]) -> Result<i64, DecodeError> {
    let u = get_uvarint(buf)?;
    Ok((u >> 1) as i64 ^ -((u & 1) as i64))
}

fn get_str(buf: &mut &[u8]) -> Result<String, DecodeError> {
    let n = get_uvarint(buf)? as usize;
    if n > buf.len() {
        return Err(DecodeError::Truncated);
    }
    let (s, rest) = buf.split_at(n);
    *buf = rest;
    String::from_utf8(s.to_vec()).map_err(|_| DecodeError::NotUtf8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use sightline_model::STALE_NAN_BITS;

    fn labels() -> impl Strategy<Value = Labels> {
        proptest::collection::btree_map("[a-z_][a-z0-9_]{0,12}", ".{0,20}", 0..8).prop_map(|m| {
            Labels::from_sorted(
                m.into_iter()
                    .map(|(name, value)| Label { name, value })
                    .collect(),
            )
        })
    }

    fn value() -> impl Strategy<Value = f64> {
        prop_oneof![
            any::<f64>(),
            Just(f64::from_bits(STALE_NAN_BITS)),
            Just(f64::NAN),
        ]
    }

    proptest! {
        #[test]
        fn series_round_trip(series in proptest::collection::vec((any::<u64>(), labels()), 0..20)) {
            let mut buf = Vec::new();
            encode_series(&mut buf, series.iter().map(|(r, l)| (SeriesRef(*r), l)));
            let want: Vec<_> = series.iter().map(|(r, l)| (SeriesRef(*r), l.clone())).collect();
            prop_assert_eq!(decode(&buf), Ok(Record::Series(want)));
        }

        #[test]
        fn samples_round_trip(raw in proptest::collection::vec((any::<u64>(), any::<i64>(), value()), 0..100)) {
            let samples: Vec<RefSample> = raw
                .iter()
                .map(|&(r, t, v)| RefSample { series: SeriesRef(r), sample: Sample::new(t, v) })
                .collect();
            let mut buf = Vec::new();
            encode_samples(&mut buf, &samples);
            prop_assert_eq!(decode(&buf), Ok(Record::Samples(samples)));
        }

        #[test]
        fn chunks_round_trip(raw in proptest::collection::vec((any::<u64>(), proptest::collection::vec((0i64..1000, value()), 1..300)), 0..10)) {
            let mut want = Vec::new();
            for (r, samples) in &raw {
                let mut t = 0;
                let samples: Vec<Sample> = samples.iter().map(|&(d, v)| { t += d + 1; Sample::new(t, v) }).collect();
                for c in XorChunk::encode_all(samples) {
                    want.push((SeriesRef(*r), c));
                }
            }
            let mut buf = Vec::new();
            encode_chunks(&mut buf, want.iter().map(|(r, c)| (*r, c)));
            let Ok(Record::Chunks(got)) = decode(&buf) else { panic!("not a chunks record") };
            prop_assert_eq!(got.len(), want.len());
            for ((gr, gc), (wr, wc)) in got.iter().zip(&want) {
                prop_assert_eq!(gr, wr);
                prop_assert_eq!((gc.min_t(), gc.max_t(), gc.count()), (wc.min_t(), wc.max_t(), wc.count()));
                let bits = |c: &XorChunk| c.iter().map(|s| (s.timestamp_ms, s.value.to_bits())).collect::<Vec<_>>();
                prop_assert_eq!(bits(gc), bits(wc));
            }
        }

        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = decode(&bytes);
        }
    }
}
