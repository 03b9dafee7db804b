use super::*;
use sightline_model::{LabelLimits, MatchOp, Sample};

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
        .validated(&LabelLimits::default())
        .unwrap()
}

/// Label pairs of one series and its sample timestamps.
type Fixture<'a> = (&'a [(&'a str, &'a str)], &'a [i64]);

fn head_with(series: &[Fixture<'_>]) -> Head {
    let head = Head::default();
    for (l, ts) in series {
        let l = labels(l);
        let (s, _) = head.get_or_create(&l, hash_labels(&l));
        let samples: Vec<Sample> = ts.iter().map(|&t| Sample::new(t, t as f64)).collect();
        let mut tally = Tally::default();
        head.append(&s, &samples, &mut tally, |_, r| assert_eq!(r, Ok(true)));
        head.record(&tally);
    }
    head
}

fn m(op: MatchOp, name: &str, value: &str) -> Matcher {
    Matcher::new(op, name, value).unwrap()
}

fn selected(head: &Head, matchers: &[Matcher], range: TimeRange) -> Vec<String> {
    head.select(matchers, range)
        .unwrap()
        .map(|s| s.unwrap().labels.to_string())
        .collect()
}

fn fixture() -> Head {
    head_with(&[
        (
            &[("__name__", "up"), ("job", "node"), ("instance", "a")],
            &[10, 20],
        ),
        (
            &[("__name__", "up"), ("job", "node"), ("instance", "b")],
            &[30],
        ),
        (&[("__name__", "up"), ("job", "api")], &[10]),
        (
            &[
                ("__name__", "http_requests_total"),
                ("job", "api"),
                ("code", "200"),
            ],
            &[10],
        ),
    ])
}

#[test]
fn equality_and_sorting() {
    let h = fixture();
    assert_eq!(
        selected(&h, &[m(MatchOp::Equal, "__name__", "up")], TimeRange::ALL),
        [
            r#"{__name__="up", instance="a", job="node"}"#,
            r#"{__name__="up", instance="b", job="node"}"#,
            r#"{__name__="up", job="api"}"#,
        ]
    );
    assert!(selected(&h, &[m(MatchOp::Equal, "job", "nope")], TimeRange::ALL).is_empty());
    assert!(selected(&h, &[m(MatchOp::Equal, "nolabel", "x")], TimeRange::ALL).is_empty());
}

#[test]
fn empty_matching_selects_missing_labels() {
    let h = fixture();
    // instance="" matches series without the label.
    assert_eq!(
        selected(
            &h,
            &[
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::Equal, "instance", "")
            ],
            TimeRange::ALL
        ),
        [r#"{__name__="up", job="api"}"#]
    );
    // != keeps series lacking the label.
    assert_eq!(
        selected(
            &h,
            &[
                m(MatchOp::Equal, "job", "api"),
                m(MatchOp::NotEqual, "code", "200")
            ],
            TimeRange::ALL
        ),
        [r#"{__name__="up", job="api"}"#]
    );
    // =~".+" requires the label.
    assert_eq!(
        selected(&h, &[m(MatchOp::RegexMatch, "code", ".+")], TimeRange::ALL).len(),
        1
    );
}

#[test]
fn regex_matchers_are_anchored() {
    let h = fixture();
    assert_eq!(
        selected(&h, &[m(MatchOp::RegexMatch, "job", "no")], TimeRange::ALL).len(),
        0
    );
    assert_eq!(
        selected(
            &h,
            &[m(MatchOp::RegexMatch, "job", "no.*|api")],
            TimeRange::ALL
        )
        .len(),
        4
    );
    assert_eq!(
        selected(
            &h,
            &[
                m(MatchOp::Equal, "__name__", "up"),
                m(MatchOp::RegexNoMatch, "instance", "a|b")
            ],
            TimeRange::ALL
        ),
        [r#"{__name__="up", job="api"}"#]
    );
}

#[test]
fn time_range_filters_series_and_samples() {
    let h = fixture();
    let set: Vec<_> = h
        .select(&[m(MatchOp::Equal, "job", "node")], TimeRange::new(15, 25))
        .unwrap()
        .map(|s| s.unwrap())
        .collect();
    assert_eq!(set.len(), 1);
    let series = set.into_iter().next().unwrap();
    assert_eq!(series.samples.collect::<Vec<_>>(), [Sample::new(20, 20.0)]);
}

#[test]
fn label_names_and_values() {
    let h = fixture();
    assert_eq!(
        h.label_names(&[], TimeRange::ALL).unwrap(),
        ["__name__", "code", "instance", "job"]
    );
    assert_eq!(
        h.label_names(&[m(MatchOp::Equal, "job", "node")], TimeRange::ALL)
            .unwrap(),
        ["__name__", "instance", "job"]
    );
    assert_eq!(
        h.label_values("job", &[], TimeRange::ALL).unwrap(),
        ["api", "node"]
    );
    assert_eq!(
        h.label_values("instance", &[], TimeRange::new(25, 40))
            .unwrap(),
        ["b"]
    );
    assert_eq!(
        h.label_values(
            "__name__",
            &[m(MatchOp::Equal, "job", "api")],
            TimeRange::ALL
        )
        .unwrap(),
        ["http_requests_total", "up"]
    );
    assert!(h
        .label_values("nope", &[], TimeRange::ALL)
        .unwrap()
        .is_empty());
}

#[test]
fn same_labels_same_series() {
    let h = Head::default();
    let a = labels(&[("__name__", "up"), ("job", "x")]);
    let b = labels(&[("job", "x"), ("__name__", "up")]);
    let (s1, new1) = h.get_or_create(&a, hash_labels(&a));
    let (s2, new2) = h.get_or_create(&b, hash_labels(&b));
    assert!(new1 && !new2);
    assert_eq!(s1.id, s2.id);
    assert_eq!(h.stats().series.load(Ordering::Relaxed), 1);
    assert_eq!(h.labels_of_series(&s1), a);
}

#[test]
fn cardinality_counts() {
    let h = fixture();
    let c = h.cardinality(10);
    assert_eq!(
        c.series_by_metric_name,
        [
            ("up".to_string(), 3),
            ("http_requests_total".to_string(), 1)
        ]
    );
    assert_eq!(c.values_by_label_name[0], ("__name__".to_string(), 2));
    assert_eq!(c.series_by_label_pair[0], ("__name__=up".to_string(), 3));
    // __name__ ×2, code ×1, instance ×2, job ×2
    assert_eq!(c.label_pairs, 7);
    assert_eq!(h.cardinality(1).series_by_label_pair.len(), 1);
}
