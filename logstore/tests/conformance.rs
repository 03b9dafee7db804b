//! The `LogQuerier` conformance suite against the log store: entries in
//! the head (not yet committed), in committed partitions, and after a
//! reopen that replays nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sightline_logstore::{LogStore, NewEntry, Options, StreamBatch};
use sightline_read::conformance::logs::{check, fixture, SPAN_NS};

/// A base time recent enough that nothing is past retention, with the
/// fixture's span ending before now; minutes apart from a partition edge
/// so the fixture crosses one (partitions of 4 minutes).
fn base_ns() -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64;
    now - SPAN_NS - 3_600_000_000_000
}

fn options() -> Options {
    Options {
        partition: Duration::from_secs(240),
        // Commits only when asked, so the head case holds everything.
        commit_interval: Duration::from_secs(3600),
        ..Options::default()
    }
}

fn load(store: &LogStore, base: i64) {
    load_part(store, base, |_| true);
}

/// Pushes the entries `keep` chooses by their index in their stream.
fn load_part(store: &LogStore, base: i64, keep: impl Fn(usize) -> bool) {
    let batches: Vec<StreamBatch> = fixture(base)
        .into_iter()
        .map(|(labels, entries)| StreamBatch {
            labels,
            entries: entries
                .into_iter()
                .enumerate()
                .filter(|(i, _)| keep(*i))
                .map(|(_, (ts_ns, line))| NewEntry {
                    ts_ns,
                    line,
                    metadata: vec![],
                })
                .collect(),
        })
        .collect();
    let outcome = store.push(&batches).unwrap();
    assert_eq!(outcome.repeated, 0);
    assert!(outcome.refused_streams.is_empty());
}

#[test]
fn head_committed_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_ns();
    let store = LogStore::open(dir.path(), options()).unwrap();
    load(&store, base);
    check(&store, base);
    store.commit().unwrap();
    assert!(store.head_bytes() == 0, "everything committed");
    assert!(
        store.partition_count().0 >= 3,
        "the fixture spans partitions"
    );
    check(&store, base);
    store.close().unwrap();
    drop(store);
    let store = LogStore::open(dir.path(), options()).unwrap();
    check(&store, base);
}

#[test]
fn half_committed_half_in_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let base = base_ns();
    let store = LogStore::open(dir.path(), options()).unwrap();
    load_part(&store, base, |i| i % 2 == 0);
    store.commit().unwrap();
    load_part(&store, base, |i| i % 2 == 1);
    assert!(store.head_bytes() > 0);
    check(&store, base);
}
