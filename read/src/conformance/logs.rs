//! The [`LogQuerier`] contract, checked against a fixture.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use sightline_model::{Label, Labels, MatchOp, Matcher};

use super::{describe, matcher, matches};
use crate::logs::{Direction, LogQuerier, ScanRequest, StreamId};

/// Seconds, in nanoseconds.
const S: i64 = 1_000_000_000;

/// Span of the fixture after its base time.
pub const SPAN_NS: i64 = 600 * S;

/// One stream of the fixture with its entries `(ts_ns, line)` in time
/// order.
pub type FixtureStream = (Labels, Vec<(i64, String)>);

/// The fixture, with timestamps from `base_ns` (a store may refuse entries
/// far from the present, so callers pass a recent time) to
/// `base_ns + SPAN_NS`: streams lacking a label, entries with equal
/// timestamps within and across streams, words, id-like tokens and
/// non-ASCII text in lines, one stream active only early.
pub fn fixture(base_ns: i64) -> Vec<FixtureStream> {
    // Stream labels have no metric name; sorted here as a store sorts them.
    let labels = |pairs: &[(&str, &str)]| {
        let mut pairs: Vec<Label> = pairs
            .iter()
            .map(|&(name, value)| Label {
                name: name.into(),
                value: value.into(),
            })
            .collect();
        pairs.sort();
        Labels::from_sorted(pairs)
    };
    let methods = ["GET", "POST", "DELETE"];
    let api = |env: &str, every: i64| -> Vec<(i64, String)> {
        (0..SPAN_NS / (every * S))
            .map(|i| {
                let line = format!(
                    "{} /orders/{} {} trace={:016x} env={env}",
                    methods[(i % 3) as usize],
                    i % 17,
                    if i % 11 == 0 { 500 } else { 200 },
                    0xdead_beef_0000_u64 + i as u64 * 7919,
                );
                (base_ns + i * every * S, line)
            })
            .collect()
    };
    let mut out = vec![
        (labels(&[("app", "api"), ("env", "prod")]), api("prod", 2)),
        (labels(&[("app", "api"), ("env", "dev")]), api("dev", 5)),
    ];
    // Same timestamps as prod's, and several entries at one timestamp.
    let web: Vec<(i64, String)> = (0..SPAN_NS / (10 * S))
        .flat_map(|i| {
            let t = base_ns + i * 10 * S;
            [
                (t, format!("level=info msg=\"served\" bytes={}", i * 31)),
                (
                    t,
                    format!("level=warn msg=\"slow request\" took={}ms", i * 3),
                ),
                (
                    t,
                    "level=error msg=\"upstream timeout\" übung=ja".to_string(),
                ),
            ]
        })
        .collect();
    out.push((labels(&[("app", "web")]), web));
    // Active during the first minute only.
    let batch: Vec<(i64, String)> = (0..60)
        .map(|i| (base_ns + i * S, format!("job step {i} done")))
        .collect();
    out.push((labels(&[("app", "batch"), ("team", "data")]), batch));
    out
}

fn selectors() -> Vec<Vec<Matcher>> {
    use MatchOp::*;
    vec![
        vec![matcher(Equal, "app", "api")],
        vec![matcher(RegexMatch, "app", ".+")],
        vec![matcher(RegexMatch, "app", "web|batch")],
        vec![
            matcher(Equal, "app", "api"),
            matcher(NotEqual, "env", "dev"),
        ],
        vec![matcher(RegexMatch, "app", ".+"), matcher(Equal, "env", "")],
        vec![
            matcher(RegexMatch, "app", ".+"),
            matcher(RegexNoMatch, "team", "d.*"),
        ],
        vec![matcher(Equal, "app", "absent")],
    ]
}

fn ranges(base: i64) -> Vec<(i64, i64)> {
    vec![
        (i64::MIN, i64::MAX),
        (base, base + SPAN_NS),
        (base + 100 * S, base + 200 * S),
        (base + 120 * S, base + 120 * S + 1),
        (base + 61 * S, base + 600 * S),
        (base - 10 * S, base - 1),
    ]
}

/// Substring filters: none, a word, part of an id, two strings, a string
/// across a word boundary, non-ASCII text, a string no line holds.
fn filters() -> Vec<Vec<String>> {
    let f = |s: &[&str]| s.iter().map(|s| s.to_string()).collect();
    vec![
        f(&[]),
        f(&["POST"]),
        f(&["eadbeef0"]),
        f(&["500", "env=prod"]),
        f(&["upstream time"]),
        f(&["übung"]),
        f(&["level=warn msg"]),
        f(&["nowhere-to-be-found"]),
    ]
}

/// `(ts_ns, stream labels, line)`
type Row = (i64, Labels, String);

