//! Entries gathered into one push request, grouped by stream, with the
//! read positions the request will settle once acknowledged.

use std::collections::HashMap;
use std::time::Instant;

use sightline_model::loki_push::{Entry, LabelPair, Timestamp};

use super::checkpoint::FileId;
use super::labels::FileLabels;
use super::parse::StreamName;
use super::record::Record;
use super::stats::LogStats;
use crate::shipper::loki::LogStream;

#[derive(Debug, Default)]
pub struct Batch {
    streams: Vec<LogStream>,
    /// (tail serial, stream) → index in `streams`.
    index: HashMap<(u64, StreamName), usize>,
    bytes: usize,
    entries: usize,
    started: Option<Instant>,
    /// Files with entries in this batch, by serial.
    pub files: HashMap<FileId, u64>,
    /// Files let go whose last entries are in this batch.
    pub finished: Vec<FileId>,
}

impl Batch {
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn started(&self) -> Option<Instant> {
        self.started
    }

    /// Adds one file's records (draining `records`), each to its
    /// stream's entries.
    pub fn add_all(
        &mut self,
        serial: u64,
        id: FileId,
        labels: &FileLabels,
        records: &mut Vec<Record>,
        stats: &LogStats,
    ) {
        if records.is_empty() {
            return;
        }
        self.started.get_or_insert_with(Instant::now);
        self.files.insert(id, serial);
        // Streams looked up once per run of records of the same stream.
        let mut current: Option<(StreamName, usize)> = None;
        for record in records.drain(..) {
            let index = match current {
                Some((stream, index)) if stream == record.stream => index,
                _ => {
                    let index = *self
                        .index
                        .entry((serial, record.stream))
                        .or_insert_with(|| {
                            self.streams.push(LogStream {
                                labels: labels.get(record.stream).to_vec(),
                                entries: Vec::new(),
                            });
                            self.streams.len() - 1
                        });
                    current = Some((record.stream, index));
                    index
                }
            };
            let line = match String::from_utf8(record.message) {
                Ok(s) => s,
                Err(e) => {
                    LogStats::add(&stats.invalid_utf8, 1);
                    String::from_utf8_lossy(e.as_bytes()).into_owned()
                }
            };
            let mut structured_metadata = Vec::new();
            if record.truncated {
                LogStats::add(&stats.truncated, 1);
                structured_metadata.push(LabelPair {
                    name: "truncated".into(),
                    value: "true".into(),
                });
            }
            self.bytes += line.len() + 16;
            self.entries += 1;
            self.streams[index].entries.push(Entry {
                timestamp: Some(Timestamp::from_nanos(record.timestamp_ns)),
                line,
                structured_metadata,
            });
        }
    }

    /// Empties the batch, returning its streams.
    pub fn take(&mut self) -> (Vec<LogStream>, HashMap<FileId, u64>, Vec<FileId>) {
        let out = (
            std::mem::take(&mut self.streams),
            std::mem::take(&mut self.files),
            std::mem::take(&mut self.finished),
        );
        self.index.clear();
        self.bytes = 0;
        self.entries = 0;
        self.started = None;
        out
    }
}
