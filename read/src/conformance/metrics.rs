//! The [`Querier`] contract, checked against a fixture.

use std::collections::BTreeSet;

use sightline_model::{LabelLimits, Labels, MatchOp, Matcher, Sample, STALE_NAN_BITS};

use super::{describe, matcher, matches};
use crate::metrics::{Querier, TimeRange};

/// First timestamp of the fixture; samples span `START_MS ..= END_MS`.
pub const START_MS: i64 = 0;
/// Last timestamp of the fixture.
pub const END_MS: i64 = 9_990;

/// The fixture: series in no particular order, each with samples in
/// increasing time order. Covers a series lacking `job`, one holding only
/// old samples, one only new ones, one with a gap, and special values
/// (NaN, ±Inf, −0, the staleness marker).
pub fn fixture() -> Vec<(Labels, Vec<Sample>)> {
    let every = |step: i64, from: i64, to: i64, value: &dyn Fn(i64) -> f64| -> Vec<Sample> {
        (from..=to)
            .step_by(step as usize)
            .map(|t| Sample::new(t, value(t)))
            .collect()
    };
    let labels = |pairs: &[(&str, &str)]| {
        Labels::from_pairs(pairs.iter().copied())
            .validated(&LabelLimits::default())
            .expect("fixture labels are valid")
    };
    let mut out = Vec::new();
    for (job, instance) in [("api", "a:1"), ("api", "a:2"), ("db", "d:1")] {
        out.push((
            labels(&[("__name__", "up"), ("job", job), ("instance", instance)]),
            every(10, START_MS, END_MS, &|t| ((t / 10) % 2) as f64),
        ));
    }
    for (code, method) in [("200", "GET"), ("500", "GET"), ("200", "POST")] {
        out.push((
            labels(&[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", code),
                ("method", method),
            ]),
            every(30, START_MS, END_MS, &|t| (t / 30) as f64 * 1.5),
        ));
    }
    // No `job` label: selected by matchers that match the empty string.
    out.push((
        labels(&[("__name__", "node_load1"), ("instance", "n:1")]),
        every(15, START_MS, END_MS, &|t| (t % 7) as f64 / 4.0),
    ));
    let specials = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -0.0,
        f64::from_bits(STALE_NAN_BITS),
        f64::from_bits(0x7ff8_0000_0000_0bad),
        1e300,
        5e-324,
    ];
    out.push((
        labels(&[("__name__", "special"), ("job", "db")]),
        every(20, START_MS, END_MS, &|t| {
            specials[(t / 20) as usize % specials.len()]
        }),
    ));
    out.push((
        labels(&[("__name__", "old"), ("job", "batch")]),
        every(10, START_MS, 2_000, &|t| t as f64),
    ));
    out.push((
        labels(&[("__name__", "new"), ("job", "batch")]),
        every(10, 8_000, END_MS, &|t| -(t as f64)),
    ));
    let mut gap = every(10, START_MS, 3_000, &|t| t as f64);
    gap.extend(every(10, 7_000, END_MS, &|t| t as f64));
    out.push((
        labels(&[("__name__", "gappy"), ("job", "batch"), ("le", "+Inf")]),
        gap,
    ));
    out
}

/// Matcher sets the suite asks about.
fn selectors() -> Vec<Vec<Matcher>> {
    use MatchOp::*;
    vec![
        vec![matcher(Equal, "__name__", "up")],
        vec![matcher(RegexMatch, "__name__", ".+")],
        vec![matcher(RegexMatch, "__name__", "up|old")],
        vec![matcher(Equal, "job", "api")],
        vec![matcher(NotEqual, "job", "api")],
        vec![matcher(Equal, "job", "")],
        vec![matcher(RegexMatch, "job", "")],
        vec![matcher(RegexMatch, "job", "a.*")],
        vec![matcher(RegexNoMatch, "job", "a.*|b.*")],
        vec![matcher(RegexMatch, "instance", ".*")],
        vec![
            matcher(Equal, "__name__", "http_requests_total"),
            matcher(NotEqual, "code", "500"),
            matcher(RegexMatch, "method", "GET|POST"),
        ],
        vec![
            matcher(Equal, "__name__", "up"),
            matcher(Equal, "job", "db"),
        ],
        vec![matcher(Equal, "__name__", "absent")],
        vec![matcher(Equal, "job", "api"), matcher(Equal, "job", "db")],
    ]
}

/// Ranges the suite asks about: everything, a window, single instants on
/// and between samples, the gap of one series, and before/after all data.
fn ranges() -> Vec<TimeRange> {
    vec![
        TimeRange::ALL,
        TimeRange::new(START_MS, END_MS),
        TimeRange::new(1_995, 8_005),
        TimeRange::new(4_000, 4_000),
        TimeRange::new(4_001, 4_009),
        TimeRange::new(3_001, 6_999),
        TimeRange::new(END_MS, i64::MAX),
        TimeRange::new(i64::MIN, START_MS - 1),
        TimeRange::new(END_MS + 1, i64::MAX),
    ]
}

type Dump = Vec<(Labels, Vec<(i64, u64)>)>;

