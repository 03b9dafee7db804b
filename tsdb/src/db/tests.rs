use super::*;
use proptest::prelude::*;
use sightline_model::{LabelLimits, MatchOp, Matcher, STALE_NAN_BITS};
use std::collections::BTreeMap;
use std::time::Duration;

use crate::wal::FsyncPolicy;
use sightline_read::metrics::TimeRange;

fn labels(name: &str, inst: &str) -> Labels {
    Labels::from_pairs([("__name__", name), ("instance", inst)])
        .validated(&LabelLimits::default())
        .unwrap()
}

/// Everything in the store, as series → samples.
fn dump(db: &Tsdb) -> BTreeMap<String, Vec<Sample>> {
    let all = Matcher::new(MatchOp::RegexMatch, "__name__", ".+").unwrap();
    db.querier()
        .select(&[all], TimeRange::ALL)
        .unwrap()
        .map(|s| {
            let s = s.unwrap();
            (s.labels.to_string(), s.samples.collect())
        })
        .collect()
}

#[test]
fn survives_reopen_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let stale = f64::from_bits(STALE_NAN_BITS);
    let before = {
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        db.append(&[
            (
                labels("up", "a"),
                vec![Sample::new(1, 1.0), Sample::new(2, stale)],
            ),
            (labels("up", "b"), vec![Sample::new(1, f64::NEG_INFINITY)]),
        ])
        .unwrap();
        db.append(&[(labels("up", "a"), vec![Sample::new(3, -0.0)])])
            .unwrap();
        dump(&db)
    };
    let db = Tsdb::open(dir.path(), Options::default()).unwrap();
    assert_eq!(dump(&db), before);
    let a = &before[r#"{__name__="up", instance="a"}"#];
    assert_eq!(a[1].value.to_bits(), STALE_NAN_BITS);
    assert_eq!(a[2].value.to_bits(), (-0.0f64).to_bits());
    // Refs are stable: new samples for a replayed series create nothing.
    let r = db
        .append(&[(labels("up", "a"), vec![Sample::new(4, 4.0)])])
        .unwrap();
    assert_eq!(r.series_created, 0);
}

#[test]
fn rejections_are_reported_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), Options::default()).unwrap();
    db.append(&[(labels("up", "a"), vec![Sample::new(10, 1.0)])])
        .unwrap();
    let r = db
        .append(&[
            (
                labels("up", "a"),
                vec![
                    Sample::new(5, 1.0),
                    Sample::new(10, 1.0),
                    Sample::new(10, 2.0),
                    Sample::new(11, 1.0),
                ],
            ),
            (labels("up", "b"), vec![Sample::new(1, 1.0)]),
        ])
        .unwrap();
    assert_eq!(r.samples_accepted, 2);
    assert_eq!(r.rejected, 2);
    assert_eq!(r.series_created, 1);
    let first = r.first_rejection.unwrap();
    assert_eq!(first.reason, Rejection::OutOfOrder);
    assert_eq!(
        first.to_string(),
        r#"out of order sample for series {__name__="up", instance="a"} at timestamp 5"#
    );
    let stats = db.head().stats();
    assert_eq!(stats.out_of_order.load(Ordering::Relaxed), 1);
    assert_eq!(stats.duplicate.load(Ordering::Relaxed), 1);
    drop(db);
    let db = Tsdb::open(dir.path(), Options::default()).unwrap();
    assert_eq!(
        dump(&db)[r#"{__name__="up", instance="a"}"#],
        [Sample::new(10, 1.0), Sample::new(11, 1.0)]
    );
}

#[test]
fn concurrent_writers_replay_identically() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        std::thread::scope(|s| {
            for w in 0..4 {
                let db = &db;
                s.spawn(move || {
                    for round in 0..50i64 {
                        // Every writer touches shared series too, racing on them.
                        let batch: Vec<_> = (0..20)
                            .map(|i| {
                                let inst = if i % 2 == 0 {
                                    format!("shared{i}")
                                } else {
                                    format!("w{w}-{i}")
                                };
                                (
                                    labels("m", &inst),
                                    vec![Sample::new(round * 10 + w, i as f64)],
                                )
                            })
                            .collect();
                        db.append(&batch).unwrap();
                    }
                });
            }
        });
        dump(&db)
    };
    let db = Tsdb::open(dir.path(), Options::default()).unwrap();
    assert_eq!(dump(&db), before);
    assert_eq!(before.len(), 10 + 4 * 10);
}

#[test]
fn interval_fsync_policy() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        wal: WalOptions {
            fsync: FsyncPolicy::Interval(Duration::from_millis(10)),
            ..WalOptions::default()
        },
        ..Options::default()
    };
    {
        let db = Tsdb::open(dir.path(), opts.clone()).unwrap();
        db.append(&[(labels("up", "a"), vec![Sample::new(1, 1.0)])])
            .unwrap();
        assert_eq!(db.wal().stats().fsyncs.load(Ordering::Relaxed), 0);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while db.wal().stats().fsyncs.load(Ordering::Relaxed) == 0 {
            assert!(std::time::Instant::now() < deadline, "no periodic fsync");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let db = Tsdb::open(dir.path(), opts).unwrap();
    assert_eq!(dump(&db).len(), 1);
}

fn value() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::from_bits(STALE_NAN_BITS)),
        Just(f64::INFINITY),
        (0u32..100).prop_map(f64::from),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever sequence of batches arrives, the store holds exactly what a
    /// model of Prometheus's rules accepts, and holds it again after reopen.
    #[test]
    fn store_matches_model(batches in proptest::collection::vec(
        proptest::collection::vec((0usize..5, proptest::collection::vec((0i64..200, value()), 0..30)), 1..5),
        1..8,
    )) {
        let dir = tempfile::tempdir().unwrap();
        let mut model: BTreeMap<String, Vec<Sample>> = BTreeMap::new();
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        for batch in &batches {
            let batch: Vec<(Labels, Vec<Sample>)> = batch
                .iter()
                .map(|(s, samples)| {
                    (labels("m", &format!("i{s}")), samples.iter().map(|&(t, v)| Sample::new(t, v)).collect())
                })
                .collect();
            let report = db.append(&batch).unwrap();
            let mut accepted = 0;
            for (l, samples) in &batch {
                let series = model.entry(l.to_string()).or_default();
                for s in samples {
                    match series.last() {
                        Some(last) if s.timestamp_ms <= last.timestamp_ms => {}
                        _ => { series.push(*s); accepted += 1; }
                    }
                }
            }
            prop_assert_eq!(report.samples_accepted, accepted);
        }
        model.retain(|_, v| !v.is_empty());
        prop_assert_eq!(&dump(&db), &model);
        drop(db);
        let db = Tsdb::open(dir.path(), Options::default()).unwrap();
        prop_assert_eq!(&dump(&db), &model);
    }
}