/// Checks `querier`, which must hold exactly `fixture(base_ns)`, against
/// the contract of [`LogQuerier`].
pub fn check(querier: &dyn LogQuerier, base_ns: i64) {
    let data = fixture(base_ns);
    for matchers in selectors() {
        for (start, end) in ranges(base_ns) {
            let what = format!("{} over [{start}, {end}]", describe(&matchers));
            let ids = check_streams(querier, &data, &matchers, start, end, &what);
            check_labels(querier, &data, &matchers, start, end, &what);
            for contains in filters() {
                for direction in [Direction::Forward, Direction::Backward] {
                    let request = ScanRequest {
                        streams: ids.keys().copied().collect(),
                        start_ns: start,
                        end_ns: end,
                        direction,
                        contains: contains.clone(),
                    };
                    let what = format!("scan {what} {direction:?} containing {contains:?}");
                    check_scan(querier, &data, &ids, &request, &what);
                }
            }
        }
    }
    check_early_stop(querier, base_ns);
    check_stats(querier, &data, base_ns);
}

/// Selects streams and checks them; returns their labels by id.
fn check_streams(
    querier: &dyn LogQuerier,
    data: &[FixtureStream],
    matchers: &[Matcher],
    start: i64,
    end: i64,
    what: &str,
) -> BTreeMap<StreamId, Labels> {
    let got = querier
        .streams(matchers, start, end)
        .unwrap_or_else(|e| panic!("streams {what}: {e}"));
    assert!(
        got.windows(2).all(|w| w[0].labels < w[1].labels),
        "streams {what}: not sorted by labels and distinct"
    );
    let got_labels: BTreeSet<Labels> = got.iter().map(|s| s.labels.clone()).collect();
    let in_range: BTreeSet<Labels> = data
        .iter()
        .filter(|(l, e)| matches(l, matchers) && e.iter().any(|e| start <= e.0 && e.0 <= end))
        .map(|(l, _)| l.clone())
        .collect();
    let matching: BTreeSet<Labels> = data
        .iter()
        .filter(|(l, _)| matches(l, matchers))
        .map(|(l, _)| l.clone())
        .collect();
    assert!(
        in_range.is_subset(&got_labels) && got_labels.is_subset(&matching),
        "streams {what}: got {got_labels:?}, want at least {in_range:?}, at most {matching:?}"
    );
    got.into_iter().map(|s| (s.id, s.labels)).collect()
}

fn check_labels(
    querier: &dyn LogQuerier,
    data: &[FixtureStream],
    matchers: &[Matcher],
    start: i64,
    end: i64,
    what: &str,
) {
    let matching: Vec<&Labels> = data
        .iter()
        .filter(|(l, _)| matches(l, matchers))
        .map(|(l, _)| l)
        .collect();
    let in_range: Vec<&Labels> = data
        .iter()
        .filter(|(l, e)| matches(l, matchers) && e.iter().any(|e| start <= e.0 && e.0 <= end))
        .map(|(l, _)| l)
        .collect();
    let names = |set: &[&Labels]| -> BTreeSet<String> {
        set.iter()
            .flat_map(|l| l.iter().map(|l| l.name.to_string()))
            .collect()
    };
    let got = querier
        .label_names(matchers, start, end)
        .unwrap_or_else(|e| panic!("label_names {what}: {e}"));
    assert!(
        got.windows(2).all(|w| w[0] < w[1]),
        "label_names {what}: {got:?}"
    );
    let got: BTreeSet<String> = got.into_iter().collect();
    assert!(
        names(&in_range).is_subset(&got) && got.is_subset(&names(&matching)),
        "label_names {what}: {got:?}"
    );
    for name in ["app", "env", "absent"] {
        let values = |set: &[&Labels]| -> BTreeSet<String> {
            set.iter()
                .filter_map(|l| l.get(name).map(str::to_string))
                .collect()
        };
        let got = querier
            .label_values(name, matchers, start, end)
            .unwrap_or_else(|e| panic!("label_values {name} {what}: {e}"));
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "label_values {what}: {got:?}"
        );
        let got: BTreeSet<String> = got.into_iter().collect();
        assert!(
            values(&in_range).is_subset(&got) && got.is_subset(&values(&matching)),
            "label_values {name} {what}: {got:?}"
        );
    }
}