fn expected(data: &[(Labels, Vec<Sample>)], matchers: &[Matcher], range: TimeRange) -> Dump {
    let mut out: Dump = data
        .iter()
        .filter(|(l, _)| matches(l, matchers))
        .map(|(l, s)| {
            let samples = s
                .iter()
                .filter(|s| range.contains(s.timestamp_ms))
                .map(|s| (s.timestamp_ms, s.value.to_bits()))
                .collect();
            (l.clone(), samples)
        })
        .filter(|(_, s): &(Labels, Vec<(i64, u64)>)| !s.is_empty())
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Checks `querier`, which must hold exactly [`fixture`], against the
/// contract of [`Querier`].
pub fn check(querier: &dyn Querier) {
    let data = fixture();
    for matchers in selectors() {
        for range in ranges() {
            let what = format!("{} over {range:?}", describe(&matchers));
            check_select(querier, &data, &matchers, range, &what);
            check_labels(querier, &data, &matchers, range, &what);
        }
    }
    check_early_stop(querier);
}

fn check_select(
    querier: &dyn Querier,
    data: &[(Labels, Vec<Sample>)],
    matchers: &[Matcher],
    range: TimeRange,
    what: &str,
) {
    let mut got: Dump = Vec::new();
    for series in querier
        .select(matchers, range)
        .unwrap_or_else(|e| panic!("select {what}: {e}"))
    {
        let series = series.unwrap_or_else(|e| panic!("select {what}: {e}"));
        assert!(
            matches(&series.labels, matchers),
            "select {what}: {} does not match",
            series.labels
        );
        if let Some((last, _)) = got.last() {
            assert!(
                *last < series.labels,
                "select {what}: {} after {last}: series must be sorted and distinct",
                series.labels
            );
        }
        let samples: Vec<(i64, u64)> = series
            .samples
            .map(|s| (s.timestamp_ms, s.value.to_bits()))
            .collect();
        assert!(
            samples.windows(2).all(|w| w[0].0 < w[1].0),
            "select {what}: {}: timestamps must strictly increase",
            series.labels
        );
        // A store keeping coarser time bounds may return a series with no
        // sample in the range; it must then hand out no samples.
        if !samples.is_empty() {
            got.push((series.labels, samples));
        }
    }
    let want = expected(data, matchers, range);
    assert!(got == want, "select {what}:\n got {got:?}\nwant {want:?}");
}

fn check_labels(
    querier: &dyn Querier,
    data: &[(Labels, Vec<Sample>)],
    matchers: &[Matcher],
    range: TimeRange,
    what: &str,
) {
    // Names and values of the series with samples in the range must all be
    // there; a store answering at a coarser time granularity may add those
    // of other matching series, never of series the matchers reject.
    let in_range = expected(data, matchers, range);
    let matching = expected(data, matchers, TimeRange::ALL);
    let names = |set: &Dump| -> BTreeSet<String> {
        set.iter()
            .flat_map(|(l, _)| l.iter().map(|l| l.name.to_string()))
            .collect()
    };
    let got = querier
        .label_names(matchers, range)
        .unwrap_or_else(|e| panic!("label_names {what}: {e}"));
    assert_sorted_distinct(&got, "label_names", what);
    let got: BTreeSet<String> = got.into_iter().collect();
    let (least, most) = (names(&in_range), names(&matching));
    assert!(
        least.is_subset(&got) && got.is_subset(&most),
        "label_names {what}: got {got:?}, want at least {least:?} and at most {most:?}"
    );
    if range == TimeRange::ALL {
        assert_eq!(got, least, "label_names {what}");
    }
    for name in ["job", "__name__", "code", "absent"] {
        let values = |set: &Dump| -> BTreeSet<String> {
            set.iter()
                .filter_map(|(l, _)| l.get(name).map(str::to_string))
                .collect()
        };
        let got = querier
            .label_values(name, matchers, range)
            .unwrap_or_else(|e| panic!("label_values {name} {what}: {e}"));
        assert_sorted_distinct(&got, "label_values", what);
        assert!(
            got.iter().all(|v| !v.is_empty()),
            "label_values {name} {what}: empty value in {got:?}"
        );
        let got: BTreeSet<String> = got.into_iter().collect();
        let (least, most) = (values(&in_range), values(&matching));
        assert!(
            least.is_subset(&got) && got.is_subset(&most),
            "label_values {name} {what}: got {got:?}, want at least {least:?} and at most {most:?}"
        );
        if range == TimeRange::ALL {
            assert_eq!(got, least, "label_values {name} {what}");
        }
    }
}

fn assert_sorted_distinct(values: &[String], call: &str, what: &str) {
    assert!(
        values.windows(2).all(|w| w[0] < w[1]),
        "{call} {what}: not sorted and distinct: {values:?}"
    );
}

/// A reader may stop anywhere: after the first series, after one sample,
/// without reading any — and a second read sees everything again.
fn check_early_stop(querier: &dyn Querier) {
    let all = [matcher(MatchOp::RegexMatch, "__name__", ".+")];
    let mut set = querier.select(&all, TimeRange::ALL).expect("select");
    let first = set.next().expect("a series").expect("readable");
    let mut samples = first.samples;
    assert!(samples.next().is_some(), "the first series has samples");
    drop(samples);
    drop(set);
    drop(querier.select(&all, TimeRange::ALL).expect("select"));
    let count = querier
        .select(&all, TimeRange::ALL)
        .expect("select")
        .count();
    assert_eq!(count, fixture().len(), "every series after early stops");
}
