//! The log store through its public API: substring semantics checked
//! against a brute-force scan, durability across reopen, retention.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::time::Duration;

use proptest::prelude::*;
use sightline_logstore::{
    Direction, LogQuerier, LogStore, NewEntry, Options, ScanRequest, StreamBatch,
};
use sightline_model::{Labels, MatchOp, Matcher};

const T0: i64 = 1_700_000_000_000_000_000;

fn entry(ts_ns: i64, line: &str) -> NewEntry {
    NewEntry {
        ts_ns,
        line: line.into(),
        metadata: vec![],
    }
}

fn batch(app: &str, entries: Vec<NewEntry>) -> StreamBatch {
    StreamBatch {
        labels: Labels::from_pairs([("app", app)]),
        entries,
    }
}

fn options() -> Options {
    Options {
        // Long enough that tests decide when commits happen.
        commit_interval: Duration::from_secs(3600),
        retention: Duration::from_secs(100 * 365 * 24 * 3600),
        ..Options::default()
    }
}

fn lines(
    store: &LogStore,
    app: &str,
    contains: &[&str],
    direction: Direction,
) -> Vec<(i64, String)> {
    let m = Matcher::new(MatchOp::Equal, "app", app).unwrap();
    let streams = store.streams(&[m], i64::MIN, i64::MAX).unwrap();
    let scan = ScanRequest {
        streams: streams.iter().map(|s| s.id).collect(),
        start_ns: i64::MIN,
        end_ns: i64::MAX,
        direction,
        contains: contains.iter().map(|s| s.to_string()).collect(),
    };
    let mut out = Vec::new();
    store
        .scan(&scan, &mut |e| {
            out.push((e.ts_ns, e.line.to_string()));
            ControlFlow::Continue(())
        })
        .unwrap();
    out
}

#[test]
fn substring_semantics_before_and_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let texts = [
        "level=ERROR msg=\"connection refused\" peer=10.0.0.12:5432",
        "level=error msg=timeout",
        "Größe überschritten: 12MB",
        &format!("token={} end", "x".repeat(200) + "needle" + &"y".repeat(50)),
        "request id=550e8400-e29b-41d4-a716-446655440000 done",
    ];
    store
        .push(&[batch(
            "a",
            texts
                .iter()
                .enumerate()
                .map(|(i, t)| entry(T0 + i as i64, t))
                .collect(),
        )])
        .unwrap();
    for committed in [false, true] {
        let find = |needle: &str| -> Vec<String> {
            lines(&store, "a", &[needle], Direction::Forward)
                .into_iter()
                .map(|(_, l)| l)
                .collect()
        };
        assert_eq!(
            find("rror").len(),
            1,
            "committed={committed}: case-sensitive, mid-token"
        );
        assert_eq!(find("error"), [texts[1]]);
        assert_eq!(find("ERROR"), [texts[0]]);
        assert_eq!(find("refused\" peer=10.0"), [texts[0]]);
        assert_eq!(find("überschritten"), [texts[2]]);
        assert_eq!(find("needle"), [texts[3].to_string()]);
        assert_eq!(find("e29b-41d4"), [texts[4]]);
        assert_eq!(
            find(" id=550e8400-e29b-41d4-a716-446655440000 "),
            [texts[4]]
        );
        assert!(find("absent").is_empty());
        store.commit().unwrap();
    }
    let back = lines(&store, "a", &[], Direction::Backward);
    assert_eq!(back.len(), texts.len());
    assert!(back.windows(2).all(|w| w[0].0 > w[1].0), "newest first");
}

#[test]
fn acknowledged_entries_survive_reopen_without_duplicates() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), options()).unwrap();
        store.push(&[batch("a", vec![entry(T0, "one")])]).unwrap();
        store.commit().unwrap();
        store
            .push(&[batch("a", vec![entry(T0 + 1, "two")])])
            .unwrap();
        // The same entry again (a sender's retry): stored once as far as
        // reads are concerned.
        store
            .push(&[batch("a", vec![entry(T0 + 1, "two")])])
            .unwrap();
        // Dropped without close: only the WAL has "two".
    }
    let store = LogStore::open(dir.path(), options()).unwrap();
    assert_eq!(
        lines(&store, "a", &[], Direction::Forward),
        [(T0, "one".to_string()), (T0 + 1, "two".to_string())]
    );
    assert_eq!(
        store.label_values("app", &[], i64::MIN, i64::MAX).unwrap(),
        ["a"]
    );
    store.close().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    assert_eq!(lines(&store, "a", &[], Direction::Forward).len(), 2);
}

