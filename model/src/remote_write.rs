//! Prometheus remote write 1.0 wire types (`prometheus.WriteRequest`).
//!
//! Declared with `prost` derives rather than generated, so no `protoc` is
//! needed to build. Field numbers follow `prompb/remote.proto` and
//! `prompb/types.proto`; fields we do not use (exemplars, native histograms)
//! are skipped by the decoder as unknown fields.

use bytes::Bytes;
use prost::Message;

/// The body of a remote-write request, after snappy block decompression.
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// A label pair. The wire type is `string`, but it is held as [`Bytes`]:
/// decoding then slices the request buffer instead of allocating two strings
/// per label, and the receiver checks UTF-8 itself (see [`Label::as_strs`]).
#[derive(Clone, PartialEq, Message)]
pub struct Label {
    #[prost(bytes = "bytes", tag = "1")]
    pub name: Bytes,
    #[prost(bytes = "bytes", tag = "2")]
    pub value: Bytes,
}

impl Label {
    pub fn new(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        Self {
            name: name.into(),
            value: value.into(),
        }
    }

    /// Name and value as text, or `None` if either is not UTF-8.
    pub fn as_strs(&self) -> Option<(&str, &str)> {
        Some((
            std::str::from_utf8(&self.name).ok()?,
            std::str::from_utf8(&self.value).ok()?,
        ))
    }
}

#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct MetricMetadata {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Why a remote-write body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("snappy decode error: {0}")]
    Snappy(#[from] snap::Error),
    #[error("decompressed body of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: usize, limit: usize },
    #[error("protobuf decode error: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

impl WriteRequest {
    /// Protobuf-encodes and snappy-compresses (block format), as a sender does.
    pub fn encode_snappy(&self) -> Vec<u8> {
        let raw = self.encode_to_vec();
        let mut out = vec![0; snap::raw::max_compress_len(raw.len())];
        // Compressing only fails for inputs past snappy's 4 GiB block limit.
        let n = snap::raw::Encoder::new()
            .compress(&raw, &mut out)
            .unwrap_or_default();
        out.truncate(n);
        out
    }

    /// Decodes a snappy-compressed body, refusing to allocate more than
    /// `max_decompressed` bytes: the length is read from the snappy header
    /// before anything is inflated.
    pub fn decode_snappy(body: &[u8], max_decompressed: usize) -> Result<Self, DecodeError> {
        let len = snap::raw::decompress_len(body)?;
        if len > max_decompressed {
            return Err(DecodeError::TooLarge {
                len,
                limit: max_decompressed,
            });
        }
        let raw = snap::raw::Decoder::new().decompress_vec(body)?;
        Ok(Self::decode(Bytes::from(raw))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries {
                labels: vec![Label::new("__name__", "up")],
                samples: vec![Sample {
                    value: 1.0,
                    timestamp: 1000,
                }],
            }],
            metadata: vec![],
        }
    }

    #[test]
    fn snappy_round_trip() {
        let req = request();
        let body = req.encode_snappy();
        assert_eq!(WriteRequest::decode_snappy(&body, 1 << 20).unwrap(), req);
    }

    #[test]
    fn refuses_oversized_and_garbage() {
        let body = request().encode_snappy();
        assert!(matches!(
            WriteRequest::decode_snappy(&body, 4),
            Err(DecodeError::TooLarge { .. })
        ));
        assert!(matches!(
            WriteRequest::decode_snappy(b"\xff\xff\xff\xff\xffgarbage", 1 << 20),
            Err(DecodeError::Snappy(_))
        ));
        let not_proto = snap::raw::Encoder::new()
            .compress_vec(b"\xff\xff\xff")
            .unwrap();
        assert!(matches!(
            WriteRequest::decode_snappy(&not_proto, 1 << 20),
            Err(DecodeError::Protobuf(_))
        ));
    }
}
