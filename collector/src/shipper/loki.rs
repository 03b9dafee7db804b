//! The log shipper: batches of log entries encoded as Loki push requests
//! (`POST /loki/api/v1/push`, protobuf + snappy, or JSON), delivered
//! through the same queue, disk buffer and retrying sender as metrics.
//!
//! The producer (the log tailer, on its own thread) pushes encoded batches
//! with an acknowledgement callback and asks [`LogShipperHandle::has_room`]
//! before reading more: when the disk buffer is full, reading pauses
//! instead of dropping.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use sightline_model::loki_push::{self, PushRequest};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::delivery::{Delivery, Shared};
use super::queue::OnAck;
use super::send::Wire;
use super::{ShipperConfig, ShipperError, ShipperStats};

/// How push bodies are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushFormat {
    /// Protobuf, snappy block-compressed: what Promtail sends.
    #[default]
    Protobuf,
    /// Loki's JSON push format, for receivers without protobuf.
    Json,
}

/// One stream of a batch: its labels (sorted by name) and its entries.
#[derive(Debug, Clone, PartialEq)]
pub struct LogStream {
    pub labels: Vec<(String, String)>,
    pub entries: Vec<loki_push::Entry>,
}

/// `{a="b", c="d"}`, escaped as in PromQL/LogQL string literals.
pub fn selector(labels: &[(String, String)]) -> String {
    let mut out = String::from("{");
    for (i, (name, value)) in labels.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        out.push_str("=\"");
        for c in value.chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// Encodes streams as a push body.
pub fn encode(streams: Vec<LogStream>, format: PushFormat) -> Bytes {
    match format {
        PushFormat::Protobuf => {
            let request = PushRequest {
                streams: streams
                    .into_iter()
                    .map(|s| loki_push::Stream {
                        labels: selector(&s.labels),
                        entries: s.entries,
                        hash: 0,
                    })
                    .collect(),
            };
            Bytes::from(request.encode_snappy())
        }
        PushFormat::Json => Bytes::from(encode_json(&streams)),
    }
}

fn encode_json(streams: &[LogStream]) -> String {
    use serde_json::{Map, Value};
    let streams: Vec<Value> = streams
        .iter()
        .map(|s| {
            let labels: Map<String, Value> = s
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            let values: Vec<Value> = s
                .entries
                .iter()
                .map(|e| {
                    let ns = e.timestamp.map_or(0, |t| t.as_nanos());
                    let mut row =
                        vec![Value::String(ns.to_string()), Value::String(e.line.clone())];
                    if !e.structured_metadata.is_empty() {
                        let meta: Map<String, Value> = e
                            .structured_metadata
                            .iter()
                            .map(|p| (p.name.clone(), Value::String(p.value.clone())))
                            .collect();
                        row.push(Value::Object(meta));
                    }
                    Value::Array(row)
                })
                .collect();
            let mut stream = Map::new();
            stream.insert("stream".into(), Value::Object(labels));
            stream.insert("values".into(), Value::Array(values));
            Value::Object(stream)
        })
        .collect();
    let mut root = Map::new();
    root.insert("streams".into(), Value::Array(streams));
    Value::Object(root).to_string()
}

/// A running log shipper.
#[derive(Debug)]
pub struct LogShipper {
    handle: LogShipperHandle,
    deadline: watch::Sender<Option<Instant>>,
    grace: std::time::Duration,
    task: JoinHandle<()>,
}

/// Cheap to clone; usable from any thread.
#[derive(Debug, Clone)]
pub struct LogShipperHandle {
    shared: Arc<Shared>,
    format: PushFormat,
}

impl LogShipperHandle {
    /// Encodes and queues a batch; `on_ack` runs once the server answered
    /// for it (or it was dropped).
    pub fn push(&self, streams: Vec<LogStream>, on_ack: Option<Box<dyn FnOnce() + Send>>) {
        let entries: usize = streams.iter().map(|s| s.entries.len()).sum();
        let body = encode(streams, self.format);
        self.shared.push(
            u32::try_from(entries).unwrap_or(u32::MAX),
            body,
            on_ack.map(|c| c as OnAck),
        );
    }

    /// Whether a batch of about `reserve` encoded bytes fits in the queue
    /// and disk buffer without anything being dropped.
    pub fn has_room(&self, reserve: u64) -> bool {
        self.shared.has_room(reserve)
    }

    /// Runs `callback` once everything pushed so far is acknowledged.
    pub fn after_queued(&self, callback: Box<dyn FnOnce() + Send>) {
        self.shared.after_queued(callback);
    }

    pub fn stats(&self) -> &ShipperStats {
        &self.shared.stats
    }

    /// `sightline_collector_log_shipper_*` in Prometheus text format.
    pub fn render_metrics(&self) -> String {
        self.shared
            .stats
            .render_as("sightline_collector_log_shipper_", "entries")
    }
}

impl LogShipper {
    /// Starts the sender on the current tokio runtime. `config.url` is the
    /// full push URL; the disk buffer is `config.buffer_dir`, replayed
    /// first if an earlier run left requests there.
    pub fn start(config: ShipperConfig, format: PushFormat) -> Result<Self, ShipperError> {
        let wire = match format {
            PushFormat::Protobuf => Wire::LokiProtobuf,
            PushFormat::Json => Wire::LokiJson,
        };
        let Delivery {
            runtime,
            shared,
            sender,
            deadline,
        } = Delivery::open(&config, wire)?;
        let task = runtime.spawn(sender.run());
        Ok(Self {
            handle: LogShipperHandle { shared, format },
            deadline,
            grace: config.shutdown_grace,
            task,
        })
    }

    pub fn handle(&self) -> LogShipperHandle {
        self.handle.clone()
    }

    /// Keeps delivering for the shutdown grace, then writes what is left to
    /// the disk buffer. Stop the producer first.
    pub async fn shutdown(self) {
        let _ = self.deadline.send(Some(Instant::now() + self.grace));
        self.handle.shared.wake();
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, "log shipper task failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sightline_model::loki_push::Timestamp;

    fn streams() -> Vec<LogStream> {
        vec![LogStream {
            labels: vec![
                ("namespace".into(), "default".into()),
                ("pod".into(), "we\"b\\0".into()),
            ],
            entries: vec![loki_push::Entry {
                timestamp: Some(Timestamp::from_nanos(1_700_000_000_000_000_001)),
                line: "hello".into(),
                structured_metadata: vec![loki_push::LabelPair {
                    name: "truncated".into(),
                    value: "9000".into(),
                }],
            }],
        }]
    }

    #[test]
    fn protobuf_round_trip_with_escaped_selector() {
        let body = encode(streams(), PushFormat::Protobuf);
        let back = PushRequest::decode_snappy(&body, 1 << 20).unwrap();
        assert_eq!(
            back.streams[0].labels,
            r#"{namespace="default", pod="we\"b\\0"}"#
        );
        assert_eq!(back.streams[0].entries, streams()[0].entries);
    }

    #[test]
    fn json_has_loki_shape() {
        let body = encode(streams(), PushFormat::Json);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["streams"][0]["stream"]["pod"], "we\"b\\0");
        assert_eq!(v["streams"][0]["values"][0][0], "1700000000000000001");
        assert_eq!(v["streams"][0]["values"][0][1], "hello");
        assert_eq!(v["streams"][0]["values"][0][2]["truncated"], "9000");
    }
}