fn check_scan(
    querier: &dyn LogQuerier,
    data: &[FixtureStream],
    ids: &BTreeMap<StreamId, Labels>,
    request: &ScanRequest,
    what: &str,
) {
    let mut got: Vec<Row> = Vec::new();
    let mut unknown = None;
    querier
        .scan(request, &mut |e| {
            match ids.get(&e.stream) {
                Some(labels) => got.push((e.ts_ns, labels.clone(), e.line.to_string())),
                None => unknown = Some(e.stream),
            }
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!(unknown, None, "{what}: visited a stream not asked for");
    let forward = request.direction == Direction::Forward;
    assert!(
        got.windows(2).all(|w| if forward {
            w[0].0 <= w[1].0
        } else {
            w[0].0 >= w[1].0
        }),
        "{what}: entries out of time order"
    );
    let wanted: BTreeSet<&Labels> = ids.values().collect();
    let mut want: Vec<Row> = data
        .iter()
        .filter(|(l, _)| wanted.contains(l))
        .flat_map(|(l, entries)| {
            entries
                .iter()
                .filter(|(ts, line)| {
                    request.start_ns <= *ts
                        && *ts < request.end_ns
                        && request.contains.iter().all(|c| line.contains(c.as_str()))
                })
                .map(|(ts, line)| (*ts, l.clone(), line.clone()))
        })
        .collect();
    want.sort();
    got.sort();
    assert!(
        got == want,
        "{what}: got {} entries, want {}; first differences: {:?}",
        got.len(),
        want.len(),
        got.iter().zip(&want).find(|(a, b)| a != b)
    );
}

/// A visitor that breaks stops the scan there: a limit of `n` sees the `n`
/// newest (or oldest) entries.
fn check_early_stop(querier: &dyn LogQuerier, base_ns: i64) {
    let all = [matcher(MatchOp::RegexMatch, "app", ".+")];
    let streams = querier.streams(&all, i64::MIN, i64::MAX).expect("streams");
    let mut every: Vec<i64> = fixture(base_ns)
        .into_iter()
        .flat_map(|(_, e)| e.into_iter().map(|(ts, _)| ts))
        .collect();
    every.sort_unstable();
    for (direction, limit) in [
        (Direction::Backward, 1),
        (Direction::Backward, 100),
        (Direction::Forward, 7),
        (Direction::Forward, 1000),
    ] {
        let request = ScanRequest {
            streams: streams.iter().map(|s| s.id).collect(),
            start_ns: i64::MIN,
            end_ns: i64::MAX,
            direction,
            contains: vec![],
        };
        let mut seen = Vec::new();
        querier
            .scan(&request, &mut |e| {
                seen.push(e.ts_ns);
                if seen.len() == limit {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
            .expect("scan");
        let want: Vec<i64> = match direction {
            Direction::Forward => every.iter().take(limit).copied().collect(),
            Direction::Backward => every.iter().rev().take(limit).copied().collect(),
        };
        assert_eq!(seen, want, "{direction:?} limited to {limit}");
    }
}

fn check_stats(querier: &dyn LogQuerier, data: &[FixtureStream], base_ns: i64) {
    let far = Instant::now() + Duration::from_secs(600);
    for matchers in selectors() {
        let what = describe(&matchers);
        let chosen: Vec<&FixtureStream> =
            data.iter().filter(|(l, _)| matches(l, &matchers)).collect();
        let entries: u64 = chosen.iter().map(|(_, e)| e.len() as u64).sum();
        let bytes: u64 = chosen
            .iter()
            .flat_map(|(_, e)| e.iter().map(|(_, l)| l.len() as u64))
            .sum();
        let stats = querier
            .index_stats(&matchers, i64::MIN, i64::MAX, far)
            .unwrap_or_else(|e| panic!("index_stats {what}: {e}"))
            .unwrap_or_else(|| panic!("index_stats {what}: gave up"));
        assert_eq!(
            (stats.streams, stats.entries, stats.bytes),
            (chosen.len() as u64, entries, bytes),
            "index_stats {what}"
        );
        assert!(
            stats.chunks >= stats.streams,
            "index_stats {what}: fewer chunks than streams"
        );
        // Per minute: every bucket aligned, sums equal to the totals.
        let step = 60 * S;
        let volumes = querier
            .volumes(&matchers, base_ns, base_ns + SPAN_NS, step, far)
            .unwrap_or_else(|e| panic!("volumes {what}: {e}"))
            .unwrap_or_else(|| panic!("volumes {what}: gave up"));
        assert!(
            volumes
                .windows(2)
                .all(|w| (w[0].bucket_ns, &w[0].labels) < (w[1].bucket_ns, &w[1].labels)),
            "volumes {what}: not sorted by bucket, then labels"
        );
        let mut per_stream: BTreeMap<&Labels, (u64, u64)> = BTreeMap::new();
        for v in &volumes {
            assert_eq!(v.bucket_ns.rem_euclid(step), 0, "volumes {what}: bucket");
            let e = per_stream.entry(&v.labels).or_default();
            e.0 += v.entries;
            e.1 += v.bytes;
        }
        let want: BTreeMap<&Labels, (u64, u64)> = chosen
            .iter()
            .map(|(l, e)| {
                let bytes = e.iter().map(|(_, l)| l.len() as u64).sum();
                (l, (e.len() as u64, bytes))
            })
            .collect();
        assert_eq!(per_stream, want, "volumes {what}");
    }
}
