//! `vector`, `scalar`, `sort`, `sort_desc`, `absent` and
//! `absent_over_time`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use sightline_model::{Label, Labels, MatchOp, METRIC_NAME};

use super::{FnContext, RangeArg};
use crate::ast::Expr;
use crate::value::{InstantSample, Vector};

/// `vector(s)`: one element without labels.
pub(super) fn vector(v: f64, ctx: &FnContext<'_>) -> Vector {
    vec![InstantSample {
        labels: Labels::default(),
        t: ctx.t,
        v,
    }]
}

/// `scalar(v)`: the value of a one-element vector, NaN otherwise.
pub(super) fn scalar(vector: &Vector) -> f64 {
    match vector.as_slice() {
        [only] => only.v,
        _ => f64::NAN,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Order {
    Ascending,
    Descending,
}

/// `sort` / `sort_desc`: by value, NaN last either way; equal values keep
/// their order. Labels (including the metric name) are kept.
pub(crate) fn sort(mut vector: Vector, ctx: &FnContext<'_>, order: Order) -> Vector {
    vector.sort_by(|a, b| match (a.v.is_nan(), b.v.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => {
            let ascending = a.v.partial_cmp(&b.v).unwrap_or(Ordering::Equal);
            match order {
                Order::Ascending => ascending,
                Order::Descending => ascending.reverse(),
            }
        }
    });
    for s in &mut vector {
        s.t = ctx.t;
    }
    vector
}

/// `absent(v)`: nothing if `v` has elements, else one element of value 1
/// labelled from the argument's equality matchers.
pub(super) fn absent(vector: &Vector, ctx: &FnContext<'_>) -> Vector {
    if !vector.is_empty() {
        return Vector::new();
    }
    vec![InstantSample {
        labels: labels_for_absent(ctx.arg_exprs.first()),
        t: ctx.t,
        v: 1.0,
    }]
}

/// `absent_over_time(m[d])`: nothing if any series has a point in the
/// window, else one element of value 1 labelled like `absent`'s.
pub(super) fn absent_over_time(range: &RangeArg, ctx: &FnContext<'_>) -> Vector {
    if range.series.iter().any(|s| !s.points.is_empty()) {
        return Vector::new();
    }
    vec![InstantSample {
        labels: labels_for_absent(ctx.arg_exprs.first()),
        t: ctx.t,
        v: 1.0,
    }]
}

/// The labels a selector pins to one value: its `=` matchers other than the
/// metric name. As in Prometheus, a label matched more than once (or also by
/// another operator after the `=`) is left out, and only a selector written
/// directly as the argument counts: anything else (including a
/// parenthesised selector or a subquery) gives no labels.
fn labels_for_absent(arg: Option<&Expr>) -> Labels {
    let matchers = match arg {
        Some(Expr::VectorSelector(vs)) => &vs.matchers,
        Some(Expr::MatrixSelector(ms)) => &ms.selector.matchers,
        _ => return Labels::default(),
    };
    let mut labels: BTreeMap<&str, &str> = BTreeMap::new();
    let mut seen: Vec<&str> = Vec::new();
    for m in matchers {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.op == MatchOp::Equal && !seen.contains(&m.name.as_str()) {
            labels.insert(&m.name, &m.value);
            seen.push(&m.name);
        } else {
            labels.remove(m.name.as_str());
        }
    }
    Labels::from_sorted(
        labels
            .into_iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(name, value)| Label {
                name: name.to_string(),
                value: value.to_string(),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use sightline_model::{MatchOp, Matcher};

    use super::super::testing::*;
    use super::super::FnArg;
    use crate::ast::{Expr, MatrixSelector, Subquery, VectorSelector};
    use crate::value::Value;

    fn selector(matchers: &[(MatchOp, &str, &str)]) -> VectorSelector {
        VectorSelector {
            name: Some("nope".into()),
            matchers: matchers
                .iter()
                .map(|(op, n, v)| Matcher::new(*op, *n, *v).unwrap())
                .collect(),
            offset_ms: 0,
            at: None,
        }
    }

    fn abs_selector() -> VectorSelector {
        selector(&[
            (MatchOp::Equal, "__name__", "nope"),
            (MatchOp::Equal, "job", "api"),
            (MatchOp::RegexMatch, "instance", "x.*"),
            (MatchOp::Equal, "env", "prod"),
            (MatchOp::Equal, "env", "dev"),
            (MatchOp::Equal, "zone", "eu"),
            (MatchOp::NotEqual, "zone", "us"),
            (MatchOp::Equal, "empty", ""),
        ])
    }

    #[test]
    fn vector_and_scalar() {
        let out = vector(call_fn("vector", vec![FnArg::Scalar(2.5)], 9_000).unwrap());
        assert_eq!(out.len(), 1);
        assert!(out[0].labels.is_empty());
        assert_eq!((out[0].t, out[0].v), (9_000, 2.5));

        let one = vec![sample(&[("a", "1")], 4.0)];
        assert_eq!(
            call_fn("scalar", vec![FnArg::Vector(one)], 9_000).unwrap(),
            Value::Scalar { t: 9_000, v: 4.0 }
        );
        let two = vec![sample(&[("a", "1")], 4.0), sample(&[("a", "2")], 5.0)];
        for input in [vec![], two] {
            match call_fn("scalar", vec![FnArg::Vector(input)], 9_000).unwrap() {
                Value::Scalar { v, .. } => assert!(v.is_nan()),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn sort_puts_nan_last_both_ways_and_keeps_names() {
        let input = || {
            [1.0, f64::NAN, 3.0, 2.0, 1.0]
                .iter()
                .enumerate()
                .map(|(i, v)| sample(&[("__name__", "m"), ("i", &i.to_string())], *v))
                .collect::<Vec<_>>()
        };
        let order = |name: &str| -> Vec<String> {
            vector(call_fn(name, vec![FnArg::Vector(input())], 1_000).unwrap())
                .iter()
                .map(|s| {
                    assert_eq!(s.labels.get("__name__"), Some("m"));
                    assert_eq!(s.t, 1_000);
                    s.labels.get("i").unwrap_or_default().to_string()
                })
                .collect()
        };
        assert_eq!(order("sort"), ["0", "4", "3", "2", "1"]);
        assert_eq!(order("sort_desc"), ["2", "3", "0", "4", "1"]);
    }

    #[test]
    fn absent_labels_come_from_equality_matchers() {
        let exprs = [Expr::VectorSelector(abs_selector())];
        let out =
            vector(call_with_exprs("absent", vec![FnArg::Vector(vec![])], 2_000, &exprs).unwrap());
        assert_eq!(out.len(), 1);
        // job kept; instance (regex), env (twice), zone (then !=) and the
        // empty value are not.
        assert_eq!(out[0].labels, labels(&[("job", "api")]));
        assert_eq!((out[0].t, out[0].v), (2_000, 1.0));

        let present = vec![sample(&[("__name__", "nope"), ("job", "api")], 1.0)];
        let out = call_with_exprs("absent", vec![FnArg::Vector(present)], 2_000, &exprs).unwrap();
        assert!(vector(out).is_empty());
    }

    #[test]
    fn absent_of_anything_but_a_selector_has_no_labels() {
        let exprs = [Expr::Paren(Box::new(Expr::VectorSelector(abs_selector())))];
        let out =
            vector(call_with_exprs("absent", vec![FnArg::Vector(vec![])], 0, &exprs).unwrap());
        assert!(out[0].labels.is_empty());
        let out = vector(call_fn("absent", vec![FnArg::Vector(vec![])], 0).unwrap());
        assert!(out[0].labels.is_empty());
    }

    #[test]
    fn absent_over_time_uses_the_matrix_selector() {
        let ms = MatrixSelector {
            selector: abs_selector(),
            range_ms: 60_000,
        };
        let exprs = [Expr::MatrixSelector(ms)];
        let empty = range(vec![(labels(&[("job", "api")]), vec![])], 0, 60);
        let out = vector(call_with_exprs("absent_over_time", vec![empty], 60_000, &exprs).unwrap());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].labels, labels(&[("job", "api")]));
        assert_eq!(out[0].v, 1.0);

        let some = range(vec![(labels(&[("job", "api")]), vec![(30.0, 0.0)])], 0, 60);
        let out = call_with_exprs("absent_over_time", vec![some], 60_000, &exprs).unwrap();
        assert!(vector(out).is_empty());

        let sq = Subquery {
            expr: Box::new(Expr::VectorSelector(abs_selector())),
            range_ms: 60_000,
            step_ms: None,
            offset_ms: 0,
            at: None,
        };
        let exprs = [Expr::Subquery(sq)];
        let out = vector(
            call_with_exprs(
                "absent_over_time",
                vec![range(vec![], 0, 60)],
                60_000,
                &exprs,
            )
            .unwrap(),
        );
        assert!(out[0].labels.is_empty(), "a subquery gives no labels");
    }
}
