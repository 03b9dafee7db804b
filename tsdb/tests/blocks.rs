//! Blocks end to end through the public API: head → block → compaction →
//! retention, with reopen in between, against a model of what was accepted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use sightline_model::{LabelLimits, Labels, Sample, STALE_NAN_BITS};
use sightline_read::metrics::{Querier, TimeRange};
use sightline_tsdb::{Options, Tsdb};

type Model = BTreeMap<Labels, Vec<(i64, u64)>>;

fn labels(name: &str, i: usize) -> Labels {
    Labels::from_pairs([("__name__", name.to_string()), ("i", i.to_string())])
        .validated(&LabelLimits::default())
        .unwrap()
}

/// Small ranges so a few thousand milliseconds exercise every layer.
fn options() -> Options {
    Options {
        block_range_ms: 1_000,
        compaction_ranges_ms: vec![3_000, 12_000],
        retention_ms: 0,
        ..Options::default()
    }
}

fn dump(q: &dyn Querier, range: TimeRange) -> Model {
    dump_matching(q, &[], range)
}

/// Every selected series with its samples as bits; checks that timestamps
/// strictly increase and no series repeats.
fn dump_matching(
    q: &dyn Querier,
    matchers: &[sightline_model::Matcher],
    range: TimeRange,
) -> Model {
    let mut out = Model::new();
    for s in q.select(matchers, range).unwrap() {
        let s = s.unwrap();
        let samples: Vec<(i64, u64)> = s
            .samples
            .map(|x| (x.timestamp_ms, x.value.to_bits()))
            .collect();
        assert!(
            samples.windows(2).all(|w| w[0].0 < w[1].0),
            "{}: timestamps must strictly increase: {samples:?}",
            s.labels
        );
        assert!(out.insert(s.labels, samples).is_none(), "series repeated");
    }
    out
}

fn all_matchers() -> Vec<sightline_model::Matcher> {
    vec![
        sightline_model::Matcher::new(sightline_model::MatchOp::RegexMatch, "__name__", ".+")
            .unwrap(),
    ]
}

fn dump_all(db: &Tsdb) -> Model {
    let matchers = all_matchers();
    dump_matching(db.querier(), &matchers, TimeRange::ALL)
}

#[test]
fn head_to_block_round_trip_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let values = [
        1.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::from_bits(STALE_NAN_BITS),
        -0.0,
        42.0,
    ];
    let mut model = Model::new();
    {
        let db = Tsdb::open(dir.path(), options()).unwrap();
        for t in (0..5_000).step_by(10) {
            let batch: Vec<(Labels, Vec<Sample>)> = (0..20)
                .map(|i| {
                    let v = values[(t as usize / 10 + i) % values.len()];
                    (labels("m", i), vec![Sample::new(t, v)])
                })
                .collect();
            for (l, s) in &batch {
                model
                    .entry(l.clone())
                    .or_default()
                    .push((s[0].timestamp_ms, s[0].value.to_bits()));
            }
            db.append(&batch).unwrap();
        }
        let report = db.maintain().unwrap();
        assert!(report.blocks_written >= 3, "{report:?}");
        assert!(!db.blocks().is_empty());
        assert_eq!(dump_all(&db), model);
        // Only what the blocks do not cover stays in the head.
        assert!(db.head().min_valid() >= 3_000);
        let _ = dump(db.querier(), TimeRange::new(0, 10));
    }
    let db = Tsdb::open(dir.path(), options()).unwrap();
    assert_eq!(dump_all(&db), model, "after reopen");
    // Range queries read the right slices.
    let part = dump(db.querier(), TimeRange::new(1_995, 3_005));
    for (l, samples) in &part {
        let want: Vec<_> = model[l]
            .iter()
            .copied()
            .filter(|s| (1_995..=3_005).contains(&s.0))
            .collect();
        assert_eq!(samples, &want);
    }
    assert_eq!(
        db.querier()
            .label_values("i", &[], TimeRange::ALL)
            .unwrap()
            .len(),
        20
    );
    // An old sample is now refused as out of bounds.
    let r = db
        .append(&[(labels("m", 0), vec![Sample::new(5, 1.0)])])
        .unwrap();
    assert_eq!(r.rejected, 1);
    assert_eq!(
        r.first_rejection.unwrap().reason,
        sightline_tsdb::Rejection::OutOfBounds
    );
}

