//! The typed replay: the log itself is tested in `sightline-wal`.

use super::record::{encode_samples, encode_series, Record, RefSample};
use super::*;
use crate::SeriesRef;
use sightline_model::{Labels, Sample};
use std::path::Path;

fn samples_payload(series: u64, ts: std::ops::Range<i64>) -> Vec<u8> {
    let s: Vec<RefSample> = ts
        .map(|t| RefSample {
            series: SeriesRef(series),
            sample: Sample::new(t, t as f64),
        })
        .collect();
    let mut buf = Vec::new();
    encode_samples(&mut buf, &s);
    buf
}

fn reopen(dir: &Path) -> (Wal, Vec<Record>, ReplayReport) {
    let mut records = Vec::new();
    let (wal, report) = open(dir, WalOptions::default(), |r| records.push(r)).unwrap();
    (wal, records, report)
}

fn append(wal: &Wal, payload: &[u8]) {
    let mut a = wal.lock();
    a.log(payload);
    let seq = a.commit().unwrap();
    wal.sync(seq).unwrap();
}

#[test]
fn replays_records_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let labels = Labels::from_pairs([("__name__", "up")]);
    let mut series = Vec::new();
    encode_series(&mut series, [(SeriesRef(1), &labels)]);
    {
        let (wal, records, _) = reopen(dir.path());
        assert!(records.is_empty());
        append(&wal, &series);
        append(&wal, &samples_payload(1, 0..10));
    }
    let (_, records, report) = reopen(dir.path());
    assert_eq!(report.corruption, None);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], Record::Series(vec![(SeriesRef(1), labels)]));
    match &records[1] {
        Record::Samples(s) => assert_eq!(s.len(), 10),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn checkpointed_series_come_back_before_later_samples() {
    let dir = tempfile::tempdir().unwrap();
    let labels = Labels::from_pairs([("__name__", "up")]);
    let mut series = Vec::new();
    encode_series(&mut series, [(SeriesRef(7), &labels)]);
    {
        let (wal, _, _) = reopen(dir.path());
        append(&wal, &series);
        append(&wal, &samples_payload(7, 0..10));
        let through = wal.cut_segment().unwrap();
        append(&wal, &samples_payload(7, 10..20));
        // Only the series definition is needed once samples ≤ segment are in a block.
        wal.checkpoint(through, [series.as_slice()]).unwrap();
    }
    let (_, records, report) = reopen(dir.path());
    assert_eq!(report.corruption, None);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], Record::Series(vec![(SeriesRef(7), labels)]));
    match &records[1] {
        Record::Samples(s) => assert_eq!(s[0].sample.timestamp_ms, 10),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn a_payload_that_is_no_record_ends_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _, _) = reopen(dir.path());
        append(&wal, &samples_payload(1, 0..10));
        append(&wal, &[99, 1, 2, 3]);
    }
    let (_, records, report) = reopen(dir.path());
    assert_eq!(records.len(), 1);
    assert!(report
        .corruption
        .unwrap()
        .contains("undecodable record: unknown record type 99"));
}