#[test]
fn a_crash_between_index_commit_and_wal_checkpoint_stores_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let wal_before = tempfile::tempdir().unwrap();
    let wal = dir.path().join("wal");
    let copy = |from: &std::path::Path, to: &std::path::Path| {
        for f in std::fs::read_dir(from).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    };
    {
        let store = LogStore::open(dir.path(), options()).unwrap();
        let entries = (0..300)
            .map(|i| entry(T0 + i, &format!("line {i}")))
            .collect();
        store.push(&[batch("a", entries)]).unwrap();
        // The WAL as a crash after the index commit but before the
        // checkpoint leaves it: every entry still logged.
        copy(&wal, wal_before.path());
        store.commit().unwrap();
        // Dropped without close, as by a kill.
    }
    std::fs::remove_dir_all(&wal).unwrap();
    std::fs::create_dir(&wal).unwrap();
    copy(wal_before.path(), &wal);
    let store = LogStore::open(dir.path(), options()).unwrap();
    let m = Matcher::new(MatchOp::Equal, "app", "a").unwrap();
    let far = std::time::Instant::now() + Duration::from_secs(60);
    let stats = store
        .index_stats(&[m], T0, T0 + 1_000, far)
        .unwrap()
        .unwrap();
    // Statistics count what is stored: 600 had the replay added them again.
    assert_eq!((stats.streams, stats.entries), (1, 300));
    assert_eq!(lines(&store, "a", &[], Direction::Forward).len(), 300);
    // Entries logged after the commit are still replayed.
    store
        .push(&[batch("a", vec![entry(T0 + 500, "after")])])
        .unwrap();
    drop(store);
    let store = LogStore::open(dir.path(), options()).unwrap();
    assert_eq!(lines(&store, "a", &["after"], Direction::Forward).len(), 1);
    assert_eq!(lines(&store, "a", &[], Direction::Forward).len(), 301);
}

#[test]
fn a_new_wal_is_not_mistaken_for_the_one_commits_covered() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), options()).unwrap();
        for i in 0..3 {
            store
                .push(&[batch("a", vec![entry(T0 + i, &format!("old {i}"))])])
                .unwrap();
            store.commit().unwrap();
        }
        store.close().unwrap();
    }
    // The WAL is lost; the partitions, whose commits cover its segments
    // up to some number, stay. The new WAL numbers its segments from 1.
    std::fs::remove_dir_all(dir.path().join("wal")).unwrap();
    {
        let store = LogStore::open(dir.path(), options()).unwrap();
        store
            .push(&[batch("a", vec![entry(T0 + 10, "new")])])
            .unwrap();
        // Killed before any commit: only the new WAL has "new".
    }
    let store = LogStore::open(dir.path(), options()).unwrap();
    assert_eq!(lines(&store, "a", &["new"], Direction::Forward).len(), 1);
    assert_eq!(lines(&store, "a", &[], Direction::Forward).len(), 4);
}

#[test]
fn repeats_of_uncommitted_entries_are_dropped_at_push() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let request = |lines: &[(i64, &str)]| {
        vec![batch(
            "a",
            lines.iter().map(|&(ts, l)| entry(ts, l)).collect(),
        )]
    };
    let first = store
        .push(&request(&[(T0, "one"), (T0 + 1, "two"), (T0 + 1, "two")]))
        .unwrap();
    assert_eq!((first.entries, first.repeated), (2, 1));
    // A client's retry of a stored request, plus one new entry; the same
    // line at another time, and the same time and line in another stream,
    // are not repeats.
    let mut retry = request(&[(T0, "one"), (T0 + 1, "two"), (T0 + 2, "two")]);
    retry.push(batch("b", vec![entry(T0, "one")]));
    let again = store.push(&retry).unwrap();
    assert_eq!((again.entries, again.repeated), (2, 2));
    let stored = |s: &LogStore| {
        s.stats()
            .entries_stored
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    assert_eq!(stored(&store), 4);
    // Once committed, a repeat is stored again; reads still return it once.
    store.commit().unwrap();
    let late = store.push(&request(&[(T0, "one")])).unwrap();
    assert_eq!((late.entries, late.repeated), (1, 0));
    assert_eq!(lines(&store, "a", &[], Direction::Forward).len(), 3);
    assert_eq!(stored(&store), 5);
    assert!(store
        .metrics_text()
        .contains("sightline_logstore_repeated_lines_total 3"));
}