#[test]
fn series_that_stop_are_dropped_from_the_head() {
    let dir = tempfile::tempdir().unwrap();
    let db = Tsdb::open(dir.path(), options()).unwrap();
    db.append(&[(
        labels("gone", 1),
        vec![Sample::new(0, 1.0), Sample::new(500, 2.0)],
    )])
    .unwrap();
    for t in (0..4_000).step_by(100) {
        db.append(&[(labels("stays", 1), vec![Sample::new(t, 1.0)])])
            .unwrap();
    }
    db.maintain().unwrap();
    assert_eq!(
        db.head()
            .stats()
            .series
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // Still queryable from its block, and appendable again afterwards.
    let all = dump_all(&db);
    assert_eq!(
        all[&labels("gone", 1)],
        vec![(0, 1f64.to_bits()), (500, 2f64.to_bits())]
    );
    db.append(&[(labels("gone", 1), vec![Sample::new(3_900, 3.0)])])
        .unwrap();
    assert_eq!(dump_all(&db)[&labels("gone", 1)].len(), 3);
}

#[test]
fn compaction_merges_windows_and_retention_deletes_exactly_the_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = Model::new();
    let db = Tsdb::open(dir.path(), options()).unwrap();
    for t in (0..14_000).step_by(50) {
        let batch: Vec<(Labels, Vec<Sample>)> = (0..5)
            .map(|i| (labels("c", i), vec![Sample::new(t, t as f64)]))
            .collect();
        for (l, s) in &batch {
            model
                .entry(l.clone())
                .or_default()
                .push((t, s[0].value.to_bits()));
        }
        db.append(&batch).unwrap();
        if t % 1_000 == 0 {
            db.maintain().unwrap();
        }
    }
    db.maintain().unwrap();
    let metas = db.block_metas();
    // 0–12 s compacted into one 12 s block; what follows in smaller ones.
    assert_eq!(
        (metas[0].min_time, metas[0].max_time),
        (0, 12_000),
        "{metas:#?}"
    );
    assert!(metas[0].compaction.level >= 2);
    assert!(
        metas.windows(2).all(|w| w[0].max_time <= w[1].min_time),
        "no overlap: {metas:#?}"
    );
    assert_eq!(dump_all(&db), model);
    drop(db);

    // Retention of 1.5 s behind the newest sample (13 950 ms): every block
    // ending at or before 12 450 goes, the rest stay.
    let db = Tsdb::open(
        dir.path(),
        Options {
            retention_ms: 1_500,
            ..options()
        },
    )
    .unwrap();
    let before = db.block_metas();
    let cutoff = 13_950 - 1_500;
    let report = db.maintain().unwrap();
    let after = db.block_metas();
    let want: Vec<_> = before
        .iter()
        .filter(|m| m.max_time > cutoff)
        .cloned()
        .collect();
    assert_eq!(after, want);
    assert_eq!(report.deleted, before.len() - want.len());
    assert!(report.deleted >= 1);
    let left = dump_all(&db);
    for (l, samples) in &model {
        let kept: Vec<_> = samples.iter().copied().filter(|s| s.0 >= 12_000).collect();
        assert_eq!(left[l], kept);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any samples (NaN, ±Inf, staleness markers included) go through head,
    /// blocks, compaction and reopen and read back bit for bit.
    #[test]
    fn any_samples_survive_every_layer(
        raw in proptest::collection::vec(
            (0usize..6, proptest::collection::vec((1i64..400, prop_oneof![
                any::<f64>(),
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(f64::NEG_INFINITY),
                Just(f64::from_bits(STALE_NAN_BITS)),
            ]), 1..60)),
            1..12,
        ),
        maintain_every in 1usize..5,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let db = Tsdb::open(dir.path(), options()).unwrap();
        let mut model = Model::new();
        let mut clock: BTreeMap<usize, i64> = BTreeMap::new();
        for (round, (series, steps)) in raw.iter().enumerate() {
            let l = labels("p", *series);
            let t0 = clock.entry(*series).or_insert(0);
            let mut samples = Vec::new();
            for (dt, v) in steps {
                *t0 += dt;
                samples.push(Sample::new(*t0, *v));
            }
            let report = db.append(&[(l.clone(), samples.clone())]).unwrap();
            let min_valid = db.head().min_valid();
            let accepted: Vec<_> = samples.iter().filter(|s| s.timestamp_ms >= min_valid).map(|s| (s.timestamp_ms, s.value.to_bits())).collect();
            prop_assert_eq!(report.samples_accepted as usize, accepted.len());
            model.entry(l).or_default().extend(accepted);
            if round % maintain_every == 0 {
                db.maintain().unwrap();
            }
        }
        db.maintain().unwrap();
        model.retain(|_, v| !v.is_empty());
        prop_assert_eq!(&dump_all(&db), &model);
        drop(db);
        let db = Tsdb::open(dir.path(), options()).unwrap();
        prop_assert_eq!(&dump_all(&db), &model);
        db.maintain().unwrap();
        prop_assert_eq!(&dump_all(&db), &model);
    }
}
