use super::record::{encode_samples, encode_series, RefSample};
use super::*;
use crate::SeriesRef;
use sightline_model::{Labels, Sample};

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

fn open(dir: &Path, opts: WalOptions) -> (Wal, Vec<Record>, ReplayReport) {
    let mut records = Vec::new();
    let (wal, report) = Wal::open(dir, opts, |r| records.push(r)).unwrap();
    (wal, records, report)
}

fn append(wal: &Wal, payload: &[u8]) {
    let mut a = wal.lock();
    a.log(payload);
    let seq = a.commit().unwrap();
    wal.sync(seq).unwrap();
}

#[test]
fn replays_what_was_appended() {
    let dir = tempfile::tempdir().unwrap();
    let labels = Labels::from_pairs([("__name__", "up")]);
    let mut series = Vec::new();
    encode_series(&mut series, [(SeriesRef(1), &labels)]);
    {
        let (wal, records, _) = open(dir.path(), WalOptions::default());
        assert!(records.is_empty());
        append(&wal, &series);
        append(&wal, &samples_payload(1, 0..10));
        assert_eq!(wal.stats().fsyncs.load(Ordering::Relaxed), 2);
    }
    let (_, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(report.corruption, None);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], Record::Series(vec![(SeriesRef(1), labels)]));
    match &records[1] {
        Record::Samples(s) => assert_eq!(s.len(), 10),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn torn_tail_keeps_everything_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let seg;
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append(&wal, &samples_payload(1, 0..10));
        append(&wal, &samples_payload(1, 10..20));
        seg = segment_path(dir.path(), wal.segments().unwrap()[0]);
    }
    // Cut the last record in half, as a crash mid-write would.
    let len = fs::metadata(&seg).unwrap().len();
    OpenOptions::new()
        .write(true)
        .open(&seg)
        .unwrap()
        .set_len(len - 30)
        .unwrap();
    let (wal, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(records.len(), 1);
    assert!(report.corruption.unwrap().contains("torn"));
    assert_eq!(wal.stats().replay_corruptions.load(Ordering::Relaxed), 1);
    // The log stays usable and the repair is permanent.
    append(&wal, &samples_payload(1, 20..30));
    drop(wal);
    let (_, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(report.corruption, None);
    assert_eq!(records.len(), 2);
}

#[test]
fn garbage_tail_and_bit_flips_are_survived() {
    let dir = tempfile::tempdir().unwrap();
    let seg;
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append(&wal, &samples_payload(1, 0..10));
        append(&wal, &samples_payload(1, 10..20));
        seg = segment_path(dir.path(), wal.segments().unwrap()[0]);
    }
    let mut bytes = fs::read(&seg).unwrap();
    let last = bytes.len() - 3;
    bytes[last] ^= 0x40;
    bytes.extend_from_slice(b"\x00\x01garbage that is not a frame");
    fs::write(&seg, &bytes).unwrap();
    let (_, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(records.len(), 1);
    assert!(report.corruption.unwrap().contains("checksum"));
}

#[test]
fn corruption_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_bytes: 64,
        ..WalOptions::default()
    };
    {
        let (wal, _, _) = open(dir.path(), opts.clone());
        for i in 0..5 {
            append(&wal, &samples_payload(1, i * 10..i * 10 + 10));
        }
        assert!(wal.segments().unwrap().len() >= 5);
    }
    let first = segment_path(dir.path(), 2);
    let mut bytes = fs::read(&first).unwrap();
    bytes[FRAME_HEADER + 2] ^= 1;
    fs::write(&first, bytes).unwrap();
    let (wal, records, report) = open(dir.path(), opts);
    // Segment 1 holds the first record; segment 2 is corrupt from its start.
    assert_eq!(records.len(), 1, "{report:?}");
    assert!(report.corruption.unwrap().contains("later segment"));
    let segs = wal.segments().unwrap();
    assert!(segs.iter().all(|&s| s <= 2 || s == segs[segs.len() - 1]));
}

#[test]
fn checkpoint_replaces_covered_segments() {
    let dir = tempfile::tempdir().unwrap();
    let labels = Labels::from_pairs([("__name__", "up")]);
    let mut series = Vec::new();
    encode_series(&mut series, [(SeriesRef(7), &labels)]);
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append(&wal, &series);
        append(&wal, &samples_payload(7, 0..10));
        let through = wal.cut_segment().unwrap();
        append(&wal, &samples_payload(7, 10..20));
        // Only the series definition is needed once samples ≤ segment are in a block.
        wal.checkpoint(through, [series.as_slice()]).unwrap();
        assert!(wal.segments().unwrap().iter().all(|&s| s > through));
        assert!(wal.checkpoint(u64::MAX - 1, []).is_err());
    }
    let (_, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(report.corruption, None);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0], Record::Series(vec![(SeriesRef(7), labels)]));
    match &records[1] {
        Record::Samples(s) => assert_eq!(s[0].sample.timestamp_ms, 10),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn concurrent_appenders_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), WalOptions::default());
    let payload = samples_payload(1, 0..100);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    append(&wal, &payload);
                }
            });
        }
    });
    assert_eq!(wal.stats().records_written.load(Ordering::Relaxed), 200);
    assert!(wal.stats().fsyncs.load(Ordering::Relaxed) <= 200);
    drop(wal);
    let (_, records, _) = open(dir.path(), WalOptions::default());
    assert_eq!(records.len(), 200);
}