#[test]
fn retention_drops_whole_partitions_and_streams() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let day = 24 * 3600 * 1_000_000_000i64;
    {
        let store = LogStore::open(dir.path(), options()).unwrap();
        store
            .push(&[
                batch("old", vec![entry(now - 40 * day, "ancient")]),
                batch("new", vec![entry(now - day, "recent")]),
            ])
            .unwrap();
        store.close().unwrap();
    }
    let partitions = || {
        std::fs::read_dir(dir.path().join("partitions"))
            .unwrap()
            .count()
    };
    assert_eq!(partitions(), 2);
    // Reopened with 30 days of retention: the old partition goes whole.
    let opts = Options {
        retention: Duration::from_secs(30 * 24 * 3600),
        ..options()
    };
    let store = LogStore::open(dir.path(), opts).unwrap();
    assert_eq!(partitions(), 1);
    assert!(lines(&store, "old", &[], Direction::Forward).is_empty());
    assert_eq!(lines(&store, "new", &[], Direction::Forward).len(), 1);
    assert_eq!(
        store.label_values("app", &[], i64::MIN, i64::MAX).unwrap(),
        ["new"]
    );
    // An entry past retention is not stored at all.
    store
        .push(&[batch("old", vec![entry(now - 40 * day, "late")])])
        .unwrap();
    store.commit().unwrap();
    assert_eq!(partitions(), 1);
    assert!(lines(&store, "old", &[], Direction::Forward).is_empty());
    assert_eq!(
        store
            .stats()
            .entries_expired
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
}

#[test]
fn a_size_budget_drops_the_oldest_partitions_but_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    let day = 24 * 3600 * 1_000_000_000i64;
    let text = |d: i64| format!("day {d} {}", "x".repeat(200));
    let day_of = |d: i64| {
        (0..200)
            .map(|i| entry(now - d * day + i, &text(d)))
            .collect()
    };
    {
        let store = LogStore::open(dir.path(), options()).unwrap();
        for d in [3, 2, 1] {
            store.push(&[batch(&format!("d{d}"), day_of(d))]).unwrap();
        }
        store.close().unwrap();
    }
    let sizes: Vec<u64> = {
        let mut dirs: Vec<_> = std::fs::read_dir(dir.path().join("partitions"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort_by_key(|p| {
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
        });
        dirs.iter()
            .map(|d| {
                std::fs::read_dir(d)
                    .unwrap()
                    .map(|f| f.unwrap().metadata().unwrap().len())
                    .sum()
            })
            .collect()
    };
    assert_eq!(sizes.len(), 3);
    // Room for the two newest partitions only.
    let opts = Options {
        retention_bytes: sizes[1] + sizes[2] + 1,
        ..options()
    };
    let store = LogStore::open(dir.path(), opts).unwrap();
    assert_eq!(store.partition_count().0, 2);
    assert!(lines(&store, "d3", &[], Direction::Forward).is_empty());
    assert_eq!(lines(&store, "d2", &[], Direction::Forward).len(), 200);
    assert_eq!(
        store.label_values("app", &[], i64::MIN, i64::MAX).unwrap(),
        ["d1", "d2"]
    );
    // Entries as old as the dropped partition are past retention now.
    store.push(&[batch("d3", day_of(3))]).unwrap();
    store.commit().unwrap();
    assert!(lines(&store, "d3", &[], Direction::Forward).is_empty());
    // Today's entry, and one wrongly dated two days ahead.
    store
        .push(&[
            batch("today", vec![entry(now, "now")]),
            batch("ahead", vec![entry(now + 2 * day, "later")]),
        ])
        .unwrap();
    store.close().unwrap();
    // A budget smaller than anything deletes only the past partitions: not
    // the newest, nor today's, which the future-dated one made older.
    let opts = Options {
        retention_bytes: 1,
        ..options()
    };
    let store = LogStore::open(dir.path(), opts).unwrap();
    assert_eq!(store.partition_count().0, 2);
    assert!(lines(&store, "d1", &[], Direction::Forward).is_empty());
    assert_eq!(lines(&store, "today", &[], Direction::Forward).len(), 1);
    assert_eq!(lines(&store, "ahead", &[], Direction::Forward).len(), 1);
    // And today's entries are still taken.
    store
        .push(&[batch("today", vec![entry(now + 1, "still")])])
        .unwrap();
    assert_eq!(lines(&store, "today", &[], Direction::Forward).len(), 2);
}

#[test]
fn streams_past_the_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        max_streams: 2,
        ..options()
    };
    let store = LogStore::open(dir.path(), opts).unwrap();
    let out = store
        .push(&[
            batch("a", vec![entry(T0, "1")]),
            batch("b", vec![entry(T0, "2")]),
            batch("c", vec![entry(T0, "3")]),
        ])
        .unwrap();
    assert_eq!(out.entries, 2);
    assert_eq!(out.refused_streams, [Labels::from_pairs([("app", "c")])]);
    // Known streams still take entries.
    let out = store.push(&[batch("a", vec![entry(T0 + 1, "4")])]).unwrap();
    assert_eq!((out.entries, out.refused_streams.len()), (1, 0));
    assert_eq!(
        store.label_values("app", &[], i64::MIN, i64::MAX).unwrap(),
        ["a", "b"]
    );
}

