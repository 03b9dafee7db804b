//! Batched appends: resolve series, then apply and log everything at once.

use std::ops::Range;
use std::sync::Arc;

use sightline_model::{Labels, Sample};

use crate::head::{hash_pairs, MemSeries, Tally};
use crate::wal::record::{encode_samples, encode_series, RefSample};
use crate::{AppendReport, RejectedSample, Result, SeriesRef, Tsdb};

/// A batch being assembled; nothing is visible or durable until
/// [`Appender::commit`].
///
/// The fast path, [`Appender::append_existing`], finds a series the head
/// already holds by its label pairs as they arrived (borrowed straight from
/// the request), so a steady-state write builds no owned label set at all.
/// Series the head does not know go through [`Appender::append`] with
/// validated [`Labels`] and are created at commit.
#[derive(Debug)]
pub struct Appender<'a> {
    db: &'a Tsdb,
    entries: Vec<(Entry, Range<usize>)>,
    samples: Vec<Sample>,
}

#[derive(Debug)]
enum Entry {
    Known(Arc<MemSeries>),
    New(Labels, u64),
}

impl<'a> Appender<'a> {
    pub(crate) fn new(db: &'a Tsdb) -> Self {
        Self {
            db,
            entries: Vec::new(),
            samples: Vec::new(),
        }
    }

    /// Adds samples for the series whose label pairs, sorted by name, are
    /// exactly `pairs`, if the head has it. Returns `false` and adds nothing
    /// otherwise: the caller then validates the labels and calls
    /// [`Appender::append`]. A stored series was validated when created, so
    /// an exact match needs no validation again.
    pub fn append_existing(
        &mut self,
        pairs: &[(&str, &str)],
        samples: impl IntoIterator<Item = Sample>,
    ) -> bool {
        let hash = hash_pairs(pairs.iter().copied());
        match self.db.head.get(pairs, hash) {
            Some(series) => {
                let range = self.push_samples(samples);
                self.entries.push((Entry::Known(series), range));
                true
            }
            None => false,
        }
    }

    /// Adds samples for a series given by validated labels, creating the
    /// series at commit if the head does not hold it.
    pub fn append(&mut self, labels: Labels, samples: impl IntoIterator<Item = Sample>) {
        let hash = hash_pairs(labels.iter().map(|l| (l.name.as_str(), l.value.as_str())));
        let range = self.push_samples(samples);
        let entry = match self.db.head.get_labels(&labels, hash) {
            Some(series) => Entry::Known(series),
            None => Entry::New(labels, hash),
        };
        self.entries.push((entry, range));
    }

    fn push_samples(&mut self, samples: impl IntoIterator<Item = Sample>) -> Range<usize> {
        let start = self.samples.len();
        self.samples.extend(samples);
        start..self.samples.len()
    }

    /// Applies the batch to the head and the WAL, in request order, and
    /// returns once the accepted data is durable per the fsync policy.
    /// Samples refused by the ordering rules are counted in the report and do
    /// not stop the rest. An `Err` means nothing may be acknowledged.
    pub fn commit(self) -> Result<AppendReport> {
        let Self {
            db,
            entries,
            samples,
        } = self;
        let head = &db.head;
        let mut report = AppendReport::default();
        let mut buf = Vec::new();
        let mut accepted = Vec::with_capacity(samples.len());

        // Creating series and logging under one lock keeps a definition
        // ahead of every sample that refers to it, and log order equal to
        // apply order.
        let mut wal = db.wal.lock();
        let mut unlogged = db.lock_unlogged();
        let mut definitions: Vec<(SeriesRef, Labels)> = Vec::new();
        for id in unlogged.drain(..) {
            if let Some(s) = head.by_id(id) {
                definitions.push((id, head.labels_of_series(&s)));
            }
        }
        let mut resolved: Vec<(Arc<MemSeries>, Range<usize>)> = Vec::with_capacity(entries.len());
        for (entry, range) in entries {
            let entry = match entry {
                // Dropped from the head since it was looked up: resolve it
                // again, which recreates it under a fresh ref.
                Entry::Known(s) if s.lock().removed => {
                    let labels = head.labels_of_series(&s);
                    Entry::New(labels, s.hash)
                }
                other => other,
            };
            let series = match entry {
                Entry::Known(s) => s,
                Entry::New(labels, hash) => {
                    let (series, created) = head.get_or_create(&labels, hash);
                    if created {
                        report.series_created += 1;
                        definitions.push((series.id, labels));
                    }
                    series
                }
            };
            resolved.push((series, range));
        }
        if !definitions.is_empty() {
            encode_series(&mut buf, definitions.iter().map(|(id, l)| (*id, l)));
            wal.log(&buf);
        }

        let mut tally = Tally::default();
        let mut first_rejection = None;
        for (series, range) in &resolved {
            head.append(
                series,
                &samples[range.clone()],
                &mut tally,
                |s, outcome| match outcome {
                    Ok(true) => accepted.push(RefSample {
                        series: series.id,
                        sample: *s,
                    }),
                    Ok(false) => {}
                    Err(reason) => {
                        report.rejected += 1;
                        first_rejection.get_or_insert((Arc::clone(series), reason, s.timestamp_ms));
                    }
                },
            );
        }
        head.record(&tally);
        report.samples_accepted = accepted.len() as u64;
        if !accepted.is_empty() {
            encode_samples(&mut buf, &accepted);
            wal.log(&buf);
        }
        let seq = match wal.commit() {
            Ok(seq) => seq,
            Err(e) => {
                unlogged.extend(definitions.iter().map(|(id, _)| *id));
                return Err(e.into());
            }
        };
        drop(unlogged);
        report.first_rejection =
            first_rejection.map(|(series, reason, timestamp_ms)| RejectedSample {
                reason,
                series: head.labels_of_series(&series).to_string(),
                timestamp_ms,
            });
        db.wal.sync(seq)?;
        Ok(report)
    }
}
