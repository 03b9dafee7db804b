//! Loki push wire types (`logproto.PushRequest`), as sent to
//! `POST /loki/api/v1/push` with `Content-Type: application/x-protobuf` and a
//! snappy block-compressed body.
//!
//! Declared with `prost` derives rather than generated, like
//! [`crate::remote_write`]. Field numbers follow Loki's `push.proto`:
//! a request holds streams; a stream is its label set in Prometheus text form
//! (`{a="b", c="d"}`) and entries; an entry is a timestamp, the line, and
//! optional structured metadata.

use prost::Message;

use crate::remote_write::DecodeError;

#[derive(Clone, PartialEq, Message)]
pub struct PushRequest {
    #[prost(message, repeated, tag = "1")]
    pub streams: Vec<Stream>,
}

#[derive(Clone, PartialEq, Message)]
pub struct Stream {
    /// The stream's labels in selector syntax, e.g. `{job="app", pod="a"}`.
    #[prost(string, tag = "1")]
    pub labels: String,
    #[prost(message, repeated, tag = "2")]
    pub entries: Vec<Entry>,
    /// A hash of the labels some senders fill in; receivers ignore it.
    #[prost(uint64, tag = "3")]
    pub hash: u64,
}

#[derive(Clone, PartialEq, Message)]
pub struct Entry {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Timestamp>,
    #[prost(string, tag = "2")]
    pub line: String,
    #[prost(message, repeated, tag = "3")]
    pub structured_metadata: Vec<LabelPair>,
}

/// `google.protobuf.Timestamp`.
#[derive(Clone, Copy, PartialEq, Eq, Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// From nanoseconds since the Unix epoch.
    pub fn from_nanos(ns: i64) -> Self {
        Self {
            seconds: ns.div_euclid(1_000_000_000),
            nanos: ns.rem_euclid(1_000_000_000) as i32,
        }
    }

    /// Nanoseconds since the Unix epoch (saturating).
    pub fn as_nanos(&self) -> i64 {
        self.seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(self.nanos))
    }
}

#[derive(Clone, PartialEq, Eq, Message)]
pub struct LabelPair {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

impl PushRequest {
    /// Protobuf-encodes and snappy-compresses (block format), as Promtail does.
    pub fn encode_snappy(&self) -> Vec<u8> {
        let raw = self.encode_to_vec();
        let mut out = snap::raw::Encoder::new()
            .compress_vec(&raw)
            .unwrap_or_default();
        // The buffer was sized for incompressible input; bodies wait in
        // queues, so give the unused part back.
        out.shrink_to_fit();
        out
    }

    /// Decodes a snappy-compressed body, refusing to inflate more than
    /// `max_decompressed` bytes (the length is read from the snappy header).
    pub fn decode_snappy(body: &[u8], max_decompressed: usize) -> Result<Self, DecodeError> {
        let len = snap::raw::decompress_len(body)?;
        if len > max_decompressed {
            return Err(DecodeError::TooLarge {
                len,
                limit: max_decompressed,
            });
        }
        let raw = snap::raw::Decoder::new().decompress_vec(body)?;
        Ok(Self::decode(raw.as_slice())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_timestamps() {
        let req = PushRequest {
            streams: vec![Stream {
                labels: r#"{job="app"}"#.into(),
                entries: vec![Entry {
                    timestamp: Some(Timestamp::from_nanos(1_700_000_000_123_456_789)),
                    line: "hello".into(),
                    structured_metadata: vec![LabelPair {
                        name: "trace_id".into(),
                        value: "abc".into(),
                    }],
                }],
                hash: 0,
            }],
        };
        let body = req.encode_snappy();
        let back = PushRequest::decode_snappy(&body, 1 << 20).unwrap();
        assert_eq!(back, req);
        let ts = back.streams[0].entries[0].timestamp.unwrap();
        assert_eq!(ts.seconds, 1_700_000_000);
        assert_eq!(ts.nanos, 123_456_789);
        assert_eq!(ts.as_nanos(), 1_700_000_000_123_456_789);
        assert_eq!(Timestamp::from_nanos(-1).as_nanos(), -1);
        assert!(matches!(
            PushRequest::decode_snappy(&body, 4),
            Err(DecodeError::TooLarge { .. })
        ));
    }
}