#[test]
fn entries_over_many_days_keep_few_writers_and_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let day = 24 * 3600 * 1_000_000_000i64;
    // Ten days, pushed twice in one head: writers are closed (committed)
    // along the way, and every line still reads back exactly once.
    for round in 0..2 {
        let entries = (0..10)
            .map(|d| entry(T0 + d * day, &format!("day {d}")))
            .collect();
        store.push(&[batch("days", entries)]).unwrap();
        let got = lines(&store, "days", &[], Direction::Forward);
        assert_eq!(got.len(), 10, "round {round}: {got:?}");
        // Entries of the partitions committed along the way left the head:
        // counted once (statistics do not de-duplicate).
        let m = Matcher::new(MatchOp::Equal, "app", "days").unwrap();
        let far = std::time::Instant::now() + Duration::from_secs(60);
        let stats = store
            .index_stats(&[m], T0, T0 + 10 * day, far)
            .unwrap()
            .unwrap();
        assert_eq!(stats.entries, 10, "round {round}");
    }
    store.commit().unwrap();
    assert_eq!(
        lines(&store, "days", &["day 7"], Direction::Forward),
        [(T0 + 7 * day, "day 7".to_string())]
    );
    assert_eq!(
        std::fs::read_dir(dir.path().join("partitions"))
            .unwrap()
            .count(),
        10
    );
}

#[test]
fn reads_see_every_acknowledged_entry_while_commits_run() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LogStore::open(dir.path(), options()).unwrap());
    let acked = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let pusher = {
        let (store, acked) = (Arc::clone(&store), Arc::clone(&acked));
        std::thread::spawn(move || {
            for round in 0..150i64 {
                let entries = (0..20)
                    .map(|i| entry(T0 + round * 20 + i, &format!("r{round} i{i}")))
                    .collect();
                store.push(&[batch("c", entries)]).unwrap();
                acked.fetch_add(20, Ordering::SeqCst);
            }
        })
    };
    let committer = {
        let (store, done) = (Arc::clone(&store), Arc::clone(&done));
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                store.commit().unwrap();
            }
        })
    };
    let mut reads = 0;
    while !pusher.is_finished() || reads < 5 {
        let before = acked.load(Ordering::SeqCst);
        let got = lines(&store, "c", &[], Direction::Forward);
        assert!(
            got.len() >= before,
            "read {} lines, {before} were acknowledged",
            got.len()
        );
        assert!(
            got.windows(2).all(|w| w[0].0 < w[1].0),
            "each entry once, in order"
        );
        reads += 1;
    }
    pusher.join().unwrap();
    done.store(true, Ordering::SeqCst);
    committer.join().unwrap();
    assert_eq!(lines(&store, "c", &[], Direction::Forward).len(), 3000);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Whatever the lines and the needle, the index never loses a match and
    /// never returns a non-match: the result equals a brute-force scan.
    #[test]
    fn scan_equals_brute_force(
        raw in proptest::collection::vec("[abAB .:=_\\-é1]{0,30}", 1..40),
        needles in proptest::collection::vec("[abAB .:=_\\-é1]{1,6}", 1..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), options()).unwrap();
        let entries: Vec<NewEntry> = raw.iter().enumerate().map(|(i, l)| entry(T0 + i as i64, l)).collect();
        store.push(&[batch("p", entries)]).unwrap();
        store.commit().unwrap();
        let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
        let got: Vec<String> = lines(&store, "p", &refs, Direction::Forward).into_iter().map(|(_, l)| l).collect();
        let want: Vec<String> = raw.iter().filter(|l| refs.iter().all(|n| l.contains(n))).cloned().collect();
        prop_assert_eq!(got, want);
    }
}

