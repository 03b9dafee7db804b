use super::*;
use std::fs::{self, OpenOptions};

/// A payload of `len` bytes that says which it is.
fn payload(id: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| id.wrapping_add(i as u8)).collect()
}

/// Opens the log, collecting each replayed payload with its segment.
fn open(dir: &Path, opts: WalOptions) -> (Wal, Vec<(u64, Vec<u8>)>, ReplayReport) {
    let mut records = Vec::new();
    let (wal, report) = Wal::open(dir, opts, |segment, p| {
        records.push((segment, p.to_vec()));
        Ok(())
    })
    .unwrap();
    (wal, records, report)
}

fn payloads(records: &[(u64, Vec<u8>)]) -> Vec<&[u8]> {
    records.iter().map(|(_, p)| p.as_slice()).collect()
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
    let (a, b) = (payload(1, 20), payload(2, 100));
    {
        let (wal, records, _) = open(dir.path(), WalOptions::default());
        assert!(records.is_empty());
        append(&wal, &a);
        append(&wal, &b);
        assert_eq!(wal.stats().fsyncs.load(Ordering::Relaxed), 2);
        assert_eq!(wal.stats().records_written.load(Ordering::Relaxed), 2);
        assert_eq!(
            wal.stats().bytes_written.load(Ordering::Relaxed),
            (2 * FRAME_HEADER + 120) as u64
        );
    }
    let (wal, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(report.corruption, None);
    assert_eq!((report.records, report.segments), (2, 1));
    assert_eq!(records, [(1, a), (1, b)]);
    // Writing starts in a fresh segment.
    assert_eq!(wal.stats().segment.load(Ordering::Relaxed), 2);
}

#[test]
fn one_commit_writes_every_logged_payload() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        let mut a = wal.lock();
        a.log(b"one");
        a.log(b"two");
        let seq = a.commit().unwrap();
        wal.sync(seq).unwrap();
        // An empty commit writes nothing and needs no fsync.
        let again = wal.lock().commit().unwrap();
        assert_eq!(again, seq);
        wal.sync(again).unwrap();
        assert_eq!(wal.stats().fsyncs.load(Ordering::Relaxed), 1);
    }
    let (_, records, _) = open(dir.path(), WalOptions::default());
    assert_eq!(payloads(&records), [&b"one"[..], &b"two"[..]]);
}

#[test]
fn torn_tail_keeps_everything_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let seg;
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append(&wal, &payload(1, 100));
        append(&wal, &payload(2, 100));
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
    assert_eq!(payloads(&records), [payload(1, 100).as_slice()]);
    assert!(report.corruption.unwrap().contains("torn"));
    assert_eq!(wal.stats().replay_corruptions.load(Ordering::Relaxed), 1);
    // The log stays usable and the repair is permanent.
    append(&wal, &payload(3, 100));
    drop(wal);
    let (wal, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(report.corruption, None);
    assert_eq!(records.len(), 2);
    assert_eq!(wal.stats().replay_corruptions.load(Ordering::Relaxed), 0);
}

#[test]
fn garbage_tail_and_bit_flips_are_survived() {
    let dir = tempfile::tempdir().unwrap();
    let seg;
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append(&wal, &payload(1, 100));
        append(&wal, &payload(2, 100));
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
    // Cut back to the end of the first frame.
    assert_eq!(
        fs::metadata(&seg).unwrap().len(),
        (FRAME_HEADER + 100) as u64
    );
}

#[test]
fn a_payload_the_caller_cannot_decode_ends_replay_like_corruption() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append(&wal, b"good");
        append(&wal, b"bad");
        append(&wal, b"after");
    }
    let mut seen = Vec::new();
    let (wal, report) = Wal::open(dir.path(), WalOptions::default(), |_, p| {
        if p == b"bad" {
            return Err("not a record".into());
        }
        seen.push(p.to_vec());
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, [b"good".to_vec()]);
    assert!(report
        .corruption
        .unwrap()
        .contains("undecodable record: not a record"));
    assert_eq!(wal.stats().replay_corruptions.load(Ordering::Relaxed), 1);
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
            append(&wal, &payload(i, 100));
        }
        assert!(wal.segments().unwrap().len() >= 5);
    }
    let first = segment_path(dir.path(), 2);
    let mut bytes = fs::read(&first).unwrap();
    bytes[FRAME_HEADER + 2] ^= 1;
    fs::write(&first, bytes).unwrap();
    let (wal, records, report) = open(dir.path(), opts);
    // Segment 1 holds the first record; segment 2 is corrupt from its start.
    assert_eq!(records, [(1, payload(0, 100))], "{report:?}");
    assert!(report.corruption.unwrap().contains("later segment"));
    let segs = wal.segments().unwrap();
    assert!(segs.iter().all(|&s| s <= 2 || s == segs[segs.len() - 1]));
}

#[test]
fn checkpoint_replaces_covered_segments() {
    let dir = tempfile::tempdir().unwrap();
    let definition = payload(7, 20);
    let through;
    {
        let (wal, _, _) = open(dir.path(), WalOptions::default());
        append(&wal, &definition);
        append(&wal, &payload(8, 100));
        through = wal.cut_segment().unwrap();
        append(&wal, &payload(9, 100));
        // Only the definition is needed once the data ≤ segment is elsewhere.
        wal.checkpoint(through, [definition.as_slice()]).unwrap();
        assert!(wal.segments().unwrap().iter().all(|&s| s > through));
        assert!(matches!(
            wal.checkpoint(u64::MAX - 1, []),
            Err(Error::CheckpointCoversOpenSegment { .. })
        ));
    }
    let (_, records, report) = open(dir.path(), WalOptions::default());
    assert_eq!(report.corruption, None);
    // The checkpoint's payloads carry the segment it was taken through.
    assert_eq!(
        records,
        [(through, definition), (through + 1, payload(9, 100))]
    );
    let names: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("checkpoint"))
        .collect();
    assert_eq!(names, [format!("checkpoint.{through:08}")]);
}

#[test]
fn concurrent_appenders_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (wal, _, _) = open(dir.path(), WalOptions::default());
    let payload = payload(1, 1000);
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

#[test]
fn interval_policy_leaves_fsync_to_the_owner() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        fsync: FsyncPolicy::Interval(Duration::from_secs(3600)),
        ..WalOptions::default()
    };
    let (wal, _, _) = open(dir.path(), opts);
    append(&wal, b"x");
    assert_eq!(wal.stats().fsyncs.load(Ordering::Relaxed), 0);
    wal.sync_all().unwrap();
    assert_eq!(wal.stats().fsyncs.load(Ordering::Relaxed), 1);
}