/// Lines of id-like tokens (hex, digits, joiners) and needles cut from them
/// at any offset: exercises the chunked tokens at every alignment.
fn id_lines_and_needles() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    proptest::collection::vec("[0-9a-fA-F]{1,12}([.\\-:= ][0-9a-fxyz]{1,12}){0,4}", 1..40)
        .prop_flat_map(|raw| {
            let n = raw.len();
            let picks =
                proptest::collection::vec((0..n, 0usize..60, 1usize..20, "[ :=]?", "[ :=]?"), 1..3);
            (Just(raw), picks)
        })
        .prop_map(|(raw, picks)| {
            let needles = picks
                .into_iter()
                .map(|(i, start, len, pre, post)| {
                    let l = &raw[i];
                    let start = start % l.len();
                    let end = (start + len).min(l.len());
                    format!("{pre}{}{post}", &l[start..end])
                })
                .collect();
            (raw, needles)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(60))]

    /// As [`scan_equals_brute_force`], for ids, IPs and numbers.
    #[test]
    fn id_search_equals_brute_force((raw, needles) in id_lines_and_needles()) {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(dir.path(), options()).unwrap();
        let entries: Vec<NewEntry> = raw.iter().enumerate().map(|(i, l)| entry(T0 + i as i64, l)).collect();
        store.push(&[batch("p", entries)]).unwrap();
        store.commit().unwrap();
        let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
        let got: Vec<String> = lines(&store, "p", &refs, Direction::Forward).into_iter().map(|(_, l)| l).collect();
        let want: Vec<String> = raw.iter().filter(|l| refs.iter().all(|n| l.contains(n))).cloned().collect();
        prop_assert_eq!(got, want);
    }
}

/// A fragment of an id, at any offset, is found from the index: one block
/// of lines (at most 512) is read, not all 2,000.
#[test]
fn id_fragments_are_looked_up_not_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), options()).unwrap();
    let id = |i: u64| format!("{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let entries: Vec<NewEntry> = (0..2000u64)
        .map(|i| {
            entry(
                T0 + i as i64,
                &format!("level=info trace_id={} took={}ms", id(i), i % 97),
            )
        })
        .collect();
    store.push(&[batch("ids", entries)]).unwrap();
    store.commit().unwrap();
    let m = Matcher::new(MatchOp::Equal, "app", "ids").unwrap();
    let streams: Vec<_> = store
        .streams(&[m], i64::MIN, i64::MAX)
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let target = id(1234);
    for needle in [
        &target[..],
        &target[3..14],
        &target[1..],
        &format!("={target} ")[..],
    ] {
        let scan = ScanRequest {
            streams: streams.clone(),
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            direction: Direction::Backward,
            contains: vec![needle.to_string()],
        };
        let mut found = Vec::new();
        let stats = store
            .scan(&scan, &mut |e| {
                found.push(e.line.to_string());
                ControlFlow::Continue(())
            })
            .unwrap();
        assert_eq!(found.len(), 1, "{needle}: {found:?}");
        assert!(found[0].contains(&target));
        assert!(
            stats.candidates <= 512,
            "{needle}: {} candidates",
            stats.candidates
        );
    }
}

/// Under `fsync: interval` the WAL is fsynced in the background, not only
/// when a commit closes a segment: a machine crash loses at most about one
/// interval of acknowledged entries, as documented.
#[test]
fn interval_fsync_runs_between_commits() {
    let dir = tempfile::tempdir().unwrap();
    let mut opts = options();
    opts.wal.fsync = sightline_wal::FsyncPolicy::Interval(Duration::from_millis(20));
    let store = LogStore::open(dir.path(), opts).unwrap();
    store.push(&[batch("a", vec![entry(T0, "one")])]).unwrap();
    let fsyncs = || {
        store
            .wal()
            .stats()
            .fsyncs
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let before = fsyncs();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while fsyncs() == before {
        assert!(
            std::time::Instant::now() < deadline,
            "no background fsync within 10 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
